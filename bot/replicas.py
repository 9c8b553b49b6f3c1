"""Several replicas of each process behind nginx: the production profile's scale-out.

``python -m bot run --profile production --replicas N`` starts N action servers, N
Rasa servers and N web gateways on loopback ports, and Debian's nginx in front of them
(:mod:`bot.nginx`): the public entry at ``WEB_HOST:WEB_PORT``, an internal balancer
for the Rasa servers (the gateways' upstream) and one for the action servers (Rasa's
action endpoint). What the replicas must share is shared: the PostgreSQL tracker
store, the Redis lock store, the RabbitMQ event broker (one queue: each event is
ingested once, by one gateway), and in Redis the channels' state, Socket.IO's rooms
and the console's live updates (:mod:`bot.shared_state`). Each process knows its index
(``REPLICA_INDEX``): a Rasa server starts its Socket.IO session ids with it, so that
nginx sends each session's requests to the server that holds it
(:mod:`bot.replica_sessions`).

Each process gets its own metrics port (``METRICS_PORT``, listed by :meth:`metrics_urls`).
Tests use :meth:`kill` and :meth:`restart` to prove that losing a replica loses no
message.
"""
from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Dict, List

from bot.launcher import Stack, StackConfig, StackError, free_port
from bot.nginx import Balancer, nginx_config


class ReplicaStack(Stack):
    """N replicas of every process behind nginx (see the module doc)."""

    def __init__(self, config: StackConfig, replicas: int) -> None:
        if replicas < 1:
            raise StackError("replicas must be at least 1")
        self.replicas = replicas
        self.rasa_balancer_port = free_port()
        self.action_balancer_port = free_port()
        # The settings every process shares name the balancers, not one replica.
        super().__init__(replace(config, rasa_port=self.rasa_balancer_port, action_port=self.action_balancer_port))
        self.public_url = self.web_url
        self.ports: Dict[str, int] = {}
        self.metrics_ports: Dict[str, int] = {}
        for index in range(replicas):
            for kind in ("actions", "rasa", "web"):
                name = f"{kind}-{index}"
                self.ports[name] = free_port()
                self.metrics_ports[name] = free_port()
        self.nginx_dir = self.var_dir / "nginx"

    # -- configuration ------------------------------------------------------------
    def balancers(self) -> List[Balancer]:
        def ports(kind: str) -> List[int]:
            return [self.ports[f"{kind}-{index}"] for index in range(self.replicas)]

        return [
            Balancer("gateway", self.config.web_port, ports("web"), "cybot_gw", listen_host=self.config.web_host),
            Balancer("rasa", self.rasa_balancer_port, ports("rasa"), route_by_session=True),
            Balancer("actions", self.action_balancer_port, ports("actions")),
        ]

    def write_nginx_config(self) -> Path:
        self.nginx_dir.mkdir(parents=True, exist_ok=True)
        path = self.nginx_dir / "nginx.conf"
        path.write_text(
            nginx_config(self.balancers(), self.nginx_dir, run_as_root=os.geteuid() == 0), encoding="utf-8"
        )
        return path

    def process_environment(self, name: str) -> Dict[str, str]:
        env = self.environment()
        if name == "nginx":
            return env
        env["METRICS_PORT"] = str(self.metrics_ports[name])
        env["REPLICA_INDEX"] = name.split("-")[1]  # the Rasa server names its sessions after it
        if name.startswith("web-"):
            env["WEB_PORT"] = str(self.ports[name])
            env["WEB_HOST"] = "127.0.0.1"
        return env

    def commands(self) -> Dict[str, List[str]]:
        python = sys.executable
        credentials, endpoints = str(self.write_credentials()), str(self.write_endpoints())
        commands: Dict[str, List[str]] = {
            "nginx": [self.settings.nginx_path, "-c", str(self.write_nginx_config()), "-p", str(self.nginx_dir)],
        }
        for index in range(self.replicas):
            commands[f"actions-{index}"] = [
                python, "-m", "rasa_sdk", "--actions", "actions", "-p", str(self.ports[f"actions-{index}"]),
            ]
            commands[f"rasa-{index}"] = [
                python, "-m", "rasa", "run",
                "--model", str(self.config.model_path),
                "--enable-api", "--auth-token", self.token,
                "--interface", "127.0.0.1", "--port", str(self.ports[f"rasa-{index}"]),
                "--credentials", credentials,
                "--endpoints", endpoints,
            ]
            if self.config.with_web:
                commands[f"web-{index}"] = [python, "-m", "bot.web"]
        return commands

    def health_urls(self) -> Dict[str, str]:
        urls = {"nginx": f"{self.public_url}/healthz" if self.config.with_web else ""}
        for name, port in self.ports.items():
            kind = name.split("-")[0]
            urls[name] = {
                "actions": f"http://127.0.0.1:{port}/health",
                "rasa": f"http://127.0.0.1:{port}/status?token={self.token}",
                "web": f"http://127.0.0.1:{port}/healthz",
            }[kind]
        return urls

    def metrics_urls(self) -> Dict[str, str]:
        return {name: f"http://127.0.0.1:{port}/metrics" for name, port in self.metrics_ports.items()}

    # -- processes ----------------------------------------------------------------
    def start(self, timeout: float = 900.0) -> "ReplicaStack":
        """Start every process, nginx first, and wait until each is healthy (several
        Rasa servers loading their model at once take minutes on a busy machine)."""
        super().start(timeout)
        return self

    def kill(self, name: str) -> None:
        """SIGKILL one process (tests: a replica that dies without warning)."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self, name: str, timeout: float = 600.0) -> None:
        """Start a stopped or killed process again and wait until it is healthy."""
        super().restart(name, timeout)
