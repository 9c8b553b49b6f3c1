"""Runtime configuration: environment variables over safe embedded defaults.

Every service of the project (Rasa server, action server, staff console, channels,
importer) reads its configuration here, so a reader finds every knob in one place.
Nothing here needs a server: the defaults are SQLite files under ``var/``.

Production profile (see README): set ``PLATFORM_DATABASE_URL`` to a PostgreSQL URL
and start Rasa with ``endpoints.production.yml``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CYBOT_VAR_DIR", PROJECT_ROOT / "var"))


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    """The project's configuration, resolved once per process."""

    var_dir: Path = VAR_DIR
    #: SQLAlchemy URL of the platform data (companies, products, demands, experts,
    #: requests created by the assistant).
    platform_database_url: str = field(
        default_factory=lambda: _env(
            "PLATFORM_DATABASE_URL", f"sqlite:///{VAR_DIR / 'platform.db'}"
        )
    )
    #: Platform export imported on first run when the platform database is empty
    #: (the shipped demo copy of the platforms' sample export).
    platform_demo_export_dir: Path = field(
        default_factory=lambda: Path(
            _env("PLATFORM_DEMO_EXPORT_DIR", str(PROJECT_ROOT / "data_demo" / "platform-export"))
        )
    )
    #: The policy knowledge base that staff edit (YAML).
    knowledge_base_path: Path = field(
        default_factory=lambda: Path(
            _env("KNOWLEDGE_BASE_PATH", str(PROJECT_ROOT / "knowledge" / "policies.yml"))
        )
    )
    #: Where the Rasa server listens (bound to loopback: only the console talks to
    #: its HTTP API).
    rasa_url: str = field(default_factory=lambda: _env("RASA_URL", "http://127.0.0.1:5005"))
    #: Token protecting Rasa's HTTP API (``--auth-token``). Generated into
    #: ``var/rasa_token`` on first run when not given.
    rasa_token: str = field(default_factory=lambda: _env("RASA_TOKEN", ""))
    action_server_url: str = field(
        default_factory=lambda: _env("ACTION_SERVER_URL", "http://127.0.0.1:5055/webhook")
    )
    #: The public web entry point: staff console, widget assets, demo portal.
    web_host: str = field(default_factory=lambda: _env("WEB_HOST", "127.0.0.1"))
    web_port: int = field(default_factory=lambda: int(_env("WEB_PORT", "8000")))

    # --- handoff & staff console (issue 4) ---
    #: SQLAlchemy URL of the handoff state, staff accounts, sessions, audit log and
    #: the console's copy of the transcripts. PostgreSQL in production.
    handoff_database_url: str = field(
        default_factory=lambda: _env(
            "HANDOFF_DATABASE_URL", f"sqlite:///{VAR_DIR / 'handoff.db'}"
        )
    )
    #: Where the console follows Rasa's events: an SQLAlchemy URL of a database with an
    #: ``events`` table — the embedded profile's tracker store (``endpoints.yml``) or a
    #: SQL event broker's — or an ``amqp://`` URL for RabbitMQ
    #: (``endpoints.production.yml``, queue ``event_broker_queue``).
    event_broker_url: str = field(
        default_factory=lambda: _env("EVENT_BROKER_URL", f"sqlite:///{VAR_DIR / 'tracker.db'}")
    )
    event_broker_queue: str = field(
        default_factory=lambda: _env("EVENT_BROKER_QUEUE", "rasa_events")
    )
    #: Staff office hours, e.g. ``mon-fri 09:00-12:00,13:30-17:30; sat 09:00-12:00``.
    #: Outside them a handoff request is queued and answered the next working period.
    office_hours: str = field(
        default_factory=lambda: _env("HANDOFF_OFFICE_HOURS", "mon-fri 09:00-17:30")
    )
    office_timezone: str = field(
        default_factory=lambda: _env("HANDOFF_TIMEZONE", "Asia/Shanghai")
    )
    #: A console session ends after this many idle minutes, and always after
    #: ``console_session_max_hours``.
    console_session_idle_minutes: int = field(
        default_factory=lambda: int(_env("CONSOLE_SESSION_IDLE_MINUTES", "30"))
    )
    console_session_max_hours: int = field(
        default_factory=lambda: int(_env("CONSOLE_SESSION_MAX_HOURS", "12"))
    )
    #: Set to 1 behind HTTPS so the session cookie is only sent over TLS.
    console_cookie_secure: bool = field(
        default_factory=lambda: _env("CONSOLE_COOKIE_SECURE", "0") == "1"
    )
    #: Failed logins allowed per account or per address within 15 minutes.
    console_login_attempts: int = field(
        default_factory=lambda: int(_env("CONSOLE_LOGIN_ATTEMPTS", "5"))
    )

    # --- channels: web widget (issue 5) ---
    #: Longest user message (characters) any channel passes to the assistant; longer
    #: ones are refused with a clear reply (``bot.channels.common``).
    max_user_message_chars: int = field(
        default_factory=lambda: int(_env("MAX_USER_MESSAGE_CHARS", "2000"))
    )
    #: How many past messages the widget gets back when it reconnects or reloads.
    widget_history_limit: int = field(
        default_factory=lambda: int(_env("WIDGET_HISTORY_LIMIT", "200"))
    )


def get_settings() -> Settings:
    """Return the settings read from the current environment."""
    return Settings()
