"""Training only when the model's inputs changed, and the model cache shared by checkouts.

``rasa train`` itself is replaced by a stand-in that writes a model file: what is under
test is when a model is trained, copied or kept, not Rasa's training.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import List

import pytest

from bot import training
from bot.settings import reload_settings


@pytest.fixture
def trainings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> List[str]:
    """Each training the stand-in ran, by the model bytes it wrote."""
    model = tmp_path / "checkout" / "models" / "assistant.tar.gz"
    monkeypatch.setattr(training, "MODEL_PATH", model)
    monkeypatch.setattr(training, "model_fingerprint", lambda: os.environ["INPUTS"])
    monkeypatch.setenv("CYBOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CYBOT_MODEL_CACHE", str(tmp_path / "cache"))
    runs: List[str] = []

    def rasa_train(command: List[str], **_kwargs) -> subprocess.CompletedProcess:
        assert command[1:4] == ["-m", "rasa", "train"]
        model.parent.mkdir(parents=True, exist_ok=True)
        model.write_text(f"model of {os.environ['INPUTS']}")
        runs.append(os.environ["INPUTS"])
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(training.subprocess, "run", rasa_train)
    return runs


def test_a_checkout_trains_once_and_another_takes_the_model_from_the_cache(
    trainings: List[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INPUTS", "a")
    assert training.train_if_needed() is True
    assert training.train_if_needed() is False  # up to date
    assert trainings == ["a"]

    training.MODEL_PATH.unlink()  # a fresh clone: no model yet
    assert training.train_if_needed() is False
    assert trainings == ["a"]
    assert training.MODEL_PATH.read_text() == "model of a"

    monkeypatch.setenv("INPUTS", "b")  # the training data changed
    assert training.train_if_needed() is True
    monkeypatch.setenv("INPUTS", "a")  # and changed back: the earlier model is reused
    assert training.train_if_needed() is False
    assert training.MODEL_PATH.read_text() == "model of a"
    assert trainings == ["a", "b"]

    assert training.train_if_needed(force=True) is True  # --force always trains
    assert trainings == ["a", "b", "a"]


def test_the_cache_keeps_the_newest_models_and_can_be_turned_off(
    trainings: List[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for index in range(training.CACHED_MODELS + 2):
        monkeypatch.setenv("INPUTS", f"inputs-{index}")
        training.train_if_needed()
        os.utime(tmp_path / "cache" / f"inputs-{index}.tar.gz", (index, index))  # in training order
    kept = sorted(path.name for path in (tmp_path / "cache").glob("*.tar.gz"))
    assert kept == sorted(f"inputs-{i}.tar.gz" for i in range(2, training.CACHED_MODELS + 2))

    monkeypatch.setenv("CYBOT_MODEL_CACHE", "off")
    reload_settings()
    monkeypatch.setenv("INPUTS", "inputs-5")
    training.MODEL_PATH.unlink()
    assert training.train_if_needed() is True  # cached, but the cache is off
    assert trainings[-1] == "inputs-5"
    assert sorted(path.name for path in (tmp_path / "cache").glob("*.tar.gz")) == kept


def test_the_fingerprint_follows_the_training_data_and_the_package_versions() -> None:
    inputs = [str(path.relative_to(training.PROJECT_ROOT)) for path in training._files(training.MODEL_INPUTS)]
    assert "config.yml" in inputs and "domain.yml" in inputs and "requirements.lock" in inputs
    assert any(name.startswith("data/nlu/") for name in inputs)
    assert not any("__pycache__" in name for name in inputs)
