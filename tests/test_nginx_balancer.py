"""The generated nginx configuration, run by Debian's nginx in front of two replicas.

The replicas here are small aiohttp servers that say who they are; what is tested is
what users of the real replicas rely on: a client stays on its gateway, moves to the
other one when its gateway dies, and a request a dying replica swallowed gets the clear
"send again" answer, not a bare 502; through the gateways' channel proxy, every
Socket.IO request reaches the Rasa server holding its session, also after that server
was killed and restarted.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import AsyncIterator, Dict, Iterator, List, Optional

import aiohttp
import pytest
import socketio
from aiohttp import web

from bot.launcher import free_port
from bot.messages import user_text
from bot.nginx import Balancer, nginx_config
from bot.settings import PROJECT_ROOT
from bot.web.app import HTTP_KEY, UPSTREAM_KEY, proxy_to_rasa

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


async def wait_for_status_200(url: str, seconds: float, what: str) -> None:
    """Poll ``url`` until it answers 200; fail saying ``what`` did not start."""
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not start")
            await asyncio.sleep(0.2)


async def wait_until_listening(base: str) -> None:
    await wait_for_status_200(f"{base}/healthz", 20, "nginx")


# --- Socket.IO sessions through the gateways, across a Rasa restart -----------------------


async def start_rasa_stand_in(index: int, port: int) -> asyncio.subprocess.Process:
    """A Rasa server's Socket.IO side in its own process, healthy."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.socketio_replica", f"rasa-{index}", str(index), str(port),
        cwd=PROJECT_ROOT, start_new_session=True,
    )
    await wait_for_status_200(f"http://127.0.0.1:{port}/status", 30, f"the stand-in of rasa-{index}")
    return process


async def kill(process: asyncio.subprocess.Process) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


def gateway_app(rasa_url: str) -> web.Application:
    """The web gateway's channel proxy (the part of it Socket.IO goes through)."""
    app = web.Application()
    app[UPSTREAM_KEY] = rasa_url

    async def client(app: web.Application) -> AsyncIterator[None]:
        app[HTTP_KEY] = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120), auto_decompress=False
        )
        yield
        await app[HTTP_KEY].close()

    app.cleanup_ctx.append(client)
    app.router.add_route("*", "/socket.io/", proxy_to_rasa)
    app.router.add_get("/healthz", lambda _: web.json_response({"ok": True}))
    return app


async def serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    # Long-polls still open at the end do not hold up the test.
    await web.TCPSite(runner, "127.0.0.1", port, shutdown_timeout=0.1).start()
    return runner


class Widget:
    """A browser tab talking Socket.IO over long-polling, like the widget starts. Tabs of
    one browser share its cookies; a tab opened alone gets a browser of its own."""

    def __init__(self, browser: Optional[aiohttp.ClientSession] = None) -> None:
        self.own_browser = browser is None
        self.http = browser or aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.http)

    async def open(self, base: str) -> Dict[str, str]:
        await self.sio.connect(base, transports=["polling"], socketio_path="socket.io", wait_timeout=10)
        return await self.who()

    async def who(self) -> Dict[str, str]:
        """Which server answers this tab's session."""
        return await self.sio.call("who", {}, timeout=10)

    async def close(self) -> None:
        try:
            await self.sio.eio.disconnect(abort=True)
        except (aiohttp.ClientError, OSError, ValueError):
            pass  # its server is gone
        if self.own_browser:
            await self.http.close()


@pytest.mark.asyncio
async def test_widget_sessions_reach_their_rasa_server_after_it_restarts(nginx_dir: Path) -> None:
    rasa_ports, web_ports = [free_port(), free_port()], [free_port(), free_port()]
    public, rasa_balancer = free_port(), free_port()
    config = nginx_dir / "nginx.conf"
    balancers = [
        Balancer("gateway", public, web_ports, "cybot_gw"),
        Balancer("rasa", rasa_balancer, rasa_ports, route_by_session=True),
    ]
    config.write_text(nginx_config(balancers, nginx_dir, run_as_root=os.geteuid() == 0), encoding="utf-8")
    rasa = {i: await start_rasa_stand_in(i, port) for i, port in enumerate(rasa_ports)}
    gateways = [await serve(gateway_app(f"http://127.0.0.1:{rasa_balancer}"), port) for port in web_ports]
    nginx = await asyncio.create_subprocess_exec(NGINX, "-c", str(config), "-p", str(nginx_dir), start_new_session=True)
    base = f"http://127.0.0.1:{public}"
    try:
        await wait_until_listening(base)
        # Widgets on both servers, long-polling while rasa-0 dies: nginx sees those
        # requests fail on it.
        before = [Widget() for _ in range(4)]
        assert {(await widget.open(base))["server"] for widget in before} == {"rasa-0", "rasa-1"}
        await kill(rasa[0])
        await asyncio.sleep(1)
        for widget in before:
            await widget.close()
        rasa[0] = await start_rasa_stand_in(0, rasa_ports[0])  # restarted: no sessions yet
        await asyncio.sleep(3)  # past nginx's fail_timeout: rasa-0 is tried again

        # Widgets reopened one after another (new tabs): each session, wherever it
        # was opened, keeps talking to the server that holds it.
        servers = []
        for _ in range(6):
            widget = Widget()
            try:
                answer = await widget.open(base)
            finally:
                await widget.close()
            servers.append(answer["server"])
            assert answer["sid"].startswith("r0." if answer["server"] == "rasa-0" else "r1."), answer
        assert set(servers) == {"rasa-0", "rasa-1"}, servers

        # Two tabs of one browser (one set of cookies) whose sessions live on different
        # servers: each keeps reaching its own.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            tabs: Dict[str, Widget] = {}
            for _ in range(6):
                tab = Widget(browser)
                server = (await tab.open(base))["server"]
                if server in tabs:
                    await tab.close()
                else:
                    tabs[server] = tab
            assert set(tabs) == {"rasa-0", "rasa-1"}
            for _ in range(3):
                for server, tab in tabs.items():
                    assert (await tab.who())["server"] == server
            for tab in tabs.values():
                await tab.close()
    finally:
        nginx.terminate()
        await asyncio.wait_for(nginx.wait(), 10)
        for process in rasa.values():
            await kill(process)
        for runner in gateways:
            await runner.cleanup()
        shutil.rmtree(nginx_dir, ignore_errors=True)
