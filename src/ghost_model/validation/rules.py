"""The contract's row rules, declared as pandera schemas, and their violations.

One :class:`pandera.pandas.DataFrameSchema` per contract table states every rule on
the canonical (already converted) frame:

* dtypes: ids and categories text, timestamps ``datetime64[us, UTC]``, numbers float;
* required columns hold a value in every row;
* the key column (``deal_id``, ``interaction_id`` ...) is unique: two different rows
  with one id both break it;
* closed sets: ``outcome``, ``direction``, ``kind``;
* no timestamp lies after the dataset's extract time;
* no interval ends before it starts (for interactions: no response before its question);
* every raw value converted (a custom check per column fed by the converter's failures).

The schema is validated lazily, and pandera's ``failure_cases`` become one violation per
(row, column, rule) in a plain frame; :mod:`ghost_model.validation.validate` turns them
into messages and quarantine reasons.

Building and running a pandera schema costs tens of milliseconds per table whatever
its size, which dominates for the few rows an API request posts. So
:func:`find_violations` first screens the frame with :func:`may_violate`, the same
rules as plain vectorised comparisons: a frame that passes the screen has no
violation, and any other frame goes through the pandera schema, which lists the
violations; messages therefore always come from the schema.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from ghost_model.contract import TableSpec
from ghost_model.validation.coerce import STR_DTYPE, ParseFailure

VIOLATION_COLUMNS = ("row", "column", "kind", "rule", "other")

_TIMESTAMP = pd.DatetimeTZDtype("us", "UTC")
_INTERVAL_RULES = {
    "responded_at": "a response cannot come before the question it answers",
}


@dataclass(frozen=True)
class Rule:
    """What a named check guards: its column, its kind, its wording."""

    column: str
    kind: str
    text: str
    other: str | None = None


def build_schema(
    spec: TableSpec,
    extract_time: pd.Timestamp,
    failures: list[ParseFailure],
    present: Collection[str] | None = None,
) -> tuple[pa.DataFrameSchema, dict[str, Rule]]:
    """The pandera schema of one contract table and the wording of its checks.

    Parameters
    ----------
    spec
        The contract table.
    extract_time
        The dataset's extract time (UTC); no timestamp may lie after it.
    failures
        Cells the converter could not read, aligned with the frame to validate.
    present
        The columns the source holds (default: all). An absent optional column is
        all missing and has nothing to check, so it is left out of the schema.

    Returns
    -------
    tuple
        The schema and, per custom check name, the rule it guards.
    """
    present = spec.column_names if present is None else present
    rules: dict[str, Rule] = {}
    columns: dict[str, pa.Column] = {}
    for column in (c for c in spec.columns if c.name in present):
        checks: list[pa.Check] = []
        if column.allowed is not None:
            checks.append(pa.Check.isin(sorted(column.allowed)))
        if column.kind == "timestamp":
            name = f"{column.name}:after_extract"
            rules[name] = Rule(
                column.name,
                "after_extract",
                f"after the extract time {extract_time.isoformat()}",
            )
            checks.append(_not_after(extract_time, name))
        for number, failure in enumerate(
            f for f in failures if f.column == column.name
        ):
            name = f"{column.name}:parse:{number}"
            rules[name] = Rule(column.name, "parse", failure.rule)
            checks.append(_parsed(failure.mask, name))
        columns[column.name] = pa.Column(
            _dtype(column.kind),
            checks=checks,
            nullable=not column.required,
            unique=column.name == spec.key,
            report_duplicates="all",
        )
    frame_checks = []
    for start, end in spec.intervals:
        if start not in present or end not in present:
            continue
        name = f"{end}:interval"
        wording = _INTERVAL_RULES.get(end, "an interval cannot end before it starts")
        rules[name] = Rule(end, "interval", f"before {start} ({wording})", other=start)
        frame_checks.append(_ordered(start, end, name))
    schema = pa.DataFrameSchema(
        columns, checks=frame_checks, name=spec.name, coerce=False
    )
    return schema, rules


def find_violations(
    frame: pd.DataFrame,
    spec: TableSpec,
    extract_time: pd.Timestamp,
    failures: list[ParseFailure],
    present: Collection[str] | None = None,
    *,
    screen: bool = True,
) -> pd.DataFrame:
    """Validate ``frame`` lazily and list every violation.

    Parameters
    ----------
    frame
        The canonical table; its index is the row position in the source.
    spec
        The contract table.
    extract_time
        The dataset's extract time (UTC).
    failures
        Cells the converter could not read, aligned with ``frame``.
    present
        The columns the source holds (default: all); only these are checked.
    screen
        Skip the schema when :func:`may_violate` finds the frame clean (the result
        is the same; ``False`` always runs the schema).

    Returns
    -------
    pandas.DataFrame
        One row per violation with columns ``row`` (position in the source),
        ``column``, ``kind``, ``rule`` and ``other`` (the start column of an
        interval), sorted by row and contract column order.
    """
    if screen and not may_violate(frame, spec, extract_time, failures, present):
        return empty_violations()
    schema, rules = build_schema(spec, extract_time, failures, present)
    try:
        schema.validate(frame[list(schema.columns)], lazy=True)
    except SchemaErrors as exc:
        return _translate(exc.failure_cases, spec, rules)
    return empty_violations()


def may_violate(
    frame: pd.DataFrame,
    spec: TableSpec,
    extract_time: pd.Timestamp,
    failures: list[ParseFailure],
    present: Collection[str] | None = None,
) -> bool:
    """Whether ``frame`` breaks a rule of the schema :func:`build_schema` states.

    The same rules, as plain comparisons: ``False`` means the schema would find no
    violation. The screen is exact for every rule, and errs towards ``True`` only
    where the schema would fail anyway (a missing key is also a missing required
    value) or where the converter went wrong (a non-canonical dtype).

    Parameters
    ----------
    frame
        The canonical table.
    spec
        The contract table.
    extract_time
        The dataset's extract time (UTC).
    failures
        Cells the converter could not read, aligned with ``frame``.
    present
        The columns the source holds (default: all); only these are checked.

    Returns
    -------
    bool
        ``True`` when a row may break a rule.
    """
    present = spec.column_names if present is None else present
    if failures:
        return True
    for column in (c for c in spec.columns if c.name in present):
        values = frame[column.name]
        if _breaks_column_rules(values, column.kind, column.required, extract_time):
            return True
        if column.allowed is not None:
            known = values.isin(sorted(column.allowed)) | values.isna()
            if not bool(known.all()):
                return True
        if column.name == spec.key and bool(values.duplicated().any()):
            return True
    return any(
        bool((frame[end] < frame[start]).any())
        for start, end in spec.intervals
        if start in present and end in present
    )


def _breaks_column_rules(
    values: pd.Series, kind: str, required: bool, extract_time: pd.Timestamp
) -> bool:
    """A wrong dtype, a missing required value, or a timestamp after the extract."""
    if values.dtype != _dtype(kind):
        return True
    if required and bool(values.isna().any()):
        return True
    return kind == "timestamp" and bool((values > extract_time).any())


def empty_violations() -> pd.DataFrame:
    """A violation frame with no rows."""
    return _no_violations().copy()


@functools.cache
def _no_violations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": pd.Series([], dtype="int64"),
            **{c: pd.Series([], dtype=STR_DTYPE) for c in VIOLATION_COLUMNS[1:]},
        }
    )


def _translate(
    cases: pd.DataFrame, spec: TableSpec, rules: dict[str, Rule]
) -> pd.DataFrame:
    """Turn pandera's failure cases into our violations, one per (row, column, rule)."""
    unplaced = cases[cases["index"].isna()]
    if not unplaced.empty:
        first = unplaced.iloc[0]
        raise RuntimeError(
            f"table {spec.name!r}: the converted frame fails schema check "
            f"{first['check']!r} on column {first['column']!r}; this is a bug in the "
            "converter, please report it with the input file"
        )
    parts = [
        _translate_check(str(check), str(column), group, spec, rules)
        for (check, column), group in cases.groupby(["check", "column"], sort=False)
    ]
    out = pd.concat(parts, ignore_index=True)
    out["row"] = out["row"].astype("int64")
    out = _drop_masked(out)
    order = {name: i for i, name in enumerate(spec.column_names)}
    out["_order"] = out["column"].map(order)
    out = out.sort_values(["row", "_order"], kind="stable").drop(columns="_order")
    return out.drop_duplicates(["row", "column", "rule"]).reset_index(drop=True)


def _translate_check(
    check: str,
    column: str,
    group: pd.DataFrame,
    spec: TableSpec,
    rules: dict[str, Rule],
) -> pd.DataFrame:
    """Violations of one check on one column (a frame-wide check names every column
    of a failing row: only its own column is kept)."""
    rule = _rule_of(check, column, spec, rules)
    if rule.column != column:
        group = group.iloc[:0]
    return pd.DataFrame(
        {
            "row": group["index"].to_numpy(),
            "column": rule.column,
            "kind": rule.kind,
            "rule": rule.text,
            "other": rule.other if rule.other is not None else np.nan,
        }
    ).astype({c: STR_DTYPE for c in VIOLATION_COLUMNS[1:]})


def _rule_of(check: str, column: str, spec: TableSpec, rules: dict[str, Rule]) -> Rule:
    if check in rules:
        return rules[check]
    if check == "not_nullable":
        return Rule(column, "missing", "a required value is missing")
    if check == "field_uniqueness":
        return Rule(
            column, "duplicate_id", f"another, different row has the same {column}"
        )
    if check.startswith("isin"):
        allowed = spec.column(column).allowed or frozenset()
        listed = ", ".join(repr(v) for v in sorted(allowed))
        return Rule(column, "allowed", f"not one of {listed}")
    return Rule(column, "other", f"fails pandera check {check}")


def _drop_masked(out: pd.DataFrame) -> pd.DataFrame:
    """Drop 'missing' where the real trouble is a value that could not be read."""
    unread = out.loc[out["kind"] == "parse", ["row", "column"]].drop_duplicates()
    if unread.empty:
        return out
    marked = out.merge(unread.assign(_unread=True), on=["row", "column"], how="left")
    masked = (marked["kind"] == "missing") & marked["_unread"].eq(True)
    return out[~masked.to_numpy()]


def _dtype(kind: str) -> object:
    if kind == "timestamp":
        return _TIMESTAMP
    if kind == "number":
        return "float64"
    return STR_DTYPE


def _not_after(extract_time: pd.Timestamp, name: str) -> pa.Check:
    def check(values: pd.Series) -> pd.Series:
        return values.isna() | (values <= extract_time)

    return pa.Check(check, name=name, ignore_na=False)


def _parsed(mask: np.ndarray, name: str) -> pa.Check:
    def check(values: pd.Series) -> pd.Series:
        return pd.Series(~mask, index=values.index)

    return pa.Check(check, name=name, ignore_na=False)


def _ordered(start: str, end: str, name: str) -> pa.Check:
    def check(frame: pd.DataFrame) -> pd.Series:
        return ~(frame[end] < frame[start])

    return pa.Check(check, name=name, ignore_na=False)
