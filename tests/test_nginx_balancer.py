"""The generated nginx configuration, run by Debian's nginx in front of two replicas.

The replicas here are small aiohttp servers that say who they are; what is tested is
what users of the real replicas rely on: a client stays on its replica (Socket.IO's
polling transport needs it), moves to the other one when its replica dies, and a
request a dying replica swallowed gets the clear "send again" answer, not a bare 502.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Dict, Iterator, List

import aiohttp
import pytest
from aiohttp import web

from bot.launcher import free_port
from bot.messages import user_text
from bot.nginx import Balancer, nginx_config

pytestmark = [pytest.mark.stack, pytest.mark.timeout(120)]

NGINX = "/usr/sbin/nginx"


def replica_app(name: str, hang: asyncio.Event) -> web.Application:
    async def who(_: web.Request) -> web.Response:
        return web.json_response({"replica": name})

    async def slow(_: web.Request) -> web.Response:
        await hang.wait()  # never answers: the test kills this replica meanwhile
        return web.json_response({"replica": name})

    app = web.Application()
    app.router.add_route("*", "/webhooks/rest/webhook", slow)
    app.router.add_route("*", "/{tail:.*}", who)
    return app


@pytest.fixture
def nginx_dir(tmp_path: Path) -> Iterator[Path]:
    if not os.path.exists(NGINX):
        pytest.fail("Debian's nginx is needed (scripts/test-setup.sh installs it)")
    yield tmp_path


@pytest.mark.asyncio
async def test_clients_stay_on_their_replica_and_move_when_it_dies(nginx_dir: Path) -> None:
    ports = [free_port(), free_port()]
    hang = asyncio.Event()
    runners: Dict[str, web.AppRunner] = {}
    for index, port in enumerate(ports):
        runner = web.AppRunner(replica_app(f"web-{index}", hang))
        await runner.setup()
        # Stopping it cuts open connections at once, like a killed process.
        await web.TCPSite(runner, "127.0.0.1", port, shutdown_timeout=0.1).start()
        runners[f"web-{index}"] = runner
    public = free_port()
    config = nginx_dir / "nginx.conf"
    config.write_text(
        nginx_config([Balancer("gateway", public, ports, "cybot_gw")], nginx_dir, run_as_root=os.geteuid() == 0),
        encoding="utf-8",
    )
    nginx = await asyncio.create_subprocess_exec(NGINX, "-c", str(config), "-p", str(nginx_dir), start_new_session=True)
    base = f"http://127.0.0.1:{public}"
    try:
        await wait_until_listening(base)
        # Two browsers: each stays on the replica it first reached.
        browsers = [aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in range(2)]
        seen: List[List[str]] = [[], []]
        for _ in range(6):
            for index, browser in enumerate(browsers):
                async with browser.get(f"{base}/socket.io/?EIO=4&transport=polling") as response:
                    seen[index].append((await response.json())["replica"])
        assert all(len(set(replicas)) == 1 for replicas in seen), seen
        # Without the cookie, requests are spread over both replicas.
        async with aiohttp.ClientSession() as anonymous:
            spread = set()
            for _ in range(6):
                async with anonymous.get(f"{base}/healthz") as response:
                    spread.add((await response.json())["replica"])
        assert spread == {"web-0", "web-1"}

        # A REST message is in flight on the first browser's replica when it dies.
        home = seen[0][0]
        in_flight = asyncio.create_task(browsers[0].post(f"{base}/webhooks/rest/webhook", json={"message": "你好"}))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await runners.pop(home).cleanup()  # the replica is gone, its connections cut
        response = await asyncio.wait_for(in_flight, 30)
        assert response.status == 503 and time.monotonic() - started < 5  # at once, not a hang
        assert response.headers["Retry-After"].isdigit()
        assert await response.json() == [{"text": user_text("channel.unavailable"), "unavailable": True}]

        # Its next requests go to the other replica, which it then stays on.
        moved = []
        for _ in range(3):
            async with browsers[0].get(f"{base}/socket.io/?EIO=4&transport=polling") as answer:
                assert answer.status == 200
                moved.append((await answer.json())["replica"])
        assert set(moved) == {"web-1" if home == "web-0" else "web-0"}
        for browser in browsers:
            await browser.close()
    finally:
        hang.set()
        nginx.terminate()
        await asyncio.wait_for(nginx.wait(), 10)
        for runner in runners.values():
            await runner.cleanup()
        shutil.rmtree(nginx_dir, ignore_errors=True)


async def wait_until_listening(base: str) -> None:
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("nginx did not start")
            await asyncio.sleep(0.2)
