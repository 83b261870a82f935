"""``ghost-model score``: explained risk scores of active partners, and the snapshot.

Loads the dataset, builds its features at the cutoff, scores them with the registry's
champion model and writes the scores (CSV, Parquet or JSON by the extension of
``--out``) plus the serving snapshot (both languages) that the scoring service reads.

``--as-of`` defaults to the latest cutoff the data supports: the midnight after the
last complete day of the extract, in the dataset's time zone (see
:func:`ghost_model.dataset.latest_cutoff`).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from ghost_model.dataset import Dataset
    from ghost_model.features import FeatureConfig, FeatureTable
    from ghost_model.scoring import RiskBands, ScoringModel

log = logging.getLogger(__name__)

LANGS = ("en", "ja")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``ghost-model score``."""
    parser.add_argument("--data", type=Path, required=True, help="dataset folder")
    parser.add_argument(
        "--as-of",
        default=None,
        help="cutoff date YYYY-MM-DD in the dataset's zone; default: the latest the "
        "data supports (the midnight after the extract's last complete day)",
    )
    parser.add_argument("--lang", choices=LANGS, default="en", help="language")
    parser.add_argument(
        "--out", type=Path, required=True, help="scores file: .csv, .parquet or .json"
    )
    add_band_arguments(parser)
    parser.add_argument(
        "--snapshot",
        type=Path,
        default=None,
        help="serving snapshot to write (DuckDB); default: GHOST_HOME/snapshot.duckdb",
    )
    parser.add_argument(
        "--no-snapshot", action="store_true", help="do not write the serving snapshot"
    )


def add_band_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the risk band thresholds (shared with ``report`` and ``demo``)."""
    parser.add_argument(
        "--high",
        type=float,
        default=0.5,
        help="probability from which a partner is in the high band (default 0.5)",
    )
    parser.add_argument(
        "--medium",
        type=float,
        default=0.25,
        help="probability from which a partner is in the medium band (default 0.25)",
    )


def run(args: argparse.Namespace) -> int:
    """Score the partners, write the scores and the snapshot, print the path."""
    from ghost_model.loaders import DUCKDB_SUFFIXES
    from ghost_model.registry import load_model
    from ghost_model.scoring import SCORE_FORMATS, write_scores
    from ghost_model.settings import Settings
    from ghost_model.snapshot import write_snapshot
    from pipelines.outputs import check_output

    settings = Settings()
    check_output(args.out, "--out", SCORE_FORMATS, args.data)
    snapshot = args.snapshot or settings.resolved_snapshot_path()
    if not args.no_snapshot:
        check_output(snapshot, "--snapshot", DUCKDB_SUFFIXES, args.data)
    bands = bands_from(args)
    inputs = prepare_inputs(args.data, args.as_of, history=0)
    model = load_model("champion", settings)

    langs = LANGS if not args.no_snapshot else (args.lang,)
    records = score_languages(model, inputs, langs, bands)
    write_scores(records[args.lang], args.out)
    if not args.no_snapshot:
        write_snapshot(records, snapshot)
    print(args.out)
    return 0


@dataclass
class ScoringInputs:
    """A loaded dataset, the cutoff to score and the feature rows around it."""

    dataset: Dataset
    as_of: pd.Timestamp
    cutoffs: list[pd.Timestamp]
    table: FeatureTable
    config: FeatureConfig


def score_languages(
    model: ScoringModel,
    inputs: ScoringInputs,
    langs: tuple[str, ...],
    bands: RiskBands,
) -> dict[str, list[dict[str, Any]]]:
    """Explained scores of every partner at ``inputs.as_of``, once per language."""
    from ghost_model.scoring import score_partners

    return {
        lang: score_partners(
            model,
            inputs.table,
            timezone=inputs.dataset.timezone,
            as_of=inputs.as_of,
            lang=lang,
            bands=bands,
        )
        for lang in langs
    }


def prepare_inputs(data: Path, as_of_text: str | None, history: int) -> ScoringInputs:
    """Load ``data`` and build features at the cutoff and ``history`` cutoffs before.

    Parameters
    ----------
    data
        Dataset folder (or DuckDB file).
    as_of_text
        ``YYYY-MM-DD`` in the dataset's zone, or None for the latest supported.
    history
        How many regular (monthly) cutoffs before ``as_of`` to build as well, for
        trends.

    Returns
    -------
    ScoringInputs
        The dataset, the cutoff, all cutoffs built (oldest first) and the table.
    """
    from ghost_model.features import (
        FeatureConfig,
        build_feature_table,
        monthly_cutoffs,
    )
    from ghost_model.loaders import load_dataset

    dataset = load_dataset(data)
    as_of = resolve_as_of(dataset, as_of_text)
    config = FeatureConfig()
    earlier = [t for t in monthly_cutoffs(dataset, config) if t < as_of]
    cutoffs = [*earlier[len(earlier) - history :], as_of] if history else [as_of]
    table = build_feature_table(dataset, cutoffs, config)
    return ScoringInputs(dataset, as_of, cutoffs, table, config)


def resolve_as_of(dataset: Dataset, text: str | None) -> pd.Timestamp:
    """The cutoff to score: ``text`` as a date in the dataset's zone, or the default.

    Raises
    ------
    ConfigError
        When ``text`` is not a date or lies after what the data supports.
    """
    from ghost_model.scoring import resolve_as_of as resolve

    return resolve(text, dataset.extract_time, dataset.timezone)


def bands_from(args: argparse.Namespace) -> RiskBands:
    """The risk bands of the ``--high``/``--medium`` options."""
    from ghost_model.scoring import RiskBands

    return RiskBands(high=args.high, medium=args.medium)
