"""Apply the data contract to raw tables: convert, collapse, validate, account.

Per table, in this order:

1. column names are stripped; columns outside the contract are dropped with a warning;
   a missing required column fails at once (in both modes: no row can be read);
2. every contract column is converted to its canonical dtype
   (:mod:`ghost_model.validation.coerce`);
3. exact duplicate rows (equal in every contract column once converted) are kept once;
4. the pandera schema of :mod:`ghost_model.validation.rules` lists every violation;
5. strict mode collects the violations of all tables and raises one
   :class:`~ghost_model.errors.DataContractError`; quarantine mode sets the rows with a
   violation aside, with every reason, and goes on with the rest.

Row accounting always holds: ``read = accepted + quarantined + duplicates``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ghost_model.contract import TABLES, TableSpec
from ghost_model.dataset import Dataset, DatasetConfig
from ghost_model.errors import ConfigError, DataContractError
from ghost_model.validation.coerce import ParseFailure, coerce_table
from ghost_model.validation.rules import find_violations

log = logging.getLogger(__name__)

MAX_LISTED = 20
"""How many violations a strict-mode error lists."""

QUARANTINE_COLUMNS = ("source_row", "reason")

FIX_ADVICE = (
    "Fix these rows in the source; `ghost-model validate --data DIR --quarantine` "
    "writes each with its reason to DIR/quarantine/<table>.csv and goes on with the "
    "valid rows (from Python: load_dataset(..., quarantine=True))."
)
"""The close of the strict-mode error, true whichever command loaded the data."""

MAX_SHOWN = 80
"""How many characters of a bad value a message shows."""

QUARANTINE_MARKER = ".ghost-model-quarantine"
"""The file that marks a folder as one quarantine mode wrote: only in such a folder
are ``<table>.csv`` files overwritten or removed."""


@dataclass(frozen=True)
class Origin:
    """Where a table came from, for messages: a label and whether it has lines.

    ``lines`` gives the line a 0-based data row starts on (None if unknown); a CSV
    origin without it takes row *n* to be line *n + 2*.
    """

    label: str
    csv: bool = False
    lines: Callable[[int], int | None] | None = field(
        default=None, compare=False, repr=False
    )

    def place(self, row: int) -> str:
        """``deals.csv row 17 (line 18)``: the 1-based data row, and its line."""
        where = f"{self.label} row {row + 1}"
        if not self.csv:
            return where
        line = self.lines(row) if self.lines is not None else row + 2
        return where if line is None else f"{where} (line {line})"


@dataclass
class TableResult:
    """One validated table: accepted rows, violations, rejected raw rows, counts."""

    name: str
    origin: Origin
    raw: pd.DataFrame
    accepted: pd.DataFrame
    violations: pd.DataFrame
    rejected: pd.DataFrame
    counts: dict[str, int]


def validate_tables(
    raw: Mapping[str, pd.DataFrame],
    config: DatasetConfig,
    *,
    sources: Mapping[str, str] | None = None,
    quarantine: bool = False,
    quarantine_dir: str | Path | None = None,
) -> Dataset:
    """Apply the data contract to tables that are already in memory.

    Parameters
    ----------
    raw
        Table name to frame, as read or built (a column mapping, JSON posted to the
        API). Columns may be text or typed; only ``deals`` is required.
    config
        The dataset's time zone (for naive timestamps) and extract time.
    sources
        Table name to a label naming where it came from, used in messages
        (default: the table name).
    quarantine
        Set rows that break a rule aside instead of raising.
    quarantine_dir
        Where quarantined rows are written as ``<table>.csv``; with ``None`` they are
        only logged.

    Returns
    -------
    Dataset
        The accepted rows in canonical dtypes, with ``row_counts`` per table.

    Raises
    ------
    DataContractError
        A required table or column is missing, or (strict mode) a row breaks a rule;
        the message lists up to 20 violations with file, row, column, value and rule.
    """
    origins = {name: Origin((sources or {}).get(name, name)) for name in raw}
    return check_tables(
        raw,
        config,
        origins=origins,
        quarantine=quarantine,
        quarantine_dir=None if quarantine_dir is None else Path(quarantine_dir),
    )


def check_tables(
    raw: Mapping[str, pd.DataFrame],
    config: DatasetConfig,
    *,
    origins: Mapping[str, Origin],
    quarantine: bool,
    quarantine_dir: Path | None,
) -> Dataset:
    """:func:`validate_tables` with an :class:`Origin` per table (used by loaders)."""
    if quarantine and quarantine_dir is not None:
        check_quarantine_dir(quarantine_dir)
    names = _contract_tables(raw, origins)
    results = [
        validate_table(name, raw[name], config, origins.get(name, Origin(name)))
        for name in names
    ]

    if not quarantine:
        failed = [r for r in results if not r.violations.empty]
        if failed:
            raise DataContractError(format_violations(failed))
    for result in results:
        _log_counts(result)
    if quarantine:
        _write_quarantine(results, quarantine_dir)

    return Dataset(
        tables={r.name: r.accepted for r in results},
        config=config,
        source=config.name,
        row_counts={r.name: r.counts for r in results},
    )


def validate_table(
    name: str, raw: pd.DataFrame, config: DatasetConfig, origin: Origin
) -> TableResult:
    """Convert, collapse exact duplicates and validate one table.

    Parameters
    ----------
    name
        The contract table name.
    raw
        The table as read.
    config
        The dataset's time zone and extract time.
    origin
        Where the table came from, for messages.

    Returns
    -------
    TableResult
        Accepted rows (every violating row removed), violations and counts.
    """
    spec = TABLES[name]
    raw = _checked_columns(raw, spec, origin)
    present = [c for c in spec.column_names if c in raw.columns]
    frame, failures = coerce_table(raw[present], spec, config.timezone)

    duplicate = exact_duplicates(frame, raw, failures, spec.event_time)
    kept, kept_failures = _without(frame, failures, duplicate)
    violations = find_violations(
        kept, spec, config.extract_time, kept_failures, present
    )

    bad = violations["row"].unique()
    accepted = kept.drop(index=pd.Index(bad)) if len(bad) else kept
    if len(accepted) < len(frame):
        accepted = accepted.reset_index(drop=True)
    rejected = _rejected_rows(raw, violations)
    counts = {
        "read": len(raw),
        "accepted": len(accepted),
        "quarantined": len(bad),
        "duplicates": int(duplicate.sum()),
    }
    return TableResult(name, origin, raw, accepted, violations, rejected, counts)


def _without(
    frame: pd.DataFrame, failures: list[ParseFailure], dropped: np.ndarray
) -> tuple[pd.DataFrame, list[ParseFailure]]:
    """``frame`` and its failures without the ``dropped`` rows (no copy if none)."""
    if not dropped.any():
        return frame, failures
    kept = ~dropped
    return frame[kept], [ParseFailure(f.column, f.mask[kept], f.rule) for f in failures]


def exact_duplicates(
    frame: pd.DataFrame,
    raw: pd.DataFrame,
    failures: list[ParseFailure],
    event_time: str,
) -> np.ndarray:
    """Rows equal to an earlier row in every contract column (the first is kept).

    Values are compared once converted, so amounts ``7.0`` and ``7`` or one instant
    written with two offsets are equal; a value that could not be converted is compared
    as written, and never equals a converted one. Duplicates share their event time,
    so rows whose event time is unique are ruled out first on the integer instants,
    which keeps the costly full-row comparison (hashing text columns) to the few rows
    left.
    """
    instants = frame[event_time].to_numpy(dtype="int64", na_value=np.iinfo("int64").min)
    candidates = _shared(instants)
    out = np.zeros(len(frame), dtype=bool)
    if not candidates.any():
        return out
    compared = [frame[candidates], _written_failures(raw, failures, candidates)]
    both = pd.concat(compared, axis=1)
    out[candidates] = both.duplicated(keep="first").to_numpy()
    return out


def _written_failures(
    raw: pd.DataFrame, failures: list[ParseFailure], rows: np.ndarray
) -> pd.DataFrame:
    """Per column with a failure, the ``repr`` of each unconverted raw value in
    ``rows``, missing elsewhere.

    Beside the converted column (missing where conversion failed) this tells apart
    two different unreadable values, and an unreadable value from a missing one.
    ``repr`` names every raw value, bytes that are not UTF-8 included, and keeps the
    text ``'7'`` apart from the number ``7``.
    """
    positions = np.flatnonzero(rows)
    written: dict[str, np.ndarray] = {}
    for failure in failures:
        failed = np.flatnonzero(failure.mask[rows])
        if not len(failed):
            continue
        name = f"{failure.column} as written"
        column = written.setdefault(name, np.full(len(positions), None, dtype=object))
        values = raw[failure.column].iloc[positions[failed]].tolist()
        column[failed] = [repr(value) for value in values]
    return pd.DataFrame(written, index=raw.index[positions])


def _shared(values: np.ndarray) -> np.ndarray:
    """Where a value occurs more than once (a sort: faster than hashing here)."""
    order = np.argsort(values)
    ordered = values[order]
    equal = ordered[1:] == ordered[:-1]
    shared = np.zeros(len(values), dtype=bool)
    shared[1:] |= equal
    shared[:-1] |= equal
    out = np.empty(len(values), dtype=bool)
    out[order] = shared
    return out


def format_violations(results: list[TableResult]) -> str:
    """The strict-mode error: counts, the first violations, and what to do.

    Parameters
    ----------
    results
        Tables with at least one violation.

    Returns
    -------
    str
        The message of the :class:`~ghost_model.errors.DataContractError`.
    """
    total = sum(len(r.violations) for r in results)
    rows = sum(r.counts["quarantined"] for r in results)
    tables = ", ".join(r.origin.label for r in results)
    lines = [
        f"{rows} row(s) break the data contract ({total} violation(s) in {tables})"
        + (f"; the first {MAX_LISTED}:" if total > MAX_LISTED else ":")
    ]
    listed = 0
    for result in results:
        for violation in result.violations.head(MAX_LISTED - listed).itertuples():
            lines.append("  - " + _describe(result, violation))
            listed += 1
    lines.append(FIX_ADVICE)
    return "\n".join(lines)


def _describe(result: TableResult, violation: Any) -> str:
    """One violation: place, column, raw value, rule."""
    row = int(violation.row)
    column = str(violation.column)
    rule = str(violation.rule)
    kind = violation.kind
    value = _raw_value(result.raw, row, column)
    if kind == "interval":
        start = str(violation.other)
        start_value = _raw_value(result.raw, row, start)
        rule = rule.replace(
            f"before {start}", f"before {start} {shown(start_value)}", 1
        )
    elif kind == "duplicate_id":
        rule = f"{rule} ({_same_key_rows(result, row, column)})"
    place = result.origin.place(row)
    return f"{place}, column {column!r}, value {shown(value)}: {rule}"


def shown(value: object) -> str:
    """``repr(value)``, cut to about :data:`MAX_SHOWN` characters with its length.

    Parameters
    ----------
    value
        A raw value as read.

    Returns
    -------
    str
        The ``repr``, or its first characters, an ellipsis and the full length.
    """
    text = repr(value)
    if len(text) <= MAX_SHOWN:
        return text
    if isinstance(value, str):
        length = f"{len(value):,} characters"
    elif isinstance(value, bytes):
        length = f"{len(value):,} bytes"
    else:
        length = f"{len(text):,} characters as text"
    return f"{text[:MAX_SHOWN]}... ({length})"


def _same_key_rows(result: TableResult, row: int, column: str) -> str:
    key = result.violations
    same = key[(key["kind"] == "duplicate_id") & (key["column"] == column)]
    # only rows whose id was read share one, so their raw values convert to text
    # (bytes that are not UTF-8, elsewhere in the column, would not)
    rows = same["row"].to_numpy()
    written = result.raw[column].iloc[rows].astype("str").str.strip()
    texts = dict(zip(rows.tolist(), written.tolist(), strict=True))
    others = [r for r, text in texts.items() if r != row and text == texts[row]]
    shown = ", ".join(str(r + 1) for r in others[:5])
    more = f" and {len(others) - 5} more" if len(others) > 5 else ""
    return f"also on row {shown}{more}" if others else "also on another row"


def _raw_value(raw: pd.DataFrame, row: int, column: str) -> object:
    if column not in raw.columns:
        return None
    value = raw[column].iloc[row]
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _contract_tables(
    raw: Mapping[str, pd.DataFrame], origins: Mapping[str, Origin]
) -> list[str]:
    unknown = sorted(set(raw) - set(TABLES))
    if unknown:
        log.warning(
            "ignoring tables that are not in the data contract: %s (known: %s)",
            ", ".join(repr(origins[n].label if n in origins else n) for n in unknown),
            ", ".join(TABLES),
        )
    if "deals" not in raw:
        raise DataContractError(
            "the dataset has no 'deals' table, the one table the contract requires; "
            f"tables given: {sorted(raw)!r}. Add deals (deal_id, partner_id, "
            "registered_at) as deals.csv or deals.parquet."
        )
    return [name for name in TABLES if name in raw]


def _checked_columns(
    raw: pd.DataFrame, spec: TableSpec, origin: Origin
) -> pd.DataFrame:
    """Strip column names, warn about extras, fail on a missing required column."""
    raw = raw.reset_index(drop=True)
    raw.columns = pd.Index([str(c).strip() for c in raw.columns])
    if raw.columns.has_duplicates:
        repeated = sorted(set(raw.columns[raw.columns.duplicated()]))
        raise DataContractError(
            f"{origin.label}: column(s) {repeated!r} appear more than once; "
            "keep one column per name"
        )
    missing = [c for c in spec.required_columns if c not in raw.columns]
    if missing:
        raise DataContractError(
            f"{origin.label}: required column(s) {missing!r} missing; the "
            f"{spec.name!r} table needs {list(spec.required_columns)!r} and has "
            f"{list(raw.columns)!r}. Rename the columns in the export, or describe "
            "it with a column mapping (see docs/data-contract.md)."
        )
    extra = [c for c in raw.columns if c not in spec.column_names]
    if extra:
        log.warning(
            "%s: dropping column(s) not in the %r contract table: %s",
            origin.label,
            spec.name,
            ", ".join(repr(c) for c in extra),
        )
    return raw


def _rejected_rows(raw: pd.DataFrame, violations: pd.DataFrame) -> pd.DataFrame:
    """The raw rows with a violation, with ``source_row`` and every ``reason``."""
    if violations.empty:
        return raw.iloc[:0].assign(source_row=pd.Series([], dtype="int64"), reason="")
    labelled = violations["column"] + ": " + violations["rule"]
    reasons = labelled.groupby(violations["row"], sort=True).agg("; ".join)
    rows = reasons.index.to_numpy()
    rejected = raw.iloc[rows].copy()
    rejected["source_row"] = rows + 1
    rejected["reason"] = reasons.to_numpy()
    return rejected.reset_index(drop=True)


def _log_counts(result: TableResult) -> None:
    counts = result.counts
    log.info(
        "%s: read %d rows: %d accepted, %d quarantined, %d exact duplicates collapsed",
        result.origin.label,
        counts["read"],
        counts["accepted"],
        counts["quarantined"],
        counts["duplicates"],
    )


def _write_quarantine(results: list[TableResult], folder: Path | None) -> None:
    """Write ``<table>.csv`` per table with rejected rows; remove stale files.

    Only a folder marked as ours (:data:`QUARANTINE_MARKER`) has stale files removed;
    :func:`check_quarantine_dir` has already refused a folder whose table files this
    tool did not write.
    """
    for result in results:
        if folder is None:
            if not result.rejected.empty:
                log.warning(
                    "%s: %d row(s) quarantined and not written (no quarantine "
                    "folder given); first reason: %s",
                    result.origin.label,
                    len(result.rejected),
                    result.rejected["reason"].iloc[0],
                )
            continue
        path = folder / f"{result.name}.csv"
        if result.rejected.empty:
            if path.is_file() and _is_marked(folder):
                path.unlink()
                log.info("%s: no rows quarantined; removed stale %s", result.name, path)
            continue
        _mark(folder)
        result.rejected.to_csv(path, index=False)
        log.info(
            "%s: %d row(s) quarantined to %s",
            result.origin.label,
            len(result.rejected),
            path,
        )


def check_quarantine_dir(folder: str | Path, inputs: Collection[Path] = ()) -> Path:
    """Refuse a quarantine folder whose files this tool must not touch.

    Quarantine mode writes ``<table>.csv`` into the folder and removes such a file
    when a rerun quarantines nothing for the table, so the folder must not hold the
    dataset's own files, nor table files something else wrote.

    Parameters
    ----------
    folder
        The quarantine folder as given (``--quarantine-dir``, ``quarantine_dir``).
    inputs
        The dataset's input files (tables, ``dataset.yaml``); none may be inside.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    ConfigError
        The path is empty or the current folder, is a file, holds an input file, or
        holds a ``<table>.csv`` without the :data:`QUARANTINE_MARKER` of a folder
        this tool created.
    """
    where = f"quarantine folder (--quarantine-dir) {str(folder)!r}"
    if str(folder).strip() in {"", "."}:
        raise ConfigError(
            f"{where}: the current folder may hold a dataset's own files; give a "
            "folder of its own, e.g. DIR/quarantine"
        )
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"{where}: {folder} exists and is not a folder; give the path of a "
            "folder (it is created when missing)"
        )
    held = sorted(p.name for p in inputs if _inside(p, folder))
    if held:
        raise ConfigError(
            f"{where}: holds the dataset's own file(s) {held!r}, which quarantine "
            "files would overwrite or remove; give a folder of its own, e.g. "
            "DIR/quarantine"
        )
    if folder.is_dir() and not _is_marked(folder):
        tables = sorted(f"{t}.csv" for t in TABLES if (folder / f"{t}.csv").exists())
        if tables:
            raise ConfigError(
                f"{where}: holds {tables!r} but no {QUARANTINE_MARKER} file, so "
                "ghost-model did not write them and will not overwrite or remove "
                "them; give an empty or new folder (or delete these files if they "
                "are quarantine files of an earlier ghost-model version)"
            )
    return folder


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies directly in ``folder`` (links and ``..`` resolved)."""
    return path.resolve().parent == folder.resolve()


def _is_marked(folder: Path) -> bool:
    return (folder / QUARANTINE_MARKER).is_file()


def _mark(folder: Path) -> None:
    """Create the folder if needed and mark it as a quarantine folder of ours."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / QUARANTINE_MARKER
    if not marker.is_file():
        marker.write_text(
            "Rows ghost-model set aside (quarantine mode). ghost-model overwrites "
            "and removes <table>.csv files only in a folder holding this file.\n",
            encoding="utf-8",
        )
