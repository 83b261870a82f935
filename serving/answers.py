"""Answers of the score routes, assembled as bytes from the snapshot's records.

Nothing here parses or re-serialises a record: a record is the JSON the scoring job
wrote (checked once at load), and an answer is those bytes joined between a prefix
prepared at load and the list of unknown ids.
"""

from __future__ import annotations

import orjson

from ghost_model.settings import Settings
from serving.errors import RequestFieldError
from serving.live import resolve_day
from serving.schemas import ActivityRequest, ScoresRequest
from serving.state import ServiceState


def scores_answer(
    state: ServiceState, body: ScoresRequest, settings: Settings
) -> bytes:
    """The bytes of a scores answer: snapshot records joined, unknown ids listed.

    Raises
    ------
    RequestFieldError
        422 for too many ids; 409 for a language or a day the snapshot lacks.
    """
    if len(body.partner_ids) > settings.max_batch_ids:
        raise RequestFieldError.about(
            "body.partner_ids",
            f"{len(body.partner_ids)} partner ids in one request; at most "
            f"{settings.max_batch_ids} (GHOST_MAX_BATCH_IDS), split the batch",
        )
    snapshot = state.snapshot
    by_id = snapshot.records.get(body.lang)
    if by_id is None:
        raise RequestFieldError.about(
            "body.lang",
            f"the snapshot holds scores in {sorted(snapshot.records)}, not in "
            f"{body.lang!r}; ask for one of those or rescore the snapshot",
            status=409,
        )
    if body.as_of is not None:
        check_as_of(body.as_of, state)
    parts = [state.score_prefix[body.lang]]
    unknown: list[str] = []
    for partner_id in dict.fromkeys(body.partner_ids):
        record = by_id.get(partner_id)
        if record is None:
            unknown.append(partner_id)
        else:
            parts += (record, b",")
    if len(parts) > 1:
        parts.pop()
    parts += (b'],"unknown_ids":', orjson.dumps(unknown), b"}")
    return b"".join(parts)


def check_as_of(as_of: str, state: ServiceState) -> None:
    """409 unless ``as_of`` resolves to the snapshot's cutoff day."""
    snapshot = state.snapshot
    day = resolve_day(as_of, snapshot.timezone).isoformat()
    if day != snapshot.as_of[:10]:
        raise RequestFieldError.about(
            "body.as_of",
            f"{as_of!r} resolves to {day}, but the snapshot holds scores as of "
            f"{snapshot.as_of}; omit as_of, ask for {snapshot.as_of}, or post the "
            "partner's activity to /v1/score-activity to score another day",
            status=409,
        )


def check_activity_size(body: ActivityRequest, limit: int) -> None:
    """422 when the posted tables hold more rows than allowed."""
    tables = body.tables
    rows = sum(len(getattr(tables, name) or ()) for name in type(tables).model_fields)
    if rows > limit:
        raise RequestFieldError.about(
            "body.tables",
            f"{rows} rows posted; at most {limit} per request "
            "(GHOST_MAX_ACTIVITY_ROWS); post fewer rows",
        )
