"""Explained risk scores for every active partner at a cutoff, and their files.

:func:`score_partners` turns the feature rows at one cutoff into score records — one
JSON-safe dict per partner::

    partner_id, as_of (ISO date in the dataset's zone), probability, risk_band,
    driving_stage, stage_contributions {stage: float | None}, raw_score,
    reasons [{feature, stage, contribution, value, text}], actions [str],
    reps [...], quiet_reps [{rep_id, status, ...}], model_name, model_version, lang

and :func:`write_scores` writes them as CSV (one line per partner, the columns of
:data:`CSV_COLUMNS`, UTF-8 with a byte-order mark so spreadsheet programs read
Japanese correctly), Parquet or JSON (full detail).

Risk bands come from :class:`RiskBands`, thresholds on the calibrated probability.
Scoring takes a model object and never loads one itself.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson
import pandas as pd

from ghost_model.actions import check_lang, suggest_actions
from ghost_model.contract import STAGES_WITH_CONTEXT
from ghost_model.dataset import latest_cutoff, parse_as_of_date
from ghost_model.errors import ConfigError
from ghost_model.explain import (
    ExplainableModel,
    Explanation,
    Renderer,
    explain_frame,
    json_safe,
)
from ghost_model.features.catalogue import FeatureSpec

logger = logging.getLogger(__name__)

CSV_COLUMNS: tuple[str, ...] = (
    "partner_id",
    "as_of",
    "probability",
    "risk_band",
    "driving_stage",
    *(f"contribution_{stage}" for stage in STAGES_WITH_CONTEXT),
    "reason_1",
    "reason_2",
    "reason_3",
    "model_version",
)
"""Columns of the scores CSV, in order."""

BANDS: tuple[str, ...] = ("high", "medium", "low")

QUIET_DAYS = 90
"""A rep with no activity for this many days before the cutoff went quiet."""


class ScoringModel(ExplainableModel, Protocol):
    """What scoring needs from a model: explaining plus its metadata."""

    @property
    def metadata(self) -> dict[str, Any]: ...


class FeatureRows(Protocol):
    """What scoring needs from a feature table (``FeatureTable`` provides it)."""

    @property
    def frame(self) -> pd.DataFrame: ...

    @property
    def reps(self) -> pd.DataFrame: ...

    @property
    def stages_without_data(self) -> list[str]: ...


@dataclass(frozen=True)
class RiskBands:
    """Thresholds on the calibrated probability of silence.

    A partner is ``high`` at ``probability >= high``, ``medium`` at
    ``probability >= medium``, else ``low``.
    """

    high: float = 0.5
    medium: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 < self.medium <= self.high <= 1.0:
            raise ConfigError(
                f"risk band thresholds must satisfy 0 < medium <= high <= 1, got "
                f"medium={self.medium!r}, high={self.high!r}"
            )

    def band(self, probability: float) -> str:
        """The band of one probability."""
        if probability >= self.high:
            return "high"
        if probability >= self.medium:
            return "medium"
        return "low"


def resolve_as_of(
    text: str | None,
    extract_time: pd.Timestamp,
    timezone: str,
    option: str = "--as-of",
) -> pd.Timestamp:
    """The cutoff to use: ``text`` as a date in ``timezone``, or the latest supported.

    Parameters
    ----------
    text
        A date ``YYYY-MM-DD``, or ``None`` for :func:`latest_cutoff`.
    extract_time
        The instant the data was taken (UTC).
    timezone
        The dataset's IANA time zone.
    option
        How the value is named in errors (the command-line option).

    Returns
    -------
    pandas.Timestamp
        The cutoff as a UTC instant.

    Raises
    ------
    ConfigError
        When ``text`` is not a date or lies after what the data supports.
    """
    latest = latest_cutoff(extract_time, timezone)
    if text is None:
        return latest
    as_of = parse_as_of_date(text, timezone, option)
    if as_of > latest:
        supported = latest.tz_convert(timezone).date().isoformat()
        raise ConfigError(
            f"{option} {text!r} lies after the data: the extract supports cutoffs up "
            f"to {supported}; choose an earlier date"
        )
    return as_of


def score_partners(
    model: ScoringModel,
    table: FeatureRows,
    *,
    timezone: str,
    as_of: pd.Timestamp | None = None,
    catalogue: Mapping[str, FeatureSpec] | None = None,
    lang: str = "en",
    bands: RiskBands | None = None,
    n_reasons: int = 3,
    render: Renderer | None = None,
) -> list[dict[str, Any]]:
    """Explained score records for the partners of ``table`` at one cutoff.

    Parameters
    ----------
    model
        A fitted model (``PartnerRiskModel`` or anything with the same methods).
    table
        Feature rows (``.frame``, ``.reps``, ``.stages_without_data``).
    timezone
        The dataset's time zone, in which ``as_of`` is written as a date.
    as_of
        The cutoff (UTC instant) to score; default the latest one in ``table``.
    catalogue
        The feature catalogue; default ``ghost_model.features.load_catalogue()``.
    lang
        Language of reasons and actions: ``"en"`` or ``"ja"``.
    bands
        Risk band thresholds; default :class:`RiskBands()`.
    n_reasons
        Reasons per partner.
    render
        Sentence renderer; default the catalogue's.

    Returns
    -------
    list of dict
        One JSON-safe record per partner, highest probability first.

    Raises
    ------
    ConfigError
        When ``table`` holds no rows at ``as_of``.
    """
    started = time.perf_counter()
    check_lang(lang)
    bands = bands or RiskBands()
    catalogue = catalogue if catalogue is not None else load_default_catalogue()
    rows, as_of = rows_at(table.frame, as_of)

    explanations = explain_frame(
        model,
        rows,
        catalogue,
        lang=lang,
        n_reasons=n_reasons,
        stages_without_data=table.stages_without_data,
        render=render,
    )
    reps = rep_view(table.reps, as_of)
    meta = model_identity(model)
    as_of_date = as_of.tz_convert(timezone).date().isoformat()
    records = [
        build_record(e, as_of_date, bands, lang, reps.get(e.partner_id, []), meta)
        for e in explanations
    ]
    records.sort(key=lambda r: (-r["probability"], r["partner_id"]))
    logger.info(
        "scored %d partners as of %s (%s) in %.1f s: %d high, %d medium",
        len(records),
        as_of_date,
        lang,
        time.perf_counter() - started,
        sum(r["risk_band"] == "high" for r in records),
        sum(r["risk_band"] == "medium" for r in records),
    )
    return records


def score_history(
    model: ScoringModel, frame: pd.DataFrame, timezone: str
) -> pd.DataFrame:
    """Probabilities of every row of a feature frame, for trends over cutoffs.

    Parameters
    ----------
    model
        A fitted model.
    frame
        Feature rows with ``partner_id`` and ``as_of`` (UTC cutoff) columns.
    timezone
        The dataset's time zone, in which ``as_of`` is written as a date.

    Returns
    -------
    pandas.DataFrame
        ``partner_id`` (str), ``as_of`` (ISO date, as in score records),
        ``probability``.
    """
    local = frame["as_of"].dt.tz_convert(timezone).dt.strftime("%Y-%m-%d")
    return pd.DataFrame(
        {
            "partner_id": frame["partner_id"].astype(str).to_numpy(),
            "as_of": local.to_numpy(),
            "probability": np.asarray(model.predict_proba(frame), dtype=float),
        }
    )


def rows_at(
    frame: pd.DataFrame, as_of: pd.Timestamp | None
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The feature rows at ``as_of`` (default: the latest cutoff in ``frame``)."""
    if frame.empty:
        raise ConfigError("the feature table is empty: no active partner to score")
    if as_of is None:
        as_of = pd.Timestamp(frame["as_of"].max())
    rows = frame[frame["as_of"] == as_of]
    if rows.empty:
        known = sorted({t.isoformat() for t in frame["as_of"]})[-3:]
        raise ConfigError(
            f"the feature table has no rows at {as_of.isoformat()!r}; latest cutoffs "
            f"in it: {known!r}; build features at that cutoff first"
        )
    return rows.reset_index(drop=True), as_of


def build_record(
    explanation: Explanation,
    as_of_date: str,
    bands: RiskBands,
    lang: str,
    reps: list[dict[str, Any]],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """One partner's score record from its explanation, reps and the model's name."""
    return {
        "partner_id": explanation.partner_id,
        "as_of": as_of_date,
        "probability": explanation.probability,
        "risk_band": bands.band(explanation.probability),
        "driving_stage": explanation.driving_stage,
        "stage_contributions": dict(explanation.stage_contributions),
        "raw_score": explanation.raw_score,
        "reasons": [r.to_dict() for r in explanation.reasons],
        "actions": suggest_actions(explanation.driving_stage, lang),
        "reps": reps,
        "quiet_reps": [r for r in reps if r["status"] in ("quiet", "departed")],
        "model_name": meta["model_name"],
        "model_version": meta["model_version"],
        "lang": lang,
    }


def model_identity(model: ScoringModel) -> dict[str, Any]:
    """The model's registered name and version from its metadata."""
    metadata = getattr(model, "metadata", None) or {}
    version = metadata.get("version")
    return {
        "model_name": metadata.get("name"),
        "model_version": None if version is None else str(version),
    }


def rep_view(
    reps: pd.DataFrame, as_of: pd.Timestamp
) -> dict[str, list[dict[str, Any]]]:
    """Per partner, its reps at ``as_of`` with their activity and a status.

    Status is ``departed`` for a rep who left, ``quiet`` for one whose last
    activity lies :data:`QUIET_DAYS` or more before the cutoff (or who has none
    while having sold before), ``never_sold`` for one without any deal, else
    ``active``.

    Parameters
    ----------
    reps
        The feature table's per-(rep, cutoff) rows.
    as_of
        The cutoff.

    Returns
    -------
    dict
        Partner id to a list of JSON-safe rep dicts, quiet and departed first.
    """
    if reps is None or reps.empty or "as_of" not in reps.columns:
        return {}
    rows = reps[reps["as_of"] == as_of].drop(columns=["as_of"])
    out: dict[str, list[dict[str, Any]]] = {}
    for raw in rows.to_dict(orient="records"):
        rep = {str(k): json_safe(v) for k, v in raw.items()}
        rep["status"] = rep_status(rep)
        out.setdefault(str(rep.pop("partner_id")), []).append(rep)
    order = {"departed": 0, "quiet": 1, "active": 2, "never_sold": 3}
    for partner_reps in out.values():
        partner_reps.sort(key=lambda r: (order[r["status"]], str(r.get("rep_id"))))
    return out


def rep_status(rep: Mapping[str, Any]) -> str:
    """``departed``, ``quiet``, ``active`` or ``never_sold`` for one rep row.

    The feature table's own ``departed``, ``quiet`` and ``ever_sold`` flags decide
    where present; otherwise days since the rep's last activity and its deals do.
    """
    if rep.get("departed"):
        return "departed"
    if "quiet" in rep and "ever_sold" in rep:
        if rep["quiet"]:
            return "quiet"
        return "active" if rep["ever_sold"] else "never_sold"
    idle = rep.get("days_since_last_activity")
    sold = rep.get("ever_sold", rep.get("deals_180d"))
    if idle is None:
        return "quiet" if sold else "never_sold"
    return "quiet" if idle >= QUIET_DAYS else "active"


def scores_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The one-line-per-partner view of score records (:data:`CSV_COLUMNS`).

    Parameters
    ----------
    records
        Records from :func:`score_partners`.

    Returns
    -------
    pandas.DataFrame
        The CSV columns; missing numbers as NaN, missing texts empty.
    """
    lines = []
    for r in records:
        line: dict[str, Any] = {
            "partner_id": r["partner_id"],
            "as_of": r["as_of"],
            "probability": r["probability"],
            "risk_band": r["risk_band"],
            "driving_stage": r["driving_stage"] or "",
        }
        for stage in STAGES_WITH_CONTEXT:
            value = r["stage_contributions"].get(stage)
            line[f"contribution_{stage}"] = math.nan if value is None else value
        texts = [reason["text"] for reason in r["reasons"]]
        for i in range(3):
            line[f"reason_{i + 1}"] = texts[i] if i < len(texts) else ""
        line["model_version"] = r["model_version"] or ""
        lines.append(line)
    return pd.DataFrame(lines, columns=list(CSV_COLUMNS))


SCORE_FORMATS = (".csv", ".parquet", ".json")
"""The file kinds :func:`write_scores` writes, by extension."""
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula."""


def _is_formula(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with text cells that a spreadsheet would run as formulas quoted.

    A partner id or a reason beginning with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return gets a leading ``'``, which spreadsheets show as text. Only the
    CSV (the file meant for spreadsheets) is changed; JSON and Parquet keep the
    values as they are.
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if not (
            pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
        ):
            continue
        text = values.astype("object")
        risky = text.map(_is_formula).astype(bool)
        if risky.any():
            out[column] = text.where(~risky, "'" + text.astype("str"))
    return out


def write_scores(records: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Write score records to ``path``; the format follows its extension.

    ``.csv``: the columns of :data:`CSV_COLUMNS`, UTF-8 with BOM. ``.parquet``:
    every field, nested fields as lists and structs. ``.json``: a list of the
    records as they are.

    Parameters
    ----------
    records
        Records from :func:`score_partners`.
    path
        Output file; its folder is created when missing.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ConfigError
        When the extension is not ``.csv``, ``.parquet`` or ``.json``.
    """
    suffix = path.suffix.lower()
    if suffix not in SCORE_FORMATS:
        raise ConfigError(
            f"{path}: unknown output format {suffix!r}; name the file .csv, .parquet "
            "or .json"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        # six significant digits: readable in a spreadsheet, and the same file from
        # the same model and data (DuckDB's parallel float sums vary in the 16th)
        frame = spreadsheet_safe(scores_frame(records))
        frame.to_csv(path, index=False, encoding="utf-8-sig", float_format="%.6g")
    elif suffix == ".json":
        path.write_bytes(orjson.dumps(list(records), option=orjson.OPT_INDENT_2))
    else:
        write_parquet(records, path)
    logger.info("wrote %d scores to %s", len(records), path)
    return path


def write_parquet(records: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Write full score records as Parquet, one row per partner."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([normalise_record(r) for r in records])
    pq.write_table(table, path)


def normalise_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record with uniform nested shapes, so Arrow can infer one schema."""
    out = dict(record)
    out["reasons"] = [
        {**r, "value": json_value_text(r.get("value"))} for r in record["reasons"]
    ]
    for key in ("reps", "quiet_reps"):
        out[key] = [orjson.dumps(rep).decode() for rep in record[key]]
    return out


def json_value_text(value: Any) -> str | None:
    """A feature value as text (values of one column may mix numbers and words)."""
    return None if value is None else str(value)


def load_default_catalogue() -> Mapping[str, FeatureSpec]:
    """The package's feature catalogue."""
    from ghost_model.features import load_catalogue

    catalogue: Mapping[str, FeatureSpec] = load_catalogue()
    return catalogue
