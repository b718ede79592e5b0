# fake_agent.py -- a stand-in agent that answers HELLO and then never answers
# anything else, to test the backend's timeout and cancel paths.
# Usage: python3 fake_agent.py SOCKET
import os
import socket
import struct
import sys
import threading
import time


def serve(conn):
    try:
        while True:
            hdr = conn.recv(4, socket.MSG_WAITALL)
            if len(hdr) < 4:
                return
            (n,) = struct.unpack(">I", hdr)
            body = conn.recv(n, socket.MSG_WAITALL)
            if body[:1] == b"\x01":
                name = b"fake"
                resp = b"\x81" + struct.pack(">IH", 1, len(name)) + name
                conn.sendall(struct.pack(">I", len(resp)) + resp)
            else:
                time.sleep(30)
    finally:
        conn.close()


path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(16)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
