"""The action server's event loop never waits for a database, the matching index or the
knowledge base: every action is ``async`` and runs blocking work in worker threads, so
one slow request does not hold up the answers to everyone else."""
from __future__ import annotations

import asyncio
import gc
import inspect
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.conversation
import actions.expert_contact
import actions.handoff
import actions.matching
import actions.policy
import actions.publishing
import bot.handoff.store
from actions.handoff import handoff_on_failure
from tests.platform_fixtures import demo_database_url
from tests.support.responses import rendered_text

ACTION_MODULES = [actions.conversation, actions.expert_contact, actions.handoff, actions.matching, actions.policy,
                  actions.publishing]
#: How long each patched dependency blocks its thread.
BLOCKING_S = 1.0
#: When the patched dependencies blocked: (start, end) on the monotonic clock.
BLOCKED: List[Tuple[float, float]] = []


def our_classes(base: type) -> List[type]:
    return [
        member
        for module in ACTION_MODULES
        for _, member in inspect.getmembers(module, inspect.isclass)
        if issubclass(member, base) and member.__module__ == module.__name__
    ]


def test_every_action_run_and_form_validator_is_a_coroutine() -> None:
    not_async = [
        f"{cls.__name__}.run" for cls in our_classes(Action) if not inspect.iscoroutinefunction(cls.run)
    ]
    for form in our_classes(FormValidationAction):
        not_async += [
            f"{form.__name__}.{name}"
            for name, method in vars(form).items()
            if name.startswith(("validate_", "extract_")) and not inspect.iscoroutinefunction(method)
        ]
    assert our_classes(Action) and not not_async


def make_tracker(text: str, slots: Optional[Dict[str, Any]] = None) -> Tracker:
    latest = {"text": text, "intent": {"name": "", "confidence": 1.0}, "entities": []}
    return Tracker("web:async-test", dict(slots or {}), latest,
                   [{"event": "user", "text": text, "input_channel": "socketio", "parse_data": latest}],
                   False, None, {}, "action_listen")


def slowed(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` after blocking its thread for :data:`BLOCKING_S` (a slow database)."""
    def slow(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        time.sleep(BLOCKING_S)
        BLOCKED.append((started, time.monotonic()))
        return function(*args, **kwargs)
    return slow


async def heartbeats_while(work: Any) -> List[float]:
    """Run ``work`` while a heartbeat ticks on the same loop; return the tick times.

    The objects of the test process so far are frozen first: a full garbage collection
    of this big process (Rasa, TensorFlow) stops every thread for a moment, wherever the
    work runs, and would hide what this measures.
    """
    done = asyncio.Event()
    ticks: List[float] = []

    async def heartbeat() -> None:
        while not done.is_set():
            await asyncio.sleep(0.01)
            ticks.append(time.monotonic())

    gc.collect()
    gc.freeze()
    beating = asyncio.create_task(heartbeat())
    try:
        await work
    finally:
        done.set()
        await beating
        gc.unfreeze()
    return ticks


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private copy of the demo platform data and an empty handoff database."""
    target = tmp_path / "platform.db"
    shutil.copy(demo_database_url()[len("sqlite:///"):], target)
    monkeypatch.setenv("PLATFORM_DATABASE_URL", f"sqlite:///{target}")
    monkeypatch.setenv("HANDOFF_DATABASE_URL", f"sqlite:///{tmp_path / 'handoff.db'}")
    monkeypatch.setenv("HANDOFF_OFFICE_HOURS", "mon-sun 00:00-24:00")
    monkeypatch.setattr(bot.handoff.store, "_shared", {})


CASES = {
    "policy answer (knowledge base)": (
        lambda mp: mp.setattr(actions.policy.KNOWLEDGE_BASE, "get",
                              slowed(actions.policy.KNOWLEDGE_BASE.get)),
        actions.policy.ActionAnswerPolicy(), "川渝联合研发项目支持哪些领域", {}, "来源",
    ),
    "supplier search (matching index)": (
        lambda mp: mp.setattr(actions.matching, "get_index", slowed(actions.matching.get_index)),
        actions.matching.ActionFindSuppliers(), "重庆的铝合金轮毂供应商", {}, "供应商",
    ),
    "handoff (handoff database)": (
        lambda mp: mp.setattr(actions.handoff, "handoff_store", slowed(actions.handoff.handoff_store)),
        actions.handoff.ActionHandoffRequest(), "转人工", {}, "排在第",
    ),
    "publishing (platform database)": (
        lambda mp: mp.setattr(actions.publishing, "session_scope", slowed(actions.publishing.session_scope)),
        actions.publishing.ActionSubmitDemand(), "张经理 13800000000",
        {"demand_product": "刹车卡钳", "demand_quantity": "10000件", "demand_region": "重庆",
         "demand_deadline": "2099-12-31", "demand_contact": "张经理 13800000000",
         "demand_confirmed": "yes"}, "PD",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_blocking_work_runs_off_the_event_loop(
    case: str, platform: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_down, action, text, slots, expected = CASES[case]
    slow_down(monkeypatch)
    BLOCKED.clear()
    dispatcher = CollectingDispatcher()

    async def scenario() -> List[float]:
        return await heartbeats_while(action.run(dispatcher, make_tracker(text, slots), {}))

    ticks = asyncio.run(scenario())

    assert expected in rendered_text(dispatcher.messages)  # the action still did its work
    assert BLOCKED, "the slow dependency was not used"
    # Blocking on the loop would stop the heartbeat for the whole wait; from a worker
    # thread the loop keeps ticking (dozens of times; a few even on a loaded machine).
    ticks_while_blocked = [sum(start < tick < end for tick in ticks) for start, end in BLOCKED]
    assert min(ticks_while_blocked) >= 3, ticks_while_blocked


class FailingAsyncAction(Action):
    def name(self) -> str:
        return "action_failing_async"

    @handoff_on_failure
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List:
        dispatcher.utter_message(text="半句话")
        await asyncio.to_thread(time.sleep, 0)
        raise RuntimeError("database went away")


def test_a_failing_async_action_hands_over_to_staff(platform: None) -> None:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(FailingAsyncAction().run(dispatcher, make_tracker("找供应商"), {}))
    responses = [m["response"] for m in dispatcher.messages]
    assert responses == ["utter_handoff_intro_error", "utter_handoff_queued"]
    assert events[0]["event"] == "pause"
