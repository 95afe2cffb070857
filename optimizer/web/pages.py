"""The pages of the web app (Jinja2 templates in ``optimizer/web/templates``, HTMX).

A first Start page only; the pages of issue 18 (start, data, scenario, run, result,
edit by hand, diagnose, re-plan, compare, export) are built here by the web-pages work.
Every page gets the common template context of :meth:`optimizer.web.deps.WebContext.render`
(``t``, ``lang``, ``user``, ``csrf_token``); every state-changing request is checked
for its CSRF token by the app (:func:`optimizer.web.deps.require_csrf`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from optimizer.web.deps import Web

router = APIRouter(include_in_schema=False)


@router.get("/")
def start(request: Request, web: Web) -> Response:
    """The Start page: the runs of the workspace."""
    return web.render(request, "start.html", {"runs": web.store().list()})
