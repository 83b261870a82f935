"""What the service answers from: one model and one score snapshot, swapped as a unit.

A :class:`ServiceState` is immutable once built. The :class:`StateHolder` keeps a
single reference to the current one; a request reads that reference once and works
with that object to the end, so a reload that swaps the reference never mixes two
versions inside one answer, and requests in flight finish on the state they started
with.

Snapshot records are kept as the JSON bytes the scoring job wrote (checked once at
load to be strict JSON, i.e. without NaN or infinity), so answering is a dictionary
look-up and a byte join.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from ghost_model.errors import ModelNotReadyError
from ghost_model.settings import Settings

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

STAGE_ORDER = ("sellability", "distance", "priority", "context")


class ServedModel(Protocol):
    """What the service needs from a model (``PartnerRiskModel`` provides it).

    The snapshot routes use only the metadata and feature names; live scoring hands
    the model to ``ghost_model.scoring``, which predicts and explains with it.
    """

    @property
    def feature_names(self) -> list[str]: ...

    @property
    def metadata(self) -> dict[str, Any]: ...

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...

    def predict_contributions(self, frame: pd.DataFrame) -> pd.DataFrame: ...


@dataclass(frozen=True)
class Snapshot:
    """Explained scores by language and partner id, as strict JSON bytes."""

    records: Mapping[str, Mapping[str, bytes]]
    as_of: str
    model_name: str
    model_version: str
    source: str
    timezone: str | None = None

    @property
    def partners(self) -> int:
        """Partners in the snapshot (of its first language)."""
        return max((len(by_id) for by_id in self.records.values()), default=0)


@dataclass(frozen=True)
class ServiceState:
    """A loaded model, its snapshot, and the answers prepared from them."""

    model: ServedModel
    model_name: str
    model_version: str
    alias: str
    snapshot: Snapshot
    model_json: bytes
    score_prefix: Mapping[str, bytes]
    loaded_at: str
    catalogue: Mapping[str, Any] | None = None


StateLoader = Callable[[Settings], ServiceState]
"""Builds a fresh state; the app calls it at start and on reload."""


class StateHolder:
    """The one reference to the current state; swapping it is atomic."""

    def __init__(self) -> None:
        self.current: ServiceState | None = None
        self.error: str | None = "not loaded yet"

    def swap(self, state: ServiceState) -> ServiceState | None:
        """Make ``state`` current and return the one it replaces."""
        previous, self.current = self.current, state
        self.error = None
        return previous


def load_service_state(settings: Settings) -> ServiceState:
    """Load the alias's current model from the registry and the score snapshot.

    Parameters
    ----------
    settings
        Tracking URI, model name and alias, snapshot path.

    Returns
    -------
    ServiceState
        The state to serve.

    Raises
    ------
    ModelNotReadyError
        No model under the alias, or no usable snapshot.
    """
    from ghost_model.features import load_catalogue
    from ghost_model.registry import load_model
    from ghost_model.snapshot import read_snapshot

    model = load_model(alias=settings.model_alias, settings=settings)
    path = settings.resolved_snapshot_path()
    records = read_snapshot(path)
    catalogue = load_catalogue()
    stages = {name: spec.stage for name, spec in catalogue.items()}
    return build_state(
        model,
        records,
        alias=settings.model_alias,
        source=str(path),
        stages=stages,
        catalogue=catalogue,
    )


def build_state(
    model: ServedModel,
    records: Mapping[str, Mapping[str, bytes]],
    *,
    alias: str,
    source: str,
    stages: Mapping[str, str],
    catalogue: Mapping[str, Any] | None = None,
) -> ServiceState:
    """Check a snapshot and prepare every constant part of the answers.

    Parameters
    ----------
    model
        The loaded model; its metadata names it (``name``, ``version``).
    records
        ``{lang: {partner_id: json_bytes}}`` as ``read_snapshot`` returns it.
    alias
        The registry alias the model was loaded under.
    source
        Where the snapshot came from, for messages.
    stages
        Feature name to stage, for GET /v1/model.
    catalogue
        The feature catalogue, kept for live scoring (read once, not per request).

    Returns
    -------
    ServiceState
        The state to serve.

    Raises
    ------
    ModelNotReadyError
        The snapshot is empty, or a record is not a JSON object of one partner.
    """
    snapshot = read_records(records, source)
    name, version = model_identity(model)
    if version != snapshot.model_version:
        log.warning(
            "the snapshot in %s was scored by version %s and the %s model is "
            "version %s; snapshot answers name version %s until the scoring job "
            "runs again",
            source,
            snapshot.model_version,
            alias,
            version,
            snapshot.model_version,
        )
    loaded_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    model_doc = model_document(model, alias, snapshot, stages, loaded_at)
    prefix = {lang: score_prefix(snapshot, lang) for lang in snapshot.records}
    return ServiceState(
        model=model,
        model_name=name,
        model_version=version,
        alias=alias,
        snapshot=snapshot,
        model_json=dumps(model_doc),
        score_prefix=prefix,
        loaded_at=loaded_at,
        catalogue=catalogue,
    )


def read_records(records: Mapping[str, Mapping[str, bytes]], source: str) -> Snapshot:
    """Check every record once and find the snapshot's cutoff and model version."""
    checked: dict[str, dict[str, bytes]] = {}
    first: dict[str, Any] | None = None
    for lang, by_id in records.items():
        checked[lang] = {}
        for partner_id, payload in by_id.items():
            record, clean = strict_record(payload, source, lang, partner_id)
            checked[lang][partner_id] = clean
            first = first or record
    if first is None:
        raise ModelNotReadyError(
            f"{source}: the score snapshot holds no scores; run 'ghost-model score' "
            "on data with active partners"
        )
    return Snapshot(
        records=checked,
        as_of=str(first.get("as_of")),
        model_name=str(first.get("model_name")),
        model_version=str(first.get("model_version")),
        source=source,
        timezone=first.get("timezone"),
    )


def strict_record(
    payload: bytes, source: str, lang: str, partner_id: str
) -> tuple[dict[str, Any], bytes]:
    """Parse one record; rewrite it when it carries NaN or infinity."""
    try:
        record = orjson.loads(payload)
        clean = payload
    except orjson.JSONDecodeError:
        try:
            record = json.loads(payload, parse_constant=lambda _: None)
        except ValueError as exc:
            raise ModelNotReadyError(
                f"{source}: the score of partner {partner_id!r} ({lang}) is not JSON "
                f"({exc}); rewrite the snapshot with 'ghost-model score'"
            ) from exc
        clean = dumps(record)
    if not isinstance(record, dict) or str(record.get("partner_id")) != partner_id:
        raise ModelNotReadyError(
            f"{source}: the score stored for partner {partner_id!r} ({lang}) is not "
            "that partner's record; rewrite the snapshot with 'ghost-model score'"
        )
    return record, clean


def model_identity(model: ServedModel) -> tuple[str, str]:
    """The registered name and the concrete version of ``model``."""
    metadata = model.metadata
    version = metadata.get("version")
    if version is None:
        raise ModelNotReadyError(
            "the loaded model has no version in its metadata; load it from the "
            "registry (ghost-model train, ghost-model promote)"
        )
    return str(metadata.get("name", "unknown")), str(version)


def model_document(
    model: ServedModel,
    alias: str,
    snapshot: Snapshot,
    stages: Mapping[str, str],
    loaded_at: str,
) -> dict[str, Any]:
    """The body of GET /v1/model."""
    name, version = model_identity(model)
    metadata = model.metadata
    backtest = metadata.get("backtest", metadata.get("backtest_summary"))
    return {
        "model_name": name,
        "model_version": version,
        "alias": alias,
        "trained_at": _text_or_none(metadata.get("trained_at")),
        "backtest": backtest if isinstance(backtest, dict) else None,
        "features_by_stage": model_inputs_by_stage(model, stages),
        "snapshot": {
            "path": snapshot.source,
            "as_of": snapshot.as_of,
            "timezone": snapshot.timezone,
            "partners": snapshot.partners,
            "languages": sorted(snapshot.records),
            "model_version": snapshot.model_version,
        },
        "loaded_at": loaded_at,
    }


def model_inputs_by_stage(
    model: ServedModel, stages: Mapping[str, str]
) -> dict[str, list[str]]:
    """Every input of the model by stage: its features and the inputs it derives.

    A ``PartnerRiskModel`` may compute inputs of its own from the features (the
    deal-rhythm probability); their stages come from the model's own catalogue
    entries, since the feature catalogue does not list them.
    """
    names = list(getattr(model, "booster_names", model.feature_names))
    derived = getattr(model, "derived_catalogue", None)
    if callable(derived):
        stages = {**stages, **{n: spec.stage for n, spec in derived().items()}}
    return features_by_stage(names, stages)


def features_by_stage(
    names: Sequence[str], stages: Mapping[str, str]
) -> dict[str, list[str]]:
    """The model's features grouped by stage, stages in their usual order."""
    grouped: dict[str, list[str]] = {}
    for name in names:
        grouped.setdefault(stages.get(name, "unknown"), []).append(name)
    order = {stage: i for i, stage in enumerate(STAGE_ORDER)}
    return dict(sorted(grouped.items(), key=lambda kv: order.get(kv[0], len(order))))


def score_prefix(snapshot: Snapshot, lang: str) -> bytes:
    """The constant head of a scores answer, up to the opening of ``results``."""
    head = dumps(
        {
            "model_name": snapshot.model_name,
            "model_version": snapshot.model_version,
            "as_of": snapshot.as_of,
            "lang": lang,
        }
    )
    return head[:-1] + b',"results":['


def dumps(value: Any) -> bytes:
    """Strict JSON: NaN and infinity become null, numpy scalars plain numbers."""
    return orjson.dumps(
        value,
        default=_plain,
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
    )


def _plain(value: Any) -> Any:
    """Fallback conversion for values orjson does not know."""
    if hasattr(value, "item"):
        item = value.item()
        return None if isinstance(item, float) and not math.isfinite(item) else item
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def settle_memory() -> float:
    """Collect garbage once, then freeze what is alive so later passes skip it.

    Called after a state is loaded: the snapshot and the model stay for the life of
    the process (or until the next reload), so the collector need not walk them
    again; this keeps its pauses short while requests are served.

    Returns
    -------
    float
        Seconds spent.
    """
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started
