"""Signing in and out (only when the app has users; without users nobody signs in)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import RedirectResponse, Response

from optimizer.web.auth import audit, sign_out
from optimizer.web.deps import CurrentUser, Web, log_in
from optimizer.web.screens.common import render, safe_next

router = APIRouter()


@router.get("/login")
def login_page(request: Request, web: Web) -> Response:
    """The sign-in form."""
    return render(request, web, "login.html", next=safe_next(request.query_params.get("next")))


@router.post("/login")
async def login(request: Request, web: Web) -> Response:
    """Sign in with name and password, then go on to ``next``; the form again on failure."""
    form = await request.form()
    target = safe_next(str(form.get("next", "/")))
    try:
        log_in(request, web, str(form.get("name", ""))[:64], str(form.get("password", ""))[:1024])
    except HTTPException as exc:
        return render(request, web, "login.html", next=target, error=exc.detail, status_code=exc.status_code)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, web: Web, user: CurrentUser) -> Response:
    """Sign out."""
    audit(web.store(), user, "logout")
    sign_out(request.session)
    return RedirectResponse("/login", status_code=303)
