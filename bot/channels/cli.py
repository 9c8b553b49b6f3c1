"""Channel sub-commands of ``python -m bot`` (registered through ``bot.cli.COMMAND_MODULES``).

    telegram-poll   run the assistant with Telegram fetching updates itself
                    (development: no public webhook URL needed)
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.settings import PROFILES, get_settings


def cmd_telegram_poll(args: argparse.Namespace) -> int:
    """``python -m bot run`` with ``TELEGRAM_MODE=polling``."""
    if not get_settings().telegram_bot_token:
        print(
            "error: set TELEGRAM_BOT_TOKEN (from @BotFather) first; see credentials.example.yml",
            file=sys.stderr,
        )
        return 2
    from bot.cli import cmd_run  # bot.cli imports this module

    return cmd_run(args, env={"TELEGRAM_MODE": "polling"})


def add_commands(subparsers: Any) -> None:
    """Add the channel commands to ``python -m bot``'s sub-command parser."""
    poll = subparsers.add_parser(
        "telegram-poll",
        help="run the assistant with Telegram in polling mode (development, no public URL)",
    )
    poll.add_argument(
        "--profile", choices=PROFILES, default=None, help="as for `run`",
    )
    poll.set_defaults(func=cmd_telegram_poll)
