"""Shared fixtures; each test folder groups what it guards (code, data, model, e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghost_model.simulate import SimulatedEcosystem, simulate_ecosystem, write_ecosystem

SMALL_PARTNERS = 300
SMALL_MONTHS = 24


@pytest.fixture(scope="session")
def small_ecosystem() -> SimulatedEcosystem:
    """A small simulated ecosystem (300 partners x 24 months), shared by all tests.

    Treat it as read-only: copy a table before changing it.
    """
    return simulate_ecosystem(partners=SMALL_PARTNERS, months=SMALL_MONTHS, seed=11)


@pytest.fixture(scope="session")
def small_dataset_dir(
    small_ecosystem: SimulatedEcosystem, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The small ecosystem written as a dataset folder (Parquet, yaml, truth)."""
    out = tmp_path_factory.mktemp("small_dataset")
    write_ecosystem(small_ecosystem, out)
    return out
