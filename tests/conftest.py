"""Shared fixtures: a trained model and the running assistant.

``assistant`` starts the same processes as ``python -m bot run`` (Rasa server with its
API token, action server, web gateway) on free ports, with all state in a temporary
``var`` directory, once per test session. ``start_stack`` starts another one with
different settings (production profile, extra channel credentials) and stops it after
the test.

Every test is put in its tiers (unit, stack, browser, services) from the fixtures it uses;
see tests/tiers.py.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bot.launcher import Stack, StackConfig, free_port  # noqa: E402
from bot.settings import get_settings  # noqa: E402
from bot.training import train_if_needed  # noqa: E402
from tests import services, tiers  # noqa: E402
from tests.helpers import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

# The platform fixtures (demo database and index, empty SQLite/PostgreSQL databases) for every
# test module, without importing them by name.
pytest_plugins = ["tests.platform_fixtures"]


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    tiers.assign(items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    tiers.enter(item)


@pytest.hookimpl(trylast=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    tiers.check()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    tiers.leave()


#: Whether a test's own body failed (fixtures that keep logs of failed runs read it).
CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    if call.when == "call":
        item.stash[CALL_FAILED] = outcome.get_result().failed


@pytest.fixture
def postgres_url() -> str:
    """URL of the PostgreSQL test database (services tier)."""
    return services.require_postgres()


@pytest.fixture
def redis_url() -> str:
    """URL of the Redis server (services tier)."""
    return services.require_redis()


@pytest.fixture
def rabbitmq_url() -> str:
    """AMQP URL of the RabbitMQ server (services tier)."""
    return services.require_rabbitmq()


@pytest.fixture(autouse=True)
def settings_from_the_current_environment() -> Iterator[None]:
    """Settings are read once per process: each test reads them afresh, so an
    environment its fixtures change (``monkeypatch.setenv``) is the one it sees."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """models/assistant.tar.gz, trained now if its inputs changed."""
    from bot.launcher import MODEL_PATH

    train_if_needed()
    return MODEL_PATH


def _prepare_platform_data(var_dir: Path) -> None:
    """Create the platform database and import the demo export into ``var_dir``."""
    subprocess.run(
        [sys.executable, "-c", "from bot.cli import prepare_data; prepare_data()"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "CYBOT_VAR_DIR": str(var_dir), "PYTHONPATH": str(PROJECT_ROOT)},
        check=True,
    )


@pytest.fixture(scope="session")
def platform_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var directory holding the imported demo data, copied into each stack."""
    var_dir = tmp_path_factory.mktemp("platform-template")
    _prepare_platform_data(var_dir)
    return var_dir


def _stack_config(var_dir: Path, template: Path, **overrides) -> StackConfig:
    shutil.copytree(template, var_dir, dirs_exist_ok=True)
    config = StackConfig(
        var_dir=var_dir,
        rasa_port=free_port(),
        action_port=free_port(),
        web_port=free_port(),
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture(scope="session")
def assistant(
    trained_model: Path, platform_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The running assistant (embedded profile) shared by the whole test session."""
    stack = Stack(_stack_config(tmp_path_factory.mktemp("var"), platform_template)).start()
    yield stack
    stack.stop()


#: Staff are always on duty in the shared stacks (office hours have their own tests).
ROUND_THE_CLOCK = {"HANDOFF_OFFICE_HOURS": "mon-sun 00:00-24:00"}


def delete_rabbitmq_queue(url: str, queue: str) -> None:
    """Remove a test's own RabbitMQ queue."""
    import asyncio

    import aio_pika

    async def delete() -> None:
        connection = await aio_pika.connect_robust(url)
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await connection.close()

    asyncio.run(delete())


@pytest.fixture(scope="session")
def production_assistant(
    trained_model: Path, platform_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The running assistant on the production profile (PostgreSQL tracker store, Redis lock
    store, RabbitMQ broker on this machine) shared by the session, on a RabbitMQ queue of its
    own. Tests that kill or break its processes start their own with ``start_stack``."""
    import uuid

    rabbit_url = services.require_rabbitmq()
    services.require_postgres()
    services.require_redis()
    queue = f"cybot_test_events_{uuid.uuid4().hex[:10]}"
    env = {**ROUND_THE_CLOCK, "RABBITMQ_QUEUE": queue, "EVENT_BROKER_QUEUE": queue, "REDIS_DB": "3"}
    config = _stack_config(tmp_path_factory.mktemp("var-production"), platform_template,
                           profile="production", env=env)
    stack = Stack(config).start()
    try:
        yield stack
    finally:
        stack.stop()
        delete_rabbitmq_queue(rabbit_url, queue)


@pytest.fixture
def start_stack(
    trained_model: Path, platform_template: Path, tmp_path: Path
) -> Iterator[Callable[..., Stack]]:
    """Factory: ``start_stack(profile="production", extra_credentials={...})``."""
    stacks: List[Stack] = []

    def start(**overrides) -> Stack:
        var_dir = tmp_path / f"var{len(stacks)}"
        config = _stack_config(var_dir, platform_template, **overrides)
        stack = Stack(config).start()
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, launched headless by Playwright (one per test module)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()

