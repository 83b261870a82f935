"""The quick screen of the contract rules agrees with the pandera schema."""

from __future__ import annotations

import functools
from typing import Any

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ghost_model.contract import TABLES
from ghost_model.dataset import DatasetConfig
from ghost_model.errors import DataContractError
from ghost_model.validation import Origin
from ghost_model.validation.coerce import coerce_table
from ghost_model.validation.rules import find_violations, may_violate
from ghost_model.validation.validate import validate_table

EXTRACT = pd.Timestamp("2024-06-30T00:00:00Z").as_unit("us")
CONFIG = DatasetConfig(timezone="Asia/Tokyo", extract_time=EXTRACT)

VALID: dict[str, list[dict[str, Any]]] = {
    "deals": [
        {
            "deal_id": "D1",
            "partner_id": "P1",
            "registered_at": "2024-01-05T10:00:00Z",
            "rep_id": "R1",
            "closed_at": "2024-02-01",
            "outcome": "won",
            "amount": 100.0,
        },
        {
            "deal_id": "D2",
            "partner_id": "P1",
            "registered_at": "2024-03-05",
            "outcome": None,
            "amount": None,
        },
    ],
    "partners": [
        {"partner_id": "P1", "tier": "gold", "signed_at": "2022-01-01"},
    ],
    "partner_reps": [
        {"rep_id": "R1", "partner_id": "P1", "joined_at": "2023-01-01"},
        {
            "rep_id": "R2",
            "partner_id": "P1",
            "joined_at": "2023-01-01",
            "left_at": "2024-01-01",
        },
    ],
    "interactions": [
        {
            "interaction_id": "I1",
            "partner_id": "P1",
            "occurred_at": "2024-02-01T09:00:00+09:00",
            "direction": "inbound",
            "kind": "question",
            "responded_at": "2024-02-01T10:00:00+09:00",
        },
    ],
    "portal_views": [
        {"partner_id": "P1", "viewed_at": "2024-02-03", "asset": "deck"},
    ],
    "psm_assignments": [
        {"partner_id": "P1", "psm_id": "M1", "assigned_at": "2023-01-01"},
    ],
}

BROKEN: list[tuple[str, str, int, str, Any]] = [
    # (table, kind of violation, row, column, value)
    ("deals", "missing", 0, "registered_at", None),
    ("deals", "duplicate_id", 1, "deal_id", "D1"),
    ("deals", "allowed", 0, "outcome", "maybe"),
    ("deals", "after_extract", 1, "registered_at", "2024-07-01"),
    ("deals", "interval", 0, "closed_at", "2023-12-01"),
    ("deals", "parse", 0, "amount", "a lot"),
    ("deals", "parse", 0, "deal_id", 1.5),
    ("deals", "parse", 1, "closed_at", "someday"),
    ("partners", "interval", 0, "terminated_at", "2021-01-01"),
    ("partners", "missing", 0, "partner_id", ""),
    ("partner_reps", "duplicate_id", 1, "rep_id", "R1"),
    ("partner_reps", "interval", 1, "left_at", "2022-01-01"),
    ("interactions", "allowed", 0, "direction", "sideways"),
    ("interactions", "allowed", 0, "kind", "gossip"),
    ("interactions", "interval", 0, "responded_at", "2024-01-01"),
    ("interactions", "after_extract", 0, "occurred_at", "2030-01-01"),
    ("portal_views", "missing", 0, "viewed_at", None),
    ("portal_views", "parse", 0, "partner_id", True),
    ("psm_assignments", "interval", 0, "unassigned_at", "2022-01-01"),
]


def canonical(
    name: str, rows: list[dict[str, Any]]
) -> tuple[pd.DataFrame, list[Any], list[str]]:
    """The converted frame, its parse failures and its present columns."""
    raw = pd.DataFrame.from_records(rows)
    spec = TABLES[name]
    present = [c for c in spec.column_names if c in raw.columns]
    frame, failures = coerce_table(raw[present], spec, CONFIG.timezone)
    return frame, failures, present


def both_checks(name: str, rows: list[dict[str, Any]]) -> tuple[bool, pd.DataFrame]:
    """The screen's verdict and the schema's own violations (never screened)."""
    frame, failures, present = canonical(name, rows)
    spec = TABLES[name]
    screened = may_violate(frame, spec, EXTRACT, failures, present)
    full = find_violations(frame, spec, EXTRACT, failures, present, screen=False)
    quick = find_violations(frame, spec, EXTRACT, failures, present)
    pd.testing.assert_frame_equal(quick, full)
    return screened, full


def broken(name: str, row: int, column: str, value: Any) -> list[dict[str, Any]]:
    """The valid rows of ``name`` with one cell replaced."""
    rows = [dict(r) for r in VALID[name]]
    rows[row][column] = value
    return rows


@pytest.mark.parametrize("name", sorted(VALID))
def test_pass_valid_table_screen_and_schema(name: str) -> None:
    """Check that a valid table passes both the screen and the schema."""
    screened, full = both_checks(name, VALID[name])

    assert not screened
    assert full.empty


@pytest.mark.parametrize(("name", "kind", "row", "column", "value"), BROKEN)
def test_flag_broken_table_screen_and_schema(
    name: str, kind: str, row: int, column: str, value: Any
) -> None:
    """Check that one broken cell fails the screen and the schema, which names it."""
    screened, full = both_checks(name, broken(name, row, column, value))

    assert screened
    hits = full[(full["row"] == row) & (full["column"] == column)]
    assert kind in set(hits["kind"])


def test_flag_non_canonical_dtype_in_screen() -> None:
    """Check that a column the converter left in another dtype fails the screen and
    that the schema then reports it as a converter bug."""
    frame, failures, present = canonical("deals", VALID["deals"])
    frame["amount"] = frame["amount"].astype(object)

    assert may_violate(frame, TABLES["deals"], EXTRACT, failures, present)
    with pytest.raises(RuntimeError, match="bug in the converter"):
        find_violations(frame, TABLES["deals"], EXTRACT, failures, present)


@pytest.mark.parametrize(("name", "kind", "row", "column", "value"), BROKEN[:6])
def test_raise_same_message_with_and_without_screen(
    name: str,
    kind: str,
    row: int,
    column: str,
    value: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Check that the strict-mode error reads the same whether the screen runs."""
    from ghost_model.loaders import validate_tables
    from ghost_model.validation import validate

    rows = broken(name, row, column, value)
    messages = []
    for screen in (True, False):
        check = functools.partial(find_violations, screen=screen)
        monkeypatch.setattr(validate, "find_violations", check)
        tables = {"deals": pd.DataFrame.from_records(VALID["deals"])}
        tables[name] = pd.DataFrame.from_records(rows)
        with pytest.raises(DataContractError, match="break the data contract") as e:
            validate_tables(tables, CONFIG)
        messages.append(str(e.value))

    assert messages[0] == messages[1]
    assert f"column {column!r}" in messages[0]


CELLS: dict[str, list[Any]] = {
    "deal_id": ["D1", "D2", "D3", " D3 ", "", None, 7, 7.0, 2.5, True],
    "partner_id": ["P1", "", None],
    "registered_at": [
        "2024-01-05",
        "2024-01-05T10:00:00+09:00",
        "2024-07-02",
        "2024/03/01",
        "not a day",
        "",
        None,
    ],
    "closed_at": ["2024-02-01", "2023-01-01", "2024-08-01", "soon", None],
    "outcome": ["won", "LOST", " open ", "maybe", "", None],
    "amount": [1.0, "12", "1e400", "many", None, float("inf")],
}


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    st.lists(
        st.fixed_dictionaries({k: st.sampled_from(v) for k, v in CELLS.items()}),
        min_size=1,
        max_size=5,
    )
)
def test_agree_screen_and_schema_on_generated_deals(
    rows: list[dict[str, Any]],
) -> None:
    """Check that on generated deals the screen flags exactly the tables that the
    schema finds a violation in, and that screened results equal unscreened ones."""
    screened, full = both_checks("deals", rows)

    assert screened == (not full.empty)


def test_count_rows_alike_with_screen() -> None:
    """Check that a table validated with the screen keeps and counts every row."""
    raw = pd.DataFrame.from_records(VALID["interactions"])

    result = validate_table("interactions", raw, CONFIG, Origin("interactions"))

    assert result.counts == {
        "read": 1,
        "accepted": 1,
        "quarantined": 0,
        "duplicates": 0,
    }
    assert result.violations.empty


TIMESTAMP_CELLS = [
    "2024-01-05",
    "2024-01-05 10:00",
    "2024-01-05T10:00:00+09:00",
    "2024-01-05T01:00:00Z",
    "2024-01-05T10+09:00",
    "20240105T010000Z",
    "2024-01-05T10:00+009",
    "2024-01-05T10:00z",
    "2024/03/01",
    "2024-03-10T02:30",
    "2024-11-03T01:30",
    "not a day",
    "",
    None,
]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.lists(st.sampled_from(TIMESTAMP_CELLS), min_size=1, max_size=6),
    st.sampled_from(["UTC", "Asia/Tokyo", "America/New_York"]),
)
@example(["2024-03-10T02:30", "2024-01-05"], "America/New_York")
@example(["2024-11-03T01:30", None], "America/New_York")
@example(["2024-01-05T10:00:00+09:00", None, "not a day"], "UTC")
@example(["2024/03/01", "2024-01-05 10:00"], "Asia/Tokyo")
@example([None, ""], "Asia/Tokyo")
@example(["2023-09-03", "2023-09-03 00:30"], "America/Santiago")
@example(["2023-09-03", "2024-01-05T01:00:00Z", "20230903"], "America/Santiago")
def test_agree_timestamp_shortcut_and_general_conversion(
    cells: list[Any], timezone: str
) -> None:
    """Check that converting a column in one parse (every value with an offset, or
    none) gives the instants and failures of the general, value-by-value split."""
    from ghost_model.validation.coerce import (
        _OFFSET,
        _mixed_to_timestamp,
        _to_instants,
        matches,
        to_text,
    )

    values = pd.Series(cells, dtype=object)
    text = to_text(values)
    present = text.notna().to_numpy()
    aware = matches(text, _OFFSET)

    out, masks = _to_instants(values, timezone)
    general, general_masks = _mixed_to_timestamp(text, present, aware, timezone)

    pd.testing.assert_series_equal(out, general)
    for (mask, rule), (general_mask, general_rule) in zip(
        masks, general_masks, strict=True
    ):
        assert rule == general_rule
        assert mask.tolist() == general_mask.tolist()


ISO_LIKE = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["2024-04-01", "20240401", "2024/04/01", "2024 04 01", "2024"]),
        st.sampled_from(["", "T", " ", "t"]),
        st.sampled_from(["", "9", "09"]),
        st.sampled_from(["", ":30", "30", ":3", ":30:00", "3000", ":30:00.5", "30:00"]),
        st.sampled_from(["", " "]),
        st.sampled_from(
            ["", "Z", "z", "+09:00", "+0900", "+09", "+9", "-05:30", "+9:5"]
        ),
    ),
).map(str.strip)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(ISO_LIKE)
@example("2024-04-01T09+09:00")
@example("20240401T093000+0900")
@example("2024-04-01+09:00")
def test_read_offset_exactly_where_pandas_reads_one(cell: str) -> None:
    """Check that a value is taken as having an offset exactly when pandas parses it
    as time-zone-aware (one taken for naive but read as aware made the conversion of
    its whole column raise), and that beside other spellings it reads as pandas
    reads it alone: aware in its offset, naive in the zone; a malformed offset
    pandas reads (+9, +9:5) is a failure instead."""
    from ghost_model.validation.coerce import (
        _BAD_OFFSET,
        _OFFSET,
        _WELL_FORMED_OFFSET,
        matches,
        to_timestamp,
    )

    parsed = pd.to_datetime(pd.Series([cell]), format="ISO8601", errors="coerce")
    column = pd.Series([cell, "2024-04-01 09:30", "2024-04-01T09:30:00+09:00"])

    out, masks = to_timestamp(column, "Asia/Tokyo")

    if parsed.isna().all():
        assert pd.isna(out.iloc[0])
        return
    aware = parsed.dt.tz is not None
    assert matches(pd.Series([cell], dtype="str"), _OFFSET)[0] == aware
    if aware and not matches(pd.Series([cell], dtype="str"), _WELL_FORMED_OFFSET)[0]:
        assert pd.isna(out.iloc[0])
        assert dict((rule, mask) for mask, rule in masks)[_BAD_OFFSET][0]
        return
    expected = parsed.iloc[0] if aware else parsed.iloc[0].tz_localize("Asia/Tokyo")
    assert out.iloc[0] == expected


@pytest.mark.parametrize("lower", [False, True])
def test_strip_text_as_string_accessor_does(lower: bool) -> None:
    """Check that text conversion equals pandas' own strip, lower and blank-to-NaN."""
    from ghost_model.validation.coerce import to_text

    values = pd.Series([" Won ", "\tlost\n", "", "  ", None, 12, "Ｏｐｅｎ\u3000"])
    expected = values.astype("str").str.strip()
    expected = expected.str.lower() if lower else expected
    expected = expected.where(expected != "")

    pd.testing.assert_series_equal(to_text(values, lower=lower), expected)
