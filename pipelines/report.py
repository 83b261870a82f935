"""``ghost-model report``: the partner-sales lead's HTML report of explained scores.

Scores the partners at the cutoff with the registry's champion model, scores the
five regular cutoffs before it for the trends, and writes one self-contained HTML
file (no network needed to view it).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.score import LANGS, add_band_arguments, bands_from, score_languages

if TYPE_CHECKING:
    from ghost_model.scoring import RiskBands, ScoringModel
    from pipelines.score import ScoringInputs

log = logging.getLogger(__name__)


def count_or_zero(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``ghost-model report``."""
    parser.add_argument("--data", type=Path, required=True, help="dataset folder")
    parser.add_argument("--out", type=Path, required=True, help="HTML file to write")
    parser.add_argument("--lang", choices=LANGS, default="en", help="language")
    parser.add_argument(
        "--as-of",
        default=None,
        help="cutoff date YYYY-MM-DD; default: the latest the data supports",
    )
    parser.add_argument(
        "--top",
        type=count_or_zero,
        default=200,
        help="show the N highest risks (default 200; 0 shows every partner)",
    )
    add_band_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Score, render and write the report; print its path."""
    from ghost_model.registry import load_model
    from ghost_model.report import TREND_POINTS, write_report
    from ghost_model.settings import Settings
    from pipelines.outputs import check_output
    from pipelines.score import prepare_inputs

    check_output(args.out, "--out", (".html", ".htm"), args.data)
    inputs = prepare_inputs(args.data, args.as_of, history=TREND_POINTS - 1)
    model = load_model("champion", Settings())
    html = render_report(model, inputs, args.lang, bands_from(args), args.top or None)
    write_report(html, args.out)
    print(args.out)
    return 0


def render_report(
    model: ScoringModel,
    inputs: ScoringInputs,
    lang: str,
    bands: RiskBands,
    top: int | None,
    records: list[dict[str, Any]] | None = None,
) -> str:
    """The report's HTML for ``inputs`` (records are scored unless given)."""
    from ghost_model.report import build_report
    from ghost_model.scoring import score_history

    if records is None:
        records = score_languages(model, inputs, (lang,), bands)[lang]
    history = score_history(model, inputs.table.frame, inputs.dataset.timezone)
    return build_report(
        records,
        metadata=model.metadata,
        history=history,
        lang=lang,
        bands=bands,
        horizon_days=inputs.config.horizon_days,
        top=top,
    )
