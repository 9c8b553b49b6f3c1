"""``python -m bot staff …``: manage console accounts from the command line.

    python -m bot staff add NAME --role agent|supervisor|admin   (asks for the password)
    python -m bot staff passwd NAME                              (new password, ends sessions)
    python -m bot staff list
    python -m bot staff unlock NAME                              (forget failed logins)

``add`` also takes ``--display-name 小王`` (users see "工作人员 小王") and
``--team 四川 --team 政策``.

``--password-stdin`` reads the password from the first line of standard input instead
of prompting (for provisioning scripts); it is never taken from the command line,
where other users of the machine could read it.
"""
from __future__ import annotations

import argparse
import getpass
import sys

from bot.handoff.accounts import TEAMS
from bot.handoff.store import ROLES, HandoffStore
from bot.settings import get_settings


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password (at least 10 characters): ")
    if getpass.getpass("repeat password: ") != first:
        raise ValueError("the passwords differ")
    return first


def _store() -> HandoffStore:
    settings = get_settings()
    return HandoffStore(settings.handoff_database_url, settings.office_timezone)


def cmd_staff_add(args: argparse.Namespace) -> int:
    """Create a staff account."""
    try:
        member = _store().add_staff(args.name, _read_password(args), args.role, args.display_name, args.team)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"created {member.role} {member.username}")
    return 0


def cmd_staff_passwd(args: argparse.Namespace) -> int:
    """Set a new password (and log the account out everywhere)."""
    try:
        _store().set_staff_password(args.name, _read_password(args))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"password of {args.name} changed")
    return 0


def cmd_staff_list(_: argparse.Namespace) -> int:
    """Print the accounts."""
    for member in _store().list_staff():
        print(f"{member.username}\t{member.role}\t{member.display_name or ''}\t{','.join(member.teams)}")
    return 0


def cmd_staff_unlock(args: argparse.Namespace) -> int:
    """Forget an account's failed logins, so its owner logs in without waiting."""
    cleared = _store().unlock_account(args.name)
    print(f"{args.name}: {cleared} failed logins forgotten")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``staff add|passwd|list`` on the project's CLI."""
    staff = subparsers.add_parser("staff", help="manage staff console accounts")
    actions = staff.add_subparsers(dest="staff_command", required=True)
    add = actions.add_parser("add", help="create a staff account")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="agent")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--display-name", help="the name users see after 工作人员 (e.g. 小王)")
    add.add_argument("--team", action="append", choices=TEAMS, help="a team of the account (repeatable)")
    add.set_defaults(func=cmd_staff_add)
    passwd = actions.add_parser("passwd", help="set a staff member's password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    passwd.set_defaults(func=cmd_staff_passwd)
    listing = actions.add_parser("list", help="list staff accounts")
    listing.set_defaults(func=cmd_staff_list)
    unlock = actions.add_parser("unlock", help="forget an account's failed logins")
    unlock.add_argument("name")
    unlock.set_defaults(func=cmd_staff_unlock)
