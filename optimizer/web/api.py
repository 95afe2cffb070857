"""The JSON API of the web app (DESIGN §10; OpenAPI at ``/api/docs``).

Every call goes through :mod:`optimizer.service`; nothing here solves, reads tables or
writes annexes itself.  A state-changing call needs the session's CSRF token in the
``X-CSRF-Token`` header (``GET /api/session`` gives it); with users, a signed-in session
(``POST /api/login``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from optimizer import __version__
from optimizer.web.auth import User, audit, sign_out
from optimizer.web.deps import CurrentUser, Web, csrf_token, log_in

router = APIRouter(prefix="/api", tags=["api"])


class Health(BaseModel):
    """``GET /api/health``."""

    status: str
    version: str


class Session(BaseModel):
    """Who the session is, and the CSRF token its state-changing calls must send."""

    user: str | None
    role: str | None
    see_names: bool
    csrf_token: str


class Login(BaseModel):
    """``POST /api/login``."""

    name: str
    password: str


def _session(request: Request, user: User | None) -> Session:
    return Session(
        user=user.name if user else None,
        role=user.role if user else None,
        see_names=bool(user and user.see_names),
        csrf_token=csrf_token(request),
    )


@router.get("/health", response_model=Health)
def health() -> Health:
    """The app is up: ``{"status": "ok", "version": …}``."""
    return Health(status="ok", version=__version__)


@router.get("/session", response_model=Session)
def session(request: Request) -> Session:
    """The signed-in user (``null`` before signing in) and the session's CSRF token."""
    return _session(request, request.state.user)


@router.post("/login", response_model=Session)
def login(body: Login, request: Request, web: Web) -> Session:
    """Sign in (401 wrong name or password, 429 too many failures); the answer carries
    the new session's CSRF token."""
    return _session(request, log_in(request, web, body.name, body.password))


@router.post("/logout")
def logout(request: Request, web: Web, user: CurrentUser) -> dict[str, Any]:
    """End the session."""
    audit(web.store(), user, "logout")
    sign_out(request.session)
    return {"ok": True}
