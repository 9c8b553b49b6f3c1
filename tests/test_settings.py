"""The one configuration object: defaults, environment, checks at start, the README table."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import pytest

from bot.cli import README, TABLE_END, TABLE_START, replace_settings_table
from bot.launcher import Stack, StackConfig
from bot.settings import PROJECT_ROOT, Settings, SettingsError, env_name, get_settings, reload_settings


def test_embedded_defaults_need_no_server(tmp_path):
    settings = Settings.from_environ({"CYBOT_VAR_DIR": str(tmp_path)})
    assert settings.profile == "embedded"
    assert settings.platform_database_url == f"sqlite:///{tmp_path / 'platform.db'}"
    assert settings.handoff_database_url == f"sqlite:///{tmp_path / 'handoff.db'}"
    assert settings.console_feed_url == f"sqlite:///{tmp_path / 'tracker.db'}"
    assert settings.event_broker_url == ""  # the Rasa server rings the console directly
    assert settings.event_broker_queue == "rasa_events"
    assert settings.web_port == 8000 and settings.console_cookie_secure is False
    assert settings.channel_credentials() == {}


def test_environment_values_are_typed_and_blank_means_unset():
    settings = Settings.from_environ(
        {"WEB_PORT": " 8100 ", "CONSOLE_COOKIE_SECURE": "true", "MAX_USER_MESSAGE_CHARS": "", "WEB_HOST": "  "}
    )
    assert settings.web_port == 8100 and settings.console_cookie_secure is True
    assert settings.max_user_message_chars == 2000 and settings.web_host == "127.0.0.1"


def test_production_profile_follows_the_tracker_store_woken_by_rabbitmq():
    settings = Settings.from_environ(
        {"CYBOT_PROFILE": "production", "RABBITMQ_USER": "bot", "RABBITMQ_PASSWORD": "p@ss", "RABBITMQ_QUEUE": "q7",
         "TRACKER_DB_HOST": "db.internal", "TRACKER_DB_NAME": "rasa", "TRACKER_DB_PASSWORD": "s3:cret"}
    )
    assert settings.event_broker_url == "amqp://bot:p%40ss@127.0.0.1:5672/%2F"
    assert settings.event_broker_queue == "q7"
    assert settings.console_feed_url == "postgresql://postgres:s3%3Acret@db.internal:5432/rasa"
    described = str(settings.describe())
    assert "p@ss" not in described and "p%40ss" not in described and "s3%3Acret" not in described


@pytest.mark.parametrize(
    "variable, value, reason",
    [
        ("WEB_PORT", "99999", "less than or equal to 65535"),
        ("WEB_PORT", "eighty", "valid integer"),
        ("TRACKER_DB_PORT", "0", "greater than or equal to 1"),
        ("CONSOLE_SESSION_IDLE_MINUTES", "-5", "greater than or equal to 1"),
        ("CYBOT_PROFILE", "staging", "permitted: 'embedded', 'production'"),
        ("PLATFORM_DATABASE_URL", "not a url", "SQLite or PostgreSQL URL"),
        ("HANDOFF_DATABASE_URL", "mysql://db/handoff", "SQLite or PostgreSQL URL"),
        ("EVENT_BROKER_URL", "kafka://broker", "amqp://"),
        ("RASA_URL", "localhost:5005", "http:// or https:// URL"),
        ("HANDOFF_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("HANDOFF_OFFICE_HOURS", "someday 09:00-10:00", "unknown day"),
        ("CONSOLE_COOKIE_SECURE", "maybe", "boolean"),
        ("TELEGRAM_MODE", "push", "permitted: 'webhook', 'polling'"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_problem(variable, value, reason):
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({variable: value})
    message = str(raised.value)
    assert f"{variable}={value}:" in message and reason in message


def test_every_problem_is_reported_at_once_and_secrets_are_never_echoed():
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({"WEB_PORT": "-1", "REDIS_DB": "-2", "WECHAT_APP_SECRET": "do-not-print-me"})
    message = str(raised.value)
    assert "WEB_PORT" in message and "REDIS_DB" in message
    with pytest.raises(SettingsError, match="half configured: set WECHAT_APP_ID, WECHAT_TOKEN") as raised:
        Settings.from_environ({"WECHAT_APP_SECRET": "do-not-print-me"})
    assert "do-not-print-me" not in str(raised.value)


def test_settings_are_read_once_and_reread_on_request(monkeypatch):
    monkeypatch.setenv("WIDGET_HISTORY_LIMIT", "50")
    first = get_settings()
    assert get_settings() is first and first.widget_history_limit == 50
    monkeypatch.setenv("WIDGET_HISTORY_LIMIT", "60")
    assert get_settings().widget_history_limit == 50  # read once per process
    assert reload_settings().widget_history_limit == 60
    with pytest.raises(TypeError):
        first.widget_history_limit = 70  # one object, shared: not to be changed in place


def test_replace_checks_like_reading():
    settings = Settings.from_environ({})
    assert settings.replace(web_port=8200).web_port == 8200
    with pytest.raises(SettingsError, match="WEB_PORT"):
        settings.replace(web_port=70000)


def test_child_processes_read_the_same_settings(tmp_path):
    settings = Settings.from_environ(
        {"CYBOT_VAR_DIR": str(tmp_path), "CYBOT_PROFILE": "production", "TELEGRAM_BOT_TOKEN": "1:x",
         "TELEGRAM_POLL_INTERVAL": "0.5", "CONSOLE_COOKIE_SECURE": "1"}
    )
    assert Settings.from_environ(settings.as_environment()) == settings


def test_the_production_endpoints_file_only_uses_settings(tmp_path):
    placeholders = set(re.findall(r"\$\{(\w+)\}", (PROJECT_ROOT / "endpoints.production.yml").read_text()))
    stack = Stack(StackConfig(profile="production", var_dir=tmp_path, env={"TRACKER_DB_PASSWORD": ""}))
    environment = stack.environment()
    assert placeholders and placeholders <= set(environment)  # Rasa fails on an unset ${VAR}
    assert environment["TRACKER_DB_PASSWORD"] == ""
    assert environment["EVENT_BROKER_URL"].startswith("amqp://")
    assert environment["RASA_TOKEN"] == stack.token


def test_the_rasa_token_is_generated_once_owner_only_unless_given(tmp_path):
    settings = Settings.from_environ({"CYBOT_VAR_DIR": str(tmp_path / "var")})
    with pytest.raises(SettingsError, match="RASA_TOKEN"):
        settings.rasa_api_token()  # the gateway never invents one Rasa does not know
    token = settings.rasa_api_token(create=True)
    assert len(token) == 64 and settings.rasa_api_token() == token == settings.rasa_api_token(create=True)
    assert stat.S_IMODE((tmp_path / "var" / "rasa_token").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    assert settings.replace(rasa_token="given").rasa_api_token(create=True) == "given"


@pytest.mark.stack  # runs the CLI
def test_run_stops_on_a_bad_setting_before_starting_anything(tmp_path):
    var_dir = tmp_path / "var"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "CYBOT_VAR_DIR": str(var_dir), "WEB_PORT": "http", "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "WEB_PORT=http: value is not a valid integer" in result.stderr
    assert not var_dir.exists()  # nothing prepared, nothing started


def test_readme_table_is_generated_from_the_settings():
    readme = README.read_text(encoding="utf-8")
    assert readme.count(TABLE_START) == 1 and readme.count(TABLE_END) == 1
    assert replace_settings_table(readme) == readme, "run: python -m bot settings --update-readme"
    for name in Settings.__fields__:
        assert f"| `{env_name(name)}` |" in readme


def test_only_the_settings_module_reads_the_environment():
    readers = []
    for folder in ("bot", "actions"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if re.search(r"os\.environ|getenv\(|environ\.get\(", text):
                readers.append(str(path.relative_to(PROJECT_ROOT)))
    # The launcher only passes environment on to the processes it starts; bot/pinyin.py sets
    # pypinyin's own switches around its import (no setting of ours).
    assert readers == ["bot/launcher.py", "bot/pinyin.py", "bot/settings.py"]
    pinyin = (PROJECT_ROOT / "bot" / "pinyin.py").read_text(encoding="utf-8")
    assert set(re.findall(r"\"([A-Z_]{4,})\"", pinyin)) == {"PYPINYIN_NO_PHRASES", "PYPINYIN_NO_DICT_COPY"}
    launcher = (PROJECT_ROOT / "bot" / "launcher.py").read_text(encoding="utf-8")
    assert not re.search(r"os\.environ(\.get|\[)|getenv\(", launcher)


def test_production_refuses_wechat_plaintext_mode_unless_allowed():
    wechat = {"WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "s", "WECHAT_TOKEN": "t"}
    with pytest.raises(SettingsError, match="WECHAT_ENCODING_AES_KEY"):
        Settings.from_environ({**wechat, "CYBOT_PROFILE": "production"})
    Settings.from_environ({**wechat, "CYBOT_PROFILE": "production", "WECHAT_ALLOW_PLAINTEXT": "1"})
    Settings.from_environ({**wechat, "CYBOT_PROFILE": "production", "WECHAT_ENCODING_AES_KEY": "k" * 43})
    Settings.from_environ(wechat)  # the embedded profile (development) only warns
