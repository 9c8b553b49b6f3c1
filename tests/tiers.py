"""Test tiers: what a test needs besides this Python process, derived when tests are collected.

=========  ==================================================================================
unit       nothing else: no trained model, no other program, no browser, no database or
           message server (in-process test servers on a free loopback port are fine).
           ``make test-fast`` runs this tier.
stack      the trained model, the running assistant, or another program the test starts
           (Rasa, the CLI, the Node test servers).
browser    Debian's Chromium, driven by Playwright.
services   PostgreSQL, Redis or RabbitMQ on 127.0.0.1 (see tests/services.py).
=========  ==================================================================================

A test's tiers come from the fixtures it uses, directly or through other fixtures
(:data:`FIXTURE_TIERS`), plus explicit marks where a test starts something itself:
``@pytest.mark.stack`` on a test that runs a program, ``pytest.param("postgresql",
marks=pytest.mark.services)`` on the PostgreSQL variant of a parametrised fixture. A test with
none of them is ``unit``; nobody marks ``unit`` by hand.

A forgotten mark cannot hide: while a unit test runs, starting a program or connecting to a
service port fails it, and the service helpers refuse a test that is not in ``services``.
"""
from __future__ import annotations

import sys
import threading
from typing import Iterable, List, Optional, Set

import pytest

UNIT, STACK, BROWSER, SERVICES = "unit", "stack", "browser", "services"
#: The tiers that need something besides this process, in the order they are reported.
HEAVY_TIERS = (STACK, BROWSER, SERVICES)

#: Fixtures that put every test using them (directly or through another fixture) in a tier.
FIXTURE_TIERS = {
    "trained_model": STACK,
    "platform_template": STACK,  # imports the demo export through the CLI
    "assistant": STACK,
    "start_stack": STACK,
    "production_assistant": SERVICES,
    "browser": BROWSER,
    "postgres_url": SERVICES,
    "redis_url": SERVICES,
    "rabbitmq_url": SERVICES,
}

#: Ports of the servers of the services tier (PostgreSQL, Redis, RabbitMQ).
SERVICE_PORTS = frozenset({5432, 6379, 5672})
#: Audit events of starting another program (sys.audit, PEP 578).
_PROGRAM_EVENTS = frozenset(
    {"subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn", "os.fork", "os.forkpty"}
)


def tiers_of(fixture_names: Iterable[str], marked: Iterable[str]) -> List[str]:
    """The tiers of a test that uses ``fixture_names`` and carries the marks ``marked``."""
    needed = {FIXTURE_TIERS[name] for name in fixture_names if name in FIXTURE_TIERS}
    needed |= set(marked) & set(HEAVY_TIERS)
    return [tier for tier in HEAVY_TIERS if tier in needed] or [UNIT]


def assign(items: List[pytest.Item]) -> None:
    """Mark every collected test with its tiers (``pytest_collection_modifyitems``)."""
    for item in items:
        marked = {mark.name for mark in item.iter_markers()}
        tiers = tiers_of(getattr(item, "fixturenames", ()), marked)
        if UNIT in marked and tiers != [UNIT]:
            raise pytest.UsageError(
                f"{item.nodeid} is marked unit but needs {', '.join(tiers)}: "
                "the unit mark is derived, do not set it by hand"
            )
        for tier in tiers:
            if tier not in marked:
                item.add_marker(tier)


class TierViolation(RuntimeError):
    """A test used something its tiers do not allow."""


class _Guard:
    """What the running test may do; checked by an audit hook on the test's own thread."""

    def __init__(self) -> None:
        self.tiers: Set[str] = set()
        self.thread: Optional[int] = None
        self.violations: List[str] = []

    def audit(self, event: str, args: tuple) -> None:
        if event != "socket.connect" and event not in _PROGRAM_EVENTS:
            return
        if self.thread is None or threading.get_ident() != self.thread:
            return
        if event == "socket.connect":
            address = args[1]
            if not (isinstance(address, tuple) and len(address) >= 2 and address[1] in SERVICE_PORTS):
                return
            problem = f"connected to {address[0]}:{address[1]}: a services test (pytest.mark.services)"
        else:
            problem = f"started another program ({event}): a stack test (pytest.mark.stack)"
        self.violations.append(problem)
        raise TierViolation(f"this unit test {problem}")


_guard = _Guard()
sys.addaudithook(_guard.audit)


def enter(item: pytest.Item) -> None:
    """Start guarding ``item`` (before its fixtures are set up): a unit test may not start
    programs or reach a service."""
    _guard.tiers = {mark.name for mark in item.iter_markers()} & {UNIT, *HEAVY_TIERS}
    _guard.violations = []
    _guard.thread = threading.get_ident() if _guard.tiers == {UNIT} else None


def check() -> None:
    """Fail the test if it broke its tier, even where the code under test caught the error."""
    if _guard.violations:
        pytest.fail(f"this unit test {_guard.violations[0]}", pytrace=False)


def forgive() -> None:
    """Forget the breaches so far (for the tests of this guard, which break it on purpose)."""
    _guard.violations = []


def leave() -> None:
    """Stop guarding (before teardown, which may stop what earlier tests started)."""
    _guard.thread = None
    _guard.violations = []


def require_tier(tier: str, what: str) -> None:
    """Fail the running test unless it is in ``tier`` (called by the service helpers)."""
    if tier not in _guard.tiers:
        pytest.fail(
            f"this test uses {what} but is not in the {tier} tier: use the {what} fixture, or mark "
            f"the test (or the fixture parameter) with pytest.mark.{tier}",
            pytrace=False,
        )
