"""The console misses nothing in production: after RabbitMQ was unreachable for 30 s and
after the Rasa server was killed (kill -9), the console holds every message the
tracker store (PostgreSQL) holds, and ``/healthz/feed`` reports no lag.

Real PostgreSQL, Redis and RabbitMQ; RabbitMQ is cut with a small TCP proxy between it
and our processes, so the shared server stays up for everyone else.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

import pytest
import sqlalchemy as sa

from bot.channels.common import REST_CHANNEL_PREFIX, namespaced_sender_id
from bot.handoff.ingest import display_text
from bot.handoff.store import HandoffStore
from bot.launcher import Stack, free_port
from tests.helpers import send_rest

QUESTIONS = ["你好", "发展基金规模多大", "川渝联合研发项目支持哪些领域", "谢谢"]


class CuttableProxy:
    """Forwards TCP connections from a free loopback port to ``target``; ``cut()``
    drops every connection and refuses new ones until ``restore()``."""

    def __init__(self, target: Tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._connections: List[socket.socket] = []
        self._lock = threading.Lock()
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self.open = False
        with self._lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()
            self._connections.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self._listener.close()


@pytest.fixture
def tracker_database(postgres_url):
    """A PostgreSQL database of this test's own for the tracker store (dropped after)."""
    name = f"perf_feed_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield name, sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _send_quietly(stack: Stack, sender: str, text: str) -> None:
    try:
        send_rest(stack, sender, text, timeout=30)
    except (urllib.error.URLError, OSError):
        pass  # Rasa being killed: this message may or may not have been stored


def _tracker_messages(url: str) -> Dict[str, List[Tuple[str, str]]]:
    """Every user and bot message the tracker store holds, per conversation, in order."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT sender_id, type_name, data FROM events WHERE type_name IN ('user', 'bot') ORDER BY id")
        ).all()
    engine.dispose()
    messages: Dict[str, List[Tuple[str, str]]] = {}
    for sender_id, kind, data in rows:
        event = json.loads(data)
        # The console shows a bot message with its buttons and cards summarised.
        text = display_text(event) if kind == "bot" else event.get("text") or ""
        messages.setdefault(sender_id, []).append((kind, text))
    return messages


def _console_messages(stack: Stack, senders: List[str]) -> Dict[str, List[Tuple[str, str]]]:
    store = HandoffStore(stack.settings.handoff_database_url)
    try:
        return {
            sender: [(m["kind"], m["text"]) for m in store.transcript(sender) if m["kind"] in ("user", "bot")]
            for sender in senders
        }
    finally:
        store.dispose()


def _feed_health(stack: Stack) -> Tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{stack.web_url}/healthz/feed", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _write_through_an_outage_and_a_kill(stack: Stack, senders: List[str], proxy: Optional[CuttableProxy]) -> None:
    """Four users write; RabbitMQ (when there is a proxy) is unreachable for 30 s; then
    Rasa is killed with messages in flight."""
    send_rest(stack, senders[0], "你好")
    status, health = _feed_health(stack)
    assert status == 200 and health["running"], health
    if proxy is not None:
        proxy.cut()
        cut_until = time.monotonic() + 30
        with ThreadPoolExecutor(len(senders)) as pool:
            while time.monotonic() < cut_until:
                text = QUESTIONS[int(time.time()) % len(QUESTIONS)]
                list(pool.map(_send_quietly, [stack] * len(senders), senders, [text] * len(senders)))
        proxy.restore()
    for sender in senders:
        send_rest(stack, sender, "谢谢")
    with ThreadPoolExecutor(len(senders)) as pool:
        futures = [pool.submit(_send_quietly, stack, s, "川渝联合研发项目支持哪些领域") for s in senders]
        time.sleep(0.3)
        os.kill(stack.processes["rasa"].pid, signal.SIGKILL)
        for future in futures:
            future.result()


def _assert_console_holds_everything(stack: Stack, callers: List[str], tracker_url: str, at_least: int) -> None:
    senders = [namespaced_sender_id(REST_CHANNEL_PREFIX, caller) for caller in callers]  # as Rasa stores them
    stored = _tracker_messages(tracker_url)
    assert set(stored) >= set(senders)
    assert sum(len(stored[s]) for s in senders) >= at_least  # there really was traffic
    deadline = time.monotonic() + 30
    while _console_messages(stack, senders) != {s: stored[s] for s in senders}:
        assert time.monotonic() < deadline, "the console is missing messages the tracker store holds"
        time.sleep(0.5)
    status, health = _feed_health(stack)
    assert status == 200 and health["pending_events"] == 0 and health["set_aside"] == 0, health


@pytest.mark.usefixtures("redis_url")
def test_production_console_holds_every_stored_message_after_a_rabbitmq_outage_and_a_rasa_kill(
    start_stack, rabbitmq_url, tracker_database
):
    database, tracker_url = tracker_database
    proxy = CuttableProxy(("127.0.0.1", 5672))
    run_id = uuid.uuid4().hex[:8]
    try:
        stack = start_stack(
            profile="production",
            env={
                "RABBITMQ_PORT": str(proxy.port),
                "RABBITMQ_QUEUE": f"perf_feed_test_{run_id}",
                "TRACKER_DB_NAME": database,
                "REDIS_DB": "3",
                "CONSOLE_FEED_CHECK_S": "1",
            },
        )
        senders = [f"feed-fault-{run_id}-{i}" for i in range(4)]
        _write_through_an_outage_and_a_kill(stack, senders, proxy)
        _assert_console_holds_everything(stack, senders, tracker_url, at_least=40)
    finally:
        proxy.close()


def test_embedded_console_holds_every_stored_message_after_a_rasa_kill(start_stack):
    stack = start_stack(profile="embedded")
    senders = [f"feed-fault-embedded-{i}" for i in range(4)]
    _write_through_an_outage_and_a_kill(stack, senders, proxy=None)
    # 你好 and 谢谢 with their answers; the messages sent as Rasa was killed may be lost.
    _assert_console_holds_everything(stack, senders, stack.settings.console_feed_url, at_least=10)
