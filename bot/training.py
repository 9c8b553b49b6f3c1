"""Train the Rasa model only when its inputs changed.

The fingerprint covers everything that shapes the model: config, domain, training
data, the jieba dictionary, the custom NLU code and the locked package versions. The
knowledge base and the English glossary (``lexicon/english.yml``, read by the actions)
are *not* part of it: editing them needs no retraining. A file lock serialises
concurrent trainings (two terminals, parallel test runs) on this 2-core machine.

Trained models are also kept in a cache folder by fingerprint (``CYBOT_MODEL_CACHE``),
shared by every checkout of the user: a fresh clone, a second worktree or a test run
of inputs trained before copies the model instead of training it again (minutes here).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, List, Optional

from bot.db import exclusive_lock, private_directory, replace_whole
from bot.launcher import MODEL_PATH
from bot.settings import PROJECT_ROOT, get_settings

MODEL_INPUTS = [
    "config.yml", "domain.yml", "data", "lexicon/jieba", "bot/nlu", "bot/textnorm.py", "requirements.lock",
]
#: Models kept in the cache; older ones are removed when a new one is added.
CACHED_MODELS = 6


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
    """Bring models/assistant.tar.gz up to date with its inputs: nothing when it matches,
    else the cached model of these inputs, else train (``force``: always train).
    True if it trained."""
    settings = get_settings()
    private_directory(settings.var_dir)
    stamp = MODEL_PATH.with_suffix(".fingerprint")
    with exclusive_lock(settings.var_dir / "train.lock"):
        fingerprint = model_fingerprint()
        if not force and MODEL_PATH.exists() and stamp.exists() and stamp.read_text() == fingerprint:
            print(f"model is up to date: {os.path.relpath(MODEL_PATH, PROJECT_ROOT)}")
            return False
        cached = _cached_model(settings.model_cache_dir, fingerprint)
        if not force and cached is not None:
            _copy_atomically(cached, MODEL_PATH)
            stamp.write_text(fingerprint)
            print(f"model of these inputs taken from the cache: {cached}")
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
        _keep_in_cache(settings.model_cache_dir, fingerprint)
        return True


def _cached_model(cache_dir: Optional[Path], fingerprint: str) -> Optional[Path]:
    if cache_dir is None:
        return None
    path = cache_dir / f"{fingerprint}.tar.gz"
    return path if path.is_file() else None


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy so that no reader (another checkout, a starting server) sees half a model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as model:
        replace_whole(target, lambda file: shutil.copyfileobj(model, file))


def _keep_in_cache(cache_dir: Optional[Path], fingerprint: str) -> None:
    """Add the model just trained to the cache and drop the oldest beyond
    :data:`CACHED_MODELS`. A cache that cannot be written costs only the next training."""
    if cache_dir is None:
        return
    try:
        private_directory(cache_dir)
        _copy_atomically(MODEL_PATH, cache_dir / f"{fingerprint}.tar.gz")
        models = sorted(cache_dir.glob("*.tar.gz"), key=lambda path: path.stat().st_mtime, reverse=True)
        for old in models[CACHED_MODELS:]:
            old.unlink(missing_ok=True)
    except OSError as error:
        print(f"warning: the model cache {cache_dir} could not be written: {error}", file=sys.stderr)
