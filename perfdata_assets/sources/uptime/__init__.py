"""Service uptime: the per-day minutes the service's Route 53 health check observed it
and found it healthy, from CloudWatch (cloudwatch.py) or a hand-supplied CSV
(csv_source.py), loaded by the daily asset health_check_uptime into perfdata.uptime_days
(contract: docs/contract/uptime.md).

May import: db, calendar, config.
"""
