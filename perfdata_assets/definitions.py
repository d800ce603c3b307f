"""The perfdata code location: every asset, check, schedule and resource."""

import dagster as dg

from perfdata_assets.kpis.assets import completion_rate, user_satisfaction
from perfdata_assets.lpa.assets import lpa_lifecycle_events, raw_feedback
from perfdata_assets.resources import database_resource_from_env

defs = dg.Definitions(
    assets=[raw_feedback, lpa_lifecycle_events, user_satisfaction, completion_rate],
    resources={"database": database_resource_from_env()},
)
