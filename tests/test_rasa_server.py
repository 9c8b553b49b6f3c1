"""The Rasa server's API token stays out of the process list, and still protects the API."""
from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def _command_lines() -> list:
    """Every process's command line, as any user of the machine reads it (``ps``)."""
    output = subprocess.run(["ps", "-eo", "args", "--no-headers"], capture_output=True, text=True, check=True)
    return output.stdout.splitlines()


def test_no_process_shows_the_rasa_token_but_the_api_still_requires_it(assistant):
    token = assistant.token
    assert len(token) >= 32
    rasa = assistant.processes["rasa"]
    assert "bot.rasa_server" in Path(f"/proc/{rasa.pid}/cmdline").read_bytes().decode()
    assert not [line for line in _command_lines() if token in line]

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{assistant.rasa_url}/status", timeout=10)
    assert refused.value.code == 401
    with urllib.request.urlopen(f"{assistant.rasa_url}/status?token={token}", timeout=10) as response:
        assert response.status == 200


@pytest.mark.stack  # importing Rasa's processor runs git (a dependency's version lookup)
def test_a_users_message_is_stored_as_soon_as_it_is_understood_not_with_the_reply():
    """The staff console follows the tracker store: Rasa's own order (store the message
    with the reply) kept a message out of the console for the whole turn under load."""
    import asyncio

    from rasa.core.processor import MessageProcessor

    from bot.channels.rest_calls import new_console_message_id
    from bot.rasa_server import store_user_messages_before_replying

    class Processor:
        """Rasa's steps around logging a message, recorded."""

        def __init__(self) -> None:
            self.steps: list = []

        async def fetch_tracker_and_update_session(self, sender_id, output_channel, metadata):
            self.steps.append("fetch")
            return "tracker"

        async def _handle_message_with_tracker(self, message, tracker):
            self.steps.append("understand")

        async def save_tracker(self, tracker):
            self.steps.append("store")

    class Message:
        sender_id, output_channel, metadata = "u", None, None

        def __init__(self, message_id: str, input_channel: str = "rest") -> None:
            self.message_id, self.input_channel = message_id, input_channel

    original = MessageProcessor.log_message
    try:
        store_user_messages_before_replying()
        processor = Processor()
        # What handle_message asks for: no save (Rasa saves with the reply).
        asyncio.run(MessageProcessor.log_message(processor, Message("3f2a"), should_save_tracker=False))  # type: ignore[arg-type]
        assert processor.steps == ["fetch", "understand", "store"]
        # A REST message the web gateway already showed in the console is stored with the reply.
        processor.steps.clear()
        shown = Message(new_console_message_id())
        asyncio.run(MessageProcessor.log_message(processor, shown, should_save_tracker=False))  # type: ignore[arg-type]
        assert processor.steps == ["fetch", "understand"]
        # Another channel's client cannot switch that off by choosing such an id.
        processor.steps.clear()
        chosen = Message(new_console_message_id(), input_channel="web")
        asyncio.run(MessageProcessor.log_message(processor, chosen, should_save_tracker=False))  # type: ignore[arg-type]
        assert processor.steps == ["fetch", "understand", "store"]
    finally:
        MessageProcessor.log_message = original  # type: ignore[method-assign]


@pytest.mark.stack  # importing Rasa's endpoint module imports Rasa's processor chain
def test_custom_actions_reuse_one_connection_to_the_action_server():
    """Rasa opened a TCP connection for every action call; the action server now sees
    one connection for a run of calls, and every call still gets its answer."""
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestServer
    from rasa.utils.endpoints import EndpointConfig

    from bot.rasa_server import reuse_action_server_connections

    async def calls() -> tuple:
        peers = set()

        async def webhook(request: web.Request) -> web.Response:
            peers.add(request.transport.get_extra_info("peername"))
            body = await request.json()
            return web.json_response({"events": [], "responses": [{"text": body["next_action"]}]})

        app = web.Application()
        app.router.add_post("/webhook", webhook)
        server = TestServer(app)
        await server.start_server()
        try:
            endpoint = EndpointConfig(str(server.make_url("/webhook")))
            reuse_action_server_connections(endpoint)
            answers = [
                (await endpoint.request(json={"next_action": f"action_{i}"}, method="post"))["responses"][0]["text"]
                for i in range(5)
            ]
            answers += [r["responses"][0]["text"] for r in await asyncio.gather(
                *(endpoint.request(json={"next_action": "concurrent"}, method="post") for _ in range(3))
            )]
            await endpoint.session().session.close()
            return answers, len(peers)
        finally:
            await server.close()

    answers, connections = asyncio.run(calls())
    assert answers == [f"action_{i}" for i in range(5)] + ["concurrent"] * 3
    assert connections <= 3  # without reuse: one per call, 8


def test_models_loaded_for_prediction_only_predict_exactly_as_rasas_own_load(trained_model):
    """The Rasa server loads DIET and TED without Rasa's one-example training run: the same
    intents and confidences, the same TED probabilities, with far less memory."""
    import json
    import sys

    def load(way: str) -> dict:
        run = subprocess.run(
            [sys.executable, "-m", "tests.support.model_loading", str(trained_model), way],
            capture_output=True, text=True, timeout=600, check=True,
        )
        return json.loads(run.stdout.strip().splitlines()[-1])

    rasa, ours = load("rasa"), load("ours")
    assert len(rasa["intents"]) == len(ours["intents"]) >= 200
    assert ours["intents"] == rasa["intents"]
    assert ours["ted"] == rasa["ted"]
    assert ours["resident_mb"] < rasa["resident_mb"] - 100
