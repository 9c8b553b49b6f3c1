"""Start and stop the assistant's processes: Rasa server, action server, web gateway.

``python -m bot run`` and the test suite's ``assistant`` fixture both use
:class:`Stack`, so what the tests start is what a user runs. Each process logs to
``<var_dir>/logs/<name>.log``. The Rasa server binds to loopback with its HTTP API
behind a token; the web gateway is the public entry point.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from bot.settings import PROJECT_ROOT, Settings, get_settings

MODEL_PATH = PROJECT_ROOT / "models" / "assistant.tar.gz"


class StackError(RuntimeError):
    """A process of the stack did not start; the message names its log file."""


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_environment(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment for a process of ours: this one's, ``extra``, and what every
    child needs (the project on its import path, SQLAlchemy's 2.0 notice silenced)."""
    return {
        **os.environ,
        **(extra or {}),
        "PYTHONPATH": str(PROJECT_ROOT),
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    }


@dataclass
class StackConfig:
    """What to start and where."""

    profile: str = field(default_factory=lambda: get_settings().profile)  # embedded | production
    var_dir: Path = field(default_factory=lambda: get_settings().var_dir)
    rasa_port: int = 5005
    action_port: int = 5055
    web_port: int = 8000
    web_host: str = "127.0.0.1"
    model_path: Path = MODEL_PATH
    #: Extra credentials.yml entries (e.g. Telegram pointed at a test server).
    extra_credentials: Dict[str, dict] = field(default_factory=dict)
    #: Extra environment for every process, read as settings (e.g. PLATFORM_DATABASE_URL).
    env: Dict[str, str] = field(default_factory=dict)
    with_web: bool = True


class Stack:
    """The running assistant: start(), URLs, stop()."""

    def __init__(self, config: StackConfig):
        self.config = config
        self.var_dir = Path(config.var_dir)
        self.rasa_url = f"http://127.0.0.1:{config.rasa_port}"
        self.action_url = f"http://127.0.0.1:{config.action_port}"
        self.web_url = f"http://{config.web_host}:{config.web_port}"
        #: The settings every process of this stack reads (raises SettingsError).
        self.settings = Settings.from_environ(
            {**os.environ, **config.env},
            profile=config.profile,
            var_dir=self.var_dir,
            rasa_url=self.rasa_url,
            action_server_url=f"{self.action_url}/webhook",
            web_host=config.web_host,
            web_port=config.web_port,
        )
        self.token = self.settings.rasa_api_token(create=True)
        self.processes: Dict[str, subprocess.Popen] = {}

    # -- configuration files ------------------------------------------------------
    def environment(self) -> Dict[str, str]:
        """The environment of every process: this stack's settings (which also fill
        the ``${VAR}`` values of ``endpoints.production.yml``) over the caller's."""
        return child_environment(
            {
                **self.config.env,
                **self.settings.as_environment(),
                "RASA_TOKEN": self.token,
                "SANIC_HOST": "127.0.0.1",  # the action server: loopback only
            }
        )

    def write_endpoints(self) -> Path:
        """endpoints.yml (or .production.yml) with this stack's ports and var dir."""
        name = "endpoints.production.yml" if self.config.profile == "production" else "endpoints.yml"
        endpoints = yaml.safe_load((PROJECT_ROOT / name).read_text(encoding="utf-8"))
        endpoints["action_endpoint"] = {"url": f"{self.action_url}/webhook"}
        for key in ("tracker_store", "event_broker"):
            store = endpoints.get(key) or {}
            if store.get("dialect") == "sqlite":
                store["db"] = str(self.var_dir / Path(store["db"]).name)
        path = self.var_dir / f"endpoints.{self.config.profile}.yml"
        path.write_text(yaml.safe_dump(endpoints, allow_unicode=True), encoding="utf-8")
        return path

    def write_credentials(self) -> Path:
        """credentials.yml plus the channels configured through the environment."""
        credentials = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text()) or {}
        credentials.update(self.settings.channel_credentials())
        credentials.update(self.config.extra_credentials)
        path = self.var_dir / "credentials.yml"
        descriptor = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)  # holds secrets
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            yaml.safe_dump(credentials, handle, allow_unicode=True)
        path.chmod(0o600)  # a file left by an older version
        return path

    # -- processes ----------------------------------------------------------------
    def commands(self) -> Dict[str, List[str]]:
        python = sys.executable
        commands = {
            "actions": [python, "-m", "rasa_sdk", "--actions", "actions", "-p", str(self.config.action_port)],
            # The API token reaches Rasa through the environment (RASA_TOKEN), not the
            # command line that `ps` shows to every user of the machine.
            "rasa": [
                python, "-m", "bot.rasa_server",
                "--model", str(self.config.model_path),
                "--interface", "127.0.0.1", "--port", str(self.config.rasa_port),
                "--credentials", str(self.write_credentials()),
                "--endpoints", str(self.write_endpoints()),
            ],
        }
        if self.config.with_web:
            commands["web"] = [python, "-m", "bot.web"]
        return commands

    def health_urls(self) -> Dict[str, str]:
        return {
            "actions": f"{self.action_url}/health",
            "rasa": f"{self.rasa_url}/status?token={self.token}",
            "web": f"{self.web_url}/healthz",
        }

    def start(self, timeout: float = 240.0) -> "Stack":
        """Start every process and wait until each answers its health check."""
        if not Path(self.config.model_path).exists():
            raise StackError(f"no trained model at {self.config.model_path}: run `python -m bot train`")
        logs = self.var_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        for name, command in self.commands().items():
            log = open(logs / f"{name}.log", "ab")
            self.processes[name] = subprocess.Popen(
                command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        health = self.health_urls()
        try:
            for name in self.processes:
                self._wait_healthy(name, health[name], deadline)
        except StackError:
            self.stop()
            raise
        return self

    def _wait_healthy(self, name: str, url: str, deadline: float) -> None:
        process = self.processes[name]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log = self.var_dir / "logs" / f"{name}.log"
                raise StackError(f"{name} exited with {process.returncode}; see {log}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise StackError(f"{name} did not become healthy at {url}; see {self.var_dir / 'logs' / (name + '.log')}")

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after 10 s)."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()

    def wait(self) -> str:
        """Block until a process exits; return its name."""
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    return name
            time.sleep(1)
