"""Live scoring of one partner's posted activity, with the training feature definitions.

The rows go through the same path as a dataset on disk: the contract loader
(``validate_tables``), the point-in-time features (``build_feature_table``) and the
explained scoring (``score_partners``), so a CRM holding the data itself gets the
same score the scoring job would give.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from ghost_model.contract import LATEST_CUTOFF_DAY
from ghost_model.errors import ConfigError, DataContractError
from serving.errors import RequestFieldError
from serving.schemas import ActivityRequest, parse_as_of
from serving.state import ServiceState

log = logging.getLogger(__name__)

T = TypeVar("T")


class FeatureRows(Protocol):
    """What the table check needs from a feature table."""

    @property
    def stages_without_data(self) -> list[str]: ...


LiveScorer = Callable[[ServiceState, ActivityRequest], dict[str, Any]]
"""Turns posted activity into one explained score record, with the state's model."""


ROW_PROBLEM = re.compile(
    r"^\s*-\s*tables\.(?P<table>\w+) row (?P<row>\d+), column '(?P<column>[^']+)'"
)
"""A violation line of a contract error: ``- tables.deals row 2, column 'x', ...``."""


def score_activity(state: ServiceState, request: ActivityRequest) -> dict[str, Any]:
    """Score the posted activity of one partner with the state's model.

    Parameters
    ----------
    state
        The current state (its model scores the rows).
    request
        The validated request body.

    Returns
    -------
    dict
        The explained score record of ``request.partner_id``.

    Raises
    ------
    RequestFieldError
        A row breaks the data contract, a row belongs to another partner, or the
        partner is not active at ``as_of``.
    """
    import pandas as pd

    from ghost_model.dataset import (
        DatasetConfig,
        check_timezone,
        day_cutoff,
        latest_cutoff,
    )
    from ghost_model.features import build_feature_table
    from ghost_model.loaders import validate_tables
    from ghost_model.scoring import score_partners

    started = time.perf_counter()
    timezone = _checked(
        lambda: check_timezone(request.timezone, "timezone"), "body.timezone"
    )
    day = resolve_day(request.as_of, timezone)
    config = DatasetConfig(
        timezone=timezone,
        extract_time=pd.Timestamp.now(tz="UTC").as_unit("us"),
        name="posted activity",
    )
    cutoff = _checked(
        lambda: day_cutoff(day, timezone, f"as_of {request.as_of!r}"), "body.as_of"
    )
    latest = latest_cutoff(config.extract_time, timezone)
    if cutoff > latest:
        raise RequestFieldError.about(
            "body.as_of",
            f"{request.as_of!r} is {day.isoformat()} in {timezone}, after today "
            f"({latest.tz_convert(timezone).date().isoformat()}); a score is taken "
            "at a midnight that has passed",
        )
    posted = request.tables.model_dump(exclude_none=True)
    raw = {
        name: pd.DataFrame.from_records(rows, columns=None if rows else columns(name))
        for name, rows in posted.items()
    }
    sources = {name: f"tables.{name}" for name in raw}
    dataset = _checked(
        lambda: validate_tables(raw, config, sources=sources), "body.tables"
    )

    table = _checked(lambda: build_feature_table(dataset, [cutoff]), "body.tables")
    frame = table.frame
    if frame.empty or not (frame["partner_id"] == request.partner_id).any():
        raise RequestFieldError.about(
            "body.as_of", inactive_message(request.partner_id, day)
        )
    check_model_tables(
        state.model.feature_names, frame.columns, state.catalogue, posted=raw
    )
    records = _checked(
        lambda: score_partners(
            state.model,
            table,
            timezone=timezone,
            as_of=cutoff,
            lang=request.lang,
            catalogue=state.catalogue,
        ),
        "body.tables",
    )
    record = next((r for r in records if r["partner_id"] == request.partner_id), None)
    if record is None:
        raise RequestFieldError.about(
            "body.as_of", inactive_message(request.partner_id, day)
        )
    log.debug(
        "scored posted activity in %.1f ms", 1e3 * (time.perf_counter() - started)
    )
    return dict(record)


def columns(table: str) -> list[str]:
    """The contract columns of ``table``, for a table posted with no rows."""
    from ghost_model.contract import TABLES

    return list(TABLES[table].column_names)


def check_model_tables(
    needed: Sequence[str],
    present: Iterable[str],
    catalogue: Mapping[str, Any] | None,
    posted: Iterable[str],
) -> None:
    """Refuse activity lacking tables whose features the model was trained on.

    Parameters
    ----------
    needed
        The model's feature names.
    present
        The columns of the feature table built from the request.
    catalogue
        The feature catalogue (``FeatureSpec`` per feature); loaded when ``None``.
    posted
        The names of the tables the request posts.

    Raises
    ------
    RequestFieldError
        Naming the tables to post, when a feature of the model is missing.
    """
    missing = sorted(set(needed).difference(present))
    if not missing:
        return
    if catalogue is None:
        from ghost_model.features import load_catalogue

        catalogue = load_catalogue()
    have = set(posted)
    tables = sorted(
        {
            name
            for feature in missing
            if feature in catalogue
            for name in catalogue[feature].tables
        }
        - have
    )
    raise RequestFieldError.about(
        "body.tables",
        f"the model uses {len(missing)} feature(s) of tables the request does not "
        f"post ({', '.join(tables) or 'not in the feature catalogue'}), e.g. "
        f"{missing[0]!r}; post those tables, as an empty list when the partner has "
        "no such rows",
    )


def warm_live_path(state: ServiceState) -> None:
    """Score a small made-up partner once, so a load can freeze what that creates.

    The first live scoring imports modules and fills caches inside the loader and
    feature libraries; done during a load, those long-lived objects are frozen with
    the model (see :func:`serving.state.settle_memory`) instead of being walked by
    every full garbage collection while requests are served.
    """
    try:
        score_activity(state, warm_up_request())
    except Exception as exc:  # only a warm-up: the real requests report errors
        log.warning("live scoring warm-up failed: %s: %s", type(exc).__name__, exc)


def warm_up_request() -> ActivityRequest:
    """A small, valid activity of a made-up partner, with every contract table."""
    partner = "warm-up-partner"
    deals: list[dict[str, Any]] = [
        {
            "deal_id": f"warm-{month}",
            "partner_id": partner,
            "rep_id": "warm-rep",
            "registered_at": f"2024-{month:02d}-10",
            "closed_at": f"2024-{month:02d}-20",
            "outcome": "won" if month % 2 else "lost",
            "amount": 1000.0,
        }
        for month in range(1, 6)
    ]
    return ActivityRequest.model_validate(
        {
            "partner_id": partner,
            "as_of": "2024-06-01",
            "timezone": "UTC",
            "tables": {
                "deals": deals,
                "partners": [{"partner_id": partner, "signed_at": "2023-01-01"}],
                "partner_reps": [
                    {
                        "rep_id": "warm-rep",
                        "partner_id": partner,
                        "joined_at": "2023-02-01",
                    }
                ],
                "interactions": [],
                "portal_views": [],
                "psm_assignments": [],
            },
        }
    )


def resolve_day(text: str, timezone: str | None) -> dt.date:
    """The cutoff day of ``as_of``: a date, or a timestamp's day in ``timezone``.

    Parameters
    ----------
    text
        A date or an ISO timestamp (checked by the request model).
    timezone
        The dataset's IANA zone; ``None`` keeps a timestamp's own offset.

    Returns
    -------
    datetime.date
        The calendar day whose midnight is the cutoff.
    """
    value = parse_as_of(text)
    if not isinstance(value, dt.datetime):
        return _in_range(value, text)
    if value.tzinfo is not None and timezone is not None:
        try:
            value = value.astimezone(ZoneInfo(timezone))
        except OverflowError as exc:  # e.g. 9999-12-31T23:59Z read in Asia/Tokyo
            raise RequestFieldError.about(
                "body.as_of",
                f"{text!r} is outside the calendar once read in {timezone}; "
                "send a date or a timestamp between years 1 and 9999 there",
            ) from exc
    return _in_range(value.date(), text)


def _in_range(day: dt.date, text: str) -> dt.date:
    if day > LATEST_CUTOFF_DAY:
        raise RequestFieldError.about(
            "body.as_of",
            f"{text!r} is after {LATEST_CUTOFF_DAY.isoformat()}, the last day a "
            "cutoff may be",
        )
    return day


def check_single_partner(request: ActivityRequest) -> None:
    """Refuse rows of other partners and columns outside the contract.

    Messages count rows from 1 (as the contract loader does); field paths index
    them from 0.
    """
    from ghost_model.contract import TABLES

    partner_id = request.partner_id
    tables = request.tables
    for name in type(tables).model_fields:
        columns = TABLES[name].column_names
        for row, values in enumerate(getattr(tables, name) or ()):
            unknown = sorted(set(values).difference(columns))
            if unknown:
                raise RequestFieldError.about(
                    f"body.tables.{name}.{row}.{unknown[0]}",
                    f"tables.{name} row {row + 1}: column {unknown[0]!r} is not in "
                    f"the {name!r} contract table (columns: {', '.join(columns)})",
                )
            value = values.get("partner_id")
            if value is not None and str(value) != partner_id:
                raise RequestFieldError.about(
                    f"body.tables.{name}.{row}.partner_id",
                    f"tables.{name} row {row + 1}: partner_id {value!r} differs from "
                    f"the request's partner_id {partner_id!r}; post one partner's "
                    "activity per request",
                )


def inactive_message(partner_id: str, day: dt.date) -> str:
    """Why a posted partner got no score at ``day``."""
    return (
        f"partner {partner_id!r} is not active at {day.isoformat()}: scored partners "
        "need a deal registered in the lookback window before as_of and no "
        "termination before it; post its deals of that window or pick another as_of"
    )


def _checked(call: Callable[[], T], field: str) -> T:
    """Run one step; contract and configuration errors become field errors."""
    try:
        return call()
    except (DataContractError, ConfigError) as exc:
        raise contract_error(str(exc), field) from exc


def contract_error(message: str, field: str) -> RequestFieldError:
    """A 422 from a loader message, one entry per violating row and column."""
    lines = [line for line in message.splitlines() if "--quarantine" not in line]
    errors = []
    for line in lines:
        match = ROW_PROBLEM.match(line)
        if match:
            row = int(match["row"]) - 1
            errors.append(
                {
                    "field": f"body.tables.{match['table']}.{row}.{match['column']}",
                    "message": line.strip(" -"),
                }
            )
    text = "\n".join(lines)
    return RequestFieldError(text, errors or [{"field": field, "message": text}])
