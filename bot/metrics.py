"""What operators watch: Prometheus metrics of every process, and JSON-lines logs.

Each process (Rasa server, action server, web gateway) serves its own metrics on
``METRICS_HOST:METRICS_PORT`` (:func:`serve_metrics`; ``python -m bot run`` gives each
process a port, a Kubernetes pod exposes it for scraping). What each one counts:

- Rasa server (the channels, through :func:`instrumented`): user messages by channel,
  reply latency (message in → the assistant's answer handed to the channel), turns
  that failed;
- action server (``rasa_sdk_plugins.metrics``): action runs, errors and durations;
- web gateway (:class:`FeedObserver` on the console's event feed): NLU results and
  fallbacks (their ratio is the fallback rate), the handoff queue's length and the
  longest wait in it, how far the console's feed lags behind the conversations;
- the platform importer, wherever it runs: import runs by outcome.

With ``LOG_FORMAT=json`` every log line is one JSON object carrying the conversation
id (``conversation``) of the message being handled (:func:`conversation_context`).
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import threading
import time
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, Tuple

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from bot.settings import Settings, get_settings

logger = logging.getLogger(__name__)

#: Reply latency buckets (seconds): a chat answer is good under 1 s, bad over 5 s.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

# --- Rasa server (channels) -------------------------------------------------------------
MESSAGES = Counter("cybot_messages", "User messages received, by channel", ["channel"])
REPLY_SECONDS = Histogram(
    "cybot_reply_seconds", "Time from a user message to the assistant's answer, by channel",
    ["channel"], buckets=LATENCY_BUCKETS,
)
TURN_ERRORS = Counter("cybot_turn_errors", "User messages whose turn failed, by channel", ["channel"])

# --- action server ----------------------------------------------------------------------
ACTION_RUNS = Counter("cybot_action_runs", "Custom action calls, by action", ["action"])
ACTION_ERRORS = Counter("cybot_action_errors", "Custom action calls that failed, by action", ["action"])
ACTION_SECONDS = Histogram("cybot_action_seconds", "Custom action duration", buckets=LATENCY_BUCKETS)

# --- web gateway (the console's event feed) -------------------------------------------
NLU_RESULTS = Counter("cybot_nlu_results", "User messages the NLU classified (seen by the console)")
NLU_FALLBACKS = Counter(
    "cybot_nlu_fallbacks", "User messages the NLU could not classify (nlu_fallback); "
    "rate = cybot_nlu_fallbacks / cybot_nlu_results",
)
FEED_LAG_SECONDS = Histogram(
    "cybot_console_feed_lag_seconds", "Delay between an event in a conversation and the console ingesting it",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0),
)
FEED_EVENTS = Counter("cybot_console_feed_events", "Conversation events the console ingested, by kind", ["kind"])
HANDOFF_QUEUE = Gauge("cybot_handoff_queue_length", "Conversations waiting for staff")
HANDOFF_WAIT = Gauge("cybot_handoff_longest_wait_seconds", "How long the longest-waiting conversation has waited")

# --- platform importer ------------------------------------------------------------------
IMPORT_RUNS = Counter("cybot_import_runs", "Platform export imports, by outcome", ["outcome"])

#: The intent Rasa's FallbackClassifier predicts for messages it cannot classify.
FALLBACK_INTENT = "nlu_fallback"

_served_lock = threading.Lock()
_served_port: Optional[int] = None


def serve_metrics(settings: Settings) -> Optional[int]:
    """Serve this process's metrics at ``METRICS_HOST:METRICS_PORT`` (once per process);
    returns the port, or None when no port is set."""
    global _served_port
    if settings.metrics_port is None:
        return None
    with _served_lock:
        if _served_port is None:
            try:
                start_http_server(settings.metrics_port, addr=settings.metrics_host)
            except OSError as error:  # the assistant still serves users without its metrics
                logger.error("cannot serve metrics on %s:%s: %s", settings.metrics_host, settings.metrics_port, error)
                return None
            _served_port = settings.metrics_port
            logger.info("metrics on http://%s:%s/metrics", settings.metrics_host, settings.metrics_port)
    return _served_port


MessageHandler = Callable[[Any], Awaitable[Any]]


def instrumented(on_new_message: MessageHandler, channel: str) -> MessageHandler:
    """``on_new_message`` counting messages, reply latency and failed turns of ``channel``,
    and logging with the conversation id (Rasa's handler, as channels get it).

    Rasa runs no start-up code of ours before the channels: connecting the first
    channel also starts this process's metrics endpoint and applies ``LOG_FORMAT``.
    """
    settings = get_settings()
    serve_metrics(settings)
    configure_logging(settings)

    async def handle(message: Any) -> Any:
        MESSAGES.labels(channel).inc()
        started = time.perf_counter()
        with conversation_context(getattr(message, "sender_id", None)):
            try:
                return await on_new_message(message)
            except BaseException:
                TURN_ERRORS.labels(channel).inc()
                raise
            finally:
                REPLY_SECONDS.labels(channel).observe(time.perf_counter() - started)

    return handle


#: After batches that may change the handoff queue, its figures are read at most this
#: often (seconds); a pause, resume or restart (the queue changed) reads them at once.
QUEUE_REFRESH_S = 1.0
_QUEUE_CHANGES = ("pause", "resume", "restart")


class FeedObserver:
    """Wraps the console's batch handler: figures from every event it ingests.

    ``queue_state`` returns (conversations waiting for staff, the longest wait in s);
    it runs in a worker thread after a batch with events that can change the queue
    (see :data:`QUEUE_REFRESH_S`).
    """

    def __init__(
        self,
        handle: Callable[[List[Dict[str, Any]]], Awaitable[None]],
        queue_state: Optional[Callable[[], Tuple[int, float]]] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._handle = handle
        self._queue_state = queue_state
        self._clock = clock
        self._queue_read_at: Optional[float] = None

    async def __call__(self, events: List[Dict[str, Any]]) -> None:
        await self._handle(events)
        now = self._clock()
        queue_may_change = queue_changed = False
        for event in events:
            kind = str(event.get("event") or "unknown")
            FEED_EVENTS.labels(kind).inc()
            timestamp = event.get("timestamp")
            if isinstance(timestamp, (int, float)):
                FEED_LAG_SECONDS.observe(max(0.0, now - float(timestamp)))
            if kind == "user":
                intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
                if intent:
                    NLU_RESULTS.inc()
                    if intent == FALLBACK_INTENT:
                        NLU_FALLBACKS.inc()
            queue_may_change = queue_may_change or kind in ("user", "pause", "resume", "restart", "action")
            queue_changed = queue_changed or kind in _QUEUE_CHANGES
        due = self._queue_read_at is None or now - self._queue_read_at >= QUEUE_REFRESH_S
        if self._queue_state is not None and (queue_changed or queue_may_change and due):
            self._queue_read_at = now
            waiting, longest = await asyncio.to_thread(self._queue_state)
            HANDOFF_QUEUE.set(waiting)
            HANDOFF_WAIT.set(longest)


# --- logs -------------------------------------------------------------------------------

_conversation: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("conversation", default=None)


@contextlib.contextmanager
def conversation_context(sender_id: Optional[str]) -> Iterator[None]:
    """Log lines written inside (in this task and tasks it starts) name ``sender_id``."""
    token = _conversation.set(sender_id)
    try:
        yield
    finally:
        _conversation.reset(token)


class ConversationFilter(logging.Filter):
    """Puts the current conversation id on every record (``record.conversation``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "conversation"):
            record.conversation = _conversation.get()
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, conversation, error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: Dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "conversation": getattr(record, "conversation", None),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Apply ``LOG_FORMAT`` to this process's root logger (idempotent).

    Also called from inside the Rasa server (its channels), after Rasa configured its
    own handlers: their formatter is replaced."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in root.handlers:
        if not any(isinstance(f, ConversationFilter) for f in handler.filters):
            handler.addFilter(ConversationFilter())
        if settings.log_format == "json" and not isinstance(handler.formatter, JsonLinesFormatter):
            handler.setFormatter(JsonLinesFormatter())
