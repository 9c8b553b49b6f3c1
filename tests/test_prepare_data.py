"""``python -m bot run`` prepares the platform data in a child process: the launcher, which
supervises the servers for as long as they run, keeps none of the import's modules or memory."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.launcher import child_environment
from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.stack  # runs the CLI

#: Prepares the data, then lists the import's modules this process holds.
PROGRAM = """
import sys
from bot.cli import prepare_data
prepare_data()
print(sorted(m for m in ("alembic", "bot.platform.importer", "bot.platform.db", "sqlalchemy.orm") if m in sys.modules))
"""


def run(tmp_path: Path, export: Path) -> subprocess.CompletedProcess:
    env = child_environment({"CYBOT_VAR_DIR": str(tmp_path / "var"), "PLATFORM_DEMO_EXPORT_DIR": str(export)})
    return subprocess.run([sys.executable, "-c", PROGRAM], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_demo_data_is_imported_by_a_child_process(tmp_path):
    result = run(tmp_path, PROJECT_ROOT / "data_demo" / "platform-export")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert (tmp_path / "var" / "platform.db").stat().st_size > 1_000_000


def test_a_malformed_export_stops_the_launcher_with_the_importers_error(tmp_path):
    result = run(tmp_path, tmp_path)  # no CSV files
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == ("error: the demo platform export cannot be imported (nothing was imported): "
                                     f"导出目录 {tmp_path} 缺少 companies.csv")
