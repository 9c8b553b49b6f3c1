"""The action server builds the platform index before it reports healthy, not at import."""
from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import sys
from typing import Any, Callable, Dict, List

import pytest
from rasa_sdk.plugin import plugin_manager

from bot.platform.matching import forget_index
from bot.settings import PROJECT_ROOT
from tests.platform_fixtures import demo_database_url


class RecordingApp:
    """Stands in for the action server's Sanic app: records the listeners it is given."""

    def __init__(self) -> None:
        self.listeners: Dict[str, List[Callable[..., Any]]] = {}

    def register_listener(self, listener: Callable[..., Any], event: str) -> None:
        self.listeners.setdefault(event, []).append(listener)

    def register_middleware(self, middleware: Callable[..., Any], attach_to: str) -> None:
        self.listeners.setdefault(f"middleware:{attach_to}", []).append(middleware)


def start_listeners() -> List[Callable[..., Any]]:
    app = RecordingApp()
    plugin_manager().hook.attach_sanic_app_extensions(app=app)  # what rasa_sdk's run() does
    return app.listeners["before_server_start"]


def index_build_listener() -> Callable[..., Any]:
    """The start listener that builds the platform index (other plugins add their own)."""
    builders = [listener for listener in start_listeners() if listener.__name__ == "build_platform_index"]
    assert len(builders) == 1
    return builders[0]


@pytest.mark.stack  # imports the actions in a fresh interpreter
def test_importing_the_actions_starts_no_thread():
    result = subprocess.run(
        [sys.executable, "-c", "import threading, actions.matching; print(threading.active_count())"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=300,
    )
    assert result.stdout.split()[-1] == "1"


def test_rasa_sdk_runs_the_index_build_before_the_server_starts(tmp_path, monkeypatch, caplog):
    database = tmp_path / "platform.db"
    shutil.copy(demo_database_url()[len("sqlite:///"):], database)
    monkeypatch.setenv("PLATFORM_DATABASE_URL", f"sqlite:///{database}")
    forget_index()
    build = index_build_listener()
    with caplog.at_level(logging.INFO):
        build(None, asyncio.new_event_loop())
    assert "platform index ready" in caplog.text
    forget_index()


def test_a_broken_platform_database_is_logged_and_the_server_starts_anyway(tmp_path, monkeypatch, caplog):
    (tmp_path / "platform.db").write_bytes(b"not a database")
    monkeypatch.setenv("PLATFORM_DATABASE_URL", f"sqlite:///{tmp_path / 'platform.db'}")
    forget_index()
    index_build_listener()(None, asyncio.new_event_loop())  # does not raise
    assert "platform index could not be built" in caplog.text


def test_the_running_action_server_built_the_index_at_start(assistant):
    log = (assistant.var_dir / "logs" / "actions.log").read_text(encoding="utf-8", errors="replace")
    assert "platform index ready" in log
