"""``ghost-model simulate``: write the synthetic partner ecosystem as a dataset."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``ghost-model simulate``."""
    parser.add_argument(
        "--out", type=Path, required=True, help="dataset folder to write"
    )
    parser.add_argument("--partners", type=int, default=2000, help="number of partners")
    parser.add_argument("--months", type=int, default=36, help="months simulated")
    parser.add_argument(
        "--start", default="2022-04-01", help="first local day (Asia/Tokyo), YYYY-MM-DD"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed")


def run(args: argparse.Namespace) -> int:
    """Simulate the ecosystem, write it, and log a one-line summary."""
    from ghost_model.simulate import simulate_ecosystem, write_ecosystem

    log.info(
        "simulating %d partners over %d months from %s (seed %d)",
        args.partners,
        args.months,
        args.start,
        args.seed,
    )
    eco = simulate_ecosystem(
        partners=args.partners, months=args.months, start=args.start, seed=args.seed
    )
    write_ecosystem(eco, args.out)
    truth = eco.truth
    log.info(
        "wrote %s: %d partners, %d deals, %d interactions, %d portal views; "
        "%d decline episodes, %d partners gone silent, %d terminated",
        args.out,
        len(eco.tables["partners"]),
        len(eco.tables["deals"]),
        len(eco.tables["interactions"]),
        len(eco.tables["portal_views"]),
        int(truth["decline_start"].notna().sum()),
        int(truth["silent_from"].notna().sum()),
        int(truth["terminated_at"].notna().sum()),
    )
    return 0
