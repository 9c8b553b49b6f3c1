"""Reach the real servers that the production profile uses (PostgreSQL, Redis, RabbitMQ).

A test that needs one uses the ``postgres_url`` / ``redis_url`` / ``rabbitmq_url`` fixture
(tests/conftest.py), which puts it in the ``services`` tier, or calls ``require_postgres()``
(etc.) from a test or fixture parameter marked ``services``. On a laptop without the server
the test is skipped; with ``CYBOT_REQUIRE_SERVICES=1`` (set by ``.ci/run``) a missing server
fails the test instead, so CI never passes by skipping.
"""
from __future__ import annotations

import os
import socket

import pytest

from tests.tiers import SERVICES, require_tier

POSTGRES_URL = os.environ.get("CYBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CYBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("CYBOT_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _require(name: str, host: str, port: int, url: str) -> str:
    require_tier(SERVICES, name)
    if _reachable(host, port):
        return url
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CYBOT_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (CYBOT_REQUIRE_SERVICES=1: CI must test the production profile)")
    pytest.skip(message)


def require_postgres() -> str:
    """URL of the PostgreSQL test database (the server must accept connections)."""
    return _require("PostgreSQL", "127.0.0.1", 5432, POSTGRES_URL)


def require_redis() -> str:
    """URL of the Redis server used by the production profile's lock store."""
    return _require("Redis", "127.0.0.1", 6379, REDIS_URL)


def require_rabbitmq() -> str:
    """AMQP URL of the RabbitMQ server used by the production event broker."""
    return _require("RabbitMQ", "127.0.0.1", 5672, RABBITMQ_URL)
