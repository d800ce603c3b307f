"""perfdata: the Make a Lasting Power of Attorney service's performance data, as Dagster assets."""

import warnings

import dagster as dg

# Single-run backfill policies are "beta" in Dagster 1.13; perfdata depends on
# them deliberately, and the warning on every import only buries real output.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
