"""Time every phase of `ghost-model train` on the simulated demo data.

Prints the wall time of each phase (load, features, backtest, final fit,
explanations, logging to a throw-away MLflow store) and, as the baseline measured
in the same run, the time of one LightGBM fit on the final training rows and of
the logistic-regression baseline inside the backtest, with ratios against them.

    .venv/bin/python benchmarks/bench_train.py [--partners 2000] [--months 36]
        [--threads 2] [--data DIR]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from ghost_model.settings import Settings
from ghost_model.simulate import simulate_ecosystem, write_ecosystem
from ghost_model.training import DEFAULT_PARAMS, TrainConfig
from pipelines.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=2000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=None, help="use this dataset")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            started = time.perf_counter()
            data = Path(tmp) / "data"
            write_ecosystem(simulate_ecosystem(args.partners, args.months), data)
            print(
                f"simulate (not part of train): {time.perf_counter() - started:.1f} s"
            )
        config = TrainConfig(params=DEFAULT_PARAMS | {"num_threads": args.threads})
        outcome = train(data, config, Settings(home=Path(tmp) / "home"), promote=True)

    seconds = outcome.seconds
    print(f"train on {data.name}: {args.threads} LightGBM thread(s)")
    for phase in (
        "load",
        "features",
        "backtest",
        "final_fit",
        "explanations",
        "logging",
    ):
        print(f"  {phase:<13} {seconds[phase]:7.1f} s")
    print(f"  {'total':<13} {seconds['total']:7.1f} s")
    inner = outcome.backtest.seconds
    folds = len(outcome.backtest.folds)
    print(
        f"backtest inside ({folds} folds): model fits {inner['model_fit']:.1f} s, "
        f"logistic {inner['logistic_fit']:.1f} s, BG/NBD {inner['bgnbd_fit']:.1f} s, "
        f"rules {inner['rule_baselines']:.1f} s"
    )
    single_fit = seconds["final_fit"]
    print(
        f"ratio: total / one final fit = {seconds['total'] / single_fit:.1f}x; "
        f"backtest model fits / logistic-baseline fits = "
        f"{inner['model_fit'] / inner['logistic_fit']:.2f}x"
    )


if __name__ == "__main__":
    main()
