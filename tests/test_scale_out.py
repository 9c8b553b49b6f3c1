"""Scale-out: two replicas of every process behind nginx lose nothing when one dies.

The production profile runs on the real PostgreSQL, Redis and RabbitMQ with two Rasa
servers, two action servers and two web gateways behind Debian's nginx
(:class:`bot.replicas.ReplicaStack`, what ``python -m bot run --replicas 2`` starts).
50 users write 10 messages each, over REST, the widget's Socket.IO and WeChat (signed
callbacks, replies through a local fake of WeChat's API), while one Rasa server and one
gateway are killed with SIGKILL and restarted. Then:

- every message a user saw accepted (REST: 200; widget: its turn finished; WeChat: 200)
  is in that user's tracker, in the order sent;
- nobody received another user's reply;
- a WeChat message delivered to both Rasa servers at once got exactly one answer;
- every widget conversation, reopened (on whichever gateway), shows its history;
- the staff console recorded every accepted message.

What users experience during the kill is measured and bounded: a request in flight on a
dying process gets the clear "send again in a few seconds" answer (503, Retry-After)
at once, never a hang; the widget reconnects and resends, WeChat retries.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import quote

import aiohttp
import httpx
import pytest
import socketio
import sqlalchemy as sa

from bot.channels.common import REST_CHANNEL_PREFIX, namespaced_sender_id
from bot.handoff.store import HandoffStore
from bot.launcher import StackConfig, free_port
from bot.messages import user_text
from bot.replicas import ReplicaStack
from tests.conftest import CALL_FAILED
from tests.services import require_postgres
from tests.support.wechat_fake import fake_wechat_api_in_thread
from tests.support.wechat_users import Follower

# Starting six processes and 300 turns take minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.stack, pytest.mark.scale_out, pytest.mark.timeout(2400)]

QUESTIONS = [
    "双城经济圈发展基金规模多大",
    "川渝联合研发项目支持哪些领域",
    "专家库共享协议是什么时候签的？",
    "成渝地区双城经济圈有哪些合作项目？",
    "我们想了解研发费用补贴怎么申请",
    "双城经济圈发展基金规模有多大",
    "川渝联合研发项目支持哪些领域？",
    "成渝双城经济圈有什么合作政策",
    "研发费用补贴的申请条件是什么",
    "专家库共享协议的内容",
]
REST_USERS, WIDGET_USERS, WECHAT_USERS = 20, 15, 15
MESSAGES_PER_USER = 6
APP_ID, APP_SECRET, WECHAT_TOKEN = "wx00scale000000000a", "scale-secret", "scaletoken"
#: Longest any single attempt may take: beyond this a user would call it a hang.
NO_HANG_S = 60.0


@dataclass
class Experience:
    """What one channel's users went through."""

    accepted: Dict[str, List[str]] = field(default_factory=dict)  # conversation → texts, in order
    clear_refusals: int = 0  # 503 with the "send again" message
    unclear_failures: List[str] = field(default_factory=list)
    cross_user: List[str] = field(default_factory=list)
    retries: int = 0
    slowest_s: float = 0.0

    def took(self, seconds: float) -> None:
        self.slowest_s = max(self.slowest_s, seconds)


@pytest.fixture
def scale_database() -> Iterator[str]:
    """A PostgreSQL database of this test alone (trackers and the console's store)."""
    server = require_postgres()
    name = f"cybot_scale_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


#: Where the processes' and nginx's logs of a failed run are kept.
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "scale-out"


def keep_logs(var_dir: Path) -> None:
    """Copy every process's log and nginx's logs and configuration to tests/artifacts/."""
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    shutil.copytree(var_dir / "logs", ARTIFACTS / "logs")
    nginx_dir = var_dir / "nginx"
    for name in ("access.log", "error.log", "nginx.conf"):
        if (nginx_dir / name).exists():
            shutil.copy2(nginx_dir / name, ARTIFACTS / name)
    print(f"logs of the failed run kept in {ARTIFACTS}")


@pytest.fixture
def replicas(
    request: pytest.FixtureRequest, trained_model: Path, platform_template: Path, tmp_path: Path,
    scale_database: str, redis_url: str, rabbitmq_url: str,
) -> Iterator[Any]:
    run = uuid.uuid4().hex[:8]
    with fake_wechat_api_in_thread({APP_ID: APP_SECRET}) as (wechat_api, wechat_api_url):
        shutil.copytree(platform_template, tmp_path / "var", dirs_exist_ok=True)
        handoff_url = f"postgresql://postgres@127.0.0.1:5432/{scale_database}"
        config = StackConfig(
            profile="production",
            var_dir=tmp_path / "var",
            web_port=free_port(),
            env={
                "TRACKER_DB_NAME": scale_database,
                "HANDOFF_DATABASE_URL": handoff_url,
                "RABBITMQ_QUEUE": f"cybot_scale_{run}",
                "REDIS_KEY_PREFIX": f"cybotscale{run}",
            },
            extra_credentials={
                "bot.channels.wechat.WeChatInput": {
                    "app_id": APP_ID, "app_secret": APP_SECRET, "token": WECHAT_TOKEN,
                    "api_base_url": wechat_api_url,
                },
            },
        )
        stack = ReplicaStack(config, replicas=2).start()
        try:
            yield type("Replicas", (), {"stack": stack, "wechat_api": wechat_api, "handoff_url": handoff_url})
        finally:
            stack.stop()
            if request.node.stash.get(CALL_FAILED, False):
                keep_logs(config.var_dir)


# --- users -------------------------------------------------------------------------


def questions_for(user: int) -> List[str]:
    return [QUESTIONS[(user + k) % len(QUESTIONS)] for k in range(MESSAGES_PER_USER)]


async def rest_user(base: str, user: int, seen: Experience) -> None:
    sender = f"rest-scale-{uuid.uuid4().hex[:12]}"
    conversation = namespaced_sender_id(REST_CHANNEL_PREFIX, sender)  # how Rasa knows it
    seen.accepted[conversation] = []
    async with httpx.AsyncClient(timeout=NO_HANG_S) as http:
        for text in questions_for(user):
            for _attempt in range(8):
                started = time.monotonic()
                try:
                    response = await http.post(
                        f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": text}
                    )
                except httpx.HTTPError as error:
                    seen.unclear_failures.append(f"REST {type(error).__name__}")
                    seen.retries += 1
                    continue
                finally:
                    seen.took(time.monotonic() - started)
                if response.status_code == 200:
                    replies = response.json()
                    if not replies or any(reply.get("recipient_id") != sender for reply in replies):
                        seen.cross_user.append(f"{sender}: {replies}")
                    seen.accepted[conversation].append(text)
                    break
                if response.status_code == 503 and response.json()[0]["text"] == user_text("channel.unavailable"):
                    seen.clear_refusals += 1
                    seen.retries += 1
                    await asyncio.sleep(int(response.headers["Retry-After"]))
                    continue
                seen.unclear_failures.append(f"REST HTTP {response.status_code}: {response.text[:200]}")
                seen.retries += 1
                await asyncio.sleep(2)


class Widget:
    """The widget's side of Socket.IO, reconnecting and resending like the widget does."""

    def __init__(self, base: str, seen: Experience) -> None:
        self.base = base
        self.seen = seen
        self.session_id: Optional[str] = None
        self.sent_ids: set = set()
        self.finished: Dict[str, asyncio.Event] = {}
        self.disconnected = asyncio.Event()
        self.sio: Optional[socketio.AsyncClient] = None
        self.http: Optional[aiohttp.ClientSession] = None

    async def connect(self) -> None:
        await self.close()
        # A browser keeps the load balancer's cookies (here: also for 127.0.0.1).
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sio = socketio.AsyncClient(reconnection=False, http_session=self.http)
        confirmed: asyncio.Future = asyncio.get_running_loop().create_future()

        async def on_confirm(session_id: str) -> None:
            if not confirmed.done():
                confirmed.set_result(session_id)

        async def on_turn_done(data: Dict[str, Any]) -> None:
            if data.get("message_id") not in self.sent_ids:
                self.seen.cross_user.append(f"widget {self.session_id} got turn_done of {data}")
            self.finished.setdefault(str(data.get("message_id")), asyncio.Event()).set()

        async def on_echo(data: Dict[str, Any]) -> None:
            self.seen.cross_user.append(f"widget {self.session_id} got another tab's message {data}")

        sio.on("session_confirm", on_confirm)
        sio.on("turn_done", on_turn_done)
        sio.on("user_echo", on_echo)
        self.disconnected = disconnected = asyncio.Event()
        sio.on("disconnect", lambda *_: disconnected.set())
        # Long-polling, as the widget starts (and the transport that needs sticky routing).
        await sio.connect(self.base, transports=["polling"], socketio_path="socket.io", wait_timeout=20)
        await sio.emit("session_request", {"session_id": self.session_id})
        self.session_id = await asyncio.wait_for(confirmed, 20)
        self.sio = sio

    async def say(self, text: str) -> bool:
        """Send until the turn finished; True when it did."""
        message_id = uuid.uuid4().hex
        self.sent_ids.add(message_id)
        finished = self.finished.setdefault(message_id, asyncio.Event())
        for _attempt in range(10):
            started = time.monotonic()
            try:
                if self.sio is None or not self.sio.connected:
                    await self.connect()
                assert self.sio is not None
                ack = await self.sio.call(
                    "user_uttered",
                    {"message": text, "session_id": self.session_id, "message_id": message_id},
                    timeout=20,
                )
                if ack.get("duplicate") and ack.get("done"):
                    return True  # finished while this socket was away
                waiters = [asyncio.ensure_future(e.wait()) for e in (finished, self.disconnected)]
                await asyncio.wait(waiters, timeout=45, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
                if finished.is_set():
                    return True
            except (socketio.exceptions.SocketIOError, asyncio.TimeoutError, aiohttp.ClientError, OSError):
                pass
            finally:
                self.seen.took(time.monotonic() - started)
            self.seen.retries += 1
            await asyncio.sleep(1)
            if self.sio is not None and not self.sio.connected:
                self.sio = None
        return False

    async def history(self) -> List[Dict[str, Any]]:
        await self.connect()
        assert self.sio is not None
        reply = await self.sio.call("history_request", {"session_id": self.session_id}, timeout=30)
        assert reply["ok"], reply
        return reply["messages"]

    async def close(self) -> None:
        if self.sio is not None:
            try:
                await self.sio.eio.disconnect(abort=True)
            except (aiohttp.ClientError, OSError, ValueError):
                pass  # already gone
            self.sio = None
        if self.http is not None:
            await self.http.close()
            self.http = None


async def widget_user(base: str, user: int, seen: Experience, widgets: List[Widget]) -> None:
    widget = Widget(base, seen)
    widgets.append(widget)
    sender: Optional[str] = None
    for text in questions_for(user):
        finished = await widget.say(text)
        sender = f"web:{widget.session_id}"
        seen.accepted.setdefault(sender, [])
        if finished:
            seen.accepted[sender].append(text)
        else:
            seen.unclear_failures.append(f"widget message never finished: {text}")
    await widget.close()


async def wechat_user(base: str, user: int, seen: Experience, followers: List[Follower]) -> None:
    async with httpx.AsyncClient(timeout=NO_HANG_S) as http:
        follower = Follower(http, f"{base}/webhooks/wechat/webhook", WECHAT_TOKEN, None, APP_ID)
        followers.append(follower)
        sender = f"wechat:{follower.openid}"
        seen.accepted[sender] = []
        for index, text in enumerate(questions_for(user)):
            msg_id = 7_000_000 + user * 100 + index
            xml = follower.text_xml(text, msg_id=msg_id)
            for _try in range(3):  # WeChat delivers a message up to 3 times
                started = time.monotonic()
                try:
                    response = await follower.deliver(xml)
                except httpx.HTTPError as error:
                    seen.unclear_failures.append(f"WeChat {type(error).__name__}")
                    response = None
                finally:
                    seen.took(time.monotonic() - started)
                if response is not None and response.status_code == 200:
                    try:
                        follower.reply_text(response)  # checks the reply is addressed to this follower
                    except AssertionError as wrong:
                        seen.cross_user.append(f"{sender}: {wrong}")
                    seen.accepted[sender].append(text)
                    break
                if response is not None and response.status_code == 503:
                    seen.clear_refusals += 1
                seen.retries += 1
                await asyncio.sleep(2)


async def kill_and_restart(stack: ReplicaStack, quarter_done: asyncio.Event, log: List[str]) -> None:
    await quarter_done.wait()
    for name in ("rasa-0", "web-0"):
        stack.kill(name)
        log.append(f"{time.strftime('%H:%M:%S')} killed {name}")
    await asyncio.sleep(3)
    await asyncio.gather(*(asyncio.to_thread(stack.restart, name) for name in ("rasa-0", "web-0")))
    log.append(f"{time.strftime('%H:%M:%S')} rasa-0 and web-0 are back")


def tracker_texts(stack: ReplicaStack, sender: str) -> List[str]:
    url = f"{stack.rasa_url}/conversations/{quote(sender, safe=':@')}/tracker?token={stack.token}"
    response = httpx.get(url, timeout=60)
    response.raise_for_status()
    return [event["text"] for event in response.json()["events"] if event["event"] == "user"]


def in_order(expected: List[str], actual: List[str]) -> bool:
    """Whether ``expected`` occurs in ``actual`` in this order (a repeat of a message the
    user sent again after a refusal may sit in between)."""
    position = 0
    for text in actual:
        if position < len(expected) and text == expected[position]:
            position += 1
    return position == len(expected)


def test_two_replicas_of_everything_lose_nothing_when_one_of_each_dies(replicas) -> None:
    stack: ReplicaStack = replicas.stack
    base = stack.public_url
    channels = {"rest": Experience(), "widget": Experience(), "wechat": Experience()}
    widgets: List[Widget] = []
    followers: List[Follower] = []
    kills: List[str] = []
    total = (REST_USERS + WIDGET_USERS + WECHAT_USERS) * MESSAGES_PER_USER

    async def load() -> None:
        quarter_done = asyncio.Event()
        users = [rest_user(base, i, channels["rest"]) for i in range(REST_USERS)]
        users += [widget_user(base, i, channels["widget"], widgets) for i in range(WIDGET_USERS)]
        users += [wechat_user(base, i, channels["wechat"], followers) for i in range(WECHAT_USERS)]

        async def watch() -> None:
            last_report = time.monotonic()
            while True:
                done = sum(len(v) for c in channels.values() for v in c.accepted.values())
                if done >= total // 4:
                    quarter_done.set()
                if time.monotonic() - last_report > 30:
                    last_report = time.monotonic()
                    figures = {
                        n: (sum(map(len, c.accepted.values())), c.clear_refusals, c.retries)
                        for n, c in channels.items()
                    }
                    print(f"{time.strftime('%H:%M:%S')} accepted/refused/retried {figures} {kills}", flush=True)
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(watch())
        killer = asyncio.create_task(kill_and_restart(stack, quarter_done, kills))
        await asyncio.gather(*users)
        await killer
        watcher.cancel()

    started = time.monotonic()
    asyncio.run(load())
    load_s = time.monotonic() - started
    report = {
        name: {
            "accepted": sum(map(len, seen.accepted.values())),
            "clear_refusals": seen.clear_refusals,
            "retries": seen.retries,
            "slowest_s": round(seen.slowest_s, 1),
            "unclear_failures": seen.unclear_failures[:5],
        }
        for name, seen in channels.items()
    }
    print(json.dumps({"load_s": round(load_s, 1), "kills": kills, "channels": report}, ensure_ascii=False, indent=1))
    assert len([line for line in kills if "killed" in line]) == 2, "the kill happened during the run"

    # Nobody got another user's reply; nothing hung; every failure was the clear message.
    for name, seen in channels.items():
        assert seen.cross_user == [], (name, seen.cross_user[:3])
        assert seen.slowest_s < NO_HANG_S, name

    # Every accepted message is in its tracker, in order.
    for seen in channels.values():
        for sender, texts in seen.accepted.items():
            stored = tracker_texts(stack, sender)
            assert in_order(texts, stored), (sender, texts, stored)

    # A WeChat message delivered to both Rasa servers at once: one turn, one answer.
    asyncio.run(wechat_retry_on_both_replicas(stack, replicas.wechat_api))

    # Every widget conversation comes back with its history, on whichever gateway.
    async def reopen_all() -> None:
        for widget in widgets:
            history = await widget.history()
            shown = [m["text"] for m in history if m["role"] == "user"]
            expected = channels["widget"].accepted[f"web:{widget.session_id}"]
            assert in_order(expected, shown), (widget.session_id, expected, shown)
            assert any(m["role"] == "bot" for m in history)
            await widget.close()

    asyncio.run(reopen_all())

    # The console saw every accepted message (it follows the broker from either gateway).
    store = HandoffStore(replicas.handoff_url)
    try:
        deadline = time.monotonic() + 90
        missing: List[str] = []
        while time.monotonic() < deadline:
            missing = []
            for seen in channels.values():
                for sender, texts in seen.accepted.items():
                    recorded = [m["text"] for m in store.transcript(sender) if m["kind"] == "user"]
                    if not in_order(texts, recorded):
                        missing.append(sender)
            if not missing:
                break
            time.sleep(2)
        assert missing == [], f"the console lacks messages of {missing[:5]}"
    finally:
        store.dispose()

    # Every user got every message through in the end (refusals were retried).
    for name, seen in channels.items():
        assert sum(map(len, seen.accepted.values())) == len(seen.accepted) * MESSAGES_PER_USER, (name, report)
    assert channels["rest"].unclear_failures == [], report

    # The replicas counted what flowed through them.
    counted = 0.0
    for name, url in stack.metrics_urls().items():
        if name.startswith("rasa-1"):
            text = httpx.get(url, timeout=10).text
            counted += sum(
                float(line.split()[-1]) for line in text.splitlines() if line.startswith("cybot_messages_total{")
            )
    assert counted > 0


async def wechat_retry_on_both_replicas(stack: ReplicaStack, wechat_api: Any) -> None:
    """Three users' messages, each delivered to both Rasa servers at once (at the same
    time for the three: the wait for a late push is shared)."""
    async with httpx.AsyncClient(timeout=NO_HANG_S) as http:
        await asyncio.gather(*(one_message_on_both_replicas(http, stack, wechat_api, user) for user in range(3)))


async def one_message_on_both_replicas(
    http: httpx.AsyncClient, stack: ReplicaStack, wechat_api: Any, user: int
) -> None:
    """One WeChat message delivered to both Rasa servers at once gets one turn, one answer."""
    direct = [f"http://127.0.0.1:{stack.ports[f'rasa-{i}']}/webhooks/wechat/webhook" for i in (0, 1)]
    followers = [Follower(http, url, WECHAT_TOKEN, None, APP_ID) for url in direct]
    followers[1].openid = followers[0].openid  # one user, one message, two deliveries
    xml = followers[0].text_xml(QUESTIONS[user], msg_id=9_000_000 + user)
    responses = await asyncio.gather(*(follower.deliver(xml) for follower in followers))
    passive = [followers[0].reply_text(response) for response in responses]
    await asyncio.sleep(8)  # a push would have come by now
    pushed = wechat_api.texts_to(followers[0].openid)
    answers = [text for text in passive if text] + pushed
    assert len(answers) == 1, (passive, pushed)
    assert tracker_texts(stack, f"wechat:{followers[0].openid}") == [QUESTIONS[user]]
