"""Train the Rasa model only when its inputs changed.

The fingerprint covers everything that shapes the model: config, domain, training
data, the jieba dictionary and the custom NLU code. The knowledge base and the English
glossary (``lexicon/english.yml``, read by the actions) are *not* part of it: editing
them needs no retraining. A file lock serialises concurrent
trainings (two terminals, parallel test runs) on this 2-core machine.
"""
from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Iterable, List

from bot.db import private_directory
from bot.launcher import MODEL_PATH
from bot.settings import PROJECT_ROOT, get_settings

MODEL_INPUTS = ["config.yml", "domain.yml", "data", "lexicon/jieba", "bot/nlu", "bot/textnorm.py"]


def _files(paths: Iterable[str]) -> List[Path]:
    found: List[Path] = []
    for name in paths:
        path = PROJECT_ROOT / name
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        elif path.exists():
            found.append(path)
    return found


def model_fingerprint() -> str:
    """SHA-256 over the names and contents of every model input."""
    digest = hashlib.sha256()
    for path in _files(MODEL_INPUTS):
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def train_if_needed(force: bool = False) -> bool:
    """Train into models/assistant.tar.gz unless it matches the inputs; True if trained."""
    var_dir = get_settings().var_dir
    private_directory(var_dir)
    stamp = MODEL_PATH.with_suffix(".fingerprint")
    with open(var_dir / "train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fingerprint = model_fingerprint()
        if not force and MODEL_PATH.exists() and stamp.exists() and stamp.read_text() == fingerprint:
            print(f"model is up to date: {MODEL_PATH.relative_to(PROJECT_ROOT)}")
            return False
        print("training the model (inputs changed) …", flush=True)
        subprocess.run(
            [
                sys.executable, "-m", "rasa", "train",
                "--config", "config.yml", "--domain", "domain.yml", "--data", "data",
                "--out", str(MODEL_PATH.parent), "--fixed-model-name", MODEL_PATH.name[: -len(".tar.gz")],
            ],
            cwd=PROJECT_ROOT,
            check=True,
        )
        stamp.write_text(fingerprint)
        return True
