"""The four sources, each on its own (the import contract keeps them independent):

- ``lpa``: the service's ``feedback`` and ``applications`` tables -> raw_feedback, lpa_lifecycle_events;
- ``sirius``: Sirius channel counts (HTTP API or CSV) -> sirius_channel_counts;
- ``uptime``: the Route 53 health check in CloudWatch (or CSV) -> health_check_uptime;
- ``costs``: finance's costs CSV and the AWS bill from Cost Explorer -> service_costs (monthly).

Each holds its client and its raw-history asset. May import: db, calendar, config.
"""
