"""Channel sub-commands of ``python -m bot`` (registered through ``bot.cli.COMMAND_MODULES``).

    telegram-poll   run the assistant with Telegram fetching updates itself
                    (development: no public webhook URL needed)
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def cmd_telegram_poll(args: argparse.Namespace) -> int:
    """``python -m bot run`` with ``TELEGRAM_MODE=polling``."""
    if not os.environ.get("TELEGRAM_BOT_TOKEN", "").strip():
        print(
            "error: set TELEGRAM_BOT_TOKEN (from @BotFather) first; see credentials.example.yml",
            file=sys.stderr,
        )
        return 2
    os.environ["TELEGRAM_MODE"] = "polling"
    from bot.cli import cmd_run

    return cmd_run(args)


def add_commands(subparsers: Any) -> None:
    """Add the channel commands to ``python -m bot``'s sub-command parser."""
    poll = subparsers.add_parser(
        "telegram-poll",
        help="run the assistant with Telegram in polling mode (development, no public URL)",
    )
    poll.add_argument(
        "--profile", choices=["embedded", "production"], default="embedded",
        help="as for `run`",
    )
    poll.set_defaults(func=cmd_telegram_poll)
