"""``ghost-model features``: write the point-in-time feature table of a dataset."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)

FORMATS = (".parquet", ".csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``ghost-model features``."""
    parser.add_argument(
        "--data", type=Path, required=True, help="dataset folder or .duckdb file"
    )
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument(
        "--as-of",
        help="one cutoff: a date (midnight in the dataset's zone), YYYY-MM-DD; "
        "as_of is written as that midnight with the zone's offset",
    )
    when.add_argument(
        "--cutoffs",
        choices=("monthly", "quarterly", "weekly"),
        help="every regular cutoff from the first deal to the extract time",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="output file, .parquet or .csv"
    )
    parser.add_argument(
        "--horizon-days", type=int, default=90, help="label window in days"
    )
    parser.add_argument(
        "--lookback-days",
        type=int,
        default=180,
        help="a partner is scored when it registered a deal in this many days",
    )


def run(args: argparse.Namespace) -> int:
    """Load the dataset, build the feature table and write it."""
    from ghost_model.features import FeatureConfig, build_feature_table, monthly_cutoffs
    from ghost_model.loaders import load_dataset
    from ghost_model.scoring import resolve_as_of
    from pipelines.outputs import check_output

    check_output(args.out, "--out", FORMATS, args.data)
    suffix = args.out.suffix.lower()
    config = FeatureConfig(
        horizon_days=args.horizon_days,
        lookback_days=args.lookback_days,
        frequency=args.cutoffs or "monthly",
    )
    dataset = load_dataset(args.data)
    if args.as_of is not None:
        cutoffs = [resolve_as_of(args.as_of, dataset.extract_time, dataset.timezone)]
    else:
        cutoffs = monthly_cutoffs(dataset, config)
    table = build_feature_table(dataset, cutoffs, config)
    if table.frame.empty:
        log.warning(
            "%s: no partner is scored at the requested cutoffs (none registered a "
            "deal in the %d days before them); the output has no rows",
            args.data,
            config.lookback_days,
        )

    # the same instants, shown as the local midnights the cutoffs were asked as
    local = table.frame["as_of"].dt.tz_convert(dataset.timezone)
    frame = table.frame.assign(as_of=local)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.to_parquet(args.out, index=False)
    else:
        frame.to_csv(args.out, index=False)
    log.info(
        "wrote %s: %d rows, %d features, %d cutoff%s, %d labeled rows%s",
        args.out,
        len(table.frame),
        len(table.feature_names),
        len(table.cutoffs),
        "" if len(table.cutoffs) == 1 else "s",
        int(table.frame["label"].notna().sum()),
        (
            "; no data for " + ", ".join(table.stages_without_data)
            if table.stages_without_data
            else ""
        ),
    )
    return 0
