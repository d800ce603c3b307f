"""The publication contract check: OPG's files obey OPG's validator and kpis.md section 5.

Blocking: when a file breaks a rule, the run stops before the delivery asset,
so OPG's bucket never receives a file its import would reject.
"""


import json

import dagster as dg

from perfdata_assets.db.resource import PerfdataDatabase
from perfdata_assets.publishing import exports, published
from perfdata_assets.publishing.opg_validation import check_publication_file, validate_records

MAX_PROBLEMS_SHOWN = 20


@dg.asset_check(
    asset="performance_data_exports",
    name="opg_files_valid",
    blocking=True,
    description=(
        "Every month's OPG file passes the rules of OPG's validator and of kpis.md section 5 (keys, "
        "types, order, integer counts, levels adding up, percentages in range), and all of them "
        "appended together, as OPG's data.json holds them, have no duplicate _timestamp and dataType."
    ),
)
def opg_files_valid(database: PerfdataDatabase) -> dg.AssetCheckResult:
    with database.connect().perfdata.connect() as conn:
        months = published.published_months(conn)
        values = published.values_between(conn, months[0], months[-1]) if months else []
    by_month = published.by_month(values)
    problems: list[str] = []
    merged: list = []
    for month, month_values in sorted(by_month.items()):
        body = exports.performance_data_json(month_values)
        name = exports.performance_data_file_name(month)
        problems += [f"{name}: {p}" for p in check_publication_file(body)]
        merged += json.loads(body)
    problems += validate_records(merged, where="data.json")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "files_checked": len(by_month),
            "records_checked": len(merged),
            "problems": "\n".join(problems[:MAX_PROBLEMS_SHOWN]) or "none",
            "problem_count": len(problems),
        },
    )


publication_checks = [opg_files_valid]
