"""Console accounts: passwords, staff members, sessions and login throttling.

Passwords are salted scrypt hashes (stdlib). Hashing costs tens of milliseconds on
purpose, so the gateway calls these methods in a worker thread, never on its loop.

Login throttling slows an attacker without locking the owner out:

- per **address**, an exponential delay: after ``free_failures`` failures in the window
  each further attempt must wait 1, 2, 4 … seconds (at most ``address_max_delay_s``)
  after the previous failure;
- per **account**, a short capped delay (at most ``account_max_delay_s``), so guessing
  one account from many addresses stays slow while its owner waits seconds, not
  minutes; a successful login and an admin's :meth:`AccountStore.unlock_account`
  clear it.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.handoff.schema import login_attempts, staff, staff_sessions
from bot.messages import user_text

ROLES = ("agent", "supervisor", "admin")
#: Teams a conversation can be transferred to: the two desks and the three topics.
TEAMS = ("四川", "重庆", "政策", "供需", "专家")
MIN_PASSWORD_CHARS = 10
MAX_DISPLAY_NAME_CHARS = 16


@dataclass(frozen=True)
class StaffMember:
    """A console account (without its password hash)."""

    id: int
    username: str
    role: str
    display_name: Optional[str] = None
    teams: Tuple[str, ...] = ()

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("supervisor", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def public_name(self) -> str:
        """How users see this staff member ("工作人员 小王"); never the login name."""
        default = user_text("staff.default_name")
        return f"{default} {self.display_name}" if self.display_name else default


@dataclass(frozen=True)
class LoginPolicy:
    """How hard repeated failed logins are slowed (see the module docstring)."""

    free_failures: int = 5
    window_s: float = 900
    address_max_delay_s: float = 900
    account_max_delay_s: float = 30


# --- passwords -------------------------------------------------------------------------

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """A salted scrypt hash (``scrypt$n$r$p$salt$hash``), stdlib only."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt${n}${r}${p}${salt}${digest}".format(salt=salt.hex(), digest=digest.hex(), **_SCRYPT)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password`."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return secrets.compare_digest(candidate.hex(), digest)


_TIMING_EQUALISER = hash_password("timing-equaliser")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"密码至少需要 {MIN_PASSWORD_CHARS} 个字符。")


def _check_display_name(display_name: Optional[str]) -> Optional[str]:
    if display_name is None:
        return None
    display_name = display_name.strip()
    if len(display_name) > MAX_DISPLAY_NAME_CHARS:
        raise ValueError(f"显示名称最多 {MAX_DISPLAY_NAME_CHARS} 个字符。")
    return display_name or None


def _check_teams(teams: Optional[Sequence[str]]) -> str:
    chosen = [t.strip() for t in teams or () if t and t.strip()]
    unknown = [t for t in chosen if t not in TEAMS]
    if unknown:
        raise ValueError(f"未知的小组：{'、'.join(unknown)}（可选：{'、'.join(TEAMS)}）")
    return ",".join(dict.fromkeys(chosen))


def split_teams(value: Optional[str]) -> Tuple[str, ...]:
    """The teams stored as ``"四川,政策"``."""
    return tuple(t for t in (value or "").split(",") if t)


def _member(row) -> StaffMember:
    return StaffMember(int(row.id), row.username, row.role, row.display_name, split_teams(row.teams))


class AccountStore:
    """Accounts, sessions and login throttling of the handoff database."""

    engine: Engine
    login_policy: LoginPolicy = LoginPolicy()

    # --- accounts -----------------------------------------------------------------------

    def add_staff(
        self,
        username: str,
        password: str,
        role: str,
        display_name: Optional[str] = None,
        teams: Optional[Sequence[str]] = None,
    ) -> StaffMember:
        """Create a console account. Raises ValueError (message in Chinese) for a bad
        role, a weak password or a name that exists."""
        username = username.strip()
        if role not in ROLES:
            raise ValueError(f"角色必须是 {', '.join(ROLES)} 之一。")
        if not username or len(username) > 64:
            raise ValueError("用户名需要 1–64 个字符。")
        _check_password_rules(password)
        display_name = _check_display_name(display_name)
        team_list = _check_teams(teams)
        password_hash = hash_password(password)
        with self.engine.begin() as conn:
            if conn.execute(sa.select(staff.c.id).where(staff.c.username == username)).first():
                raise ValueError(f"用户名 {username} 已存在。")
            staff_id = conn.execute(
                staff.insert().values(
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    created_at=time.time(),
                    active=True,
                    display_name=display_name,
                    teams=team_list,
                )
            ).inserted_primary_key[0]
        return StaffMember(int(staff_id), username, role, display_name, split_teams(team_list))

    def _staff_id(self, conn: sa.engine.Connection, username: str) -> int:
        row = conn.execute(sa.select(staff.c.id).where(staff.c.username == username)).first()
        if row is None:
            raise ValueError(f"没有用户名为 {username} 的工作人员。")
        return int(row.id)

    def set_staff_password(self, username: str, password: str) -> None:
        """Replace a staff member's password and end their sessions."""
        _check_password_rules(password)
        password_hash = hash_password(password)
        with self.engine.begin() as conn:
            staff_id = self._staff_id(conn, username)
            conn.execute(staff.update().where(staff.c.id == staff_id).values(password_hash=password_hash))
            conn.execute(staff_sessions.delete().where(staff_sessions.c.staff_id == staff_id))

    def update_staff(
        self,
        username: str,
        *,
        role: Optional[str] = None,
        active: Optional[bool] = None,
        display_name: Optional[str] = None,
        teams: Optional[Sequence[str]] = None,
    ) -> StaffMember:
        """Change an account's role, display name, teams or whether it may log in
        (disabling ends its sessions)."""
        changes: dict = {}
        if role is not None:
            if role not in ROLES:
                raise ValueError(f"角色必须是 {', '.join(ROLES)} 之一。")
            changes["role"] = role
        if display_name is not None:
            changes["display_name"] = _check_display_name(display_name)
        if teams is not None:
            changes["teams"] = _check_teams(teams)
        if active is not None:
            changes["active"] = active
        with self.engine.begin() as conn:
            staff_id = self._staff_id(conn, username)
            if changes:
                conn.execute(staff.update().where(staff.c.id == staff_id).values(**changes))
            if active is False:
                conn.execute(staff_sessions.delete().where(staff_sessions.c.staff_id == staff_id))
            row = conn.execute(sa.select(staff).where(staff.c.id == staff_id)).first()
        return _member(row)

    def list_staff(self, include_disabled: bool = False) -> List[StaffMember]:
        """Accounts by user name (active ones unless ``include_disabled``)."""
        query = sa.select(staff).order_by(staff.c.username)
        if not include_disabled:
            query = query.where(staff.c.active.is_(True))
        with self.engine.connect() as conn:
            return [_member(r) for r in conn.execute(query)]

    def find_staff(self, username: str) -> Optional[StaffMember]:
        """The active account ``username``, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(staff).where(staff.c.username == username, staff.c.active.is_(True))).first()
        return _member(row) if row is not None else None

    def staff_accounts(self) -> List[dict]:
        """Every account with its state, for the admins' accounts page."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    staff.c.username,
                    staff.c.role,
                    staff.c.active,
                    staff.c.display_name,
                    staff.c.teams,
                    staff.c.created_at,
                ).order_by(staff.c.username)
            ).mappings()
            return [{**r, "teams": list(split_teams(r["teams"]))} for r in rows]

    # --- login throttling ---------------------------------------------------------------

    def login_wait_s(self, username: str, address: str, now: Optional[float] = None) -> float:
        """Seconds before the next login attempt for ``username`` from ``address`` is
        accepted (0: now)."""
        policy = self.login_policy
        now = now or time.time()
        since = now - policy.window_s
        failed = sa.and_(login_attempts.c.success.is_(False), login_attempts.c.at >= since)
        with self.engine.connect() as conn:
            by_address = conn.execute(
                sa.select(sa.func.count(), sa.func.max(login_attempts.c.at)).where(
                    failed, login_attempts.c.address == address
                )
            ).one()
            last_success = conn.execute(
                sa.select(sa.func.max(login_attempts.c.at)).where(
                    login_attempts.c.username == username, login_attempts.c.success.is_(True)
                )
            ).scalar()
            by_account = conn.execute(
                sa.select(sa.func.count(), sa.func.max(login_attempts.c.at)).where(
                    failed,
                    login_attempts.c.username == username,
                    login_attempts.c.at > (last_success or 0),
                )
            ).one()
        wait = 0.0
        for (count, last), cap in (
            (by_address, policy.address_max_delay_s),
            (by_account, policy.account_max_delay_s),
        ):
            excess = int(count) - policy.free_failures
            if last is not None and excess >= 0:
                wait = max(wait, float(last) + min(cap, 2.0**excess) - now)
        return max(0.0, wait)

    def unlock_account(self, username: str) -> int:
        """Forget an account's failed logins (an admin's unlock); returns how many."""
        with self.engine.begin() as conn:
            result = conn.execute(
                login_attempts.delete().where(
                    login_attempts.c.username == username, login_attempts.c.success.is_(False)
                )
            )
        return int(result.rowcount or 0)

    def check_login(self, username: str, password: str, address: str) -> Optional[StaffMember]:
        """Verify a password and record the attempt (blocking: scrypt)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(staff).where(staff.c.username == username, staff.c.active.is_(True))
            ).first()
        if row is not None:
            ok = verify_password(password, row.password_hash)
        else:
            verify_password(password, _TIMING_EQUALISER)  # same cost either way
            ok = False
        with self.engine.begin() as conn:
            conn.execute(
                login_attempts.insert().values(username=username[:64], address=address[:64], at=time.time(), success=ok)
            )
        return _member(row) if ok and row is not None else None

    # --- sessions -----------------------------------------------------------------------

    def create_session(self, member: StaffMember) -> Tuple[str, str]:
        """Open a session; returns (session token for the cookie, CSRF token).
        Only a hash of the session token is stored."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                staff_sessions.insert().values(
                    token_hash=_token_hash(token), staff_id=member.id, csrf_token=csrf, created_at=now, last_seen=now
                )
            )
        return token, csrf

    def resolve_session(
        self, token: str, idle_s: float, max_age_s: float, touch: bool = True
    ) -> Optional[Tuple[StaffMember, str]]:
        """The staff member and CSRF token of a live session, or None when it is
        unknown or expired (expired sessions are deleted). ``touch`` counts this as
        activity; the console's own background refreshes do not, so an unattended
        screen still logs out."""
        now = time.time()
        key = _token_hash(token)
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(
                    staff_sessions,
                    staff.c.username,
                    staff.c.role,
                    staff.c.active,
                    staff.c.display_name,
                    staff.c.teams,
                )
                .select_from(staff_sessions.join(staff, staff.c.id == staff_sessions.c.staff_id))
                .where(staff_sessions.c.token_hash == key)
            ).mappings().first()
            if row is None:
                return None
            if not row["active"] or now - row["last_seen"] > idle_s or now - row["created_at"] > max_age_s:
                conn.execute(staff_sessions.delete().where(staff_sessions.c.token_hash == key))
                return None
            if touch and now - row["last_seen"] > 5:
                conn.execute(staff_sessions.update().where(staff_sessions.c.token_hash == key).values(last_seen=now))
        member = StaffMember(
            row["staff_id"], row["username"], row["role"], row["display_name"], split_teams(row["teams"])
        )
        return member, row["csrf_token"]

    def end_session(self, token: str) -> None:
        """Log out."""
        with self.engine.begin() as conn:
            conn.execute(staff_sessions.delete().where(staff_sessions.c.token_hash == _token_hash(token)))


__all__ = [
    "ROLES",
    "TEAMS",
    "split_teams",
    "StaffMember",
    "LoginPolicy",
    "AccountStore",
    "hash_password",
    "verify_password",
]
