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

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import pandas as pd
import yaml

from ghost_model.errors import ConfigError
from ghost_model.features.config import FeatureConfig

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


CATALOGUE_FILE = "catalogue.yaml"
LANGUAGES: tuple[str, ...] = ("en", "ja")
MISSING_TEXT: dict[str, str] = {"en": "n/a", "ja": "不明"}


def load_catalogue(config: FeatureConfig | None = None) -> dict[str, FeatureSpec]:
    """The feature catalogue for the windows of ``config``, in table column order.

    Parameters
    ----------
    config
        The feature settings whose windows name the windowed features; defaults to
        :class:`~ghost_model.features.FeatureConfig`.

    Returns
    -------
    dict of str to FeatureSpec
        One entry per feature column a feature table can hold.
    """
    config = config or FeatureConfig()
    return dict(_load(config.windows))


@functools.lru_cache(maxsize=8)
def _load(windows: tuple[int, int, int]) -> tuple[tuple[str, FeatureSpec], ...]:
    raw = yaml.safe_load(
        resources.files(__package__).joinpath(CATALOGUE_FILE).read_text("utf-8")
    )
    short, mid, long = windows
    out: list[tuple[str, FeatureSpec]] = []
    for entry in raw:
        repeats = windows if entry.get("windows") == "all" else (None,)
        for w in repeats:

            def fill(text: str, w: int | None = w) -> str:
                text = text.replace("<s>", str(short)).replace("<m>", str(mid))
                text = text.replace("<l>", str(long))
                return text if w is None else text.replace("<w>", str(w))

            spec = FeatureSpec(
                name=fill(entry["name"]),
                stage=entry["stage"],
                level=entry["level"],
                unit=entry["unit"],
                tables=tuple(entry["tables"]),
                description=fill(entry["description"]),
                template_en=fill(entry["en"]),
                template_ja=fill(entry["ja"]),
            )
            out.append((spec.name, spec))
    return tuple(out)


class _Missing:
    """Stands for a missing number in a template, whatever its format spec."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __format__(self, spec: str) -> str:
        return self.text


def render_reason(
    spec: FeatureSpec,
    row: Mapping[str, Any],
    lang: str = "en",
    config: FeatureConfig | None = None,
) -> str:
    """A feature's reason sentence filled with the partner's own numbers.

    Parameters
    ----------
    spec
        The catalogue entry.
    row
        The partner's feature row (a mapping or a pandas Series).
    lang
        ``"en"`` or ``"ja"``.
    config
        Supplies settings a template mentions (``{stall_days}``).

    Returns
    -------
    str
        The sentence; a missing value reads "n/a" (``"不明"`` in Japanese).
    """
    if lang not in LANGUAGES:
        raise ConfigError(f"lang={lang!r}: expected one of {', '.join(LANGUAGES)}")
    config = config or FeatureConfig()
    template = spec.template_en if lang == "en" else spec.template_ja
    values = _TemplateValues(row, MISSING_TEXT[lang], {"stall_days": config.stall_days})
    return template.format_map(values)


class _TemplateValues(dict[str, Any]):
    """Template fields: row values, missing ones as a placeholder text."""

    def __init__(self, row: Mapping[str, Any], missing: str, extra: dict[str, Any]):
        super().__init__()
        self.row = row
        self.missing = missing
        self.extra = extra

    def __missing__(self, key: str) -> Any:
        if key in self.extra:
            return self.extra[key]
        value = self.row.get(key)
        if (
            value is None
            or value is pd.NA
            or (isinstance(value, float) and math.isnan(value))
        ):
            return _Missing(self.missing)
        return value
