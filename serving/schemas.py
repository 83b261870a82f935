"""Request and response bodies of the scoring service, as they appear in OpenAPI.

Requests are validated with these models. Successful responses of the score routes
are assembled from pre-serialised JSON bytes for speed; the response models here
describe those bytes for the OpenAPI document and are checked against them in the
tests.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Lang = Literal["en", "ja"]
PartnerId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
JsonScalar = str | int | float | bool | None
Row = dict[str, JsonScalar]

AS_OF_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}"
    r"([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"
)

AS_OF_DESCRIPTION = (
    "The cutoff to score at: a date (`2024-12-01`, midnight at its start in the "
    "dataset's time zone) or an ISO timestamp, preferably with an offset "
    "(`2024-12-01T09:30:00+09:00`), whose calendar day in the dataset's time zone is "
    "used; a timestamp without an offset is read in the dataset's time zone."
)


def parse_as_of(value: str) -> dt.date | dt.datetime:
    """Read ``as_of``: a date, or an ISO timestamp (with or without an offset).

    Raises
    ------
    ValueError
        ``value`` is neither; the message says which forms are accepted.
    """
    text = value.strip()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date (YYYY-MM-DD) or an ISO timestamp "
            "(YYYY-MM-DDTHH:MM:SS+HH:MM)"
        ) from None


class _Strict(BaseModel):
    """Request bodies reject fields they do not know, so typos surface as 422."""

    model_config = ConfigDict(extra="forbid")


class ScoresRequest(_Strict):
    """Partners to read from the score snapshot."""

    partner_ids: list[PartnerId] = Field(
        description="Partner ids; unknown ids are listed back in `unknown_ids`. "
        "A repeated id is answered once. At most GHOST_MAX_BATCH_IDS ids (default "
        "1000).",
        examples=[["P0001", "P0002"]],
    )
    as_of: str | None = Field(
        default=None,
        max_length=64,
        pattern=AS_OF_PATTERN,
        description=AS_OF_DESCRIPTION + " It must resolve to the snapshot's cutoff "
        "(see GET /v1/model); another day answers 409. Omit it to use the snapshot's.",
        examples=["2024-12-01"],
    )
    lang: Lang = Field(default="en", description="Language of the reasons.")

    @field_validator("as_of", mode="before")
    @classmethod
    def _check_as_of(cls, value: object) -> object:
        if isinstance(value, str):
            parse_as_of(value)
        return value


class ActivityTables(_Strict):
    """One partner's rows of the contract tables; only ``deals`` is required."""

    deals: list[Row] = Field(
        min_length=1,
        description="Rows with deal_id, partner_id, registered_at and optionally "
        "rep_id, closed_at, outcome, stage, amount, product.",
    )
    partners: list[Row] | None = None
    partner_reps: list[Row] | None = None
    interactions: list[Row] | None = None
    portal_views: list[Row] | None = None
    psm_assignments: list[Row] | None = None


class ActivityRequest(_Strict):
    """One partner's raw activity, scored live with the training feature definitions."""

    partner_id: PartnerId = Field(description="The partner every row belongs to.")
    as_of: str = Field(
        max_length=64,
        pattern=AS_OF_PATTERN,
        description=AS_OF_DESCRIPTION,
        examples=["2024-12-01"],
    )
    timezone: str = Field(
        default="UTC",
        max_length=64,
        description="IANA time zone of naive timestamps and of `as_of`.",
        examples=["Asia/Tokyo"],
    )
    lang: Lang = Field(default="en", description="Language of the reasons.")
    tables: ActivityTables

    @field_validator("as_of", mode="before")
    @classmethod
    def _check_as_of(cls, value: object) -> object:
        if isinstance(value, str):
            parse_as_of(value)
        return value


class Reason(BaseModel):
    """One reason behind a score, in the partner's own numbers."""

    feature: str
    stage: str
    contribution: float | None = Field(description="Log-odds contribution (SHAP).")
    text: str


class ScoreRecord(BaseModel):
    """The explained score of one partner."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    partner_id: str
    as_of: str = Field(description="The cutoff, an ISO timestamp.")
    probability: float | None = Field(
        description="Calibrated probability of no new deal in the next 90 days."
    )
    risk_band: str | None
    driving_stage: str | None
    stage_contributions: dict[str, float | None]
    reasons: list[Reason]
    actions: list[Any] = Field(default_factory=list)
    quiet_reps: list[Any] = Field(default_factory=list)
    model_name: str
    model_version: str
    lang: str


class ScoresResponse(BaseModel):
    """Explained scores for the known ids; unknown ids listed back."""

    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str = Field(description="The model version that made the scores.")
    as_of: str = Field(description="The snapshot's cutoff, an ISO timestamp.")
    lang: Lang
    results: list[ScoreRecord]
    unknown_ids: list[str]


class ActivityResponse(BaseModel):
    """The explained score of the posted activity."""

    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    result: ScoreRecord


class ModelResponse(BaseModel):
    """The model the service runs and the snapshot it answers from."""

    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    alias: str
    trained_at: str | None
    backtest: dict[str, Any] | None
    features_by_stage: dict[str, list[str]]
    snapshot: dict[str, Any] = Field(
        description="path, as_of, timezone, partners, languages and the model "
        "version that wrote it."
    )
    loaded_at: str


class HealthResponse(BaseModel):
    """The process answers."""

    status: Literal["ok"]


class ReadyResponse(BaseModel):
    """Whether a model and a snapshot are loaded."""

    model_config = ConfigDict(protected_namespaces=())

    status: Literal["ready", "not ready"]
    model_version: str | None = None
    snapshot_as_of: str | None = None
    reason: str | None = None


class ReloadResponse(BaseModel):
    """The versions before and after a reload."""

    model_config = ConfigDict(protected_namespaces=())

    previous_version: str | None
    model_version: str
    snapshot_as_of: str
    snapshot_model_version: str


class FieldError(BaseModel):
    """One problem with a request, naming the field."""

    field: str = Field(description="Dotted path, e.g. `body.partner_ids.3`.")
    message: str


class ErrorResponse(BaseModel):
    """Every error answer: a sentence, and the fields at fault where there are any."""

    detail: str
    errors: list[FieldError] = Field(default_factory=list)
