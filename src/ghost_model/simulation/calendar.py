"""The Japanese business calendar behind the rates: fiscal peaks, holidays, weekends."""

from __future__ import annotations

import numpy as np
import pandas as pd


def local_days(start: pd.Timestamp, days: int) -> pd.DatetimeIndex:
    """The local calendar dates of the simulated days, starting at ``start``."""
    return pd.date_range(start.tz_localize(None).normalize(), periods=days, freq="D")


def season_multipliers(dates: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Daily activity multipliers for deals, interactions and portal views.

    March (fiscal year end) and September (half-year end) are peaks, with the last
    two weeks strongest; Golden Week, Obon and the New Year holidays are dips;
    weekends are quiet for deals and questions, less so for portal views.

    Parameters
    ----------
    dates
        Local calendar dates.

    Returns
    -------
    dict[str, numpy.ndarray]
        Multipliers (float32, one per date, mean one): ``budget`` (fiscal peaks and
        holidays) and ``weekdays`` (weekends), which deals combine per partner, and
        ``interactions`` and ``views``.
    """
    month = dates.month.to_numpy()
    day = dates.day.to_numpy()
    weekday = dates.weekday.to_numpy()

    fiscal = np.ones(len(dates))
    fiscal[month == 3] = 1.45
    fiscal[(month == 3) & (day >= 15)] = 1.75
    fiscal[month == 9] = 1.3
    fiscal[(month == 9) & (day >= 15)] = 1.5
    fiscal[month == 4] = 0.9
    fiscal[month == 8] = 0.85

    holiday = np.ones(len(dates))
    holiday[((month == 4) & (day >= 29)) | ((month == 5) & (day <= 5))] = 0.25
    holiday[(month == 8) & (day >= 11) & (day <= 16)] = 0.3
    holiday[((month == 12) & (day >= 28)) | ((month == 1) & (day <= 4))] = 0.15

    weekend = weekday >= 5
    business = np.where(weekend, 0.12, 1.0)
    browsing = np.where(weekend, 0.35, 1.0)
    return {
        name: (values / values.mean()).astype(np.float32)
        for name, values in (
            ("budget", fiscal * holiday),
            ("weekdays", business),
            ("interactions", np.sqrt(fiscal) * holiday * business),
            ("views", np.sqrt(fiscal) * np.sqrt(holiday) * browsing),
        )
    }
