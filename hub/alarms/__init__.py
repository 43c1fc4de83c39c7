"""Alarms (what Aodh does): rules on fleet telemetry and site state, their states, history,
webhook actions, acknowledgement and silence. Hub-scope rules are evaluated here
(:mod:`.evaluator`); site-scope rules go down to their site and come back as history."""
