"""Monthly cost lines as perfdata holds them, the money arithmetic, and the errors around
fetching them (contract: docs/contract/costs.md).

Amounts are ``Decimal`` from the moment they are read: a cost is never a float here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

CHANNELS = ("digital", "paper", "phone", "shared")
FINANCE, AWS = "finance", "aws"
AWS_CHANNEL, AWS_CATEGORY = "digital", "aws"
PENNY = Decimal("0.01")
# numeric(14, 2): up to 999,999,999,999.99 pounds in a line.
MAX_AMOUNT = Decimal("999999999999.99")

_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


@dataclass(frozen=True)
class CostLine:
    """One line of perfdata.service_costs: a month's cost for a channel and category, in pounds."""

    month: dt.date  # the month's first day
    channel: str
    category: str
    amount_gbp: Decimal
    source: str  # finance or aws


class CostError(Exception):
    """Costs could not be obtained. The message is one sentence, without credentials or account ids."""


class CostSettingsError(CostError):
    """A setting is wrong (the message names the variable): found before any request, never retried."""


class CostUnavailable(CostError):
    """Throttling or 5xx outlasted the bounded retries: worth trying again later."""


class CostRefused(CostError):
    """Cost Explorer refused (access denied, no credentials, bad parameters) or answered something
    that is not understood whole (malformed, a currency other than USD): retrying cannot help."""


class CostCsvError(CostError):
    """A CSV file is unusable; the message names the file's variable and the line."""


def month_of(raw: str) -> dt.date | None:
    """'2026-09' -> 2026-09-01; None for anything else."""
    if not _MONTH.fullmatch(raw):
        return None
    year, month = int(raw[:4]), int(raw[5:])
    if not 1 <= month <= 12 or year < 1900:
        return None
    return dt.date(year, month, 1)


def to_gbp(usd: Decimal, usd_per_gbp: Decimal) -> Decimal:
    """round(usd / usd_per_gbp, 2), half away from zero (service-costs.md), exactly."""
    # Enough digits that the quotient is never rounded before the one rounding that counts.
    with localcontext(prec=60):
        return (usd / usd_per_gbp).quantize(PENNY, rounding=ROUND_HALF_UP)
