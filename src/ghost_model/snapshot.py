"""The serving snapshot: explained scores ready to hand out, in a DuckDB file.

The scoring job writes one row per (partner, language) holding the whole explained
score record as a JSON string, so the scoring service answers a request by looking a
key up — no pandas, no model, no SHAP on that path. The table ``scores``::

    partner_id VARCHAR, lang VARCHAR, as_of VARCHAR (ISO date), probability DOUBLE,
    risk_band VARCHAR, model_name VARCHAR, model_version VARCHAR, score_json VARCHAR

A snapshot is written to a temporary file beside the target and moved into place, so
a reader sees either the old or the new snapshot, never half of one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from ghost_model.errors import ModelNotReadyError

logger = logging.getLogger(__name__)

SNAPSHOT_TABLE = "scores"

_COLUMNS = (
    "partner_id VARCHAR NOT NULL, lang VARCHAR NOT NULL, as_of VARCHAR, "
    "probability DOUBLE, risk_band VARCHAR, model_name VARCHAR, model_version VARCHAR, "
    "score_json VARCHAR NOT NULL, PRIMARY KEY (partner_id, lang)"
)


_SCHEMA = pa.schema(
    [
        ("partner_id", pa.string()),
        ("lang", pa.string()),
        ("as_of", pa.string()),
        ("probability", pa.float64()),
        ("risk_band", pa.string()),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("score_json", pa.string()),
    ]
)
_NAMES = tuple(_SCHEMA.names)


def write_snapshot(
    records_by_lang: Mapping[str, Sequence[Mapping[str, Any]]], path: Path
) -> Path:
    """Write score records per language to a DuckDB snapshot file, atomically.

    Parameters
    ----------
    records_by_lang
        Language code to the score records of that language (from
        ``ghost_model.scoring.score_partners``).
    path
        The DuckDB file to write (replaced when it exists); its folder is created.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    rows = [
        snapshot_row(record, lang)
        for lang, records in records_by_lang.items()
        for record in records
    ]
    batch = pa.Table.from_pylist(
        [dict(zip(_NAMES, row, strict=True)) for row in rows], schema=_SCHEMA
    )
    try:
        with duckdb.connect(str(tmp)) as con:
            con.execute(f"CREATE TABLE {SNAPSHOT_TABLE} ({_COLUMNS})")
            con.register("batch", batch)
            con.execute(f"INSERT INTO {SNAPSHOT_TABLE} SELECT * FROM batch")
            con.unregister("batch")
    except duckdb.IOException as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write the snapshot {str(path)!r}: {exc}") from exc
    os.replace(tmp, path)
    logger.info(
        "wrote the snapshot of %d scores in %s to %s",
        len(rows),
        sorted(records_by_lang),
        path,
    )
    return path


def snapshot_row(record: Mapping[str, Any], lang: str) -> tuple[Any, ...]:
    """One snapshot row for ``record`` in ``lang``."""
    payload = orjson.dumps(dict(record), option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return (
        str(record["partner_id"]),
        lang,
        record.get("as_of"),
        record.get("probability"),
        record.get("risk_band"),
        record.get("model_name"),
        record.get("model_version"),
        payload,
    )


def read_snapshot(path: Path) -> dict[str, dict[str, bytes]]:
    """Read a snapshot: language to partner id to the score record as JSON bytes.

    Parameters
    ----------
    path
        A DuckDB file written by :func:`write_snapshot`.

    Returns
    -------
    dict
        ``{lang: {partner_id: json_bytes}}``.

    Raises
    ------
    ModelNotReadyError
        When the file is missing or holds no snapshot table.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotReadyError(
            f"{path}: no score snapshot; run 'ghost-model score --data DIR' to write it"
        )
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            rows = con.execute(
                f"SELECT lang, partner_id, score_json FROM {SNAPSHOT_TABLE}"
            ).fetchall()
    except duckdb.Error as exc:
        raise ModelNotReadyError(
            f"{path}: not a score snapshot ({exc}); rewrite it with 'ghost-model score'"
        ) from exc
    out: dict[str, dict[str, bytes]] = {}
    for lang, partner_id, payload in rows:
        out.setdefault(lang, {})[partner_id] = payload.encode()
    logger.info("read %d snapshot scores from %s", len(rows), path)
    return out
