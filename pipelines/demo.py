"""``ghost-model demo``: the whole job on a dataset, ending in scores and reports.

Trains and promotes a model when the registry has no champion yet, then scores every
active partner at the latest cutoff the data supports and writes, under
``GHOST_HOME`` (default ``var/``): the scores as CSV in English and Japanese, the
full detail as JSON, the serving snapshot, and the HTML report in both languages.
When the dataset carries the simulator's ``truth.csv``, it also checks the driving
stages of high-risk partners in decline against the simulated root stage.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.report import count_or_zero
from pipelines.score import LANGS, add_band_arguments, bands_from, score_languages

if TYPE_CHECKING:
    import pandas as pd

    from ghost_model.model import PartnerRiskModel
    from ghost_model.scoring import RiskBands, ScoringModel
    from ghost_model.settings import Settings
    from pipelines.score import ScoringInputs

log = logging.getLogger(__name__)

TRUTH_FILE = "truth.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``ghost-model demo``."""
    parser.add_argument("--data", type=Path, required=True, help="dataset folder")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="folder for scores and reports; default: GHOST_HOME (var)",
    )
    parser.add_argument(
        "--top",
        type=count_or_zero,
        default=200,
        help="partners shown in the reports (default 200; 0 shows every partner)",
    )
    add_band_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Train if needed, score, write scores, snapshot and reports; print paths."""
    from ghost_model.report import TREND_POINTS, write_report
    from ghost_model.scoring import write_scores
    from ghost_model.settings import Settings
    from ghost_model.snapshot import write_snapshot
    from pipelines.report import render_report
    from pipelines.score import prepare_inputs

    settings = Settings()
    out_dir = args.out_dir or settings.home
    bands = bands_from(args)
    model = champion_or_train(args.data, settings)
    inputs = prepare_inputs(args.data, None, history=TREND_POINTS - 1)

    records = score_languages(model, inputs, LANGS, bands)
    paths = [
        write_scores(records[lang], out_dir / f"scores_{lang}.csv") for lang in LANGS
    ]
    paths.append(write_scores(records["en"], out_dir / "scores.json"))
    paths.append(write_snapshot(records, settings.resolved_snapshot_path()))
    for lang in LANGS:
        html = render_report(
            model, inputs, lang, bands, args.top or None, records[lang]
        )
        paths.append(write_report(html, out_dir / f"report_{lang}.html"))

    truth_path = args.data / TRUTH_FILE
    if truth_path.is_file():
        paths.append(check_stages(model, inputs, bands, truth_path, out_dir))
    for path in paths:
        print(path)
    return 0


def champion_or_train(data: Path, settings: Settings) -> PartnerRiskModel:
    """The registry's champion; trains and promotes one first when there is none."""
    import importlib

    from ghost_model.errors import ModelNotReadyError
    from ghost_model.registry import load_model

    train = importlib.import_module("pipelines.train")

    try:
        model = load_model("champion", settings)
    except ModelNotReadyError:
        log.info("no champion model in the registry yet: training one on %s", data)
    else:
        log.info(
            "scoring with the registry's champion, %s version %s, without training "
            "(`ghost-model train --data %s --promote` retrains it)",
            model.metadata.get("name"),
            model.metadata.get("version"),
            data,
        )
        return model
    parser = argparse.ArgumentParser(prog="ghost-model train")
    train.add_arguments(parser)
    status = train.run(parser.parse_args(["--data", str(data), "--promote"]))
    if status != 0:
        raise ModelNotReadyError(
            f"training on {data} ended with status {status}; see the log above"
        )
    return load_model("champion", settings)


def check_stages(
    model: ScoringModel,
    inputs: ScoringInputs,
    bands: RiskBands,
    truth_path: Path,
    out_dir: Path,
) -> Path:
    """Driving stage against the simulated root stage, pooled over the cutoffs.

    Scores every cutoff of ``inputs`` (the current one and those before it), keeps
    high-band partners in a decline episode, writes the confusion matrix to
    ``stage_check.csv`` and logs it with the share on the diagonal.
    """
    import pandas as pd

    from ghost_model.explain import agreement_share, compare_with_cause
    from ghost_model.scoring import score_partners

    rows: list[dict[str, Any]] = []
    for cutoff in inputs.cutoffs:
        records = score_partners(
            model,
            inputs.table,
            timezone=inputs.dataset.timezone,
            as_of=cutoff,
            bands=bands,
            n_reasons=0,
        )
        rows += [
            {k: r[k] for k in ("partner_id", "as_of", "risk_band", "driving_stage")}
            for r in records
        ]
    truth = read_truth(truth_path)
    matrix = compare_with_cause(
        pd.DataFrame(rows), truth, timezone=inputs.dataset.timezone
    )
    path = out_dir / "stage_check.csv"
    matrix.to_csv(path)
    log.info(
        "stage check over %d cutoffs, high band, partners in decline: %d scores, "
        "%.0f%% with the driving stage equal to the root stage\n%s",
        len(inputs.cutoffs),
        int(matrix.to_numpy().sum()),
        100 * agreement_share(matrix),
        matrix.to_string(),
    )
    return path


def read_truth(path: Path) -> pd.DataFrame:
    """The simulator's ``truth.csv`` with instants as UTC timestamps."""
    import pandas as pd

    truth = pd.read_csv(path, dtype={"partner_id": str, "root_stage": str})
    truth["decline_start"] = pd.to_datetime(truth["decline_start"], utc=True)
    truth["recovered"] = (
        truth["recovered"].astype(str).str.lower().map({"true": True, "false": False})
    )
    return truth
