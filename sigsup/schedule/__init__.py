"""Schedules as values: cron expressions (uWSGI's fields and standard ones), their next
instants, and the time-zone and DST policy. Pure and a leaf: the config checks expressions
with it, the event sources (sources/) fire on it."""
