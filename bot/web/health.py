"""The gateway's health endpoints, for load balancers and orchestrators.

- ``GET /healthz`` (liveness): the gateway's event loop answers. Never depends on
  another service, so a slow database does not get healthy gateways restarted.
- ``GET /readyz`` (readiness): the gateway can serve users right now. Rasa answers and
  has loaded a model, the action server answers, the handoff and platform databases
  answer a query, the event broker accepts a connection, and (production profile)
  Redis answers. ``200`` with each check's outcome, else ``503`` naming what failed.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.parse
from typing import Awaitable, Callable, Dict, Optional, Tuple

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from bot.db import create_engine
from bot.settings import Settings

logger = logging.getLogger(__name__)

#: Each check must answer within this many seconds.
CHECK_TIMEOUT_S = 3.0

Check = Callable[[], Awaitable[str]]


class NotReady(Exception):
    """A dependency does not answer as it should (the message says how)."""


async def healthz(_: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.Response(text="ok")


class Readiness:
    """Checks the gateway's dependencies for ``/readyz`` (see the module doc)."""

    def __init__(self, settings: Settings, http: Callable[[], aiohttp.ClientSession]) -> None:
        self.settings = settings
        self._http = http
        self._engines: Dict[str, sa.engine.Engine] = {}

    def checks(self) -> Dict[str, Check]:
        settings = self.settings
        checks: Dict[str, Check] = {
            "rasa": self._rasa,
            "action_server": self._action_server,
            "handoff_database": lambda: self._database(settings.handoff_database_url),
            "platform_database": lambda: self._database(settings.platform_database_url),
        }
        # The console reads the tracker store's events; RabbitMQ (production) only wakes it.
        checks["tracker_store"] = lambda: self._database(settings.console_feed_url)
        if settings.event_broker_url:
            checks["event_broker"] = lambda: self._tcp(settings.event_broker_url, 5672)
        if settings.shares_state:
            checks["redis"] = lambda: self._tcp(settings.redis_url, 6379, b"PING\r\n", b"+PONG")
        return checks

    async def run(self) -> Tuple[bool, Dict[str, Dict[str, object]]]:
        """(all passed, {check: {"ok": bool, "detail": text}})."""
        checks = self.checks()
        results = await asyncio.gather(*(self._timed(check) for check in checks.values()))
        outcome: Dict[str, Dict[str, object]] = {
            name: {"ok": ok, "detail": detail} for name, (ok, detail) in zip(checks, results, strict=True)
        }
        return all(ok for ok, _ in results), outcome

    async def _timed(self, check: Check) -> Tuple[bool, str]:
        try:
            return True, await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        except asyncio.TimeoutError:
            return False, f"no answer within {CHECK_TIMEOUT_S:.0f} s"
        except NotReady as error:
            return False, str(error)
        except (aiohttp.ClientError, OSError, sa.exc.SQLAlchemyError) as error:
            return False, f"{type(error).__name__}: {error}".splitlines()[0][:200]

    async def _rasa(self) -> str:
        url = f"{self.settings.rasa_url.rstrip('/')}/status"
        headers = {"Authorization": f"Bearer {self.settings.rasa_api_token()}"}
        async with self._http().get(url, headers=headers) as response:
            if response.status != 200:
                raise NotReady(f"HTTP {response.status}")
            status = await response.json(content_type=None)
        if not status.get("fingerprint") or not status.get("model_file"):
            raise NotReady("no model loaded")
        return f"model {status['model_file']}"

    async def _action_server(self) -> str:
        parts = urllib.parse.urlsplit(self.settings.action_server_url)
        url = f"{parts.scheme}://{parts.netloc}/health"
        async with self._http().get(url) as response:
            if response.status != 200:
                raise NotReady(f"HTTP {response.status}")
        return "answers"

    async def _database(self, url: str) -> str:
        engine = self._engines.get(url)
        if engine is None:
            engine = self._engines[url] = create_engine(url, read_only=True)

        def query() -> None:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1")).scalar_one()

        await asyncio.to_thread(query)
        return "answers"

    @staticmethod
    async def _tcp(url: str, default_port: int, send: Optional[bytes] = None, expect: bytes = b"") -> str:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or default_port
        reader, writer = await asyncio.open_connection(host, port)
        try:
            if send:
                writer.write(send)
                answer = await reader.readline()
                if not answer.startswith(expect):
                    raise NotReady(f"unexpected answer {answer[:40]!r}")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return "answers"

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()


def readyz_handler(readiness: Readiness) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def readyz(_: web.Request) -> web.Response:
        started = time.perf_counter()
        ready, checks = await readiness.run()
        if not ready:
            failed = "; ".join(f"{name}: {c['detail']}" for name, c in checks.items() if not c["ok"])
            logger.warning("not ready: %s", failed)
        body = {"ready": ready, "checks": checks, "seconds": round(time.perf_counter() - started, 3)}
        return web.json_response(body, status=200 if ready else 503)

    return readyz
