# Chapter 10: the registry. An organisation, its calendar, a seal, and the
# seal's status machine, with every transition in the history.
say "1. An organisation registers its company seal"
ORG=$(demo_value "SELECT sealpg.create_organisation('Acme Trading Co.')")
CAL=$(demo_value "SELECT sealpg.create_calendar('$ORG', 'office hours', '{1,2,3,4,5}', '09:00', '18:00')")
demo_value "SELECT sealpg.create_seal('ES-ACME-0001', 'Acme Trading company seal', 'organisation', '$ORG',
	valid_until => now() + interval '3 years', holder => 'Legal department',
	time_zone => 'Asia/Shanghai', home_latitude => 31.2304, home_longitude => 121.4737,
	home_radius_m => 300, device_id => 'smartseal-0001', calendar => '$CAL')" >/dev/null
demo_sql "SELECT es_id, name, kind, time_zone, status, valid_until::date FROM sealpg.seals"

say "2. The database refuses what makes no sense"
echo "  a seal whose home is at latitude 123:"
demo_refused "SELECT sealpg.create_seal('ES-ACME-0002', 'x', 'personal', '$ORG', now() + interval '1 year',
	home_latitude => 123, home_longitude => 0)"
echo "  a seal in a time zone that does not exist:"
demo_refused "SELECT sealpg.create_seal('ES-ACME-0002', 'x', 'personal', '$ORG', now() + interval '1 year',
	time_zone => 'Atlantis/Capital')"

say "3. Status: frozen while a report is checked, then active again"
demo_value "SELECT sealpg.set_status('ES-ACME-0001', 'frozen', 'a clerk reports the seal missing')" >/dev/null
demo_value "SELECT sealpg.set_status('ES-ACME-0001', 'active', 'found in the safe')" >/dev/null
demo_sql "SELECT old_status, new_status, reason, actor FROM sealpg.seal_status_history ORDER BY history_id"
