"""The feature catalogue: what every feature means, in which stage, in which words.

Each entry names a feature column of the feature table, its stage (one of
``sellability``, ``distance``, ``priority`` or ``context``), its level (``partner``,
or ``rep`` for rep signals rolled up to the partner), its unit, the contract tables
it needs, a description, and reason templates in English and Japanese. A template is
a :meth:`str.format` string over the partner's feature row, so it can carry the
partner's own numbers, e.g. ``"Questions from the partner: {inbound_questions_90d:.0f}
in the last 90 days, {inbound_questions_prev_90d:.0f} in the 90 days before"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["partner", "rep"]


@dataclass(frozen=True)
class FeatureSpec:
    """One feature of the catalogue."""

    name: str
    stage: str
    level: Level
    unit: str
    tables: tuple[str, ...]
    description: str
    template_en: str
    template_ja: str
