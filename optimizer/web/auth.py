"""Who may use the web app: users, passwords, sessions, login rate limits, audit log.

* **Users** live in the run store (table ``users``): a name, a role (``planner`` may
  upload, solve, edit and export; ``viewer`` may only look and export redacted annexes
  unless granted the names) and an argon2 hash of the password.  They are added with
  ``staffplan users add NAME --role planner|viewer``.
* **Without users** the app is a one-person desktop tool: it listens on the loopback
  address only, and whoever reaches it is the local planner (:data:`LOCAL_USER`).
  With users, every page and API call except ``/api/health``, the login and the static
  files needs a signed-in session.
* **Sessions** are Starlette's signed cookies (itsdangerous; HttpOnly, SameSite=Lax),
  holding a random session id and the user's name; a login rotates the id.
* **Login attempts** are rate-limited per client address and per user name
  (:class:`LoginLimiter`).
* **Audit log**: every login, run, edit check, cancel, upload and export is one row of
  the store's ``audit_log`` (:func:`audit`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.store import RunStore

Role = Literal["planner", "viewer"]
ROLES: tuple[Role, ...] = ("planner", "viewer")
#: A user name: letters, digits, ``.``, ``_``, ``-``; 1 to 64 characters.
NAME_RE = re.compile(r"^[\w.\-]{1,64}$")
#: Shortest password accepted.
MIN_PASSWORD = 8
#: Login failures allowed per client address, and per user name, within the window.
LOGIN_FAILURES = 5
LOGIN_WINDOW_S = 300.0


@dataclass(frozen=True)
class User:
    """A person using the web app.

    ``see_names``: the user sees people's names and birth dates (planners always; a
    viewer only when granted).
    """

    name: str
    role: Role
    see_names: bool

    @property
    def is_planner(self) -> bool:
        """True for a planner (may upload, solve, edit, export with names)."""
        return self.role == "planner"


#: The user of an app without users (loopback only): the local planner.
LOCAL_USER = User(name="local", role="planner", see_names=True)


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _user_issue(store: RunStore, key: str, value: str = "", **kwargs: object) -> InputError:
    return InputError([Issue(file=str(store.path), message=t(key, **kwargs), value=value, code=key)])


def add_user(store: RunStore, name: str, role: Role, password: str, *, see_names: bool = False) -> User:
    """Add a user with an argon2 hash of ``password``.

    Raises
    ------
    InputError
        A name that is not allowed or already taken, an unknown role, a short password.
    """
    if not NAME_RE.match(name):
        raise _user_issue(store, "server.user_bad_name", name)
    if role not in ROLES:
        raise _user_issue(store, "server.user_bad_role", role)
    if len(password) < MIN_PASSWORD:
        raise _user_issue(store, "server.user_short_password", "", min=MIN_PASSWORD)
    digest = _hasher().hash(password)
    with store.transaction() as conn:
        if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise _user_issue(store, "server.user_exists", name, name=name)
        conn.execute(
            "INSERT INTO users (name, role, password_hash, see_names, created_at) VALUES (?, ?, ?, ?, ?)",
            (name, role, digest, int(see_names or role == "planner"), _now()),
        )
    return User(name, role, see_names or role == "planner")


def remove_user(store: RunStore, name: str) -> None:
    """Remove a user (their sessions end at their next request).

    Raises
    ------
    InputError
        When there is no such user.
    """
    with store.transaction() as conn:
        if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
            raise _user_issue(store, "server.user_unknown", name, name=name)


def grant_names(store: RunStore, name: str, granted: bool) -> None:
    """Let a viewer see names and birth dates (or take it back).

    Raises
    ------
    InputError
        When there is no such user.
    """
    with store.transaction() as conn:
        cur = conn.execute("UPDATE users SET see_names = ? WHERE name = ?", (int(granted), name))
        if cur.rowcount == 0:
            raise _user_issue(store, "server.user_unknown", name, name=name)


def list_users(store: RunStore) -> list[User]:
    """Every user, by name."""
    with store.reading() as conn:
        rows = conn.execute("SELECT name, role, see_names FROM users ORDER BY name").fetchall()
    return [User(r[0], r[1], bool(r[2])) for r in rows]


def users_exist(store: RunStore) -> bool:
    """True when at least one user was added (logins are then required)."""
    with store.reading() as conn:
        return conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None


def get_user(store: RunStore, name: str) -> User | None:
    """The user called ``name``, or ``None``."""
    with store.reading() as conn:
        row = conn.execute("SELECT name, role, see_names FROM users WHERE name = ?", (name,)).fetchone()
    return None if row is None else User(row[0], row[1], bool(row[2]))


def check_password(store: RunStore, name: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else ``None`` (unknown users cost the same time)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    with store.reading() as conn:
        row = conn.execute(
            "SELECT name, role, see_names, password_hash FROM users WHERE name = ?", (name,)
        ).fetchone()
    hasher = _hasher()
    digest = row[3] if row is not None else hasher.hash(secrets.token_hex(8))
    try:
        hasher.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return None
    return None if row is None else User(row[0], row[1], bool(row[2]))


class LoginLimiter:
    """Refuse logins after :data:`LOGIN_FAILURES` failures within :data:`LOGIN_WINDOW_S`
    seconds, counted per client address and per user name (in memory, thread-safe)."""

    def __init__(self, failures: int = LOGIN_FAILURES, window_s: float = LOGIN_WINDOW_S) -> None:
        self.failures = failures
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._seen.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def blocked(self, client: str, name: str) -> bool:
        """True when this address or this name has failed too often lately."""
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.failures for k in (f"ip:{client}", f"user:{name}"))

    def failed(self, client: str, name: str) -> None:
        """Count one failed login of ``name`` from ``client``."""
        now = time.monotonic()
        with self._lock:
            for key in (f"ip:{client}", f"user:{name}"):
                self._recent(key, now).append(now)


def audit(store: RunStore, user: User | str, action: str, target: str = "", **detail: Any) -> None:
    """Write one row of the audit log (who, when, what, on what, details as JSON)."""
    name = user.name if isinstance(user, User) else user
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO audit_log (at, user, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (_now(), name, action, target, json.dumps(detail, ensure_ascii=False, default=str)),
        )


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log."""

    at: str
    user: str
    action: str
    target: str
    detail: dict[str, Any]


def audit_log(store: RunStore, limit: int = 200) -> list[AuditEntry]:
    """The newest ``limit`` rows of the audit log, newest first."""
    with store.reading() as conn:
        rows = conn.execute(
            "SELECT at, user, action, target, detail FROM audit_log ORDER BY seq DESC LIMIT ?", (limit,)
        ).fetchall()
    return [AuditEntry(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]


#: Paths anyone may reach without signing in.
PUBLIC_PREFIXES = ("/static/", "/login", "/api/login", "/api/session", "/api/health", "/favicon.ico")


def is_public(path: str) -> bool:
    """True for the paths reachable without a session (login, health, static files)."""
    return path.startswith(PUBLIC_PREFIXES)


def session_user(store: RunStore, session: dict[str, Any]) -> User | None:
    """The user a session is signed in as: :data:`LOCAL_USER` when the store has no
    users, the session's user while they still exist, else ``None``."""
    if not users_exist(store):
        return LOCAL_USER
    name = session.get("user")
    return get_user(store, name) if isinstance(name, str) else None


def sign_in(session: dict[str, Any], user: User) -> None:
    """Sign ``user`` in: a new session id (no fixation) holding their name."""
    session.clear()
    session["sid"] = secrets.token_urlsafe(24)
    session["user"] = user.name


def sign_out(session: dict[str, Any]) -> None:
    """End the session (a new anonymous id)."""
    session.clear()
    session["sid"] = secrets.token_urlsafe(24)


Call = Callable[[Any], Awaitable[Any]]


def auth_middleware(store_of: Callable[[], RunStore]) -> Callable[[Any, Call], Awaitable[Any]]:
    """An HTTP middleware that sets ``request.state.user`` and refuses anonymous requests.

    Anonymous requests to non-public paths get 401 (API, JSON) or a redirect to the login
    page (pages).
    """
    from starlette.responses import JSONResponse, RedirectResponse

    async def middleware(request: Any, call_next: Call) -> Any:
        from starlette.concurrency import run_in_threadpool

        from optimizer.web.deps import get_lang

        user = await run_in_threadpool(session_user, store_of(), request.session)
        request.state.user = user
        if user is None and not is_public(request.url.path):
            if request.url.path.startswith("/api/"):
                return JSONResponse({"detail": t("server.login_needed", get_lang(request))}, status_code=401)
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return await call_next(request)

    return middleware
