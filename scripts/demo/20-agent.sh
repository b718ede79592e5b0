# Chapter 20: the security chips. The database does not hold keys; it asks
# sealpg-agent, which holds the PKCS#11 sessions, what chips there are.
say "4. The database talks to the security chips through sealpg-agent"
demo_sql "SELECT sealpg.agent_ping() AS agent"
demo_sql "SELECT label, manufacturer, model, present FROM sealpg.agent_tokens() WHERE label <> '' ORDER BY label"
