"""The data contract: the tables a dataset may hold and the rules on their columns.

Only ``deals`` is required. Every other table is optional; a stage whose tables are
absent is reported as having no data, never zero-filled.

After loading, every table has its canonical dtypes:

* ids, categories and free text: pandas' string dtype (``"str"``), missing as NaN;
  an id read from a float column such as ``12345.0`` becomes ``"12345"``;
* timestamps: ``datetime64[us, UTC]`` (offsets converted, naive values read in the
  dataset's time zone);
* numbers: ``float64``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["id", "timestamp", "category", "number", "text"]

STAGES: tuple[str, ...] = ("sellability", "distance", "priority")
"""The three stages of partner silence, in the order in which they usually spread."""

STAGES_WITH_CONTEXT: tuple[str, ...] = (*STAGES, "context")

STAGE_NAMES: dict[str, dict[str, str]] = {
    "sellability": {"en": "Sell-through confidence", "ja": "売れる実感"},
    "distance": {"en": "Relationship distance", "ja": "心理的距離"},
    "priority": {"en": "Internal priority", "ja": "社内優先順位"},
    "context": {"en": "Context", "ja": "前提条件"},
}

OUTCOMES = frozenset({"won", "lost", "open"})
DIRECTIONS = frozenset({"inbound", "outbound"})
INTERACTION_KINDS = frozenset({"question", "consultation", "report", "other"})

TIMESTAMP_DTYPE = "datetime64[us, UTC]"

FIRST_SUPPORTED_INSTANT = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
"""The earliest instant a timestamp (or an extract time) may hold: no partner
activity predates it, and a placeholder such as ``0001-01-01`` would otherwise span
thousands of cutoffs."""

LATEST_CUTOFF_DAY = dt.date(9998, 12, 31)
"""The last day a cutoff may be: a label window of up to a year after it still ends
before the calendar does (local times past year 9999 cannot be computed)."""


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a contract table."""

    name: str
    kind: ColumnKind
    required: bool = False
    allowed: frozenset[str] | None = None


@dataclass(frozen=True)
class TableSpec:
    """One contract table: its columns and the rules that tie them together.

    ``key`` is the column that identifies a row (two different rows may not share
    it); ``event_time`` dates the row and may not lie after the extract time;
    ``intervals`` are (start, end) pairs where end may not precede start.
    """

    name: str
    columns: tuple[ColumnSpec, ...]
    event_time: str
    key: str | None = None
    intervals: tuple[tuple[str, str], ...] = field(default=())

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(f"table {self.name!r} has no column {name!r}")


def _c(
    name: str,
    kind: ColumnKind,
    required: bool = False,
    allowed: frozenset[str] | None = None,
) -> ColumnSpec:
    return ColumnSpec(name=name, kind=kind, required=required, allowed=allowed)


TABLES: dict[str, TableSpec] = {
    "deals": TableSpec(
        name="deals",
        columns=(
            _c("deal_id", "id", required=True),
            _c("partner_id", "id", required=True),
            _c("registered_at", "timestamp", required=True),
            _c("rep_id", "id"),
            _c("closed_at", "timestamp"),
            _c("outcome", "category", allowed=OUTCOMES),
            _c("stage", "category"),
            _c("amount", "number"),
            _c("product", "category"),
        ),
        event_time="registered_at",
        key="deal_id",
        intervals=(("registered_at", "closed_at"),),
    ),
    "partners": TableSpec(
        name="partners",
        columns=(
            _c("partner_id", "id", required=True),
            _c("name", "text"),
            _c("tier", "category"),
            _c("region", "category"),
            _c("signed_at", "timestamp"),
            _c("terminated_at", "timestamp"),
        ),
        event_time="signed_at",
        key="partner_id",
        intervals=(("signed_at", "terminated_at"),),
    ),
    "partner_reps": TableSpec(
        name="partner_reps",
        columns=(
            _c("rep_id", "id", required=True),
            _c("partner_id", "id", required=True),
            _c("joined_at", "timestamp", required=True),
            _c("left_at", "timestamp"),
        ),
        event_time="joined_at",
        key="rep_id",
        intervals=(("joined_at", "left_at"),),
    ),
    "interactions": TableSpec(
        name="interactions",
        columns=(
            _c("interaction_id", "id", required=True),
            _c("partner_id", "id", required=True),
            _c("occurred_at", "timestamp", required=True),
            _c("rep_id", "id"),
            _c("direction", "category", allowed=DIRECTIONS),
            _c("kind", "category", allowed=INTERACTION_KINDS),
            _c("channel", "category"),
            _c("responded_at", "timestamp"),
        ),
        event_time="occurred_at",
        key="interaction_id",
        intervals=(("occurred_at", "responded_at"),),
    ),
    "portal_views": TableSpec(
        name="portal_views",
        columns=(
            _c("partner_id", "id", required=True),
            _c("viewed_at", "timestamp", required=True),
            _c("rep_id", "id"),
            _c("asset", "category"),
        ),
        event_time="viewed_at",
    ),
    "psm_assignments": TableSpec(
        name="psm_assignments",
        columns=(
            _c("partner_id", "id", required=True),
            _c("psm_id", "id", required=True),
            _c("assigned_at", "timestamp", required=True),
            _c("unassigned_at", "timestamp"),
        ),
        event_time="assigned_at",
        intervals=(("assigned_at", "unassigned_at"),),
    ),
}

REQUIRED_TABLES: tuple[str, ...] = ("deals",)

STAGE_TABLES: dict[str, tuple[str, ...]] = {
    "sellability": ("deals",),
    "distance": ("interactions", "portal_views", "psm_assignments"),
    "priority": ("deals", "partner_reps"),
    "context": ("deals", "partners", "partner_reps"),
}
"""The tables a stage's features may draw on; a stage with none of them has no data."""
