"""What ``ghost-model train`` writes into the model's metadata besides the metrics."""

from __future__ import annotations

import pandas as pd

from ghost_model.backtest import BacktestResult, Fold
from pipelines.train import fold_days


def test_name_fold_days_in_dataset_zone() -> None:
    """Check that fold test cutoffs (UTC instants) are named as the zone's days."""
    cutoffs = [
        pd.Timestamp("2024-10-31 15:00", tz="UTC"),  # 2024-11-01 00:00 in Tokyo
        pd.Timestamp("2024-11-30 15:00", tz="UTC"),
    ]
    backtest = BacktestResult(
        folds=[Fold(test_cutoff=c, train_cutoffs=()) for c in cutoffs],
        metrics=pd.DataFrame(),
        predictions=pd.DataFrame(),
        lead_time={},
    )

    assert fold_days(backtest, "Asia/Tokyo") == ["2024-11-01", "2024-12-01"]
    assert fold_days(backtest, "UTC") == ["2024-10-31", "2024-11-30"]
