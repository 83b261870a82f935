"""Read a dataset from files and apply the data contract.

A dataset is either

* a folder holding ``dataset.yaml`` and one file per contract table, named after the
  table: ``deals.csv`` or ``deals.parquet`` (``.csv.gz`` also works). Only ``deals`` is
  required; a table present as both CSV and Parquet is an error. A ``dataset.yaml`` with
  a ``mapping`` key describes a real export instead and is read through
  :func:`ghost_model.mapping.load_mapped_dataset`; or
* a DuckDB database file (``.duckdb``, ``.ddb`` or ``.db``) whose tables carry the
  contract names. Its time zone and extract time come from a one-row table ``dataset``
  (columns ``timezone``, ``extract_time``, optionally ``name``) in the database or,
  failing that, from the ``dataset.yaml`` beside the file.

CSV files are read as UTF-8 text (a byte-order mark is fine), every column as text, and
only an empty field is missing (``NA`` or ``null`` are values). Other files and tables
are ignored with a warning naming them, except hidden files, the ``quarantine`` folder
and ``truth.csv`` (the synthetic ecosystem's ground truth).

:func:`validate_tables` (re-exported from :mod:`ghost_model.validation`) applies the
contract to frames that come from elsewhere.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import itertools
import logging
import re
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ghost_model.contract import TABLES, TableSpec
from ghost_model.dataset import DATASET_FILE, Dataset, DatasetConfig
from ghost_model.errors import DataContractError, GhostModelError
from ghost_model.validation import (
    Origin,
    check_quarantine_dir,
    check_tables,
    validate_tables,
)

__all__ = [
    "dataset_files",
    "load_dataset",
    "read_duckdb",
    "read_folder",
    "validate_tables",
]

log = logging.getLogger(__name__)

TABLE_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
}
DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")
QUARANTINE_DIR = "quarantine"
KNOWN_FILES = frozenset({DATASET_FILE, "truth.csv"})
METADATA_TABLE = "dataset"

CHUNK_BYTES = 1 << 24
"""How much of a file is counted at a time when looking for line breaks."""
TAIL_MARGIN = 4096
"""Bytes read before a last value, for line breaks after its closing quote."""

RawTables = tuple[DatasetConfig, dict[str, pd.DataFrame], dict[str, Origin]]


def load_dataset(
    path: str | Path,
    *,
    quarantine: bool = False,
    quarantine_dir: str | Path | None = None,
) -> Dataset:
    """Read a dataset folder or DuckDB file and apply the data contract.

    Parameters
    ----------
    path
        A folder with ``dataset.yaml`` and CSV or Parquet tables, or a DuckDB file.
    quarantine
        Set rows that break a rule aside (with a reason each) instead of raising.
    quarantine_dir
        Where quarantined rows are written as ``<table>.csv``; default: a
        ``quarantine`` folder beside the tables. It may not be the data folder, the
        current folder or a file, nor hold table files ghost-model did not write
        there (see :func:`ghost_model.validation.check_quarantine_dir`).

    Returns
    -------
    Dataset
        The accepted rows in canonical dtypes, with ``row_counts`` per table.

    Raises
    ------
    DataContractError
        The path holds no dataset, a file cannot be read, a required table or column
        is missing, or (strict mode) a row breaks a rule.
    ConfigError
        The quarantine folder could overwrite or remove files ghost-model did not
        write (quarantine mode).
    """
    path = Path(path)
    started = time.perf_counter()
    is_database = path.is_file() and path.suffix.lower() in DUCKDB_SUFFIXES
    if not path.is_dir() and not is_database:
        raise DataContractError(
            f"{path}: not a dataset folder or a DuckDB file "
            f"({', '.join(DUCKDB_SUFFIXES)}); give a folder holding {DATASET_FILE} "
            "and deals.csv or deals.parquet"
        )
    folder = path.parent if is_database else path
    if quarantine_dir is None:
        quarantine_dir = folder / QUARANTINE_DIR
    if quarantine:
        inputs = dataset_files(path)
        quarantine_dir = check_quarantine_dir(quarantine_dir, inputs)
    quarantine_dir = Path(quarantine_dir)

    if path.is_dir() and _is_mapped(path):
        from ghost_model.mapping import load_mapped_dataset

        mapped = load_mapped_dataset(
            path, quarantine=quarantine, quarantine_dir=quarantine_dir
        )
        _warn_empty(mapped)
        return mapped
    config, raw, origins = read_duckdb(path) if is_database else read_folder(path)

    dataset = check_tables(
        raw,
        config,
        origins=origins,
        quarantine=quarantine,
        quarantine_dir=quarantine_dir,
    )
    dataset.source = str(path)
    _warn_empty(dataset)
    log.info(
        "loaded %s (%s) in %.1f s",
        path,
        ", ".join(dataset.tables),
        time.perf_counter() - started,
    )
    return dataset


def _warn_empty(dataset: Dataset) -> None:
    """Warn of an optional table without rows: its features are built from no rows
    for every partner (no events, no roster, no attributes), which a model reads as
    silence or absence, not as data not recorded."""
    for name, frame in dataset.tables.items():
        if name != "deals" and frame.empty:
            counts = dataset.row_counts.get(name, {})
            log.warning(
                "%s: table %s has no rows (%d read, %d quarantined): its features "
                "are built from no rows for every partner; if %s are not recorded, "
                "leave the table out and its features are left out too",
                dataset.source,
                name,
                counts.get("read", 0),
                counts.get("quarantined", 0),
                name.replace("_", " "),
            )


def read_folder(folder: Path) -> RawTables:
    """Read ``dataset.yaml`` and every table file of a dataset folder.

    Parameters
    ----------
    folder
        The dataset folder.

    Returns
    -------
    tuple
        The configuration, the raw frames by table name and where each came from.
    """
    config = DatasetConfig.from_file(folder / DATASET_FILE)
    files = _table_files(folder)
    raw = {name: _read_file(path) for name, path in files.items()}
    origins = {name: _origin(path, len(raw[name])) for name, path in files.items()}
    for name, path in files.items():
        if origins[name].csv:
            _warn_rows_inside_text(path, raw[name], TABLES[name])
    return config, raw, origins


def _warn_rows_inside_text(path: Path, frame: pd.DataFrame, spec: TableSpec) -> None:
    """Warn of a free-text value holding a line that looks like a whole row.

    A quote opened by mistake and closed by a later stray quote (an inch mark, say)
    makes every line in between part of one value, and the rows on those lines are
    never read. In an id, a category, a number or a timestamp that value is a
    violation anyway; free text (a partner's ``name``) may hold line breaks, so
    there it is a warning naming the place, not a refusal. The test is a line after
    the first with at least as many commas as the header has separators.
    """
    separators = len(frame.columns) - 1
    if separators < 1:
        return
    texts = [c.name for c in spec.columns if c.kind == "text" and c.name in frame]
    for name in texts:
        values = frame[name]
        broken = values.str.contains(r"[\r\n]", regex=True, na=False).to_numpy()
        for row in np.flatnonzero(broken):
            lines = str(values.iloc[row]).splitlines()[1:]
            if any(n.count(",") >= separators for n in lines):
                log.warning(
                    "%s row %d, column %r: the value holds a line that looks like a "
                    "whole row (%d commas); if a quote was opened by mistake and "
                    "closed further down, the rows in between were read as text of "
                    "this value. Check the quotes around this row.",
                    path.name,
                    row + 1,
                    name,
                    separators,
                )
                return


def _origin(path: Path, rows: int) -> Origin:
    """A table file's label and, for CSV, how to find each row's line."""
    if TABLE_SUFFIXES[_suffix(path)] != "csv":
        return Origin(path.name)
    return Origin(path.name, csv=True, lines=CsvLines(path, rows))


def read_duckdb(path: Path) -> RawTables:
    """Read the contract tables of a DuckDB database file.

    Parameters
    ----------
    path
        The database file; it is opened read-only.

    Returns
    -------
    tuple
        The configuration, the raw frames by table name and where each came from.
    """
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise DataContractError(
            f"{path}: not a readable DuckDB database: {exc}"
        ) from exc
    try:
        names = [
            str(row[0])
            for row in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'main' order by table_name"
            ).fetchall()
        ]
        config = _duckdb_config(con, path, names)
        _warn_unknown(
            path, [n for n in names if n not in TABLES and n != METADATA_TABLE]
        )
        raw = {
            name: con.execute(f'select * from "{name}"').df()
            for name in names
            if name in TABLES
        }
    finally:
        con.close()
    origins = {name: Origin(f"{path.name}:{name}") for name in raw}
    return config, raw, origins


def _duckdb_config(con: Any, path: Path, names: list[str]) -> DatasetConfig:
    """The ``dataset`` table's one row, or else the ``dataset.yaml`` beside the file."""
    if METADATA_TABLE not in names:
        return DatasetConfig.from_file(path.parent / DATASET_FILE)
    rows = con.execute(f'select * from "{METADATA_TABLE}"').df()
    if len(rows) != 1:
        raise DataContractError(
            f"{path.name}:{METADATA_TABLE}: expected one row (timezone, extract_time), "
            f"got {len(rows)}"
        )
    settings = {str(k): v for k, v in rows.iloc[0].items() if not pd.isna(v)}
    settings.setdefault("name", path.stem)
    return DatasetConfig.from_mapping(settings, source=f"{path}:{METADATA_TABLE}")


def dataset_files(path: str | Path) -> set[Path]:
    """The resolved paths of the files a dataset at ``path`` is read from.

    A DuckDB file is its own one file. In a folder, every file that
    :func:`belongs_to_dataset` names. Commands use it to refuse writing over their
    input.
    """
    path = Path(path).resolve()
    if path.is_file():
        return {path}
    if not path.is_dir():
        return set()
    mapped = is_mapped_folder(path)
    return {
        file.resolve()
        for file in path.iterdir()
        if file.is_file() and belongs_to_dataset(file.name, mapped=mapped)
    }


def belongs_to_dataset(name: str, *, mapped: bool) -> bool:
    """Whether a file called ``name`` in a dataset folder is part of the dataset.

    That is ``dataset.yaml`` and any YAML (a column mapping), the simulator's
    ``truth.csv``, and every file a load would read as a table: one named after a
    contract table with a table suffix in any case (``deals.CSV``), or, in a mapped
    export, whose tables may carry any name, any file with a table suffix. A file
    that does not exist yet counts too: writing it would change what the next load
    reads.

    Parameters
    ----------
    name
        The file's name, without its folder.
    mapped
        Whether the folder is a mapped export (:func:`is_mapped_folder`).

    Returns
    -------
    bool
        True when the file belongs to the dataset.
    """
    return (
        _table_name(name) in TABLES
        or name in KNOWN_FILES
        or name.lower().endswith((".yaml", ".yml"))
        or (mapped and bool(_suffix(Path(name))))
    )


def is_mapped_folder(folder: Path) -> bool:
    """Whether ``folder`` is a mapped export (its ``dataset.yaml`` names a mapping).

    Parameters
    ----------
    folder
        A dataset folder.

    Returns
    -------
    bool
        True for a mapped export; a broken or missing ``dataset.yaml`` reads as not
        mapped (loading the dataset reports the broken file itself).
    """
    try:
        return _is_mapped(folder)
    except GhostModelError:
        return False


def _is_mapped(folder: Path) -> bool:
    """Whether the folder's ``dataset.yaml`` describes an export through a mapping."""
    config_file = folder / DATASET_FILE
    return (
        config_file.is_file()
        and DatasetConfig.from_file(config_file).mapping is not None
    )


def _table_files(folder: Path) -> dict[str, Path]:
    """Table name to file; unknown files are named in a warning."""
    files: dict[str, Path] = {}
    unknown: list[str] = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if name.startswith(".") or name in KNOWN_FILES or name == QUARANTINE_DIR:
            continue
        table = _table_name(name)
        if path.is_dir() or table not in TABLES:
            unknown.append(name + ("/" if path.is_dir() else ""))
            continue
        if table in files:
            raise DataContractError(
                f"{folder}: table {table!r} is given twice, as {files[table].name} and "
                f"{name}; keep one of them"
            )
        files[table] = path
    _warn_unknown(folder, unknown)
    if "deals" not in files:
        found = sorted(p.name for p in folder.iterdir())
        raise DataContractError(
            f"{folder}: no deals.csv or deals.parquet; 'deals' is the one table the "
            f"contract requires (files found: {found})"
        )
    return files


def _read_file(path: Path) -> pd.DataFrame:
    """Read one table file: CSV as text columns, Parquet as typed columns."""
    try:
        if TABLE_SUFFIXES[_suffix(path)] == "parquet":
            return pd.read_parquet(path)
        return _read_csv(path)
    except UnicodeDecodeError as exc:
        raise DataContractError(
            f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save the export as UTF-8 (e.g. from Shift_JIS / cp932)"
        ) from exc
    except (EOFError, zlib.error) as exc:
        raise DataContractError(
            f"{path.name}: cannot be read, the compressed data is cut short or "
            f"damaged ({exc}); copy or download the file again"
        ) from exc
    except (ValueError, OSError, pa.ArrowException) as exc:
        raise DataContractError(
            f"{path.name}: cannot be read: {str(exc).strip()}"
        ) from exc


def _read_csv(path: Path) -> pd.DataFrame:
    """Every column as text; only an empty field is missing.

    Arrow's reader is several times faster; files it refuses (a row with fewer or
    more fields than the header, bytes that are not UTF-8) are read again by pandas'
    own parser, which fills a short row and whose errors name the line.
    """
    _check_header(path)
    try:
        return _read_csv_arrow(path)
    except (pa.ArrowException, ValueError) as exc:
        log.debug("%s: Arrow's CSV reader refused it (%s); using pandas'", path, exc)
    return _read_csv_pandas(path)


def _read_csv_arrow(path: Path) -> pd.DataFrame:
    """Read with Arrow, which follows quoted line breaks across its blocks.

    Without ``newlines_in_values`` Arrow cuts the file into blocks at any line break,
    and a quote left open then swallows the rest of its block without an error.
    """
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            default_column_type=pa.string(), null_values=[""], strings_can_be_null=True
        ),
    )
    _check_last_quote_closed(path, table)
    frame: pd.DataFrame = table.rename_columns(_named(table.column_names)).to_pandas()
    return frame


def _read_csv_pandas(path: Path) -> pd.DataFrame:
    """Read with pandas' parser, the header as a row so no row can be longer.

    With a header, pandas takes the first column as the index when the first data
    row has one field more, which shifts every value one column left; without one
    it refuses any row longer than the first line.
    """
    try:
        rows = pd.read_csv(
            path,
            header=None,
            dtype="str",
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
        )
    except pd.errors.ParserError as exc:
        raise DataContractError(_parser_problem(path, str(exc))) from exc
    header = rows.iloc[0]
    frame = rows.iloc[1:].reset_index(drop=True)
    frame.columns = pd.Index(_named([None if pd.isna(n) else n for n in header]))
    return frame


def _named(header: list[str | None]) -> list[str]:
    """Header names, an empty one as ``Unnamed: <position>`` (as pandas names it)."""
    return [name or f"Unnamed: {i}" for i, name in enumerate(header)]


def _parser_problem(path: Path, message: str) -> str:
    """pandas' parser error restated with the file's line (pandas counts records)."""
    too_long = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if too_long:
        expected, record, saw = (int(n) for n in too_long.groups())
        return (
            f"{_at_line(path, _record_line(path, record - 1))}: {saw} fields, but "
            f"the header names {expected} columns; a row may not have more fields "
            "than the header (quote a value that holds a comma), so nothing in this "
            "file is read. Fix the row and load the file again."
        )
    unclosed = re.search(r"EOF inside string starting at row (\d+)", message)
    if unclosed:
        line = _record_line(path, int(unclosed.group(1)))
        return _unclosed_quote(path, line)
    return f"{path.name}: cannot be read: {message.strip()}"


def _at_line(path: Path, line: int | None) -> str:
    """``deals.csv line 7``, or the file alone when the line is unknown."""
    return path.name if line is None else f"{path.name} line {line}"


def _unclosed_quote(path: Path, line: int | None) -> str:
    return (
        f"{_at_line(path, line)}: a quoted field opens here and is never closed, so "
        "every later line would be read as part of its value. Close the quote (a "
        'quote inside a quoted value is written twice: "").'
    )


def _check_last_quote_closed(path: Path, table: pa.Table) -> None:
    """Refuse a last field whose opening quote is never closed.

    Arrow reads such a field to the end of the file, so it shows as a last value
    holding a line break in a file that does not end with a quote.
    """
    if table.num_rows == 0 or table.num_columns == 0:
        return
    last = table.column(table.num_columns - 1)[-1].as_py()
    if last is None or not ("\n" in last or "\r" in last):
        return
    written = len(last.encode()) + last.count('"')  # a quote in a value is doubled
    gzipped = path.name.lower().endswith(".gz")
    size = _line_breaks(path)[2] if gzipped else path.stat().st_size
    opening = max(size - written - 1, 0)
    with _open_binary(path) as handle:
        handle.seek(max(opening - TAIL_MARGIN, 0))
        tail = handle.read()
    if tail.rstrip(b" \t\r\n").endswith(b'"'):
        return
    raise DataContractError(_unclosed_quote(path, _line_breaks(path, opening)[0] + 1))


def _open_binary(path: Path) -> io.BufferedIOBase:
    """The file's bytes, decompressed for ``.csv.gz``."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return path.open("rb")


def _open_text(path: Path) -> TextIO:
    """The file's text as the ``csv`` module wants it: line breaks untranslated."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _line_breaks(path: Path, end: int | None = None) -> tuple[int, bool, int]:
    """Count line breaks (``\\n``, ``\\r\\n`` or a lone ``\\r``) in C, chunk by chunk.

    Returns the count in the first ``end`` bytes (all by default), whether those
    bytes end with a line break and how many bytes were read.
    """
    count = read = 0
    previous = b""
    with _open_binary(path) as handle:
        while chunk := handle.read(
            CHUNK_BYTES if end is None else min(CHUNK_BYTES, end - read)
        ):
            count += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
            count -= previous.endswith(b"\r") and chunk.startswith(b"\n")
            read += len(chunk)
            previous = chunk
    return count, previous.endswith((b"\n", b"\r")), read


def _record_ends(path: Path) -> Iterator[tuple[int, bool]]:
    """The line each record of a CSV file ends on, and whether it is blank.

    A record is the header, a data row or a blank line; a quoted value can make a
    record span several lines, so record *n* starts on the line after record
    *n - 1* ends. Python's ``csv`` module reads as Arrow and pandas do.
    """
    with _open_text(path) as text:
        reader = csv.reader(text)
        for record in reader:
            yield reader.line_num, not record


def _record_line(path: Path, record: int) -> int | None:
    """The line record ``record`` (0-based, blank lines counted) starts on."""
    if record == 0:
        return 1
    try:
        previous = next(itertools.islice(_record_ends(path), record - 1, None), None)
    except (csv.Error, UnicodeDecodeError):
        return None
    return None if previous is None else previous[0] + 1


class CsvLines:
    """The line each data row of a CSV file starts on, found when first asked.

    Row *n* (0-based) is line *n + 2* unless blank lines or values holding a line
    break come before it. Counting the file's line breaks (in C) tells whether any
    do; only then is the file walked record by record in Python. Either is done
    once, when a message first needs a line, so reading a file costs nothing more.

    Parameters
    ----------
    path
        The CSV file, as read.
    rows
        How many data rows were read from it.
    """

    def __init__(self, path: Path, rows: int) -> None:
        self.path = path
        self.rows = rows

    def __call__(self, row: int) -> int | None:
        """The line data row ``row`` (0-based) starts on, or None if unknown."""
        starts = self._starts
        if starts is None:
            return row + 2
        return starts[row] if row < len(starts) else None

    @functools.cached_property
    def _starts(self) -> list[int] | None:
        """None if every row is one line, else each row's first line.

        The list is empty when the walk disagrees with the rows read (Python's
        ``csv`` module refuses the file, or splits it differently).
        """
        count, ends_with_break, _ = _line_breaks(self.path)
        if count + (not ends_with_break) == self.rows + 1:
            return None
        starts, start = [], 1
        try:
            for end, blank in _record_ends(self.path):
                if not blank:
                    starts.append(start)
                start = end + 1
        except (csv.Error, UnicodeDecodeError):
            return []
        return starts[1:] if len(starts) == self.rows + 1 else []


def _check_header(path: Path) -> None:
    """Refuse a header naming one column twice (pandas would rename it ``x.1``)."""
    header = pd.read_csv(
        path, header=None, nrows=1, dtype="str", na_filter=False, encoding="utf-8-sig"
    )
    names = [str(name).strip() for name in header.iloc[0]] if len(header) else []
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        places = "; ".join(
            f"{name!r} in columns "
            + ", ".join(str(i + 1) for i, n in enumerate(names) if n == name)
            for name in repeated
        )
        raise DataContractError(
            f"{path.name}: the header names a column more than once ({places}); "
            "keep one column per name"
        )


def _table_name(name: str) -> str:
    """A file name without its table suffix (``deals`` of ``deals.CSV``), or ""."""
    suffix = _suffix(Path(name))
    return name[: -len(suffix)] if suffix else ""


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((s for s in TABLE_SUFFIXES if name.endswith(s)), "")


def _warn_unknown(where: Path, names: list[str]) -> None:
    if names:
        log.warning(
            "%s: ignoring %s not in the data contract: %s (tables: %s)",
            where,
            "entries" if len(names) > 1 else "entry",
            ", ".join(repr(n) for n in names),
            ", ".join(TABLES),
        )
