"""Point-in-time features by stage, at partner and rep level, and labels.

>>> table = build_feature_table(dataset, monthly_cutoffs(dataset))  # doctest: +SKIP
>>> table.frame.columns[:3].tolist()  # doctest: +SKIP
['partner_id', 'as_of', 'win_rate_30d']
"""

from ghost_model.features.build import (
    FeatureTable,
    build_feature_table,
    compiled_sql,
    stages_without_data,
)
from ghost_model.features.catalogue import (
    FeatureSpec,
    load_catalogue,
    render_reason,
)
from ghost_model.features.config import FeatureConfig
from ghost_model.features.cutoffs import monthly_cutoffs

__all__ = [
    "FeatureConfig",
    "FeatureSpec",
    "FeatureTable",
    "build_feature_table",
    "compiled_sql",
    "load_catalogue",
    "monthly_cutoffs",
    "render_reason",
    "stages_without_data",
]
