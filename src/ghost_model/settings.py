"""Runtime settings, read once from the environment and validated at start.

Nothing else in ghost_model reads ``os.environ``; entry points build a
:class:`Settings` and pass the values on.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    model_name: str = Field(default="ghost-partner", description="Registered model name.")

    def resolved_tracking_uri(self) -> str:
        """The tracking URI to use: the configured one, else SQLite under ``home``."""
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"
