"""The same feature definitions give the same table on DuckDB and on PySpark."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from ghost_model.features import build_feature_table, monthly_cutoffs
from ghost_model.features.testing import random_dataset

pytestmark = pytest.mark.spark


@pytest.fixture(scope="session")
def spark_backend() -> Iterator[Any]:
    """A local two-core Spark session behind an Ibis backend, in UTC."""
    pytest.importorskip("pyspark")
    ibis = pytest.importorskip("ibis")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        from pyspark.sql import SparkSession

        session = (
            SparkSession.builder.master("local[2]")
            .appName("ghost-model-features-test")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "1")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield ibis.pyspark.connect(session)
        finally:
            session.stop()


def test_build_feature_table_duckdb_spark_identical(spark_backend: Any) -> None:
    """Check that DuckDB and Spark build identical partner and rep tables."""
    dataset = random_dataset(partners=5, days=300, events_per_partner=20, seed=2)
    cutoffs = monthly_cutoffs(dataset)
    on_duckdb = build_feature_table(dataset, cutoffs)
    on_spark = build_feature_table(dataset, cutoffs, backend=spark_backend)
    assert len(on_duckdb.frame) > 0
    assert on_spark.feature_names == on_duckdb.feature_names
    pd.testing.assert_frame_equal(on_spark.frame, on_duckdb.frame, rtol=1e-12)
    pd.testing.assert_frame_equal(on_spark.reps, on_duckdb.reps)
