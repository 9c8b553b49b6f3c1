"""What an operator watches: metrics move when messages flow, health endpoints tell the
truth, JSON log lines name the conversation."""
from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from bot import metrics
from bot.handoff.store import HandoffStore
from bot.settings import Settings
from bot.web.health import Readiness, healthz, readyz_handler


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Message:
    def __init__(self, sender_id: str) -> None:
        self.sender_id = sender_id


@pytest.mark.asyncio
async def test_each_message_counts_for_its_channel_with_its_reply_time(tmp_path: Path) -> None:
    async def answer(_: Any) -> None:
        logging.getLogger("bot.test").info("answering")

    handle = metrics.instrumented(answer, "rest")
    before = value("cybot_messages_total", channel="rest")
    replies_before = value("cybot_reply_seconds_count", channel="rest")
    for _ in range(3):
        await handle(Message("rest:alice"))
    assert value("cybot_messages_total", channel="rest") == before + 3
    assert value("cybot_reply_seconds_count", channel="rest") == replies_before + 3


@pytest.mark.asyncio
async def test_a_failed_turn_counts_as_an_error() -> None:
    async def fail(_: Any) -> None:
        raise RuntimeError("the tracker store is away")

    handle = metrics.instrumented(fail, "wechat")
    before = value("cybot_turn_errors_total", channel="wechat")
    with pytest.raises(RuntimeError):
        await handle(Message("wechat:o1"))
    assert value("cybot_turn_errors_total", channel="wechat") == before + 1


def user_event(intent: str, timestamp: float, sender: str = "web:abc") -> Dict[str, Any]:
    return {
        "event": "user", "sender_id": sender, "text": "x", "timestamp": timestamp,
        "parse_data": {"intent": {"name": intent, "confidence": 0.4}},
    }


@pytest.mark.asyncio
async def test_the_console_feed_gives_the_fallback_rate_its_lag_and_the_queue() -> None:
    handled = []

    async def ingest(events: List[Dict[str, Any]]) -> None:
        handled.extend(events)

    observer = metrics.FeedObserver(ingest, queue_state=lambda: (2, 95.0), clock=lambda: 1000.0)
    results, fallbacks = value("cybot_nlu_results_total"), value("cybot_nlu_fallbacks_total")
    lags = value("cybot_console_feed_lag_seconds_count")
    slow_lags = value("cybot_console_feed_lag_seconds_bucket", le="2.0")
    await observer([user_event("ask_policy", 999.9), user_event("nlu_fallback", 997.0)])
    await observer([{"event": "bot", "sender_id": "web:abc", "timestamp": 999.0, "text": "答"}])
    assert len(handled) == 3  # every event still reaches the console
    assert value("cybot_nlu_results_total") == results + 2
    assert value("cybot_nlu_fallbacks_total") == fallbacks + 1
    assert value("cybot_console_feed_lag_seconds_count") == lags + 3
    assert value("cybot_console_feed_lag_seconds_bucket", le="2.0") == slow_lags + 2  # one lagged 3 s
    assert value("cybot_handoff_queue_length") == 2
    assert value("cybot_handoff_longest_wait_seconds") == 95.0


@pytest.mark.asyncio
async def test_the_queue_figures_follow_a_pause_at_once_and_other_batches_once_a_second() -> None:
    async def ingest(events: List[Dict[str, Any]]) -> None:
        pass

    queue, clock = [(1, 10.0)], [1000.0]
    observer = metrics.FeedObserver(ingest, queue_state=lambda: queue[0], clock=lambda: clock[0])
    await observer([user_event("ask_policy", 999.9)])
    assert value("cybot_handoff_queue_length") == 1
    queue[0] = (2, 20.0)
    await observer([{"event": "pause", "sender_id": "web:abc", "timestamp": 1000.0}])
    assert value("cybot_handoff_queue_length") == 2  # a pause: read at once
    queue[0] = (3, 30.0)
    clock[0] += 0.2
    await observer([user_event("ask_policy", 1000.1)])
    assert value("cybot_handoff_queue_length") == 2  # busy: not re-read within a second
    clock[0] += metrics.QUEUE_REFRESH_S
    await observer([user_event("ask_policy", 1001.0)])
    assert value("cybot_handoff_queue_length") == 3
    assert value("cybot_handoff_longest_wait_seconds") == 30.0


def test_the_handoff_queue_state_comes_from_the_store(tmp_path: Path) -> None:
    store = HandoffStore(f"sqlite:///{tmp_path / 'handoff.db'}")
    try:
        assert store.queue_state() == (0, 0.0)
        store.request_handoff("web:a", "asked", in_office_hours=True, at=1000.0)
        store.request_handoff("web:b", "asked", in_office_hours=True, at=1030.0)
        assert store.queue_state(now=1100.0) == (2, 100.0)
    finally:
        store.dispose()


def test_import_runs_are_counted(tmp_path: Path) -> None:
    from bot.platform.importer import ExportFormatError, import_export

    failed = value("cybot_import_runs_total", outcome="failed")
    with pytest.raises(ExportFormatError):
        import_export(tmp_path / "no-export-here", f"sqlite:///{tmp_path / 'platform.db'}")
    assert value("cybot_import_runs_total", outcome="failed") == failed + 1


def test_json_log_lines_carry_the_conversation_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        metrics.configure_logging(Settings(log_format="json"))
        log = logging.getLogger("bot.test")
        with metrics.conversation_context("wechat:o-alice"):
            log.warning("reply took %s s", 6)
        log.warning("between messages")
    finally:
        root.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["conversation"] == "wechat:o-alice" and first["message"] == "reply took 6 s"
    assert first["level"] == "WARNING" and first["logger"] == "bot.test" and first["time"].endswith("Z")
    assert second["conversation"] is None


def fake_rasa_and_actions(state: Dict[str, Any]) -> web.Application:
    """A Rasa server (model loaded or not) and an action server, on one test app."""

    async def status(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer tok":
            return web.Response(status=401)
        if not state["model"]:
            return web.json_response({"fingerprint": {}, "model_file": None})
        return web.json_response({"fingerprint": {"x": 1}, "model_file": "assistant.tar.gz"})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, status=state["actions"])

    app = web.Application()
    app.router.add_get("/status", status)
    app.router.add_get("/health", health)
    return app


@pytest.mark.asyncio
async def test_readyz_says_what_is_not_ready_and_healthz_stays_alive(tmp_path: Path) -> None:
    import aiohttp
    from aiohttp.test_utils import TestClient, TestServer

    state: Dict[str, Any] = {"model": True, "actions": 200}
    dependencies = TestServer(fake_rasa_and_actions(state), host="127.0.0.1")
    await dependencies.start_server()
    base = f"http://127.0.0.1:{dependencies.port}"
    settings = Settings(
        var_dir=tmp_path, rasa_url=base, rasa_token="tok", action_server_url=f"{base}/webhook"
    )
    session = aiohttp.ClientSession()
    readiness = Readiness(settings, lambda: session)
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz_handler(readiness))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        ready = await client.get("/readyz")
        body = await ready.json()
        assert ready.status == 200 and body["ready"], body
        expected = {"rasa", "action_server", "handoff_database", "platform_database", "tracker_store"}
        assert set(body["checks"]) >= expected

        state["model"], state["actions"] = False, 500
        not_ready = await client.get("/readyz")
        body = await not_ready.json()
        assert not_ready.status == 503
        assert body["checks"]["rasa"] == {"ok": False, "detail": "no model loaded"}
        assert body["checks"]["action_server"] == {"ok": False, "detail": "HTTP 500"}
        assert body["checks"]["handoff_database"]["ok"]
        assert (await client.get("/healthz")).status == 200  # liveness does not depend on others
    finally:
        await client.close()
        await dependencies.close()
        await session.close()
        readiness.dispose()


def test_metrics_endpoint_serves_the_figures(tmp_path: Path) -> None:
    import urllib.request

    from bot.launcher import free_port

    port = free_port()
    assert metrics.serve_metrics(Settings(var_dir=tmp_path, metrics_port=port)) in (port, metrics._served_port)
    served = metrics._served_port
    deadline = time.monotonic() + 5
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{served}/metrics", timeout=2) as response:
                text = response.read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert "cybot_messages_total" in text and "cybot_reply_seconds_bucket" in text
