"""State two replicas must agree on, against the real Redis (production profile).

Each test uses its own key prefix, so parallel runs and other deployments on the same
Redis never meet. Two objects built on one prefix stand for two replicas.
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import redis
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import shared_state
from bot.channels.telegram import CallbackRegistry
from bot.channels.wechat.access_token import AccessTokenOwner, SharedTokenStore, shared_token_store
from bot.channels.wechat.pending import PendingTurn, PendingTurns
from bot.channels.wechat.turns import NumberedMenus, TurnRegistry
from bot.handoff.ingest import RedisLiveHub
from bot.settings import Settings
from bot.shared_state import Lease, MemoryState, RedisState, channel_state

pytestmark = pytest.mark.timeout(60)
REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test alone (letters and digits, as the settings require of a
    deployment prefix); its keys are deleted afterwards."""
    prefix = f"cybottest{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


class Pusher:
    def __init__(self) -> None:
        self.sent: List[Tuple[str, str]] = []

    async def send_text(self, user_id: str, text: str) -> None:
        self.sent.append((user_id, text))


def test_the_production_profile_keeps_channel_state_in_redis(tmp_path) -> None:
    assert isinstance(channel_state(Settings(var_dir=tmp_path, profile="production")), RedisState)
    assert isinstance(channel_state(Settings(var_dir=tmp_path)), MemoryState)
    assert shared_token_store(Settings(var_dir=tmp_path), "wechat:app") is None


@pytest.mark.asyncio
async def test_a_delivery_is_claimed_once_across_replicas(redis_url: str, prefix: str) -> None:
    replicas = [RedisState(redis_url, prefix), RedisState(redis_url, prefix)]
    claims = await asyncio.gather(*(replicas[i % 2].claim("wechat-message", "msg:42", 60) for i in range(10)))
    assert sorted(claims) == [False] * 9 + [True]
    assert await RedisState(redis_url, prefix + "-other").claim("wechat-message", "msg:42", 60)
    for state in replicas:
        await state.close()


@pytest.mark.asyncio
async def test_a_wechat_retry_on_another_replica_gets_no_second_turn(redis_url: str, prefix: str) -> None:
    turns_run: List[str] = []
    pushers = [Pusher(), Pusher()]
    replicas = [
        TurnRegistry("wechat", pushers[i], reply_timeout=2.0, state=RedisState(redis_url, prefix)) for i in range(2)
    ]

    async def on_new_message(message: Any) -> None:
        turns_run.append(message.text)
        await asyncio.sleep(0.2)
        await message.output_channel.send_response(message.sender_id, {"text": "基金规模300亿元"})  # as Rasa sends

    for replica in replicas:
        replica.set_message_handler(on_new_message)
    first, retry = await asyncio.gather(
        replicas[0].answer("msg:7001", "o-alice", "基金规模", {}),
        replicas[1].answer("msg:7001", "o-alice", "基金规模", {}),
    )
    assert turns_run == ["基金规模"]  # one Rasa turn
    answers = [reply for reply in (first, retry) if reply]
    assert answers == ["基金规模300亿元"]  # one answer; the other delivery got "success"
    assert pushers[0].sent == pushers[1].sent == []
    for replica in replicas:
        await replica.close()


@pytest.mark.asyncio
async def test_a_menu_sent_by_one_replica_is_understood_by_another(redis_url: str, prefix: str) -> None:
    sender, receiver = NumberedMenus(RedisState(redis_url, prefix)), NumberedMenus(RedisState(redis_url, prefix))
    menu = [{"title": "政策", "payload": "/ask_policy"}, {"title": "专家", "payload": "/find_experts"}]
    await sender.remember("o-bob", menu)
    assert await receiver.resolve("o-bob", "２") == "/find_experts"
    assert await receiver.resolve("o-carol", "2") == "2"


@pytest.mark.asyncio
async def test_a_telegram_button_works_on_every_replica_and_only_in_its_chat(redis_url: str, prefix: str) -> None:
    first, second = CallbackRegistry(RedisState(redis_url, prefix)), CallbackRegistry(RedisState(redis_url, prefix))
    token = await first.issue(1001, "/find_suppliers")
    assert await second.resolve(token, 1001) == "/find_suppliers"
    assert await second.resolve(token, 1002) is None


def test_one_access_token_fetch_serves_every_replica(redis_url: str, prefix: str) -> None:
    fetched: List[str] = []
    lock = threading.Lock()

    def fetch() -> Tuple[str, int]:
        with lock:
            fetched.append(f"token-{len(fetched) + 1}")
            return fetched[-1], 7200

    owners = [AccessTokenOwner(fetch, shared=SharedTokenStore(redis_url, f"{prefix}:token")) for _ in range(3)]
    seen: Dict[int, str] = {}

    def use(index: int) -> None:
        seen[index] = owners[index % 3].token()

    threads = [threading.Thread(target=use, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fetched == ["token-1"] and set(seen.values()) == {"token-1"}

    # WeChat rejects the token on two replicas at once: one new fetch, used by all.
    owners[0].refresh_after_rejection("token-1")
    owners[1].refresh_after_rejection("token-1")
    assert fetched == ["token-1", "token-2"]
    assert {owner.token() for owner in owners} == {"token-2"}


@pytest.mark.asyncio
async def test_console_updates_reach_staff_on_every_gateway(redis_url: str, prefix: str) -> None:
    gateways = [RedisLiveHub(redis_url, f"{prefix}:console") for _ in range(2)]
    relays = [asyncio.create_task(hub.relay()) for hub in gateways]
    try:
        staff_on_second = gateways[1].subscribe()
        staff_on_first = gateways[0].subscribe()
        await asyncio.sleep(0.3)  # both relays subscribed
        gateways[0].publish({"type": "conversation", "conversation": {"sender_id": "web:x"}})
        for queue in (staff_on_second, staff_on_first):
            update = await asyncio.wait_for(queue.get(), 5)
            assert update["conversation"]["sender_id"] == "web:x"
    finally:
        for relay in relays:
            relay.cancel()
        await asyncio.gather(*relays, return_exceptions=True)


@pytest.mark.asyncio
async def test_a_claim_lapses_when_its_replica_dies_mid_turn_and_holds_while_it_lives(
    redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_state, "LEASE_S", 0.6)
    first, second = RedisState(redis_url, prefix), RedisState(redis_url, prefix)

    working = await Lease.acquire(first, "widget-message", "m-alive")
    await asyncio.sleep(1.5)  # well past one lease: renewed while its holder lives
    assert await Lease.acquire(second, "widget-message", "m-alive") is None
    await working.release(keep_s=60)
    assert await shared_state.is_done(second, "widget-message", "m-alive")
    assert await Lease.acquire(second, "widget-message", "m-alive") is None  # handled: never again

    dying = await Lease.acquire(first, "widget-message", "m-dead")
    assert dying is not None and dying._renewer is not None
    dying._renewer.cancel()  # SIGKILL: no more renewals, no release
    assert await Lease.acquire(second, "widget-message", "m-dead") is None
    await asyncio.sleep(0.8)
    taken_over = await Lease.acquire(second, "widget-message", "m-dead")
    assert taken_over is not None and not await shared_state.is_done(second, "widget-message", "m-dead")
    await taken_over.release(keep_s=60)


class CancellationLosingState(MemoryState):
    """Like the Redis client under load: a call that is finishing when it is cancelled
    completes and the cancellation is lost (asyncio.wait_for on Python 3.10)."""

    def __init__(self) -> None:
        super().__init__()
        self.renewing = asyncio.Event()

    async def put(self, namespace: str, key: str, value: str, ttl_s: float) -> None:
        if value == "working":
            self.renewing.set()
            try:
                await asyncio.sleep(0.05)  # the round trip to Redis
            except asyncio.CancelledError:
                pass  # the reply had arrived: the client returns it, the cancellation is gone
        await super().put(namespace, key, value, ttl_s)


@pytest.mark.asyncio
async def test_a_turn_ends_even_when_a_renewal_in_flight_loses_the_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The widget's turn_done is sent after the release: a release waiting for a renewer
    # that never stops left widget users waiting for ever on a loaded machine.
    monkeypatch.setattr(shared_state, "LEASE_S", 0.3)
    state = CancellationLosingState()
    lease = await Lease.acquire(state, "widget-message", "m-busy")
    assert lease is not None
    await asyncio.wait_for(state.renewing.wait(), 2)  # a renewal is on its way to Redis
    await asyncio.wait_for(lease.release(keep_s=60), 2)
    assert await shared_state.is_done(state, "widget-message", "m-busy")
    await asyncio.sleep(0.3)  # no renewal comes afterwards to overwrite DONE
    assert await shared_state.is_done(state, "widget-message", "m-busy")


def test_a_key_prefix_rasa_would_ignore_is_refused(tmp_path) -> None:
    from bot.settings import SettingsError

    with pytest.raises(SettingsError, match="REDIS_KEY_PREFIX"):
        Settings.from_environ({"REDIS_KEY_PREFIX": "cybot-prod"}, var_dir=tmp_path)


def test_replicas_starting_together_create_the_console_store_once(postgres_url: str) -> None:
    import sqlalchemy as sa

    from bot.handoff.ingest import Ingestor, LiveHub
    from bot.handoff.store import HandoffStore

    name = f"cybot_scale_schema_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    errors: List[Exception] = []
    stores: List[HandoffStore] = []
    feeds_start_together = threading.Barrier(4)

    def start_replica() -> None:
        try:
            store = HandoffStore(url)
            stores.append(store)
            feeds_start_together.wait(timeout=30)
            Ingestor(store, LiveHub())  # the console feed's own table, too
        except Exception as error:  # noqa: BLE001 - every failure is reported below
            errors.append(error)

    try:
        threads = [threading.Thread(target=start_replica) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [] and len(stores) == 4
        assert stores[0].queue_state() == (0, 0.0)
    finally:
        for store in stores:
            store.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

@pytest.mark.asyncio
async def test_staff_on_two_gateways_see_the_same_team_presence(redis_url: str, prefix: str, tmp_path) -> None:
    """Two gateway replicas (production profile): a colleague whose browser is on the other
    gateway is shown viewing the conversation and online, and gone once they leave."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.handoff.store import HandoffStore
    from bot.web.app import create_app
    from tests.test_console_handoff import Staff
    from tests.test_console_security import PASSWORD, make_settings

    settings = make_settings(tmp_path, profile="production", redis_key_prefix=prefix)
    store = HandoffStore(settings.handoff_database_url)
    store.add_staff("agent1", PASSWORD, "agent")
    store.add_staff("agent2", PASSWORD, "agent")
    store.record_message("web:u1", "user", "我要转人工", 1.0, event_key="u1", channel="socketio")
    gateways = [TestClient(TestServer(create_app(settings, follow_events=False))) for _ in range(2)]
    browsers: List[Staff] = []
    try:
        for gateway in gateways:
            await gateway.start_server()
        for gateway, username in zip(gateways, ("agent1", "agent2"), strict=True):
            browser = Staff(gateway)
            browsers.append(browser)
            await browser.login(username)
        first, second = browsers
        conversation = "/console/api/conversations/web:u1"

        # agent2's console is open on the other gateway, on no conversation yet: online.
        await second.get("/console/api/colleagues")
        colleagues = (await (await first.get("/console/api/colleagues")).json())["staff"]
        assert {c["username"]: c["online"] for c in colleagues} == {"agent1": True, "agent2": True}

        assert (await (await first.get(conversation)).json())["viewers"] == ["agent1"]
        seen = await (await second.get(f"{conversation}/presence")).json()
        assert seen["viewers"] == ["agent1", "agent2"]

        await first.get(f"{conversation}/presence?leaving=1")
        assert (await (await second.get(f"{conversation}/presence")).json())["viewers"] == ["agent2"]
    finally:
        for browser in browsers:
            await browser.http.close()
        for gateway in gateways:
            await gateway.close()
        store.dispose()


@pytest.mark.asyncio
async def test_a_colleague_without_heartbeat_drops_out_of_presence(redis_url: str, prefix: str) -> None:
    from bot.console.desk import RedisPresence

    replicas = [RedisPresence(redis_url, prefix, ttl_s=1.0) for _ in range(2)]
    try:
        await replicas[0].saw("web:u1", "agent1")
        assert await replicas[1].viewers("web:u1") == ["agent1"]
        assert await replicas[1].online() == ["agent1"]
        await asyncio.sleep(1.3)  # the browser closed: no heartbeat within the lifetime
        assert await replicas[1].viewers("web:u1") == []
        assert await replicas[1].online() == []
    finally:
        for replica in replicas:
            await replica.close()


@pytest.mark.asyncio
async def test_presence_without_redis_shows_nobody_instead_of_failing(redis_url: str) -> None:
    from bot.console.desk import RedisPresence

    unreachable = RedisPresence("redis://127.0.0.1:9/0", "cybotnowhere")  # nothing listens on port 9
    try:
        assert await unreachable.saw("web:u1", "agent1") == []
        assert await unreachable.online() == []
    finally:
        await unreachable.close()


#: A replica (its own process) that answers a WeChat message ``success`` and keeps
#: the turn running in the background: Rasa is still busy with it when it is killed.
OWNER_REPLICA = """
import asyncio, sys
from bot.channels.wechat.turns import TurnRegistry
from bot.shared_state import RedisState

class Pusher:
    async def send_text(self, user_id, text):
        print("pushed", text, flush=True)

async def main(url, prefix):
    replica = TurnRegistry("wechat", Pusher(), reply_timeout=0.5, state=RedisState(url, prefix))
    async def rasa_still_thinking(message):
        await asyncio.Event().wait()
    replica.set_message_handler(rasa_still_thinking)
    reply = await replica.answer("msg:o-dora:8001", "o-dora", "研发费用补贴怎么申请", {"msg_type": "text"})
    print("answered", reply or "success", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.asyncio
@pytest.mark.timeout(180)
async def test_a_wechat_turn_whose_replica_died_after_answering_success_is_answered_once_by_another(
    redis_url: str, prefix: str
) -> None:
    owner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", OWNER_REPLICA, redis_url, prefix, cwd=REPOSITORY, stdout=subprocess.PIPE
    )
    survivors: List[TurnRegistry] = []
    try:
        assert owner.stdout is not None
        first_line = await asyncio.wait_for(owner.stdout.readline(), 120)
        assert first_line.decode().strip() == "answered success"  # WeChat will not deliver it again

        turns_run: List[Tuple[str, str]] = []
        pushers = [Pusher(), Pusher()]

        async def on_new_message(message: Any) -> None:
            turns_run.append((message.text, message.message_id))
            await message.output_channel.send_response(message.sender_id, {"text": "研发费用补贴：线上申报，每年3月。"})

        for pusher in pushers:
            survivor = TurnRegistry("wechat", pusher, reply_timeout=2.0, state=RedisState(redis_url, prefix))
            survivor.set_message_handler(on_new_message)
            survivors.append(survivor)

        # While its replica lives the turn is that replica's, however long Rasa takes.
        live_until = time.monotonic() + 2 * shared_state.LEASE_S
        while time.monotonic() < live_until:
            assert [await survivor.recover_pending() for survivor in survivors] == [0, 0]
            await asyncio.sleep(0.5)

        owner.kill()  # SIGKILL: no goodbye, the claim is left to lapse
        await owner.wait()
        taken = 0
        give_up_at = time.monotonic() + shared_state.HEARTBEAT_S + 2 * shared_state.LEASE_S
        while not taken and time.monotonic() < give_up_at:
            taken = sum(await asyncio.gather(*(survivor.recover_pending() for survivor in survivors)))
            await asyncio.sleep(0.2)
        assert taken == 1  # one survivor took it over
        for _ in range(50):
            if all(survivor.tasks.running == 0 for survivor in survivors):
                break
            await asyncio.sleep(0.1)

        assert turns_run == [("研发费用补贴怎么申请", "msg:o-dora:8001")]
        assert pushers[0].sent + pushers[1].sent == [("o-dora", "研发费用补贴：线上申报，每年3月。")]
        assert await survivors[0].pending.all() == []
        assert [await survivor.recover_pending() for survivor in survivors] == [0, 0]
        # A late retry of the message gets "success" and no second turn.
        assert await survivors[1].answer("msg:o-dora:8001", "o-dora", "研发费用补贴怎么申请", {}) is None
        assert len(turns_run) == 1
    finally:
        if owner.returncode is None:
            owner.kill()
            await owner.wait()
        for survivor in survivors:
            await survivor.close()


@pytest.mark.asyncio
async def test_a_dead_replicas_turn_already_in_the_tracker_is_not_run_again(redis_url: str, prefix: str) -> None:
    """The replica died after Rasa stored the turn but before the answer was pushed."""
    state = RedisState(redis_url, prefix)
    await PendingTurns(state, "wechat").record(PendingTurn("msg:o-emma:8002", "o-emma", "专家库共享协议的内容"))
    tracker_store = InMemoryTrackerStore(Domain.empty())
    await tracker_store.save(DialogueStateTracker.from_events("wechat:o-emma", [
        ActionExecuted(ACTION_LISTEN_NAME),
        UserUttered("专家库共享协议的内容", message_id="msg:o-emma:8002"),
        BotUttered("协议于2021年签署，", {"buttons": [{"title": "详细条款", "payload": "/ask_policy"}]}),
        ActionExecuted(ACTION_LISTEN_NAME),
    ]))
    turns_run: List[str] = []

    async def on_new_message(message: Any) -> None:
        turns_run.append(message.text)

    pusher = Pusher()
    survivor = TurnRegistry("wechat", pusher, reply_timeout=2.0, state=state)
    survivor.set_message_handler(on_new_message)
    survivor.tracker_store = tracker_store
    try:
        assert await survivor.recover_pending() == 1
        for _ in range(50):
            if survivor.tasks.running == 0:
                break
            await asyncio.sleep(0.1)
        assert turns_run == []  # the user message is in the tracker once
        [(user_id, pushed)] = pusher.sent
        assert user_id == "o-emma" and pushed.startswith("协议于2021年签署，") and pushed.endswith("\n1. 详细条款")
        assert await survivor.menus.resolve("o-emma", "1") == "/ask_policy"
        assert await survivor.pending.all() == []
    finally:
        await survivor.close()


@pytest.mark.asyncio
async def test_a_replica_too_busy_to_renew_its_claim_keeps_its_turn(redis_url: str, prefix: str) -> None:
    """A Rasa server whose event loop is busy for seconds lets the claim lapse; its
    heartbeat (a thread) says it lives, so nobody runs its turn a second time."""
    state = RedisState(redis_url, prefix)
    busy_replica = state.heartbeat("wechat-replica", "replica-busy")
    busy_replica.start()
    await PendingTurns(state, "wechat").record(
        PendingTurn("msg:o-fay:8003", "o-fay", "研发费用补贴", owner="replica-busy")
    )  # and no claim: it lapsed
    turns_run: List[str] = []

    async def on_new_message(message: Any) -> None:
        turns_run.append(message.text)

    survivor = TurnRegistry("wechat", Pusher(), reply_timeout=2.0, state=state)
    survivor.set_message_handler(on_new_message)
    try:
        await asyncio.sleep(0.5)  # the first beat is in
        assert await survivor.recover_pending() == 0
        busy_replica.stop()  # it died after all
        await asyncio.sleep(0.5)
        assert await survivor.recover_pending() == 1
        for _ in range(50):
            if survivor.tasks.running == 0:
                break
            await asyncio.sleep(0.1)
        assert turns_run == ["研发费用补贴"]
    finally:
        busy_replica.stop()
        await survivor.close()


@pytest.mark.asyncio
async def test_a_users_later_message_on_another_replica_waits_for_the_earlier_one_however_slow(
    redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WeChat answers ``success`` after the reply timeout and the user sends the next
    message; another replica gets it. It runs only after the first, so the tracker holds
    them in the order they were sent, even when Rasa takes long over the first; a turn
    pending past its lifetime (given up by recovery too) holds nobody up."""
    monkeypatch.setattr("bot.channels.wechat.pending.PENDING_TURN_S", 6.0)
    turns_run: List[str] = []
    first_may_finish = asyncio.Event()

    async def on_new_message(message: Any) -> None:
        if message.text == "双城经济圈发展基金规模多大":
            await first_may_finish.wait()  # Rasa busy with it
        turns_run.append(message.text)
        await message.output_channel.send_response(message.sender_id, {"text": "好的"})

    replicas = [
        TurnRegistry("wechat", Pusher(), reply_timeout=0.3, state=RedisState(redis_url, prefix)) for _ in range(2)
    ]
    for replica in replicas:
        replica.set_message_handler(on_new_message)
    try:
        assert await replicas[0].answer("msg:o-gus:1", "o-gus", "双城经济圈发展基金规模多大", {}) is None  # success
        assert await replicas[1].answer("msg:o-gus:2", "o-gus", "川渝联合研发项目支持哪些领域", {}) is None
        await asyncio.sleep(3)
        assert turns_run == []  # the second waits while the first is still being answered
        first_may_finish.set()
        for _ in range(50):
            if len(turns_run) == 2:
                break
            await asyncio.sleep(0.1)
        assert turns_run == ["双城经济圈发展基金规模多大", "川渝联合研发项目支持哪些领域"]

        # A turn stuck past its lifetime is no longer waited for.
        first_may_finish.clear()
        await replicas[0].answer("msg:o-gus:3", "o-gus", "双城经济圈发展基金规模多大", {})
        await replicas[1].answer("msg:o-gus:4", "o-gus", "专家库共享协议是什么时候签的？", {})
        for _ in range(120):
            if "专家库共享协议是什么时候签的？" in turns_run:
                break
            await asyncio.sleep(0.1)
        assert turns_run[2:] == ["专家库共享协议是什么时候签的？"]
        first_may_finish.set()
    finally:
        for replica in replicas:
            await replica.close()


@pytest.mark.asyncio
async def test_a_delivery_hung_up_on_while_claiming_still_answers_and_holds_nothing_up(
    redis_url: str, prefix: str
) -> None:
    """WeChat (or a dying gateway) hangs up while the replica records the message: the
    turn still starts and its answer is pushed, and the user's next message is answered
    after it instead of waiting behind a claim nobody works on."""
    turns_run: List[str] = []
    pusher = Pusher()

    async def on_new_message(message: Any) -> None:
        turns_run.append(message.text)
        await message.output_channel.send_response(message.sender_id, {"text": f"答：{message.text}"})

    replica = TurnRegistry("wechat", pusher, reply_timeout=0.3, state=RedisState(redis_url, prefix))
    replica.set_message_handler(on_new_message)
    record = replica._record

    async def slow_record(pending: PendingTurn) -> None:
        await asyncio.sleep(0.5)  # Redis slow for a moment
        await record(pending)

    replica._record = slow_record  # type: ignore[method-assign]
    try:
        delivery = asyncio.ensure_future(replica.answer("msg:o-hal:1", "o-hal", "双城经济圈发展基金规模多大", {}))
        await asyncio.sleep(0.2)
        delivery.cancel()  # the caller hung up while the message was being recorded
        with pytest.raises(asyncio.CancelledError):
            await delivery
        replica._record = record  # type: ignore[method-assign]
        await asyncio.sleep(0.5)  # the user writes again a moment later
        await replica.answer("msg:o-hal:2", "o-hal", "川渝联合研发项目支持哪些领域", {})
        for _ in range(100):
            if len(pusher.sent) == 2 and replica.tasks.running == 0:
                break
            await asyncio.sleep(0.1)
        assert turns_run == ["双城经济圈发展基金规模多大", "川渝联合研发项目支持哪些领域"]
        assert ("o-hal", "答：双城经济圈发展基金规模多大") in pusher.sent
        assert await replica.pending.all() == []
    finally:
        await replica.close()
