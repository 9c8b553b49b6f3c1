"""The assistant's Rasa server: ``python -m bot.rasa_server --model … --endpoints …``.

What ``rasa run --enable-api`` does, started by the launcher, with one difference that
matters: the HTTP API token comes from the settings (``RASA_TOKEN``, else
``var/rasa_token``), never from the command line, so no other user of the machine
reads it in the process list (``ps`` shows every process's arguments).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, List, Optional

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


def store_user_messages_before_replying() -> None:
    """Rasa stores a user's message together with the reply, once the whole turn is done;
    under load a turn waits its turn on the server's loop, and the staff console, fed from
    the tracker store, showed the message only then. Store the message (and ring the
    console feed) as soon as it is understood; the reply's events follow in the second
    save, which writes only the new events (``bot.stores``).

    A message the web gateway has already shown in the console (a REST message,
    :func:`bot.channels.rest_calls.is_console_message_id`) is stored with the reply, as
    Rasa does: storing it first would show staff nothing new."""
    from rasa.core.processor import MessageProcessor

    from bot.channels.rest_calls import is_console_message_id

    log_message = MessageProcessor.log_message

    async def log_and_store_message(self: MessageProcessor, message: Any, should_save_tracker: bool = True) -> Any:
        store_now = should_save_tracker or not is_console_message_id(message.message_id)
        return await log_message(self, message, should_save_tracker=store_now)

    MessageProcessor.log_message = log_and_store_message


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
    store_user_messages_before_replying()
    # Before the NLU pipeline's JiebaTokenizer loads the domain dictionary into jieba's default
    # tokenizer; this server never tags parts of speech, so jieba.posseg stays unimported.
    use_compact_dictionary(tagger=False)
    sys.path.insert(1, os.fspath(PROJECT_ROOT))  # custom components, channels and stores of ours
    rasa.core.run.serve_application(
        args.model,
        credentials=args.credentials,
        endpoints=AvailableEndpoints.read_endpoints(args.endpoints),
        interface=args.interface,
        port=args.port,
        auth_token=token,
        enable_api=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
