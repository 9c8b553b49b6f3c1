"""The assistant's Rasa server: ``python -m bot.rasa_server --model … --endpoints …``.

What ``rasa run --enable-api`` does, started by the launcher, with one difference that
matters: the HTTP API token comes from the settings (``RASA_TOKEN``, else
``var/rasa_token``), never from the command line, so no other user of the machine
reads it in the process list (``ps`` shows every process's arguments).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any, Dict, List, Optional

from bot.settings import PROJECT_ROOT, SettingsError, get_settings


def validate_action_results_with_one_validator() -> None:
    """Rasa checks every action server response against its JSON schema with
    ``jsonschema.validate``, which first re-checks the schema itself: a tenth of the
    Rasa server's CPU time per message in the profile (BENCHMARKS.md). Check the
    schema once and reuse one validator; the responses are validated exactly as before."""
    from jsonschema import ValidationError
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    def validate_action_result(self: RemoteAction, result: dict) -> bool:
        error = best_match(validator.iter_errors(result))
        if error is None:
            return True
        assert isinstance(error, ValidationError)
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the "
            f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error

    RemoteAction._validate_action_result = validate_action_result


def load_models_for_prediction_only() -> None:
    """Rasa loads a TensorFlow model (DIET, TED) by training it on one example, to create
    its weights, and then reads the trained weights over them (``RasaModel.load``). That
    builds the training graph, gradients and optimizer state, which prediction never
    uses and TensorFlow keeps: about 240 MB of the server's memory (BENCHMARKS.md).

    Create the weights by one eager prediction instead, read the trained weights, then
    prepare and trace prediction as Rasa does. The predictions are the same to the last
    bit (``tests/test_rasa_server.py``). Fine-tuning, and a model without an example to
    predict on, load as before."""
    from rasa.utils.tensorflow.constants import RUN_EAGERLY
    from rasa.utils.tensorflow.models import RasaModel

    rasa_load = RasaModel.load.__func__

    def load(
        cls: Any,
        model_file_name: str,
        model_data_example: Any,
        predict_data_example: Any = None,
        finetune_mode: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if finetune_mode or predict_data_example is None:
            return rasa_load(
                cls, model_file_name, model_data_example, predict_data_example, finetune_mode, *args, **kwargs
            )
        model = cls(*args, **kwargs)
        model._run_eagerly = True
        model.run_inference(predict_data_example)  # creates the weights, traces nothing
        model.load_weights(model_file_name).expect_partial()  # the optimizer's state stays unread
        model._run_eagerly = kwargs.get("config", {}).get(RUN_EAGERLY)
        model.prepared_for_prediction = False  # label embeddings from the trained weights
        model.run_inference(predict_data_example)  # traces prediction, as Rasa's load does
        return model

    RasaModel.load = classmethod(load)


def store_user_messages_before_replying() -> None:
    """Rasa stores a user's message together with the reply, once the whole turn is done;
    under load a turn waits its turn on the server's loop, and the staff console, fed from
    the tracker store, showed the message only then. Store the message (and ring the
    console feed) as soon as it is understood; the reply's events follow in the second
    save, which writes only the new events (``bot.stores``).

    A message the web gateway has already shown in the console (a REST message,
    :func:`bot.channels.rest_calls.was_shown_on_arrival`) is stored with the reply, as
    Rasa does: storing it first would show staff nothing new."""
    from rasa.core.processor import MessageProcessor

    from bot.channels.rest_calls import was_shown_on_arrival

    log_message = MessageProcessor.log_message

    async def log_and_store_message(self: MessageProcessor, message: Any, should_save_tracker: bool = True) -> Any:
        store_now = should_save_tracker or not was_shown_on_arrival(message.input_channel, message.message_id)
        return await log_message(self, message, should_save_tracker=store_now)

    MessageProcessor.log_message = log_and_store_message


#: Seconds an idle connection to the action server is kept: below Sanic's 5 s keep-alive,
#: so Rasa never sends on a connection the action server is closing.
ACTION_SERVER_KEEPALIVE_S = 2.0


class _KeptSession:
    """``async with`` on a session that stays open afterwards."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def __aenter__(self) -> Any:
        return self.session

    async def __aexit__(self, *exc_info: Any) -> None:
        return None


def reuse_action_server_connections(endpoint: Any) -> None:
    """Rasa opens a new HTTP session, and with it a new TCP connection, for every custom
    action it calls (``EndpointConfig.request``): a connect, a Sanic connection set-up
    in the action server and a closed socket per action. Keep one session per event
    loop for ``endpoint`` (the action server's), whose idle connections are reused."""
    import aiohttp
    from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT

    sessions: Dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
    basic = endpoint.basic_auth
    auth = aiohttp.BasicAuth(basic["username"], basic["password"]) if basic else None

    def kept_session() -> _KeptSession:
        loop = asyncio.get_running_loop()
        session = sessions.get(loop)
        if session is None or session.closed:
            session = sessions[loop] = aiohttp.ClientSession(
                headers=endpoint.headers,
                auth=auth,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=ACTION_SERVER_KEEPALIVE_S),
            )
        return _KeptSession(session)

    endpoint.session = kept_session


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.rasa_server", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="trained model archive")
    parser.add_argument("--endpoints", required=True, help="endpoints file (tracker store, actions, broker)")
    parser.add_argument("--credentials", required=True, help="channels file")
    parser.add_argument("--interface", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=5005)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        token = get_settings().rasa_api_token()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    # Rasa imported only now: TensorFlow takes seconds, the argument errors above do not.
    import rasa.core.run
    import rasa.utils.tensorflow.environment as tf_env
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    from bot.segmentation import use_compact_dictionary

    configure_logging_and_warnings(logging.INFO, warn_only_once=True, filter_repeated_logs=True)
    configure_structlog(logging.INFO)
    tf_env.setup_tf_environment()
    validate_action_results_with_one_validator()
    load_models_for_prediction_only()
    store_user_messages_before_replying()
    # Before the NLU pipeline's JiebaTokenizer loads the domain dictionary into jieba's default
    # tokenizer; this server never tags parts of speech, so jieba.posseg stays unimported.
    use_compact_dictionary(tagger=False)
    sys.path.insert(1, os.fspath(PROJECT_ROOT))  # custom components, channels and stores of ours
    endpoints = AvailableEndpoints.read_endpoints(args.endpoints)
    if endpoints.action is not None:
        reuse_action_server_connections(endpoints.action)
    rasa.core.run.serve_application(
        args.model,
        credentials=args.credentials,
        endpoints=endpoints,
        interface=args.interface,
        port=args.port,
        auth_token=token,
        enable_api=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
