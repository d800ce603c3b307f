"""The perfdata code location: every asset, check, schedule and resource."""

import dagster as dg

from perfdata_assets.kpis.assets import completion_rate, digital_take_up, user_satisfaction
from perfdata_assets.lpa.assets import lpa_lifecycle_events, raw_feedback
from perfdata_assets.resources import database_resource_from_env
from perfdata_assets.sirius.assets import channel_counts_source_from_env, sirius_channel_counts

defs = dg.Definitions(
    assets=[raw_feedback, lpa_lifecycle_events, sirius_channel_counts, user_satisfaction, completion_rate, digital_take_up],
    resources={
        "database": database_resource_from_env(),
        "channel_counts_source": channel_counts_source_from_env(),
    },
)
