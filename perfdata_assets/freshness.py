"""When every asset must have been materialised, and the sensor that says so when one is not.

POLICIES is the one table of deadlines, as Dagster cron freshness policies: an
asset is fresh when it was materialised inside the window that ends at the
last deadline passed (the window opens when the data it is due for can first
be complete: midnight UK time for yesterday, the month's end for last month),
or at any time since. The Dagster UI shows each asset's state (the daemon's
freshness loop, on by default); ``perfdata_overdue_webhook`` announces an
overdue asset through PERFDATA_WEBHOOK_URLS without relying on that loop.

Announced once: the sensor's cursor holds each overdue asset and the first
deadline it missed, so a restarted daemon, or the next tick, sends nothing
again while the asset stays overdue; once materialised it leaves the cursor
and a later missed deadline is announced afresh. A receiver still failing after
the bounded retries misses that announcement (logged, shown in the tick), as
for the other webhooks. An asset whose source is not configured here (see
configured.py) is never due.

A brand-new instance pages nobody: the sensor's first evaluation (no cursor)
records when it started watching and announces no asset that was never
materialised; such an asset is announced once a deadline passes after that.
"""

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import dagster as dg

# The function Dagster's own cron freshness evaluator uses, so the webhook and
# the UI agree on which deadline was the last (daylight saving included).
from dagster._utils.schedules import get_latest_completed_cron_tick, get_next_cron_tick

from perfdata_assets.calendar import TIMEZONE
from perfdata_assets.configured import skipped_asset_names
from perfdata_assets.publishing.delivery import IMPORT_HOUR_UTC, PublicationBucket
from perfdata_assets.publishing.sensors import NOT_CONFIGURED
from perfdata_assets.publishing.webhooks import Delivery, WebhookNotifier
from perfdata_assets.sources.costs.assets import ServiceCostsSource
from perfdata_assets.sources.sirius.assets import ChannelCountsSource
from perfdata_assets.sources.uptime.assets import UptimeSource

UTC = dt.timezone.utc


def _yesterday_by(hour: int) -> dg.FreshnessPolicy:
    """Yesterday loaded by hour:00 UK time: a materialisation since midnight counts (nothing
    earlier can have loaded the whole of yesterday)."""
    return dg.FreshnessPolicy.cron(f"0 {hour} * * *", lower_bound_delta=dt.timedelta(hours=hour), timezone=TIMEZONE)


# Last month published, written and delivered before OPG's import copies the
# file (12:00 UTC on the 1st). The window opens 13 hours earlier, when the month
# ends in UK time whether BST (23:00 UTC) or GMT (00:00 UTC), so the monthly run
# (09:00 UK time on the 1st) counts, as do the re-runs on the 2nd to the 7th.
LAST_MONTH_BY_OPG_IMPORT = dg.FreshnessPolicy.cron(
    f"0 {IMPORT_HOUR_UTC} 1 * *", lower_bound_delta=dt.timedelta(hours=13), timezone="UTC"
)

# Every asset's deadline, beside the schedule that should meet it (schedules.py).
POLICIES: dict[str, dg.FreshnessPolicy] = {
    # nightly at 00:30; CloudWatch's day is final at 00:15
    "health_check_uptime": _yesterday_by(2),
    # nightly at 02:30 (the history)
    "raw_feedback": _yesterday_by(4),
    "lpa_lifecycle_events": _yesterday_by(4),
    # nightly at 07:00, after Sirius's own overnight processing
    "sirius_channel_counts": _yesterday_by(9),
    # nightly at 06:00, the last twelve months' costs (a month not costed yet waits, the run succeeds)
    "service_costs": _yesterday_by(8),
    # the monthly run, 09:00 UK time on days 1 to 7, for last month
    "user_satisfaction": LAST_MONTH_BY_OPG_IMPORT,
    "completion_rate": LAST_MONTH_BY_OPG_IMPORT,
    "digital_take_up": LAST_MONTH_BY_OPG_IMPORT,
    "service_uptime": LAST_MONTH_BY_OPG_IMPORT,
    # recomputed by the same monthly run: a quarter is due with the month that ends it, once its
    # last input (the month's costs, its last day's Sirius counts) is in
    "cost_per_transaction": LAST_MONTH_BY_OPG_IMPORT,
    "published_kpis": LAST_MONTH_BY_OPG_IMPORT,
    "performance_data_exports": LAST_MONTH_BY_OPG_IMPORT,
    "opg_publication_delivery": LAST_MONTH_BY_OPG_IMPORT,
}


def with_freshness(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The assets with their POLICIES deadline; an asset missing from the table is an error,
    so a new asset cannot be added without deciding when it is due."""
    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        name = spec.key.to_user_string()
        if name not in POLICIES:
            raise KeyError(f"{name} has no deadline: add it to perfdata_assets/freshness.py POLICIES")
        return spec.replace_attributes(freshness_policy=POLICIES[name])

    return [a.map_asset_specs(apply) for a in assets]


# --- Overdue ---------------------------------------------------------------------


@dataclass(frozen=True)
class Overdue:
    asset: str
    deadline: dt.datetime  # the last deadline passed
    overdue_since: dt.datetime | None  # the first deadline missed; None when never materialised
    last_materialised_at: dt.datetime | None

    @property
    def cursor_key(self) -> str:
        # Per asset and first missed deadline: later deadlines of the same lapse say nothing new.
        return "never" if self.overdue_since is None else self.overdue_since.isoformat()


def _next_tick_after(policy: dg.FreshnessPolicy, moment: dt.datetime) -> dt.datetime:
    tick = get_next_cron_tick(policy.deadline_cron, moment, policy.timezone)
    if tick <= moment:  # the iterator includes a tick exactly at its start
        tick = get_next_cron_tick(policy.deadline_cron, tick + dt.timedelta(seconds=1), policy.timezone)
    return tick.astimezone(UTC)


def overdue(
    asset: str, policy: dg.FreshnessPolicy, last_materialised_at: dt.datetime | None, now: dt.datetime
) -> Overdue | None:
    """Whether ``asset`` is overdue at ``now``, judged as Dagster's cron evaluator judges it: stale
    when its latest materialisation is before the window of the last deadline passed."""
    deadline = get_latest_completed_cron_tick(policy.deadline_cron, now, policy.timezone).astimezone(UTC)
    if last_materialised_at is not None and last_materialised_at >= deadline - policy.lower_bound_delta:
        return None
    since = None
    if last_materialised_at is not None:
        # The first deadline whose window opened after the last materialisation.
        since = _next_tick_after(policy, last_materialised_at + policy.lower_bound_delta)
    return Overdue(asset, deadline, since, last_materialised_at)


def _stamp(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def overdue_payload(late: Overdue, policy: dg.FreshnessPolicy) -> dict:
    """The JSON a webhook receives for one overdue asset: its name and times, never a figure or
    anything personal."""
    def local(moment: dt.datetime) -> str:
        return f"{moment.astimezone(ZoneInfo(policy.timezone)):%Y-%m-%d %H:%M} {policy.timezone}"

    if late.overdue_since is None:
        text = f"perfdata: {late.asset} is overdue: due by {local(late.deadline)}, never materialised"
    else:
        text = (f"perfdata: {late.asset} is overdue since {local(late.overdue_since)}; last materialised "
                f"{late.last_materialised_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    return {
        "event": "asset-overdue",
        "asset": late.asset,
        "deadline": _stamp(late.deadline),
        "overdue_since": _stamp(late.overdue_since),
        "last_materialised_at": _stamp(late.last_materialised_at),
        # Chat webhooks (Slack, Teams) show "text".
        "text": text,
    }


def utc_now() -> dt.datetime:
    """The sensor's clock (tests replace it to stand after a deadline)."""
    return dt.datetime.now(UTC)


def overdue_assets(
    policies: Mapping[str, dg.FreshnessPolicy], latest: Mapping[str, dt.datetime | None], now: dt.datetime
) -> list[Overdue]:
    """Every asset of ``policies`` overdue at ``now``, given when each was last materialised."""
    late = (overdue(name, policy, latest.get(name), now) for name, policy in policies.items())
    return [o for o in late if o is not None]


# The cursor's key for when the sensor first evaluated (no asset is named so).
WATCHING_SINCE = "~watching_since"


def _before_watching(late: Overdue, watching_since: dt.datetime) -> bool:
    """Never materialised, and its last deadline passed before the sensor started watching."""
    return late.overdue_since is None and late.deadline <= watching_since


def _latest_materialisations(instance: dg.DagsterInstance, names: Iterable[str]) -> dict[str, dt.datetime | None]:
    """When each asset was last materialised, any partition (as Dagster's evaluator counts)."""
    events = instance.get_latest_materialization_events([dg.AssetKey(n) for n in names])
    return {
        key.to_user_string(): None if event is None else dt.datetime.fromtimestamp(event.timestamp, UTC)
        for key, event in events.items()
    }


@dg.sensor(
    name="perfdata_overdue_webhook",
    # Deadlines are hours apart; a few minutes' delay in saying one was missed is fine.
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="POSTs an alert (asset, deadline, since when) to each PERFDATA_WEBHOOK_URLS URL once when an "
    "asset misses its freshness deadline (perfdata_assets/freshness.py).",
)
def perfdata_overdue_webhook(
    context: dg.SensorEvaluationContext,
    webhooks: WebhookNotifier,
    channel_counts_source: ChannelCountsSource,
    uptime_source: UptimeSource,
    service_costs_source: ServiceCostsSource,
    publication_bucket: PublicationBucket,
) -> dg.SkipReason:
    if not webhooks.url_list():
        return dg.SkipReason(NOT_CONFIGURED)
    # The resources decide what is configured, as for the monthly run and `perfdata backfill`.
    skipped = skipped_asset_names({
        "channel_counts_source": channel_counts_source,
        "uptime_source": uptime_source,
        "service_costs_source": service_costs_source,
        "publication_bucket": publication_bucket,
    })
    due = {name: policy for name, policy in POLICIES.items() if name not in skipped}
    now = utc_now()
    late = overdue_assets(due, _latest_materialisations(context.instance, due), now)
    announced: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    watching_since = dt.datetime.fromisoformat(announced.pop(WATCHING_SINCE, now.isoformat()))
    new = [o for o in late if announced.get(o.asset) != o.cursor_key and not _before_watching(o, watching_since)]

    down: set[str] = set()  # a URL that failed is not retried again this tick
    failures: list[Delivery] = []
    sent = 0
    for item in new:
        for delivery in webhooks.post(overdue_payload(item, due[item.asset]), skip=down):
            if delivery.error is None:
                sent += 1
            else:
                down.add(delivery.url)
                failures.append(delivery)
                context.log.error(f"overdue webhook for {item.asset}: {delivery.describe()}")
    # Only what is overdue now and announced: an asset materialised since drops out, and may
    # be announced again; one never materialised and not yet due since watching stays out.
    kept = {o.asset: o.cursor_key for o in late if not _before_watching(o, watching_since)}
    context.update_cursor(json.dumps({**kept, WATCHING_SINCE: watching_since.isoformat()}, sort_keys=True))
    if not late:
        return dg.SkipReason("nothing overdue")
    if not new:
        quiet = [o.asset for o in late if _before_watching(o, watching_since)]
        if quiet and len(quiet) == len(late):
            return dg.SkipReason(f"never materialised, not due since this sensor started watching "
                                 f"({watching_since:%Y-%m-%d %H:%M} UTC): {', '.join(quiet)}")
        return dg.SkipReason(f"still overdue, announced before: {', '.join(o.asset for o in late)}")
    text = f"overdue {', '.join(o.asset for o in new)}: {sent} delivered"
    return dg.SkipReason(text + (f"; failed: {', '.join(d.describe() for d in failures)}" if failures else ""))
