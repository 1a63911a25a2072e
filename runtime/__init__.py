"""Running compiled DSM charts: engine, sessions, clock, media, SIP, control, harness."""
