"""Live scoring checks that need no running service."""

from __future__ import annotations

import pytest

from ghost_model.features import load_catalogue
from serving.errors import RequestFieldError
from serving.live import check_model_tables, resolve_day


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


OUTSIDE = r"body\.as_of: .* outside the calendar"


@pytest.mark.parametrize(
    ("as_of", "zone"),
    [("9999-12-31T23:59:59+00:00", "Asia/Tokyo"), ("0001-01-01T00:00:00+14:00", "UTC")],
)
def test_resolve_day_outside_calendar_raises_field_error(as_of: str, zone: str) -> None:
    """Check that a timestamp leaving years 1-9999 in the zone is a 422 on as_of."""
    with pytest.raises(RequestFieldError, match=OUTSIDE):
        resolve_day(as_of, zone)


@pytest.mark.parametrize(
    "as_of", ["9999-12-31", "9999-10-05", "9999-06-01T12:00:00-07:00"]
)
def test_resolve_day_too_late_for_label_window_raises_field_error(as_of: str) -> None:
    """Check that a day whose label window passes year 9999 is a 422 on as_of."""
    with pytest.raises(RequestFieldError, match=r"body\.as_of: .* the last day"):
        resolve_day(as_of, "America/Los_Angeles")


def test_resolve_day_timestamp_read_in_dataset_zone() -> None:
    """Check that a timestamp's day is its day in the dataset's zone."""
    assert resolve_day("2024-11-30T20:00:00+00:00", "Asia/Tokyo").isoformat() == (
        "2024-12-01"
    )
