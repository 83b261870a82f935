"""Runtime settings, read once from the environment and validated at start.

Nothing else in ghost_model reads ``os.environ``; entry points build a
:class:`Settings` and pass the values on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Settings of the jobs and the service (environment variables ``GHOST_*``)."""

    model_config = SettingsConfigDict(env_prefix="GHOST_", extra="ignore")

    home: Path = Field(
        default=Path("var"),
        description="Folder for the demo data, the MLflow store and job outputs.",
    )
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "GHOST_TRACKING_URI"),
        description="MLflow tracking URI; default: a SQLite file under `home`.",
    )
    model_name: str = Field(
        default="ghost-partner", description="Registered model name."
    )
    model_alias: str = Field(
        default="champion", description="Registry alias the service loads and reloads."
    )
    snapshot_path: Path | None = Field(
        default=None,
        description="Score snapshot the service answers from; default: "
        "`home`/snapshot.duckdb.",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Service API keys (GHOST_API_KEYS): comma separated, each a key "
        "or `sha256:<hex digest>` of one.",
    )
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keys that may also call the admin routes (GHOST_ADMIN_KEYS).",
    )
    allow_unauthenticated: bool = Field(
        default=False,
        description="Serve without keys (local development only).",
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024, gt=0, description="Largest request body, in bytes."
    )
    max_batch_ids: int = Field(
        default=1000, gt=0, description="Most partner ids in one scores request."
    )
    max_activity_rows: int = Field(
        default=20_000, gt=0, description="Most rows in one score-activity request."
    )
    max_live_waiting: int = Field(
        default=8,
        gt=0,
        description=(
            "Most score-activity requests being scored or waiting at once; more are "
            "answered 503 with Retry-After instead of queueing without end."
        ),
    )

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """Read a comma-separated environment value as a list of keys."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def resolved_tracking_uri(self) -> str:
        """The tracking URI to use: the configured one, else SQLite under ``home``."""
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    def resolved_snapshot_path(self) -> Path:
        """The score snapshot file: the configured one, else under ``home``."""
        return self.snapshot_path or self.home / "snapshot.duckdb"
