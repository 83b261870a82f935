"""Evaluation: the driving stage by the stages' causal order, against the simulator.

Not a timing benchmark (``make bench`` does not run it): it measures an alternative
to the product's stage attribution on the default demo data.

The product sums each feature's contribution per stage and calls the stage with the
largest push the driving stage; on the simulator it agrees with the root stage of
partners in decline (high band) in 43 % of scores. DESIGN.md says partners drift
away in an order — sell-through confidence, then relationship distance, then
internal priority — so this script credits the stages in that order instead: it fits
nested models on the same training rows (context only; + sellability; + distance;
+ priority = every feature) and gives each stage the change in log-odds its features
add to the stages before it. The contributions add up to the full model's log-odds.
The reverse order and the product's per-feature sums are measured beside it, on the
same models and rows, so a difference comes from the order.

Usage::

    python benchmarks/eval_stage_order.py            # simulates the demo data
    python benchmarks/eval_stage_order.py --data DIR # a simulated dataset folder

It fits five models with the demo's training settings: about 8 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ghost_model.contract import STAGES
from ghost_model.explain import agreement_share, compare_with_cause
from ghost_model.loaders import load_dataset
from ghost_model.model import PartnerRiskModel
from ghost_model.scoring import score_partners
from ghost_model.simulate import simulate_ecosystem, write_ecosystem
from ghost_model.training import TrainConfig, fit_model
from pipelines.demo import read_truth
from pipelines.score import prepare_inputs
from pipelines.train import build_features

FORWARD = ("sellability", "distance", "priority")
REVERSE = tuple(reversed(FORWARD))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    return np.asarray(np.log(p / (1 - p)))


def nested_models(
    data: Path, config: TrainConfig
) -> dict[tuple[str, ...], PartnerRiskModel]:
    """Models on context plus each leading run of stages of both orders."""
    dataset = load_dataset(data)
    table, names, stage_of, _ = build_features(dataset, config)
    context = [n for n in names if stage_of[n] == "context"]
    models: dict[tuple[str, ...], PartnerRiskModel] = {}
    for order in (FORWARD, REVERSE):
        for k in range(len(order) + 1):
            key = tuple(sorted(order[:k]))
            if key in models:
                continue
            chosen = context + [n for n in names if stage_of[n] in key]
            started = time.perf_counter()
            models[key] = fit_model(table, chosen, config)
            took = time.perf_counter() - started
            label = "+".join(key) or "context"
            print(f"fitted {label}: {len(chosen)} inputs, {took:.0f} s", flush=True)
    return models


def driving(contributions: pd.DataFrame) -> pd.Series:
    """The stage with the largest positive contribution (None when none is)."""
    values = contributions[list(STAGES)].to_numpy(dtype=float)
    best = values.argmax(axis=1)
    top = values[np.arange(len(values)), best]
    stages = np.asarray(STAGES, dtype=object)[best]
    return pd.Series(np.where(top > 0, stages, None), index=contributions.index)


def by_order(
    log_odds: dict[tuple[str, ...], np.ndarray], order: tuple[str, ...]
) -> pd.DataFrame:
    """Each stage's change in log-odds over the stages before it in ``order``."""
    out = {}
    for k, stage in enumerate(order):
        before = log_odds[tuple(sorted(order[:k]))]
        out[stage] = log_odds[tuple(sorted(order[: k + 1]))] - before
    return pd.DataFrame(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="simulated dataset folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ghost-stage-order-") as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "demo-data"
            write_ecosystem(simulate_ecosystem(), data)
        started = time.perf_counter()
        models = nested_models(data, TrainConfig())
        full = models[tuple(sorted(FORWARD))]
        inputs = prepare_inputs(data, None, history=5)
        zone = inputs.dataset.timezone
        rows = []
        for cutoff in inputs.cutoffs:
            records = score_partners(
                full, inputs.table, timezone=zone, as_of=cutoff, n_reasons=0
            )
            scored = pd.DataFrame(
                {k: [r[k] for r in records] for k in ("partner_id", "as_of")}
                | {
                    "risk_band": [r["risk_band"] for r in records],
                    "per_feature_sums": [r["driving_stage"] for r in records],
                }
            )
            frame = inputs.table.frame[inputs.table.frame["as_of"] == cutoff]
            frame = frame.set_index(frame["partner_id"].astype(str))
            frame = frame.loc[scored["partner_id"]]
            log_odds = {k: logit(m.predict_proba(frame)) for k, m in models.items()}
            for name, order in (("forward", FORWARD), ("reverse", REVERSE)):
                scored[name] = driving(by_order(log_odds, order)).to_numpy()
            rows.append(scored)
        scores = pd.concat(rows, ignore_index=True)
        truth = read_truth(data / "truth.csv")
        for method in ("per_feature_sums", "forward", "reverse"):
            chosen = scores[["partner_id", "as_of", "risk_band"]].assign(
                driving_stage=scores[method]
            )
            matrix = compare_with_cause(chosen, truth, timezone=zone)
            total = int(matrix.to_numpy().sum())
            share = agreement_share(matrix)
            print(f"\n{method}: {round(share * total)} of {total} agree ({share:.1%})")
            print(matrix.to_string())
        print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
