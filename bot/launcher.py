"""Start and stop the assistant's processes: Rasa server, action server, web gateway.

``python -m bot run`` and the test suite's ``assistant`` fixture both use
:class:`Stack`, so what the tests start is what a user runs. Each process logs to
``<var_dir>/logs/<name>.log``. The Rasa server binds to loopback with its HTTP API
behind a token; the web gateway is the public entry point.

Local attack surface: the action server listens on loopback only and refuses every
action call without the shared secret (``X-Action-Secret``; ``ACTION_SERVER_SECRET`` or
one generated for each start, passed by environment, never written to disk or put on a
command line); the var folder, its logs and generated files are owner-only.

Supervision (:meth:`Stack.supervise`): a process that dies is started again, at most
:data:`MAX_RESTARTS` times within :data:`RESTART_WINDOW_S`, each time with a log line;
:meth:`Stack.stop` stops every process group, which ``python -m bot run`` does on Ctrl-C,
SIGTERM and SIGHUP alike.
"""
from __future__ import annotations

import logging
import os
import secrets
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

from bot.db import FILE_MODE, private_directory
from bot.settings import PROJECT_ROOT, Settings, get_settings

MODEL_PATH = PROJECT_ROOT / "models" / "assistant.tar.gz"

#: Header carrying the action server's shared secret (see rasa_sdk_plugins.action_auth).
ACTION_SECRET_HEADER = "X-Action-Secret"
#: A process is restarted at most this often within :data:`RESTART_WINDOW_S`.
MAX_RESTARTS = 3
RESTART_WINDOW_S = 300.0
#: malloc arenas per process of ours (``MALLOC_ARENA_MAX``, unless set already).
MALLOC_ARENAS = "2"
#: TensorFlow threads per operation, and operations at once, in the Rasa server (unless
#: ``TF_INTRA_OP_PARALLELISM_THREADS`` / ``TF_INTER_OP_PARALLELISM_THREADS`` are set): it
#: predicts for one turn at a time on its event loop, the matrices are small, and the other
#: cores serve the action server and the gateway. One thread cut its CPU per message by
#: ~6 % under 20 users (BENCHMARKS.md).
TENSORFLOW_THREADS = "1"

logger = logging.getLogger(__name__)


class StackError(RuntimeError):
    """A process of the stack did not start; the message names its log file."""


def wait_until_healthy(name: str, url: str, process: subprocess.Popen, log: Path, deadline: float) -> None:
    """Wait until ``url`` answers 200; raise :class:`StackError` naming ``log`` when
    ``process`` exits or ``deadline`` (``time.monotonic()``) passes first."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{name} exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise StackError(f"{name} did not become healthy at {url}; see {log}")


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


def with_process_defaults(env: Dict[str, str], role: str) -> Dict[str, str]:
    """``env`` with what the process ``role`` (rasa, actions, web) runs best with, where
    it does not say otherwise: :data:`MALLOC_ARENAS` for each (glibc gives each thread
    that allocates its own arena, up to 8 per core, and TensorFlow's and the thread pools'
    threads leave ~100 MB of freed memory in them), and :data:`TENSORFLOW_THREADS` for
    the Rasa server. The launcher and ``bot serve`` (containers) both use it."""
    env.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENAS)
    if role == "rasa":
        env.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", TENSORFLOW_THREADS)
        env.setdefault("TF_INTER_OP_PARALLELISM_THREADS", TENSORFLOW_THREADS)
    return env


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
        #: Rasa sends it with every action call; the action server checks it.
        self.action_secret = self.settings.action_server_secret or secrets.token_hex(32)
        self.processes: Dict[str, subprocess.Popen] = {}
        #: When each process was restarted (monotonic), for the restart limit.
        self.restarts: Dict[str, List[float]] = {}
        self._commands: Dict[str, List[str]] = {}

    # -- configuration files ------------------------------------------------------
    def environment(self) -> Dict[str, str]:
        """The environment of every process: this stack's settings (which also fill
        the ``${VAR}`` values of ``endpoints.production.yml``) over the caller's."""
        return child_environment(
            {
                **self.config.env,
                **self.settings.as_environment(),
                "RASA_TOKEN": self.token,
                "ACTION_SERVER_SECRET": self.action_secret,
                "SANIC_HOST": "127.0.0.1",  # the action server: loopback only
                # Rasa's lock store: how long a turn may hold a conversation.
                "TICKET_LOCK_LIFETIME": str(self.settings.lock_lifetime_seconds),
            }
        )

    def process_environment(self, name: str) -> Dict[str, str]:
        """The environment of the process ``name``: with ``METRICS_PORT`` set, each
        process serves its metrics on its own port (Rasa on it, actions +1, web +2)."""
        env = with_process_defaults(self.environment(), name)
        if self.settings.metrics_port is not None:
            offset = {"rasa": 0, "actions": 1, "web": 2}[name]
            env["METRICS_PORT"] = str(self.settings.metrics_port + offset)
        return env

    def write_endpoints(self, action_url: Optional[str] = None) -> Path:
        """endpoints.yml (or .production.yml) with this stack's action server (or
        ``action_url``) and var dir."""
        name = "endpoints.production.yml" if self.config.profile == "production" else "endpoints.yml"
        endpoints = yaml.safe_load((PROJECT_ROOT / name).read_text(encoding="utf-8"))
        endpoints["action_endpoint"] = {
            "url": action_url or f"{self.action_url}/webhook",
            # Rasa fills it in from its environment: the secret never reaches the disk.
            "headers": {ACTION_SECRET_HEADER: "${ACTION_SERVER_SECRET}"},
        }
        for key in ("tracker_store", "event_broker"):
            store = endpoints.get(key) or {}
            if store.get("dialect") == "sqlite":
                store["db"] = str(self.var_dir / Path(store["db"]).name)
        path = self.var_dir / f"endpoints.{self.config.profile}.yml"
        _write_private(path, yaml.safe_dump(endpoints, allow_unicode=True))
        return path

    def write_credentials(self) -> Path:
        """credentials.yml plus the channels configured through the environment."""
        credentials = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text()) or {}
        credentials.update(self.settings.channel_credentials())
        credentials.update(self.config.extra_credentials)
        path = self.var_dir / "credentials.yml"
        _write_private(path, yaml.safe_dump(credentials, allow_unicode=True))  # holds secrets
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

    def start(self, timeout: float = 600.0) -> "Stack":
        """Start every process and wait until each answers its health check.

        The deadline is generous: loading the model takes ~40 s on a quiet two-core machine and
        several minutes when the machine is busy, and a slow start is not a failure.
        """
        if not Path(self.config.model_path).exists():
            raise StackError(f"no trained model at {self.config.model_path}: run `python -m bot train`")
        private_directory(self.var_dir)
        self._commands = self.commands()
        for name in self._commands:
            self._launch(name)
        deadline = time.monotonic() + timeout
        health = self.health_urls()
        try:
            for name in self.processes:
                self._wait_healthy(name, health[name], deadline)
        except StackError:
            self.stop()
            raise
        return self

    def _launch(self, name: str) -> None:
        """Start (or start again) the process ``name``, appending to its log."""
        if name == "rasa" and self.config.profile == "production":
            from bot.locks import release_conversation_locks

            released = release_conversation_locks(self.settings)
            if released:
                logger.info("released %d conversation locks left by an earlier Rasa", released)
        logs = self.var_dir / "logs"
        private_directory(logs)
        log_path = logs / f"{name}.log"
        descriptor = os.open(log_path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, FILE_MODE)
        with os.fdopen(descriptor, "ab") as log:
            self.processes[name] = subprocess.Popen(
                self._commands[name], cwd=PROJECT_ROOT, env=self.process_environment(name), stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )

    def _wait_healthy(self, name: str, url: str, deadline: float) -> None:
        wait_until_healthy(name, url, self.processes[name], self.var_dir / "logs" / f"{name}.log", deadline)

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

    def supervise(self, poll_s: float = 1.0, health_timeout: float = 240.0) -> str:
        """Keep every process running: restart one that dies (a log line each time) until
        it died more than :data:`MAX_RESTARTS` times within :data:`RESTART_WINDOW_S`;
        then return its name (the caller stops the rest)."""
        while True:
            for name, process in list(self.processes.items()):
                code = process.poll()
                if code is None:
                    continue
                now = time.monotonic()
                recent = [at for at in self.restarts.get(name, []) if now - at < RESTART_WINDOW_S]
                log = self.var_dir / "logs" / f"{name}.log"
                if len(recent) >= MAX_RESTARTS:
                    print(f"error: {name} exited with {code} again, {len(recent)} restarts within "
                          f"{RESTART_WINDOW_S:.0f} s: giving up; see {log}", file=sys.stderr, flush=True)
                    return name
                self.restarts[name] = [*recent, now]
                print(f"warning: {name} exited with {code}; restarting it ({len(recent) + 1} of "
                      f"{MAX_RESTARTS}); see {log}", file=sys.stderr, flush=True)
                try:
                    self.restart(name, health_timeout)
                except StackError as error:
                    print(f"warning: {error}", file=sys.stderr, flush=True)
                    continue
                print(f"{name} is running again", file=sys.stderr, flush=True)
            time.sleep(poll_s)

    def restart(self, name: str, timeout: float = 240.0) -> None:
        """Start the (stopped) process ``name`` again and wait until it is healthy."""
        self._launch(name)
        self._wait_healthy(name, self.health_urls()[name], time.monotonic() + timeout)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to an owner-only file (0600, also when it existed before)."""
    descriptor = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(FILE_MODE)
