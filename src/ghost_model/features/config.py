"""Settings of the feature table: windows, horizon, look-back, stall age, cutoffs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ghost_model.errors import ConfigError

Frequency = Literal["monthly", "quarterly", "weekly"]
FREQUENCIES: tuple[str, ...] = ("monthly", "quarterly", "weekly")
MAX_DAYS = 3660
"""The longest window, horizon, look-back or stall age in days (ten years): the
buckets and calendars of a build span that many days, so the bound keeps a typo
such as 10**8 from filling the memory."""


@dataclass(frozen=True)
class FeatureConfig:
    """How the point-in-time feature table is built.

    Parameters
    ----------
    horizon_days
        Length of the label window ``[t, t + horizon)``: a partner is silent (label 1)
        when it registers no deal in it.
    lookback_days
        A partner is in the population at ``t`` when it registered at least one deal
        in ``[t - lookback, t)`` and was not terminated before ``t``.
    windows
        Three trailing windows in days (short, middle, long). Every count is taken
        over each of them; changes compare the middle (and for deal registrations the
        long) window with the window of the same length just before it.
    stall_days
        An open deal older than this many days counts as stalled.
    frequency
        Cutoff frequency of :func:`~ghost_model.features.monthly_cutoffs`:
        ``monthly`` (the 1st of every month), ``quarterly`` (the 1st of January,
        April, July, October) or ``weekly`` (every Monday), all at midnight in the
        dataset's time zone.
    """

    horizon_days: int = 90
    lookback_days: int = 180
    windows: tuple[int, int, int] = (30, 90, 180)
    stall_days: int = 60
    frequency: Frequency = "monthly"

    def __post_init__(self) -> None:
        for name in ("horizon_days", "lookback_days", "stall_days"):
            value = getattr(self, name)
            if not _days_in_range(value):
                raise ConfigError(
                    f"FeatureConfig.{name}={value!r}: expected a whole number of "
                    f"days from 1 to {MAX_DAYS}"
                )
        windows = tuple(self.windows)
        if (
            len(windows) != 3
            or not all(_days_in_range(w) for w in windows)
            or not windows[0] < windows[1] < windows[2]
        ):
            raise ConfigError(
                f"FeatureConfig.windows={self.windows!r}: expected three increasing "
                f"whole numbers of days (short, middle, long) up to {MAX_DAYS}, e.g. "
                "(30, 90, 180)"
            )
        object.__setattr__(self, "windows", windows)
        if self.frequency not in FREQUENCIES:
            raise ConfigError(
                f"FeatureConfig.frequency={self.frequency!r}: expected one of "
                f"{', '.join(FREQUENCIES)}"
            )

    @property
    def short(self) -> int:
        """The short trailing window in days."""
        return self.windows[0]

    @property
    def mid(self) -> int:
        """The middle trailing window in days."""
        return self.windows[1]

    @property
    def long(self) -> int:
        """The long trailing window in days."""
        return self.windows[2]


def _days_in_range(value: object) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 1 <= value <= MAX_DAYS
    )
