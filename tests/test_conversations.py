"""Rasa conversation tests (tests/conversations/*.yml) must predict every step."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_conversation_stories_pass_without_prediction_errors(trained_model, tmp_path):
    result = subprocess.run(
        [
            sys.executable, "-m", "rasa", "test", "core",
            "--model", str(trained_model),
            "--stories", str(ROOT / "tests" / "conversations"),
            "--out", str(tmp_path),
            "--fail-on-prediction-errors",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "CYBOT_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text(encoding="utf-8") if failed.exists() else result.stdout[-3000:]
    assert result.returncode == 0, f"rasa test failed:\n{details}\n{result.stderr[-2000:]}"
