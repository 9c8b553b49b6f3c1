"""``python -m bot <command>``: the project's command line.

    run         prepare (data, model) and start the assistant, console and portal
    shell       chat with the assistant in the terminal
    train       train the model if its inputs changed (--force to always train)
    nlu-report  NLU cross-validation report into results/nlu-cv/
    validate    rasa data validate, failing on every warning that matters

Other modules add their commands through ``COMMAND_MODULES`` (each exposes
``add_commands(subparsers)``).
"""
from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from typing import List, Optional

from bot.launcher import MODEL_PATH, Stack, StackConfig, StackError
from bot.settings import PROJECT_ROOT, get_settings

#: Modules that contribute sub-commands (skipped when not present in this checkout).
COMMAND_MODULES = ["bot.platform.cli", "bot.console.cli", "bot.channels.cli"]


def prepare_data() -> None:
    """Create/upgrade the platform database and import the demo export when empty."""
    try:
        from bot.platform.importer import ensure_demo_data
    except ImportError:
        return
    ensure_demo_data()


def cmd_train(args: argparse.Namespace) -> int:
    from bot.training import train_if_needed

    train_if_needed(force=args.force)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bot.training import train_if_needed

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    print("==> preparing platform data", flush=True)
    prepare_data()
    print("==> checking the model", flush=True)
    train_if_needed()
    config = StackConfig(
        profile=args.profile,
        web_host=settings.web_host,
        web_port=settings.web_port,
    )
    stack = Stack(config)
    print("==> starting Rasa server, action server and web gateway (about a minute)", flush=True)
    try:
        stack.start()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    web = stack.web_url
    print(
        "\n".join(
            [
                "",
                "The assistant is running:",
                f"  demo government portal with the chat widget: {web}/portal/",
                f"  staff console:                              {web}/console/",
                f"  REST webhook (integrations):                {web}/webhooks/rest/webhook",
                f"  Rasa server (loopback only, token in var/rasa_token): {stack.rasa_url}",
                f"  logs: {stack.var_dir / 'logs'}",
                "Create a staff account with: .venv/bin/python -m bot staff add NAME --role admin",
                "Press Ctrl-C to stop.",
            ]
        ),
        flush=True,
    )
    try:
        exited = stack.wait()
        print(f"error: {exited} stopped; see {stack.var_dir / 'logs' / (exited + '.log')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping …")
        return 0
    finally:
        stack.stop()


def cmd_shell(args: argparse.Namespace) -> int:
    """Terminal chat: Rasa's shell against the trained model, with the action server."""
    from bot.training import train_if_needed

    prepare_data()
    train_if_needed()
    stack = Stack(StackConfig(with_web=False))
    env = stack.environment()
    actions = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(stack.config.action_port)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        return subprocess.call(
            [
                sys.executable, "-m", "rasa", "shell", "--model", str(MODEL_PATH),
                "--endpoints", str(stack.write_endpoints()),
            ],
            cwd=PROJECT_ROOT,
            env=env,
        )
    finally:
        actions.terminate()
        actions.wait()


def cmd_nlu_report(args: argparse.Namespace) -> int:
    """Cross-validated intent report (precision, recall, F1, confusion matrix)."""
    out = PROJECT_ROOT / "results" / "nlu-cv"
    return subprocess.call(
        [
            sys.executable, "-m", "rasa", "test", "nlu", "--nlu", "data/nlu",
            "--config", "config.yml", "--cross-validation", "--folds", str(args.folds),
            "--out", str(out),
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )


def cmd_validate(args: argparse.Namespace) -> int:
    from bot.validate import main as validate_main

    return validate_main()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the assistant, staff console and demo portal")
    run.add_argument(
        "--profile", choices=["embedded", "production"], default="embedded",
        help="embedded: SQLite only (default); production: PostgreSQL, Redis, RabbitMQ",
    )
    run.set_defaults(func=cmd_run)

    shell = sub.add_parser("shell", help="chat with the assistant in the terminal")
    shell.set_defaults(func=cmd_shell)

    train = sub.add_parser("train", help="train the model if its inputs changed")
    train.add_argument("--force", action="store_true", help="train even if nothing changed")
    train.set_defaults(func=cmd_train)

    report = sub.add_parser("nlu-report", help="NLU cross-validation report into results/nlu-cv/")
    report.add_argument("--folds", type=int, default=5)
    report.set_defaults(func=cmd_nlu_report)

    validate = sub.add_parser("validate", help="rasa data validate, failing on real warnings")
    validate.set_defaults(func=cmd_validate)

    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that part of the project is not in this checkout
            raise
        module.add_commands(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
