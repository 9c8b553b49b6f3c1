"""Test tiers (tests/tiers.py): derived from fixtures, and a unit test cannot break its tier."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests import services, tiers


def test_tiers_follow_the_fixtures_a_test_uses() -> None:
    assert tiers.tiers_of(["tmp_path", "monkeypatch"], []) == ["unit"]
    assert tiers.tiers_of(["page", "browser", "assistant", "trained_model"], []) == ["stack", "browser"]
    assert tiers.tiers_of(["start_stack", "postgres_url"], []) == ["stack", "services"]
    assert tiers.tiers_of(["tmp_path"], ["services", "asyncio"]) == ["services"]


def test_every_collected_test_carries_the_tiers_of_its_fixtures(request: pytest.FixtureRequest) -> None:
    for item in request.session.items:
        marks = {mark.name for mark in item.iter_markers()}
        expected = tiers.tiers_of(item.fixturenames, marks)
        assert set(expected) <= marks, item.nodeid
        assert ("unit" in marks) == (expected == ["unit"]), item.nodeid


def test_this_test_is_in_the_unit_tier(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit")
    assert not any(request.node.get_closest_marker(tier) for tier in tiers.HEAVY_TIERS)


def test_a_unit_test_may_not_start_a_program() -> None:
    with pytest.raises(tiers.TierViolation, match="pytest.mark.stack"):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    with pytest.raises(pytest.fail.Exception, match="started another program"):
        tiers.check()
    tiers.forgive()


def test_a_unit_test_may_not_reach_a_service_port() -> None:
    with pytest.raises(tiers.TierViolation, match="pytest.mark.services"):
        socket.create_connection(("127.0.0.1", 5432), timeout=1)
    with pytest.raises(pytest.fail.Exception, match="connected to 127.0.0.1:5432"):
        tiers.check()
    tiers.forgive()


def test_a_unit_test_may_serve_and_connect_on_loopback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
    tiers.check()


def test_the_service_helpers_refuse_a_test_outside_the_services_tier() -> None:
    with pytest.raises(pytest.fail.Exception, match="not in the services tier"):
        services.require_redis()
