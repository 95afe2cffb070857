"""What every route of the web app needs: its context, the language, the user, CSRF.

Pages and API routes take these as FastAPI dependencies, through the annotated types
:data:`Web`, :data:`CurrentUser`, :data:`Planner` and :data:`RequestLang`::

    @router.get("/runs/{run_id}")
    def run_page(request: Request, web: Web, user: CurrentUser, lang: RequestLang): ...

Templates rendered through :meth:`WebContext.render` receive ``request``, ``user``,
``lang``, ``t`` (the message catalogue in the request's language) and ``csrf_token``
(put it in every form as ``<input type="hidden" name="csrf_token" value="{{ csrf_token }}">``
or send it as the ``X-CSRF-Token`` header, e.g. HTMX's ``hx-headers``).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates

from optimizer.i18n import LANGS, Lang, t
from optimizer.store import RunStore
from optimizer.web.auth import LoginLimiter, User, audit, check_password, sign_in
from optimizer.web.views import RunCache

if TYPE_CHECKING:
    from starlette.responses import Response

    from optimizer.edit import SessionSnapshots
    from optimizer.web.jobs import JobManager

#: Cookie holding the chosen language (``vi`` or ``en``).
LANG_COOKIE = "staffplan_lang"
#: Header and form field that carry the CSRF token of a state-changing request.
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
#: Methods that never change state (no CSRF token needed).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_HERE = Path(__file__).parent
TEMPLATES_DIR = _HERE / "templates"
STATIC_DIR = _HERE / "static"
#: Folder of the workspace where runs open for editing are kept (see :class:`WebConfig`).
SESSIONS_DIR = Path(".staffplan-cache") / "sessions"


@dataclass(frozen=True)
class WebConfig:
    """How one web app is set up.

    Parameters
    ----------
    workspace
        The folder the app works in: uploaded scenarios, exports being written.
    store_path
        The run store shared with the command line.
    secret_key
        Signs the session cookies and derives the CSRF tokens.
    max_upload_bytes
        Largest upload accepted (and largest unpacked scenario zip).
    max_parallel
        How many solves run at once (each in its own worker process).
    """

    workspace: Path
    store_path: Path
    secret_key: bytes
    max_upload_bytes: int = 50 * 2**20
    max_parallel: int = 1

    @property
    def snapshots(self) -> SessionSnapshots:
        """Where runs open for editing are kept (``.staffplan-cache/sessions`` of the
        workspace), signed with the workspace's key."""
        from optimizer.edit import SessionSnapshots

        return SessionSnapshots(self.workspace / SESSIONS_DIR, self.secret_key)


@dataclass
class WebContext:
    """The state of one running app: its configuration, job queue, templates, login limiter."""

    config: WebConfig
    jobs: JobManager
    templates: Jinja2Templates = field(default_factory=lambda: make_templates())
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    runs: RunCache = field(default_factory=RunCache)

    def store(self) -> RunStore:
        """The run store (created when missing)."""
        return RunStore(self.config.store_path)

    def render(
        self, request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
    ) -> Response:
        """Render template ``name`` with the common context (see the module docstring)."""
        lang = get_lang(request)
        common: dict[str, Any] = {
            "user": getattr(request.state, "user", None),
            "lang": lang,
            "t": lambda key, **kw: t(key, lang, **kw),
            "csrf_token": csrf_token(request),
        }
        return self.templates.TemplateResponse(
            request, name, {**common, **(context or {})}, status_code=status_code
        )


def make_templates() -> Jinja2Templates:
    """The page templates of the package, HTML-escaped everywhere (names are data)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True)
    return Jinja2Templates(env=env)


def get_web(request: Request) -> WebContext:
    """The :class:`WebContext` of the app serving ``request``."""
    web: WebContext = request.app.state.web
    return web


def get_lang(request: Request) -> Lang:
    """The request's language: ``?lang=`` first, then the language cookie, else Vietnamese."""
    for value in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if value in LANGS:
            return "en" if value == "en" else "vi"
    return "vi"


def _session_id(request: Request) -> str:
    """The session's random id, created on first use (kept in the signed session cookie)."""
    session = request.session
    sid = session.get("sid")
    if not isinstance(sid, str):
        sid = secrets.token_urlsafe(24)
        session["sid"] = sid
    return sid


def csrf_token(request: Request) -> str:
    """The CSRF token of the request's session (an HMAC of the session id)."""
    key: bytes = request.app.state.web.config.secret_key
    return hmac.new(key, b"csrf:" + _session_id(request).encode(), sha256).hexdigest()


async def require_csrf(request: Request) -> None:
    """Refuse (403) a state-changing request without the session's CSRF token.

    The token is read from the ``X-CSRF-Token`` header, else from the ``csrf_token``
    field of a submitted form.  Safe methods (GET, HEAD, OPTIONS) pass.
    """
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, csrf_token(request)):
        raise HTTPException(status_code=403, detail=t("server.csrf_missing", get_lang(request)))


def current_user(request: Request) -> User:
    """The signed-in user (set by the authentication middleware); 401 when nobody is."""
    user: User | None = getattr(request.state, "user", None)
    if user is None:
        raise HTTPException(status_code=401, detail=t("server.login_needed", get_lang(request)))
    return user


def require_planner(request: Request) -> User:
    """The signed-in user when they are a planner; 403 for a viewer."""
    user = current_user(request)
    if user.role != "planner":
        raise HTTPException(status_code=403, detail=t("server.planner_only", get_lang(request)))
    return user


def log_in(request: Request, web: WebContext, name: str, password: str) -> User:
    """Sign a user in with their password (the login page and ``POST /api/login``).

    Raises
    ------
    HTTPException
        429 after too many failures from this address or for this name (the attempt is
        not even checked), 401 for a wrong name or password.  Every attempt is audited.
    """
    lang = get_lang(request)
    client = request.client.host if request.client else "?"
    store = web.store()
    if web.limiter.blocked(client, name):
        audit(store, name, "login_refused", client=client, reason="rate_limited")
        raise HTTPException(status_code=429, detail=t("server.login_rate_limited", lang))
    user = check_password(store, name, password)
    if user is None:
        web.limiter.failed(client, name)
        audit(store, name, "login_failed", client=client)
        raise HTTPException(status_code=401, detail=t("server.login_failed", lang))
    sign_in(request.session, user)
    request.state.user = user
    audit(store, user, "login", client=client)
    return user


#: Route parameter types: the app's context, the signed-in user (401 if none), a planner
#: (403 for a viewer), the request's language.
Web = Annotated[WebContext, Depends(get_web)]
CurrentUser = Annotated[User, Depends(current_user)]
Planner = Annotated[User, Depends(require_planner)]
RequestLang = Annotated[Lang, Depends(get_lang)]
