"""`perfdata-daemon`: Dagster's daemon, with its backfill loop looking every 5 seconds instead of 30.

A backfill launched from the Dagster UI is carried out by the daemon's backfill
loop: each pass creates the runs whose upstream partitions are done. perfdata's
backfills are two runs (the daily sources, then the monthly KPIs and the
publication, which Dagster cannot put in the daily run: their partitions
differ), so a backfill waits for two passes and a third sees it finished. Dagster
1.13 sleeps 30 s between passes and offers no setting for it: up to 90 s of
waiting on a backfill whose work takes 40 s (bench/RESULTS.md, "Where A_ui's
time goes"). A pass over no backfill is one query of the bulk_actions table.

This sets the one module constant the loop reads on every pass
(``dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS``, read by
``dagster._daemon.backfill.execute_backfill_iteration_loop``; the asset daemon
reads it too, and perfdata defines no automation conditions) and then runs
`dagster-daemon` itself, arguments unchanged. It is written against Dagster
1.13.27 (README, "Dagster internals"); perfdata_assets_tests/test_daemon.py fails
if the loop stops reading it.
"""

from __future__ import annotations

import sys

# Seconds between the backfill loop's passes (Dagster's own default: 30).
BACKFILL_LOOP_SECONDS = 5


def use_backfill_interval(seconds: float = BACKFILL_LOOP_SECONDS) -> None:
    import dagster._daemon.controller as controller

    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = seconds


def main(argv: list[str] | None = None) -> None:
    use_backfill_interval()
    from dagster._daemon.cli import cli as dagster_daemon

    dagster_daemon(args=argv if argv is not None else sys.argv[1:], prog_name="perfdata-daemon", obj={})


if __name__ == "__main__":
    main()
