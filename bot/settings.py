"""The project's configuration: one typed object, read once per process, checked at start.

Every setting is an environment variable with a safe embedded default (SQLite files
under ``var/``, no other server), and every part of the project (Rasa server and its
channels, action server, web gateway and console, importer, command line) reads it
through :func:`get_settings`. Nothing else in ``bot/`` or ``actions/`` reads the
environment; :mod:`bot.launcher` hands the settings to the processes it starts
(:meth:`Settings.as_environment`), which also fills the ``${VAR}`` values that Rasa
substitutes into ``endpoints.production.yml``.

Reading a setting::

    from bot.settings import get_settings
    limit = get_settings().max_user_message_chars

Adding one: add a field to :class:`Settings` in its group with :func:`setting` (the
variable name, a one-line meaning, constraints such as ``ge=1``), use it through
``get_settings()``, then regenerate the README's table with
``python -m bot settings --update-readme`` (a test fails while the table is stale).
An empty variable counts as unset. A bad value stops the process at start with an
error naming the variable and what is wrong (:class:`SettingsError`).

Tests that change the environment call :func:`reload_settings` afterwards (the test
suite does it around every test), or build a :class:`Settings` of their own with
:meth:`Settings.from_environ` / :meth:`Settings.replace`.
"""
from __future__ import annotations

import functools
import os
import secrets
import urllib.parse
from pathlib import Path
from typing import Any, Dict, Iterator, List, Literal, Mapping, Optional, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from pydantic import BaseModel, Field, ValidationError, root_validator, validator

from bot.db import private_directory
from bot.handoff.officehours import OfficeHours, OfficeHoursError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

PROFILES = ("embedded", "production")

# Groups of the README table, in this order.
GENERAL = "General"
CONSOLE = "Staff console and handoff"
PRODUCTION = "Production profile (endpoints.production.yml)"
TELEGRAM = "Telegram"
WECHAT = "WeChat Official Account (微信公众号)"
WECOM = "WeCom (企业微信)"
GROUPS = (GENERAL, CONSOLE, PRODUCTION, TELEGRAM, WECHAT, WECOM)


class SettingsError(ValueError):
    """Configuration that cannot work; the message names each variable and its problem."""


def setting(
    default: Any,
    env: str,
    description: str,
    *,
    group: str,
    secret: bool = False,
    shown_default: Optional[str] = None,
    **constraints: Any,
) -> Any:
    """A field of :class:`Settings`: read from ``env``; ``description`` is its line in the
    README; ``secret`` values are never shown; ``shown_default`` is what the README says
    for a default that depends on another setting or on the checkout's location."""
    assert group in GROUPS, group
    return Field(
        default,
        description=description,
        env=env,
        group=group,
        secret=secret,
        shown_default=shown_default,
        **constraints,
    )


def _project_path(*parts: str) -> Path:
    return PROJECT_ROOT.joinpath(*parts)


class Settings(BaseModel):
    """Every setting of the assistant (see the README's configuration table)."""

    # --- General ---------------------------------------------------------------------
    profile: Literal["embedded", "production"] = setting(
        "embedded", "CYBOT_PROFILE",
        "`embedded`: SQLite only; `production`: PostgreSQL tracker store, Redis lock store, "
        "RabbitMQ event broker (`endpoints.production.yml`). `python -m bot run --profile` overrides it",
        group=GENERAL,
    )
    var_dir: Path = setting(
        _project_path("var"), "CYBOT_VAR_DIR",
        "folder of the embedded databases, the generated Rasa token and configuration, the logs, "
        "and the cache of jieba's compact dictionary",
        group=GENERAL, shown_default="`var`",
    )
    model_cache: str = setting(
        str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chengyu-assistant" / "models"),
        "CYBOT_MODEL_CACHE",
        "folder of trained models kept by their inputs' fingerprint, shared by every checkout of this "
        "user: a checkout whose inputs were trained before copies that model instead of training; "
        "`off`: no cache",
        group=GENERAL, shown_default="`~/.cache/chengyu-assistant/models`",
    )
    platform_database_url: str = setting(
        "", "PLATFORM_DATABASE_URL",
        "platform data (companies, products, demands, experts, requests); a PostgreSQL URL in production",
        group=GENERAL, shown_default="`sqlite:///var/platform.db`",
    )
    platform_demo_export_dir: Path = setting(
        _project_path("data_demo", "platform-export"), "PLATFORM_DEMO_EXPORT_DIR",
        "export imported on first run when the platform database is empty",
        group=GENERAL, shown_default="`data_demo/platform-export`",
    )
    knowledge_base_path: Path = setting(
        _project_path("knowledge", "policies.yml"), "KNOWLEDGE_BASE_PATH",
        "the policy knowledge base (YAML, reloaded when it changes)",
        group=GENERAL, shown_default="`knowledge/policies.yml`",
    )
    rasa_url: str = setting(
        "http://127.0.0.1:5005", "RASA_URL",
        "the Rasa server (loopback only: the gateway forwards channels to it, the console uses its API)",
        group=GENERAL,
    )
    rasa_token: str = setting(
        "", "RASA_TOKEN",
        "token of Rasa's HTTP API (only the console uses it)",
        group=GENERAL, secret=True, shown_default="generated into `var/rasa_token`",
    )
    action_server_url: str = setting(
        "http://127.0.0.1:5055/webhook", "ACTION_SERVER_URL",
        "the action server's webhook (loopback)",
        group=GENERAL,
    )
    action_server_secret: str = setting(
        "", "ACTION_SERVER_SECRET",
        "shared secret Rasa sends with every action call (header `X-Action-Secret`); the action "
        "server refuses calls without it",
        group=GENERAL, secret=True, shown_default="generated by `python -m bot run` for each start",
    )
    web_host: str = setting(
        "127.0.0.1", "WEB_HOST",
        "address of the public web gateway (console, widget, portal, webhooks)",
        group=GENERAL,
    )
    web_port: int = setting(8000, "WEB_PORT", "port of the web gateway", group=GENERAL, ge=1, le=65535)
    rest_api_key: str = setting(
        "", "REST_API_KEY",
        "key integrations send to the REST webhook (`Authorization: Bearer …` or `X-API-Key`); "
        "unset: only callers on this machine (loopback) may use it",
        group=GENERAL, secret=True, shown_default="unset",
    )
    max_user_message_chars: int = setting(
        2000, "MAX_USER_MESSAGE_CHARS",
        "longer messages are refused with a clear reply, on every channel",
        group=GENERAL, ge=1,
    )
    log_format: Literal["text", "json"] = setting(
        "text", "LOG_FORMAT",
        "`text` for people; `json`: one JSON object per line (for a log collector), with the "
        "conversation id on every line logged while a message is handled",
        group=GENERAL,
    )
    metrics_port: Optional[int] = setting(
        None, "METRICS_PORT",
        "serve Prometheus metrics of this process on this port (`python -m bot run` gives each "
        "process its own)",
        group=GENERAL, shown_default="unset: no metrics endpoint", ge=1, le=65535,
    )
    metrics_host: str = setting(
        "127.0.0.1", "METRICS_HOST", "address of the metrics endpoint (`0.0.0.0` in a container)",
        group=GENERAL,
    )
    widget_history_limit: int = setting(
        200, "WIDGET_HISTORY_LIMIT",
        "how many past messages the widget gets back when it reconnects or reloads",
        group=GENERAL, ge=0,
    )

    # --- Staff console and handoff ---------------------------------------------------
    handoff_database_url: str = setting(
        "", "HANDOFF_DATABASE_URL",
        "handoff queue, staff accounts, sessions, audit log, the console's transcripts",
        group=CONSOLE, shown_default="`sqlite:///var/handoff.db`",
    )
    console_feed_url: str = setting(
        "", "CONSOLE_FEED_URL",
        "the database whose `events` table the console follows: the tracker store's (it holds every "
        "event, so the console misses nothing), or a SQL event broker's",
        group=CONSOLE,
        shown_default="`sqlite:///var/tracker.db`; production: the tracker store's PostgreSQL database",
    )
    event_broker_url: str = setting(
        "", "EVENT_BROKER_URL",
        "RabbitMQ (`amqp://…`) whose queue tells the console that Rasa stored something new; "
        "empty: the Rasa server on this machine rings the console directly",
        group=CONSOLE,
        shown_default="empty; production: built from the `RABBITMQ_*` settings",
    )
    event_broker_queue: str = setting(
        "", "EVENT_BROKER_QUEUE",
        "RabbitMQ queue the console consumes",
        group=CONSOLE, shown_default="as `RABBITMQ_QUEUE`",
    )
    console_feed_check_s: float = setting(
        2.0, "CONSOLE_FEED_CHECK_S",
        "seconds between the console's own looks for new events when nothing rang (an outage of "
        "RabbitMQ or a lost ring delays the console by at most this)",
        group=CONSOLE, gt=0,
    )
    console_feed_lag_alert_s: float = setting(
        30.0, "CONSOLE_FEED_LAG_ALERT_S",
        "`/healthz/feed` answers 503 when the oldest event the console has not taken in is older",
        group=CONSOLE, gt=0,
    )
    office_hours: str = setting(
        "mon-fri 09:00-17:30", "HANDOFF_OFFICE_HOURS",
        "when staff answer; e.g. `mon-fri 09:00-12:00,13:30-17:30; sat 09:00-12:00`. Outside them "
        "a request is kept and the user told when it will be answered",
        group=CONSOLE,
    )
    office_timezone: str = setting(
        "Asia/Shanghai", "HANDOFF_TIMEZONE", "time zone of the office hours",
        group=CONSOLE,
    )
    console_session_idle_minutes: int = setting(
        30, "CONSOLE_SESSION_IDLE_MINUTES", "a console session ends after this much inactivity",
        group=CONSOLE, ge=1,
    )
    console_session_max_hours: int = setting(
        12, "CONSOLE_SESSION_MAX_HOURS", "a console session ends after this long at the latest",
        group=CONSOLE, ge=1,
    )
    console_login_attempts: int = setting(
        5, "CONSOLE_LOGIN_ATTEMPTS",
        "failed logins per address or account within 15 minutes before each further attempt waits "
        "(doubling per address; at most 30 s per account, so the owner is never locked out)",
        group=CONSOLE, ge=1,
    )
    console_agent_cap: int = setting(
        5, "CONSOLE_AGENT_CAP",
        "conversations an agent may hold at once (supervisors and admins are not capped)",
        group=CONSOLE, ge=1,
    )
    console_sla_first_reply_seconds: int = setting(
        120, "CONSOLE_SLA_FIRST_REPLY_SECONDS",
        "target for the first human reply after a handoff request; slower ones are highlighted",
        group=CONSOLE, ge=1,
    )
    console_sla_waiting_seconds: int = setting(
        300, "CONSOLE_SLA_WAITING_SECONDS",
        "target for how long a conversation waits before staff take it; longer waits are highlighted",
        group=CONSOLE, ge=1,
    )
    console_cookie_secure: bool = setting(
        False, "CONSOLE_COOKIE_SECURE", "set to `1` behind HTTPS (session cookie sent over TLS only)",
        group=CONSOLE, shown_default="`0`",
    )

    # --- Production profile ------------------------------------------------------------
    tracker_db_host: str = setting(
        "127.0.0.1", "TRACKER_DB_HOST", "PostgreSQL server of the tracker store",
        group=PRODUCTION,
    )
    tracker_db_port: int = setting(5432, "TRACKER_DB_PORT", "its port", group=PRODUCTION, ge=1, le=65535)
    tracker_db_name: str = setting("test", "TRACKER_DB_NAME", "its database", group=PRODUCTION)
    tracker_db_user: str = setting("postgres", "TRACKER_DB_USER", "its user", group=PRODUCTION)
    tracker_db_password: str = setting(
        "", "TRACKER_DB_PASSWORD", "its password",
        group=PRODUCTION, secret=True, shown_default="empty",
    )
    redis_host: str = setting(
        "127.0.0.1", "REDIS_HOST", "Redis server of the lock store and of the state replicas share",
        group=PRODUCTION,
    )
    redis_port: int = setting(6379, "REDIS_PORT", "its port", group=PRODUCTION, ge=1, le=65535)
    redis_db: int = setting(0, "REDIS_DB", "its database number", group=PRODUCTION, ge=0)
    redis_key_prefix: str = setting(
        "cybot", "REDIS_KEY_PREFIX",
        "prefix (letters and digits) of every Redis key and channel of this deployment (lock store, "
        "shared channel state, Socket.IO, console updates)",
        group=PRODUCTION, regex=r"^[A-Za-z0-9]+$",
    )
    replicas: int = setting(
        2, "REPLICAS",
        "production profile: how many Rasa servers, action servers and web gateways "
        "`python -m bot run` starts behind nginx (`--replicas` overrides it)",
        group=PRODUCTION, ge=1, le=32,
    )
    replica_index: Optional[int] = setting(
        None, "REPLICA_INDEX",
        "which replica this process is (`python -m bot run` sets it); a Rasa server starts its "
        "Socket.IO session ids with it, so nginx sends each session's requests to it",
        group=PRODUCTION, shown_default="unset: one replica", ge=0, le=31,
    )
    nginx_path: str = setting(
        "/usr/sbin/nginx", "NGINX_PATH", "the nginx program that load-balances the replicas",
        group=PRODUCTION,
    )
    lock_lifetime_seconds: int = setting(
        15, "LOCK_LIFETIME_SECONDS",
        "longest a turn holds its conversation's lock; a crashed Rasa's locks block a user at most "
        "this long (and are released when it restarts)",
        group=PRODUCTION, ge=1,
    )
    rabbitmq_host: str = setting(
        "127.0.0.1", "RABBITMQ_HOST", "RabbitMQ server of the event broker",
        group=PRODUCTION,
    )
    rabbitmq_port: int = setting(5672, "RABBITMQ_PORT", "its port", group=PRODUCTION, ge=1, le=65535)
    rabbitmq_user: str = setting("guest", "RABBITMQ_USER", "its user", group=PRODUCTION)
    rabbitmq_password: str = setting(
        "guest", "RABBITMQ_PASSWORD", "its password",
        group=PRODUCTION, secret=True, shown_default="`guest`",
    )
    rabbitmq_queue: str = setting(
        "rasa_events", "RABBITMQ_QUEUE", "the queue Rasa publishes its events to",
        group=PRODUCTION,
    )

    # --- Channels with secrets (credentials.example.yml documents each) ----------------
    telegram_bot_token: Optional[str] = setting(
        None, "TELEGRAM_BOT_TOKEN", "enables Telegram: the token from @BotFather",
        group=TELEGRAM, secret=True,
    )
    telegram_mode: Optional[Literal["webhook", "polling"]] = setting(
        None, "TELEGRAM_MODE", "`webhook` (default) or `polling` (development, no public URL)",
        group=TELEGRAM,
    )
    telegram_webhook_secret: Optional[str] = setting(
        None, "TELEGRAM_WEBHOOK_SECRET",
        "required in webhook mode: 1–256 characters of A-Z a-z 0-9 _ -, checked on every call",
        group=TELEGRAM, secret=True,
    )
    telegram_webhook_url: Optional[str] = setting(
        None, "TELEGRAM_WEBHOOK_URL", "registered with Telegram at start when set", group=TELEGRAM
    )
    telegram_api_base_url: Optional[str] = setting(
        None, "TELEGRAM_API_BASE_URL", "Bot API server", group=TELEGRAM,
        shown_default="`https://api.telegram.org`",
    )
    telegram_poll_interval: Optional[float] = setting(
        None, "TELEGRAM_POLL_INTERVAL", "seconds between polls in polling mode", group=TELEGRAM,
        shown_default="`0`", ge=0,
    )
    wechat_app_id: Optional[str] = setting(
        None, "WECHAT_APP_ID", "enables WeChat (with the next two): AppID",
        group=WECHAT,
    )
    wechat_app_secret: Optional[str] = setting(
        None, "WECHAT_APP_SECRET", "AppSecret (for the access token)",
        group=WECHAT, secret=True,
    )
    wechat_token: Optional[str] = setting(
        None, "WECHAT_TOKEN", "the callback Token (signature check)",
        group=WECHAT, secret=True,
    )
    wechat_encoding_aes_key: Optional[str] = setting(
        None, "WECHAT_ENCODING_AES_KEY", "EncodingAESKey (43 characters): safe mode (安全模式), recommended",
        group=WECHAT, secret=True,
    )
    wechat_allow_plaintext: bool = setting(
        False, "WECHAT_ALLOW_PLAINTEXT",
        "`1` lets the production profile run WeChat in plaintext mode (明文模式, no EncodingAESKey): "
        "its callbacks can be replayed with another body within 5 minutes, so only for trials",
        group=WECHAT, shown_default="`0`",
    )
    wechat_api_base_url: Optional[str] = setting(
        None, "WECHAT_API_BASE_URL", "WeChat API server",
        group=WECHAT, shown_default="`https://api.weixin.qq.com/cgi-bin/`",
    )
    wechat_reply_timeout: Optional[float] = setting(
        None, "WECHAT_REPLY_TIMEOUT",
        "seconds to wait for a passive reply before answering `success` and using the customer-service API",
        group=WECHAT, shown_default="`4.0`", gt=0,
    )
    wecom_corp_id: Optional[str] = setting(
        None, "WECOM_CORP_ID", "enables WeCom (with the next four): CorpID", group=WECOM
    )
    wecom_corp_secret: Optional[str] = setting(
        None, "WECOM_CORP_SECRET", "the application's Secret", group=WECOM, secret=True
    )
    wecom_agent_id: Optional[str] = setting(None, "WECOM_AGENT_ID", "the application's AgentId", group=WECOM)
    wecom_token: Optional[str] = setting(None, "WECOM_TOKEN", "callback Token", group=WECOM, secret=True)
    wecom_encoding_aes_key: Optional[str] = setting(
        None, "WECOM_ENCODING_AES_KEY", "callback EncodingAESKey", group=WECOM, secret=True
    )
    wecom_api_base_url: Optional[str] = setting(
        None, "WECOM_API_BASE_URL", "WeCom API server", group=WECOM,
        shown_default="`https://qyapi.weixin.qq.com/cgi-bin/`",
    )

    class Config:
        allow_mutation = False
        extra = "forbid"
        anystr_strip_whitespace = True

    # --- checks --------------------------------------------------------------------------

    @validator("var_dir", "platform_demo_export_dir", "knowledge_base_path")
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @validator("model_cache")
    def _folder_or_off(cls, value: str) -> str:
        return value if value == "off" else str(Path(value).expanduser().absolute())

    @validator("platform_database_url", "handoff_database_url")
    def _database_url(cls, value: str) -> str:
        if value:
            _check_database_url(value)
        return value

    @validator("console_feed_url")
    def _feed_url(cls, value: str) -> str:
        if value:
            _check_database_url(value)
        return value

    @validator("event_broker_url")
    def _event_broker_url(cls, value: str) -> str:
        if value and not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must be an amqp:// (or amqps://) URL of RabbitMQ, or empty")
        return value

    @validator(
        "rasa_url", "action_server_url", "telegram_webhook_url", "telegram_api_base_url",
        "wechat_api_base_url", "wecom_api_base_url",
    )
    def _http_url(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            parts = urllib.parse.urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @validator("office_timezone")
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone (use a name such as Asia/Shanghai)") from None
        return value

    @validator("office_hours")
    def _office_hours(cls, value: str) -> str:
        try:
            OfficeHours.parse(value)
        except OfficeHoursError as error:
            raise ValueError(str(error)) from None
        return value

    @root_validator(skip_on_failure=True)
    def _derived_defaults(cls, values: Dict[str, Any]) -> Dict[str, Any]:
        var_dir: Path = values["var_dir"]
        for name, file_name in (
            ("platform_database_url", "platform.db"),
            ("handoff_database_url", "handoff.db"),
        ):
            values[name] = values[name] or f"sqlite:///{var_dir / file_name}"
        production = values["profile"] == "production"
        if not values["event_broker_url"] and production:
            values["event_broker_url"] = "amqp://{}:{}@{}:{}/%2F".format(
                urllib.parse.quote(values["rabbitmq_user"], safe=""),
                urllib.parse.quote(values["rabbitmq_password"], safe=""),
                values["rabbitmq_host"],
                values["rabbitmq_port"],
            )
        if not values["console_feed_url"]:
            if production:
                values["console_feed_url"] = "postgresql://{}:{}@{}:{}/{}".format(
                    urllib.parse.quote(values["tracker_db_user"], safe=""),
                    urllib.parse.quote(values["tracker_db_password"], safe=""),
                    values["tracker_db_host"],
                    values["tracker_db_port"],
                    urllib.parse.quote(values["tracker_db_name"], safe=""),
                )
            else:
                values["console_feed_url"] = f"sqlite:///{var_dir / 'tracker.db'}"
        values["event_broker_queue"] = values["event_broker_queue"] or values["rabbitmq_queue"]
        return values

    @root_validator(skip_on_failure=True)
    def _channels_fully_configured(cls, values: Dict[str, Any]) -> Dict[str, Any]:
        for channel, fields in CHANNEL_FIELDS.items():
            required = [name for name, _, needed in fields if needed]
            missing = [name for name in required if not values.get(name)]
            if missing and len(missing) < len(required):
                names = ", ".join(env_name(name) for name in missing)
                raise ValueError(f"{channel} is half configured: set {names}")
        return values

    @root_validator(skip_on_failure=True)
    def _wechat_safe_mode_in_production(cls, values: Dict[str, Any]) -> Dict[str, Any]:
        if (
            values["profile"] == "production"
            and values.get("wechat_app_id")
            and not values.get("wechat_encoding_aes_key")
            and not values.get("wechat_allow_plaintext")
        ):
            raise ValueError(
                "WECHAT_ENCODING_AES_KEY: the production profile needs WeChat's safe mode (安全模式); "
                "set the EncodingAESKey, or WECHAT_ALLOW_PLAINTEXT=1 to accept forgeable callbacks"
            )
        return values

    # --- reading -----------------------------------------------------------------------

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **overrides: Any) -> "Settings":
        """The settings given by ``environ`` (e.g. ``os.environ``), then ``overrides``
        (field names). Raises :class:`SettingsError` naming every bad variable."""
        values: Dict[str, Any] = {}
        for name in cls.__fields__:
            raw = environ.get(env_name(name), "")
            if raw.strip():
                values[name] = raw
        values.update(overrides)
        try:
            return cls(**values)
        except ValidationError as error:
            raise SettingsError(_describe(error, values)) from None

    def replace(self, **changes: Any) -> "Settings":
        """A copy with ``changes`` (field names), checked like the original."""
        values = {name: getattr(self, name) for name in self.__fields__}
        values.update(changes)
        try:
            return type(self)(**values)
        except ValidationError as error:
            raise SettingsError(_describe(error, values)) from None

    def as_environment(self) -> Dict[str, str]:
        """Every set value as its environment variable: what a child process needs to
        read the same settings (and what ``${VAR}`` in the endpoints files expands to)."""
        env: Dict[str, str] = {}
        for name in self.__fields__:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool):
                value = "1" if value else "0"
            env[env_name(name)] = str(value)
        return env

    @property
    def model_cache_dir(self) -> Optional[Path]:
        """The model cache folder, or None when it is turned off."""
        return None if self.model_cache == "off" else Path(self.model_cache)

    @property
    def shares_state(self) -> bool:
        """Whether per-process state (dedupe, menus, Socket.IO rooms, console updates)
        lives in Redis, shared by every replica: the production profile."""
        return self.profile == "production"

    @property
    def redis_url(self) -> str:
        """The Redis server of the production profile, as a URL."""
        return f"redis://{self.redis_host}:{self.redis_port}/{self.redis_db}"

    def rasa_api_token(self, *, create: bool = False) -> str:
        """The Rasa HTTP API token: ``RASA_TOKEN``, else the one in ``var/rasa_token``,
        which ``create=True`` (the launcher) generates once (owner-only file).

        The one place the token is resolved: the launcher gives it to Rasa and the
        gateway's console uses it. Raises :class:`SettingsError` when there is none."""
        if self.rasa_token:
            return self.rasa_token
        path = self.var_dir / "rasa_token"
        if create and not path.exists():
            private_directory(self.var_dir)
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))  # hex: never starts with '-' (argparse)
        try:
            token = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            token = ""
        if not token:
            raise SettingsError(f"RASA_TOKEN: not set and {path} is missing or empty (python -m bot run creates it)")
        return token

    def channel_credentials(self) -> Dict[str, Dict[str, Any]]:
        """``{channel class path: credentials}`` for every channel whose required
        settings are set (Rasa's credentials.yml entries; see credentials.example.yml)."""
        credentials: Dict[str, Dict[str, Any]] = {}
        for channel, fields in CHANNEL_FIELDS.items():
            if all(getattr(self, name) for name, _, needed in fields if needed):
                credentials[channel] = {
                    key: getattr(self, name) for name, key, _ in fields if getattr(self, name) is not None
                }
        return credentials

    def describe(self) -> List[Tuple[str, str]]:
        """(variable, value) of every setting for people to read: secrets masked,
        passwords in URLs hidden."""
        rows = []
        for name, field in self.__fields__.items():
            value = getattr(self, name)
            if value is None or value == "":
                shown = "(unset)"
            elif field.field_info.extra.get("secret"):
                shown = "********"
            elif name.endswith("_url") and "://" in str(value) and "@" in str(value):
                shown = sa.engine.make_url(str(value)).render_as_string(hide_password=True)
            else:
                shown = str(value)
            rows.append((env_name(name), shown))
        return rows


#: Channel class → (setting, credentials key, required?) of each channel with secrets.
#: A channel is enabled when all its required settings are set; some but not all is an error.
CHANNEL_FIELDS: Dict[str, Tuple[Tuple[str, str, bool], ...]] = {
    "bot.channels.telegram.TelegramInput": (
        ("telegram_bot_token", "token", True),
        ("telegram_mode", "mode", False),
        ("telegram_webhook_secret", "webhook_secret", False),
        ("telegram_webhook_url", "webhook_url", False),
        ("telegram_api_base_url", "api_base_url", False),
        ("telegram_poll_interval", "poll_interval", False),
    ),
    "bot.channels.wechat.WeChatInput": (
        ("wechat_app_id", "app_id", True),
        ("wechat_app_secret", "app_secret", True),
        ("wechat_token", "token", True),
        ("wechat_encoding_aes_key", "encoding_aes_key", False),
        ("wechat_api_base_url", "api_base_url", False),
        ("wechat_reply_timeout", "reply_timeout", False),
    ),
    "bot.channels.wechat.WeComInput": (
        ("wecom_corp_id", "corp_id", True),
        ("wecom_corp_secret", "corp_secret", True),
        ("wecom_agent_id", "agent_id", True),
        ("wecom_token", "token", True),
        ("wecom_encoding_aes_key", "encoding_aes_key", True),
        ("wecom_api_base_url", "api_base_url", False),
    ),
}


def env_name(field_name: str) -> str:
    """The environment variable of a :class:`Settings` field."""
    return Settings.__fields__[field_name].field_info.extra["env"]


def _check_database_url(value: str, also: str = "") -> None:
    try:
        url = sa.engine.make_url(value)
    except sa.exc.ArgumentError:
        url = None
    if url is None or url.get_backend_name() not in ("sqlite", "postgresql"):
        example = "sqlite:///var/x.db or postgresql://user@host/db"
        raise ValueError(f"must be a SQLite or PostgreSQL URL ({example}){' ' + also if also else ''}")


def _describe(error: ValidationError, values: Mapping[str, Any]) -> str:
    lines = ["invalid configuration:"]
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        if name in Settings.__fields__:
            field = Settings.__fields__[name]
            given = "" if field.field_info.extra.get("secret") or name not in values else f"={values[name]!s}"
            lines.append(f"  {env_name(name)}{given}: {problem['msg']}")
        else:  # a check across several settings names its variables itself
            lines.append(f"  {problem['msg']}")
    return "\n".join(lines)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment on first use.

    Raises :class:`SettingsError` for a bad value (``python -m bot`` reports it and stops)."""
    return Settings.from_environ(os.environ)


def reload_settings() -> Settings:
    """Read the environment again (tests that change it); returns the new settings."""
    get_settings.cache_clear()
    return get_settings()


def markdown_table() -> str:
    """The README's configuration table: every variable, its default and meaning."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for group, names in _fields_by_group():
        lines.append(f"| **{group}** | | |")
        for name in names:
            field = Settings.__fields__[name]
            default = field.field_info.extra.get("shown_default")
            if default is None:
                default = "unset" if field.default is None else f"`{field.default}`"
            lines.append(f"| `{env_name(name)}` | {default} | {field.field_info.description} |")
    return "\n".join(lines)


def _fields_by_group() -> Iterator[Tuple[str, List[str]]]:
    for group in GROUPS:
        yield group, [
            name for name, field in Settings.__fields__.items() if field.field_info.extra["group"] == group
        ]
