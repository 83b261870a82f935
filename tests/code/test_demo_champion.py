"""The demo says which registered model it scores with when it does not train."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

import ghost_model.registry
from ghost_model.settings import Settings
from pipelines.demo import champion_or_train


def test_champion_or_train_names_reused_champion(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """Check that reusing the champion logs its name and version (a champion trained
    on other data would otherwise score the demo without a word)."""
    champion = SimpleNamespace(metadata={"name": "ghost-partner", "version": "7"})

    def load_model(alias: str, settings: Settings) -> SimpleNamespace:
        assert alias == "champion"
        return champion

    monkeypatch.setattr(ghost_model.registry, "load_model", load_model)
    monkeypatch.setenv("GHOST_HOME", str(tmp_path))
    with caplog.at_level(logging.INFO, logger="pipelines.demo"):
        model = champion_or_train(tmp_path / "data", Settings())

    assert model is champion
    assert "champion, ghost-partner version 7, without training" in caplog.text
