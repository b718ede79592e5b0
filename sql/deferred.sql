-- deferred writes: a call queued inside a transaction that rolls back
-- still runs, in the writer's own transaction
CREATE EXTENSION IF NOT EXISTS sealpg;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE public.deferred_sink (n int, note text, by_user name);
CREATE FUNCTION sealpg.test_deferred_sink(p jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF p ? 'fail' THEN
		RAISE EXCEPTION 'asked to fail';
	END IF;
	INSERT INTO public.deferred_sink VALUES ((p->>'n')::int, p->>'note', current_user);
END $$;

-- wait_for(n): wait (at most 20 s) until the sink holds n rows
CREATE FUNCTION public.wait_for(n int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	c bigint;
BEGIN
	FOR i IN 1..200 LOOP
		SELECT count(*) INTO c FROM public.deferred_sink;
		EXIT WHEN c >= n;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN c;
END $$;

BEGIN;
SELECT sealpg.defer('sealpg.test_deferred_sink', '{"n": 1, "note": "queued in a transaction that rolls back"}');
INSERT INTO public.deferred_sink VALUES (-1, 'rolled back with the caller', current_user);
ROLLBACK;
SELECT public.wait_for(1) AS rows_after_rollback;

-- a failing call is logged, counted, and does not block the next ones
SELECT sealpg.defer('sealpg.test_deferred_sink', '{"fail": true}');
SELECT sealpg.defer('sealpg.test_deferred_sink', '{"n": 2, "note": "after a failing call"}');
SELECT sealpg.defer('sealpg.test_deferred_sink', '{"n": 3, "note": "in order"}');
SELECT public.wait_for(3) AS rows_after_failure;
SELECT n, note FROM public.deferred_sink ORDER BY n;
SELECT failed >= 1 AS failure_counted FROM sealpg.deferred_stats();

-- refused: functions outside schema sealpg, odd names, oversized payloads
\set ON_ERROR_STOP 0
SELECT sealpg.defer('public.wait_for', '{}');
SELECT sealpg.defer('sealpg.Upper', '{}');
SELECT sealpg.defer('sealpg.x; DROP TABLE sealpg.seals', '{}');
SELECT sealpg.defer('sealpg.test_deferred_sink', jsonb_build_object('note', repeat('x', 5000)));
SELECT sealpg.defer('sealpg.test_deferred_sink', 'not json');
\set ON_ERROR_STOP 1

DROP FUNCTION sealpg.test_deferred_sink(jsonb);
