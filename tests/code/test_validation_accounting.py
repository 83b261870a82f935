"""Row accounting: read = accepted + quarantined + duplicates, and no row is lost."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ghost_model.dataset import DatasetConfig
from ghost_model.loaders import validate_tables

CONFIG = DatasetConfig(
    timezone="Asia/Tokyo",
    extract_time=pd.Timestamp("2024-06-30T00:00:00Z").as_unit("us"),
)
FAULTS = ("bad_outcome", "missing_partner", "late", "closed_early", "bad_time")
OPS = ("valid", "valid", "exact_dup", "id_clash", *FAULTS)


@dataclass(frozen=True)
class Row:
    deal_id: str
    partner_id: str | None
    registered_at: str
    closed_at: str | None
    outcome: str | None
    bad: bool


def make_row(i: int, op: str) -> Row:
    row = Row(
        f"D{i}", f"P{i % 4}", f"2024-01-{1 + i % 28:02d}T10:00:00", None, "open", False
    )
    if op == "bad_outcome":
        return replace(row, outcome="pending", bad=True)
    if op == "missing_partner":
        return replace(row, partner_id=None, bad=True)
    if op == "late":
        return replace(row, registered_at="2024-08-01", bad=True)
    if op == "closed_early":
        return replace(row, closed_at="2023-12-01", outcome="lost", bad=True)
    if op == "bad_time":
        return replace(row, registered_at="yesterday", bad=True)
    return row


def build_rows(ops: list[tuple[str, int]]) -> list[Row]:
    rows: list[Row] = []
    for i, (op, pick) in enumerate(ops):
        if op == "exact_dup" and rows:
            rows.append(rows[pick % len(rows)])
        elif op == "id_clash" and rows:
            source = rows[pick % len(rows)]
            rows.append(replace(source, partner_id=f"Q{i}", bad=False))
        else:
            rows.append(make_row(i, op if op in FAULTS else "valid"))
    return rows


def expected_counts(rows: list[Row]) -> dict[str, int]:
    """An independent oracle: distinct rows, ids shared by distinct rows, bad rows."""
    distinct = list(dict.fromkeys(rows))
    per_id: dict[str, int] = {}
    for row in distinct:
        per_id[row.deal_id] = per_id.get(row.deal_id, 0) + 1
    rejected = sum(1 for r in distinct if r.bad or per_id[r.deal_id] > 1)
    return {
        "read": len(rows),
        "accepted": len(distinct) - rejected,
        "quarantined": rejected,
        "duplicates": len(rows) - len(distinct),
    }


def as_frame(rows: list[Row]) -> pd.DataFrame:
    columns = ["deal_id", "partner_id", "registered_at", "closed_at", "outcome"]
    return pd.DataFrame(
        [[getattr(r, c) for c in columns] for r in rows], columns=columns, dtype="str"
    )


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(OPS), st.integers(min_value=0, max_value=1000)),
        max_size=30,
    )
)
def test_quarantine_row_accounting_holds(ops: list[tuple[str, int]]) -> None:
    """Check that read = accepted + quarantined + duplicates on random mixes."""
    rows = build_rows(ops)
    if not rows:
        rows = [make_row(0, "valid")]

    dataset = validate_tables({"deals": as_frame(rows)}, CONFIG, quarantine=True)

    counts = dataset.row_counts["deals"]
    assert counts == expected_counts(rows)
    assert counts["read"] == (
        counts["accepted"] + counts["quarantined"] + counts["duplicates"]
    )
    accepted = dataset.table("deals")
    assert accepted["deal_id"].is_unique
    good_ids = {r.deal_id for r in rows if not r.bad}
    assert set(accepted["deal_id"]) <= good_ids


@settings(max_examples=8, deadline=None)
@given(ops=st.lists(st.sampled_from(("valid", "exact_dup", *FAULTS)), max_size=20))
def test_quarantine_accepted_rows_pass_strict_mode(ops: list[str]) -> None:
    """Check that the rows quarantine mode accepts pass strict validation again."""
    rows = build_rows([(op, 0) for op in ops]) or [make_row(0, "valid")]
    dataset = validate_tables({"deals": as_frame(rows)}, CONFIG, quarantine=True)

    again = validate_tables({"deals": dataset.table("deals")}, CONFIG)

    pd.testing.assert_frame_equal(again.table("deals"), dataset.table("deals"))
