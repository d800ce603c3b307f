"""Service costs (contract: docs/contract/costs.md): the finance CSV (finance_csv.py),
the AWS bill from Cost Explorer (cost_explorer.py) converted at the month's rate (rates.py),
merged by the monthly asset service_costs into perfdata.service_costs (assets.py).

May import: db, calendar, config.
"""
