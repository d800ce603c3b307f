"""perfdata: the Make a Lasting Power of Attorney service's performance data, as Dagster assets.

Layers, each importing only those below it (pyproject.toml's import contract):
cli > devtools > definitions/schedules/backfill > web > publishing > kpis > sources > db > calendar > config.
"""

import gc
import warnings

import dagster as dg

# Dagster's modules (most of the process's objects) live as long as the process: moved out of
# the collector's generations, the full collections while perfdata's own modules load no longer
# scan them again (definitions.py freezes the rest; bench/RESULTS.md, step E).
gc.freeze()

# Single-run backfill policies are "beta" in Dagster 1.13; perfdata depends on
# them deliberately, and the warning on every import only buries real output.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
