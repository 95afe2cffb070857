"""What every page shares: rendering with the layout's context, labels, numbers, runs.

Pages render ``templates/pages/*.html`` through :func:`render`, which adds to the
context of :meth:`~optimizer.web.deps.WebContext.render` (``t``, ``lang``, ``user``,
``csrf_token``) the navigation, the current address (for the language switch), the
package version and the formatting helpers ``label(code, kind)``, ``num(value, digits)``
and ``kpi(value, kind)``.  Codes are never shown raw: every code goes through
:func:`optimizer.labels.label`.  Jinja2 escapes every value (names are data).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from threading import Lock
from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from starlette.responses import Response

from optimizer import __version__
from optimizer.errors import InputError
from optimizer.i18n import t
from optimizer.kpi_display import format_value
from optimizer.labels import CodeKind, label, number
from optimizer.localtime import local_time
from optimizer.store import StoredRun, StoredRunHead
from optimizer.web.deps import LANG_COOKIE, WebContext, get_lang
from optimizer.web.uploads import list_scenarios
from optimizer.web.views import CachedRun

#: How long the language cookie lasts (seconds).
LANG_COOKIE_AGE_S = 365 * 24 * 3600
#: The navigation bar: (key of ``page.nav.<key>``, address).
NAV: tuple[tuple[str, str], ...] = (
    ("start", "/"),
    ("data", "/data"),
    ("scenarios", "/scenarios"),
    ("runs", "/runs"),
    ("compare", "/compare"),
)


def render(
    request: Request,
    web: WebContext,
    template: str,
    /,
    *,
    active: str = "",
    crumbs: Sequence[tuple[str, str]] = (),
    status_code: int = 200,
    **context: Any,
) -> Response:
    """Render ``templates/pages/<template>`` with the layout's context and ``context``."""
    lang = get_lang(request)

    def code_label(code: object, kind: CodeKind) -> str:
        return label(code, kind, lang)

    def num(value: object, digits: int = 0, signed: bool = False) -> str:
        return number(value, digits, lang, signed=signed)

    def kpi(value: object, kind: str = "count", signed: bool = False) -> str:
        return format_value(value, kind, lang, signed=signed)

    def when(stamp: object) -> str:
        return local_time(str(stamp or ""), lang)

    common = {
        "nav": NAV,
        "active": active,
        "crumbs": crumbs,
        "here": _here(request),
        "version": __version__,
        "label": code_label,
        "num": num,
        "kpi": kpi,
        "when": when,
    }
    response = web.render(request, f"pages/{template}", {**common, **context}, status_code=status_code)
    if request.query_params.get("lang") == lang:  # a shared ?lang= address: its fragments follow it
        response.set_cookie(LANG_COOKIE, lang, max_age=LANG_COOKIE_AGE_S, httponly=True, samesite="lax")
    return response


def _here(request: Request) -> str:
    """The request's path and query without ``lang`` (the language switch adds its own)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return f"{request.url.path}?{urlencode(params)}" if params else request.url.path


def safe_next(target: str | None) -> str:
    """``target`` when it is an address of this app (``/…``), else ``/`` (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def cached_run(web: WebContext, ref: str) -> CachedRun:
    """A stored run with what the pages derive from it (the app's run cache); 404 when unknown."""
    store = web.store()
    try:
        run_id = store.resolve(ref)
    except InputError as exc:
        raise HTTPException(status_code=404, detail=exc.issues[0].message) from exc
    return web.runs.get(store, run_id)


def scenario_of(web: WebContext, path: str) -> str | None:
    """The id of the scenario (an upload or a workspace file) whose file is ``path``, if
    the app offers it (for a link to its page or its diagnosis)."""
    return next(
        (e.scenario_id for e in list_scenarios(web.config.workspace, web.store()) if str(e.path) == path),
        None,
    )


def stored_run(web: WebContext, ref: str) -> StoredRun:
    """A stored run with its tables (see :func:`cached_run`)."""
    return cached_run(web, ref).run


def run_head(web: WebContext, ref: str) -> StoredRunHead:
    """A stored run's head: status, meta and KPIs, no table read (see :func:`cached_run`)."""
    return cached_run(web, ref).head


class Memo:
    """The last ``size`` values made, by key (thread-safe): what a page derives from runs,
    which never change once stored (a map, a comparison)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The value of ``key``, made by ``make()`` unless kept."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = make()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value


def message(lang: str, key: str, **kwargs: object) -> str:
    """Message ``key`` of the catalogue in ``lang``."""
    return t(key, lang, **kwargs)
