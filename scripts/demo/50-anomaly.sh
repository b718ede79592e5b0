# Chapter 50: anomaly detection.  A finance seal has a normal week of
# stamps; then a stamp at 3 a.m., one in Beijing ten minutes later, forty
# in a minute.  The rules (C, inside PostgreSQL) raise alerts, sealpg-listen
# prints them as they commit, the seal is frozen at the first critical one,
# and an administrator confirms it safe.
say "50. Anomaly detection: a normal week, then a night that is not"
A_ORG=$(demo_value "SELECT organisation_id FROM sealpg.organisations WHERE name = 'Acme Trading Co.'")
[ -n "$A_ORG" ] || A_ORG=$(demo_value "SELECT sealpg.create_organisation('Acme Trading Co.')")
A_CAL=$(demo_value "SELECT coalesce((SELECT calendar_id FROM sealpg.calendars WHERE organisation_id = '$A_ORG' LIMIT 1),
	sealpg.create_calendar('$A_ORG', 'finance hours', '{1,2,3,4,5}', '09:00', '18:00'))")
demo_value "SELECT sealpg.create_seal('ES-ACME-FIN-01', 'Acme Trading finance seal', 'finance', '$A_ORG',
	valid_from => now() - interval '30 days', valid_until => now() + interval '2 years',
	time_zone => 'Asia/Shanghai', home_latitude => 31.2304, home_longitude => 121.4737,
	home_radius_m => 500, device_id => 'smartseal-fin-01', calendar => '$A_CAL')" >/dev/null
# the clerk who stamps (and signs) is granted the seal
demo_value "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'demo_clerk') THEN
	CREATE ROLE demo_clerk NOLOGIN IN ROLE sealpg_operator; END IF; END \$\$" >/dev/null
demo_value "SELECT sealpg.grant_seal('ES-ACME-FIN-01', 'demo_clerk')" >/dev/null
# with the authority of chapter 30 in place, the seal gets a key on the token
A_SIGNS=$(demo_value "SELECT count(*) FROM sealpg.authority" 2>/dev/null || echo 0)
if [ "$A_SIGNS" != 0 ]; then
	demo_value "SELECT sealpg.enroll('ES-ACME-FIN-01')" >/dev/null
fi
# a short learning period, so that one week is enough to know the seal
demo_value "INSERT INTO sealpg.rule_settings (organisation_id, seal_id, learning_uses, learning_period)
	SELECT '$A_ORG', seal_id, 20, interval '3 days' FROM sealpg.seals WHERE es_id = 'ES-ACME-FIN-01'" >/dev/null

echo "  a normal week: working days, office hours, at the office, the bound device, a steady hand"
demo_value "SELECT count(sealpg.record_use('ES-ACME-FIN-01', t, 31.2304 + 0.0005 * (n % 3), 121.4737 - 0.0004 * (n % 2), 12,
		'demo_clerk', 'smartseal-fin-01', n, 48 + (n % 5)))
	  FROM (SELECT row_number() OVER (ORDER BY t) AS n, t
			  FROM (SELECT (d + h) AT TIME ZONE 'Asia/Shanghai' AS t
					  FROM generate_series(date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') - interval '9 days',
										   date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') - interval '2 days',
										   interval '1 day') d,
						   unnest(ARRAY[interval '09:40', '10:55', '14:10', '16:30']) h
					 WHERE extract(isodow FROM d) < 6) w) x" >/dev/null
demo_sql "SELECT p->'uses' AS uses, p->'rate_per_day' AS per_day, p->'learning_done' AS learnt,
	jsonb_array_length(p->'places') AS places, p->'force'->'mean' AS force_mean_n
	FROM sealpg.profile('ES-ACME-FIN-01') p"
demo_sql "SELECT count(*) AS alerts_in_a_normal_week FROM sealpg.alerts a JOIN sealpg.seals s USING (seal_id)
	WHERE s.es_id = 'ES-ACME-FIN-01'"

echo "  sealpg-listen watches the alert and status channels (JSON lines in demo-out/anomaly-listen.jsonl)"
"$PGBIN/sealpg-listen" --channel sealpg_alert --channel sealpg_status --timeout 120 \
	>"$DEMO_OUT/anomaly-listen.jsonl" 2>"$DEMO_OUT/.listen.err" &
A_LISTENER=$!
for _ in $(seq 1 100); do grep -q listening "$DEMO_OUT/.listen.err" && break; sleep 0.1; done

# the night: 3 a.m. Shanghai time (the latest one past), Beijing ten
# minutes later, then forty stamps within one minute
A_T3=$(demo_value "SELECT CASE WHEN t > now() THEN t - interval '1 day' ELSE t END
	FROM (SELECT (date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') + interval '3 hours') AT TIME ZONE 'Asia/Shanghai' AS t) x")
A_SEQ=$(demo_value "SELECT max(device_seq) FROM sealpg.use_events WHERE device_id = 'smartseal-fin-01'")
echo "  03:00 in Shanghai: a stamp at the office"
demo_value "SELECT sealpg.record_use('ES-ACME-FIN-01', '$A_T3', 31.2304, 121.4737, 12, 'demo_clerk', 'smartseal-fin-01', $A_SEQ + 1, 50)" >/dev/null
echo "  03:10: the same seal stamps in Beijing, 1,067 km away"
demo_value "SELECT sealpg.record_use('ES-ACME-FIN-01', timestamptz '$A_T3' + interval '10 minutes', 39.9042, 116.4074, 20,
	'demo_clerk', 'smartseal-fin-01', $A_SEQ + 2, 51)" >/dev/null
echo "  03:20: forty stamps in one minute"
demo_value "SELECT count(sealpg.record_use('ES-ACME-FIN-01', timestamptz '$A_T3' + interval '20 minutes' + i * interval '1.5 s',
	39.9042, 116.4074, 20, 'demo_clerk', 'smartseal-fin-01', $A_SEQ + 2 + i, 50))
	FROM generate_series(1, 40) i" >/dev/null
sleep 0.5
kill -TERM "$A_LISTENER" 2>/dev/null || true
wait "$A_LISTENER" 2>/dev/null || true
rm -f "$DEMO_OUT/.listen.err"
echo "  what the listener printed (one JSON line per notification):"
demo_sql "SELECT j->>'channel' AS channel, coalesce(j->>'rule', j->>'old' || ' -> ' || (j->>'new')) AS what,
	j->>'severity' AS severity, j->>'risk_score' AS risk, j->>'frozen' AS froze_it
	FROM (SELECT line::jsonb AS j FROM unnest(string_to_array(\$lines\$$(cat "$DEMO_OUT/anomaly-listen.jsonl")\$lines\$, E'\n')) line
		   WHERE line <> '') x"
echo "  the alerts, de-duplicated (hits absorbed by one open alert per rule):"
demo_sql "SELECT a.rule, a.severity, a.risk_score AS risk, a.hits, a.details::text AS details
	FROM sealpg.alerts a JOIN sealpg.seals s USING (seal_id)
	WHERE s.es_id = 'ES-ACME-FIN-01' ORDER BY a.first_seen_at, a.rule"
demo_sql "SELECT es_id, status, status_reason FROM sealpg.seals WHERE es_id = 'ES-ACME-FIN-01'"
if [ "$A_SIGNS" != 0 ]; then
	echo "  a frozen seal does not sign:"
	demo_refused "SET ROLE demo_clerk; SELECT sealpg.sign('ES-ACME-FIN-01', 'payment order 7731')"
fi

echo "  the administrator investigates: the same rules replayed over the night"
demo_sql "SELECT rule, count(*) AS hits, min(occurred_at) AS first FROM sealpg.detect('ES-ACME-FIN-01', '$A_T3', now() + interval '1 minute')
	GROUP BY rule ORDER BY first"
echo "  ... it was the year-end audit team on a trip: confirmed safe, the seal is active again"
demo_sql "SELECT a.rule, sealpg.confirm_safe(a.alert_id, 'year-end audit trip, approved by the CFO') AS seal_status
	FROM sealpg.alerts a JOIN sealpg.seals s USING (seal_id)
	WHERE s.es_id = 'ES-ACME-FIN-01' AND a.state = 'open' ORDER BY a.severity, a.first_seen_at"
demo_sql "SELECT old_status, new_status, left(reason, 60) AS reason FROM sealpg.seal_status_history h
	JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'ES-ACME-FIN-01' ORDER BY history_id"
if [ "$A_SIGNS" != 0 ]; then
	echo "  the seal signs again; the signing itself passes the same rules (an electronic use):"
	demo_value "SET ROLE demo_clerk; SELECT sealpg.sign('ES-ACME-FIN-01', 'payment order 7731') IS NOT NULL" >/dev/null
	demo_sql "SELECT u.source, u.operator, a.rule, a.severity, a.state FROM sealpg.use_events u
		JOIN sealpg.seals s USING (seal_id) LEFT JOIN sealpg.alerts a ON u.event_id = ANY (a.event_ids)
		WHERE s.es_id = 'ES-ACME-FIN-01' AND u.source = 'electronic'"
fi
demo_value "SELECT jsonb_pretty(jsonb_agg(to_jsonb(a) ORDER BY a.first_seen_at)) FROM sealpg.alerts a
	JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'ES-ACME-FIN-01'" >"$DEMO_OUT/anomaly-alerts.json"
echo "  alerts written to demo-out/anomaly-alerts.json"
