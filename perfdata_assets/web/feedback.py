"""The feedback form's intake: validation as sources.md states it, and the row the service would write.

The LPA service's ``feedback`` table is the source of the user-satisfaction
KPI, so a submission through perfdata's API must be indistinguishable from
one through the service: the same six message keys (``email`` and ``phone``
empty strings when not given), ``details``, ``agent``, ``fromPage`` and
``phone`` HTML-escaped as PHP's ``htmlspecialchars(ENT_QUOTES)`` does, and
``received`` in UTC.

``details``, ``email`` and ``phone`` are personal data: no message built here
contains them, and nothing here logs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from perfdata_assets.config import normalise_url
from perfdata_assets.db.engines import lpa_write_engine
from perfdata_assets.sources.lpa.tables import RATINGS
from perfdata_assets.sources.lpa.tables import feedback as feedback_table

MAX_DETAILS = 2000
MAX_EMAIL = 254  # RFC 5321 path limit
MAX_PHONE = 20
UNKNOWN_PAGE = "Unknown"

_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"  # dot-atom local part
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"  # domain labels
    # A TLD: letters, or an internationalised one in its ASCII form (xn--p1ai is .рф).
    r"([A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9]([A-Za-z0-9-]{0,57}[A-Za-z0-9])?)"
)
_PHONE = re.compile(r"[0-9 +()\-]+")
# What PHP's htmlspecialchars($s, ENT_QUOTES) replaces; '&' first so nothing is escaped twice.
_HTML_SPECIAL = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#039;"))


class FeedbackInvalid(Exception):
    """The submission breaks a rule. ``problems`` are (field, message) pairs, never the value."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))
        self.problems = problems


class FeedbackNotStored(Exception):
    """The LPA database refused or could not be reached. The message holds no submitted data."""


@dataclass(frozen=True)
class Feedback:
    rating: str
    details: str
    email: str  # lower-cased; "" when not given
    phone: str  # "" when not given


def htmlspecialchars(text: str) -> str:
    """PHP's ``htmlspecialchars($text, ENT_QUOTES)``: ``'`` becomes ``&#039;`` (html.escape gives ``&#x27;``)."""
    for char, entity in _HTML_SPECIAL:
        text = text.replace(char, entity)
    return text


def _storable(text: str) -> bool:
    # PostgreSQL text and jsonb cannot hold NUL, and an unpaired surrogate
    # (legal in JSON's \\u escapes) is not UTF-8: refuse both as bad input.
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _problem(message: str) -> PydanticCustomError:
    # The message is the rule, never the value: a refused email must not be echoed.
    return PydanticCustomError("feedback", message)


def _not_given(value: object) -> bool:
    """Absent, null and "" all mean "not given", as the service's validator treats them."""
    return value is None or value == ""


class FeedbackForm(BaseModel):
    """A feedback form submission."""

    # The one definition of the form: it validates every submission (parse_feedback)
    # and it is the request body of the OpenAPI document. The annotations say what is
    # accepted; the validators give each rule the message the API answers with.
    model_config = ConfigDict(extra="ignore")

    rating: Literal[RATINGS]
    details: str = Field(min_length=1, max_length=MAX_DETAILS, pattern=r"^[^\x00]*$",
                         description="1 to 2000 characters, no NUL")
    email: Annotated[str, Field(max_length=MAX_EMAIL, json_schema_extra={"format": "email"})] | Literal[
        ""] | None = Field(None, description="stored lower-cased; empty or null when not given")
    phone: str | None = Field(None, max_length=MAX_PHONE, pattern=r"^([ +()\-]*[0-9][0-9 +()\-]*)?$",
                              description="digits, spaces and + ( ) -; empty or null when not given")

    @field_validator("rating", mode="before")
    @classmethod
    def _rating(cls, value: object) -> object:
        if value is None:
            raise _problem("is required")
        if not isinstance(value, str) or value not in RATINGS:
            raise _problem(f"must be one of {', '.join(RATINGS)}")
        return value

    @field_validator("details", mode="before")
    @classmethod
    def _details(cls, value: object) -> object:
        if value is None:
            raise _problem("is required")
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_DETAILS:
            raise _problem(f"must be text of 1 to {MAX_DETAILS} characters")
        if not _storable(value):
            raise _problem("must not contain NUL characters or unpaired surrogates")
        return value

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: object) -> object:
        if _not_given(value):
            return None
        if not (isinstance(value, str) and len(value) <= MAX_EMAIL and len(value.split("@")[0]) <= 64
                and _EMAIL.fullmatch(value)):
            raise _problem("must be a valid email address")
        return value

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: object) -> object:
        if _not_given(value):
            return None
        if not (isinstance(value, str) and len(value) <= MAX_PHONE and _PHONE.fullmatch(value)
                and any(c.isdigit() for c in value)):
            raise _problem(f"must be at most {MAX_PHONE} digits, spaces and + ( ) -")
        return value


def parse_feedback(body: bytes) -> Feedback:
    """Validate a JSON request body with ``FeedbackForm``; raises FeedbackInvalid naming every field that is wrong."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FeedbackInvalid([("body", "must be a JSON object")]) from None
    if not isinstance(data, dict):
        raise FeedbackInvalid([("body", "must be a JSON object")])
    try:
        form = FeedbackForm.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else "body"
            message = "is required" if error["type"] == "missing" else error["msg"]
            if (field, message) not in problems:
                problems.append((field, message))
        raise FeedbackInvalid(problems) from None
    return Feedback(rating=form.rating, details=form.details, email=(form.email or "").lower(), phone=form.phone or "")


def from_page(referer: str | None) -> str:
    """The referring page's path (never its query string, which can hold anything), or ``Unknown``."""
    if not referer:
        return UNKNOWN_PAGE
    try:
        path = urlsplit(referer).path
    except ValueError:
        return UNKNOWN_PAGE
    return path or UNKNOWN_PAGE


def message(form: Feedback, user_agent: str | None, referer: str | None) -> dict[str, str]:
    """The ``message`` document exactly as the LPA service stores it."""
    return {
        "rating": form.rating,
        "details": htmlspecialchars(form.details),
        "email": form.email,
        "phone": htmlspecialchars(form.phone),
        "agent": htmlspecialchars(user_agent or ""),
        "fromPage": htmlspecialchars(from_page(referer)),
    }


class FeedbackStore:
    """Inserts into the LPA database's ``feedback`` table; the engine is made on first use."""

    def __init__(self, lpa_database_url: str):
        self._url = lpa_database_url
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()

    def _get_engine(self) -> sa.Engine:
        with self._lock:
            if self._engine is None:
                self._engine = lpa_write_engine(normalise_url("LPA_DATABASE_URL", self._url))
            return self._engine

    def add(self, document: dict[str, str], received: dt.datetime) -> int:
        try:
            with self._get_engine().begin() as conn:
                result = conn.execute(feedback_table.insert().values(received=received, message=document))
                return int(result.inserted_primary_key[0])
        except sa.exc.SQLAlchemyError as exc:
            # SQLAlchemy's message quotes the statement's parameters: personal
            # data. Only the kind of failure goes on.
            reason = type(getattr(exc, "orig", None) or exc).__name__
            raise FeedbackNotStored(f"the LPA database did not store the feedback ({reason})") from None

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
