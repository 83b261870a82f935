"""``ghost-model validate``: check a dataset against the data contract.

Prints one line per table (rows read, accepted, quarantined, exact duplicates), the
optional tables that are absent and the stages that therefore have no data. In strict
mode (the default) a violation prints the error and exits 1; ``--quarantine`` sets the
rejected rows aside in ``quarantine/<table>.csv`` and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ghost_model.dataset import Dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``ghost-model validate``."""
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        metavar="DIR",
        help="dataset folder (dataset.yaml + CSV/Parquet tables) or a DuckDB file",
    )
    parser.add_argument(
        "--quarantine",
        action="store_true",
        help="set rows that break the contract aside instead of failing",
    )
    parser.add_argument(
        "--quarantine-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where quarantined rows go (default: DIR/quarantine)",
    )


def run(args: argparse.Namespace) -> int:
    """Validate the dataset, print the summary; 1 on a strict-mode violation."""
    from ghost_model.errors import DataContractError
    from ghost_model.loaders import load_dataset

    # the summary printed below carries the per-table counts that the validation
    # logs as info lines; -v shows them as well
    counts_log = logging.getLogger("ghost_model.validation")
    level = counts_log.level
    if not args.verbose:
        counts_log.setLevel(logging.WARNING)
    try:
        dataset = load_dataset(
            args.data, quarantine=args.quarantine, quarantine_dir=args.quarantine_dir
        )
    except DataContractError as exc:
        print(
            f"ghost-model validate: {args.data}: invalid dataset:\n{exc}",
            file=sys.stderr,
        )
        return 1
    finally:
        counts_log.setLevel(level)
    print(format_summary(dataset, quarantine_dir=_quarantine_dir(args)))
    return 0


def format_summary(dataset: Dataset, *, quarantine_dir: Path | None = None) -> str:
    """The per-table summary printed by ``ghost-model validate``.

    Parameters
    ----------
    dataset
        A validated dataset.
    quarantine_dir
        Where quarantined rows were written, mentioned when any were.

    Returns
    -------
    str
        A small text table and notes on absent tables and stages without data.
    """
    from ghost_model.contract import STAGE_TABLES, STAGES, TABLES

    header = ("table", "read", "accepted", "quarantined", "duplicates")
    rows: list[tuple[str, ...]] = [header]
    for name in TABLES:
        if name in dataset.row_counts:
            counts = dataset.row_counts[name]
            rows.append((name, *(f"{counts[k]:,}" for k in header[1:])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        f"dataset {dataset.config.name!r} ({dataset.source}): time zone "
        f"{dataset.timezone}, extract time {dataset.extract_time.isoformat()}",
        *(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ),
    ]

    absent = [name for name in TABLES if name not in dataset.tables]
    lines.append(f"absent optional tables: {', '.join(absent) if absent else 'none'}")
    empty = [s for s in STAGES if not any(dataset.has(t) for t in STAGE_TABLES[s])]
    for stage in empty:
        needed = ", ".join(STAGE_TABLES[stage])
        lines.append(f"stage {stage!r} has no data (needs one of: {needed})")
    quarantined = sum(c["quarantined"] for c in dataset.row_counts.values())
    if quarantined and quarantine_dir is not None:
        lines.append(f"{quarantined:,} quarantined row(s) written to {quarantine_dir}")
    return "\n".join(lines)


def _quarantine_dir(args: argparse.Namespace) -> Path | None:
    if not args.quarantine:
        return None
    if args.quarantine_dir is not None:
        return Path(args.quarantine_dir)
    data = Path(args.data)
    return (data if data.is_dir() else data.parent) / "quarantine"
