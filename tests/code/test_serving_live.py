"""Live scoring checks that need no running service."""

from __future__ import annotations

import pytest

from ghost_model.features import load_catalogue
from serving.errors import RequestFieldError
from serving.live import check_model_tables


def test_check_model_tables_missing_interactions_names_table() -> None:
    """Check that a body without interactions is told to post interactions."""
    catalogue = load_catalogue()
    needed = list(catalogue)
    lacking = [n for n, spec in catalogue.items() if "interactions" in spec.tables]
    present = [n for n in needed if n not in lacking]
    posted = ["deals", "partners", "partner_reps", "portal_views", "psm_assignments"]

    with pytest.raises(
        RequestFieldError,
        match=r"tables the request does not post \(interactions\), e\.g\. ",
    ):
        check_model_tables(needed, present, catalogue, posted=posted)


def test_check_model_tables_all_features_present_passes() -> None:
    """Check that a body yielding every model feature is accepted."""
    catalogue = load_catalogue()
    check_model_tables(list(catalogue), list(catalogue), catalogue, posted=["deals"])
