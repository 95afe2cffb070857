"""The web application of ``staffplan serve``: :func:`create_app`.

It mounts the JSON API (:mod:`optimizer.web.api`, OpenAPI at ``/api/docs``), the pages
(:mod:`optimizer.web.pages`) and the static files shipped in the package
(``optimizer/web/static``, served at ``/static``), behind signed session cookies, the
authentication middleware and a CSRF check on every state-changing request.  Solves run
in worker processes (:class:`~optimizer.web.jobs.JobManager`), started with the app and
stopped with it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from optimizer import __version__
from optimizer.i18n import speaking
from optimizer.store import STORE_ENV, RunStore
from optimizer.web import api, pages
from optimizer.web.auth import auth_middleware
from optimizer.web.deps import STATIC_DIR, WebConfig, WebContext, get_lang, require_csrf
from optimizer.web.jobs import JobManager
from optimizer.web.views import RunCache

if TYPE_CHECKING:
    from optimizer.edit import SessionSnapshots

log = logging.getLogger(__name__)

#: File of the workspace holding the key that signs session cookies (mode 0600).
SECRET_FILE = ".staffplan-secret"
#: How many of the newest stored runs with a placement get an edit snapshot at start.
RUNS_KEPT_OPEN = 5
#: Niceness of the thread writing them.
KEEP_OPEN_NICE = 10
#: Name of the session cookie.
SESSION_COOKIE = "staffplan_session"
#: Sessions last at most this long (seconds).
SESSION_MAX_AGE_S = 12 * 3600
#: Content security policy of every answer: everything from the app itself (the app works
#: offline), inline styles allowed, no inline scripts; MapLibre's workers are blobs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}


#: The page of ``/api/docs``: the vendored Swagger UI (``static/swagger-ui``) on the
#: app's OpenAPI document; no inline script.
API_DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>staffplan API</title>
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/swagger-ui/init.js"></script>
</body></html>
"""


def workspace_secret(workspace: Path) -> bytes:
    """The workspace's session-signing key, created (random, mode 0600) on first use."""
    path = workspace / SECRET_FILE
    if not path.exists():
        workspace.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def default_parallel_solves() -> int:
    """How many solves run at once by default: one per two cores (a solve uses two
    threads: the flow core and HiGHS), at least one."""
    return max(1, (os.cpu_count() or 1) // 2)


def store_path_for(workspace: Path, store: Path | None = None) -> Path:
    """The run store of a workspace: ``store`` if given, else ``$STAFFPLAN_STORE``, else
    ``staffplan.db`` in the workspace (so the command line, run in the workspace, sees
    the same runs)."""
    if store is not None:
        return store
    env = os.environ.get(STORE_ENV)
    return Path(env) if env else workspace / "staffplan.db"


def keep_runs_open(store: RunStore, snapshots: SessionSnapshots, skip: Collection[str] = ()) -> None:
    """Write the edit snapshots of the :data:`RUNS_KEPT_OPEN` newest runs with a placement
    that have none (runs made on the command line), at a low priority: the body of a
    thread started with the app, so that their first edit check reads them."""
    from optimizer import service

    with contextlib.suppress(OSError):  # this thread only (Linux): solves and requests first
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), KEEP_OPEN_NICE)
    try:
        service.keep_stored_sessions(store, snapshots, RUNS_KEPT_OPEN, skip)
    except Exception:  # only a head start: a run's first check rebuilds it
        log.exception("the stored runs could not be kept open for editing")


def _web_context(
    workspace: Path, store: str | Path | None, max_parallel: int | None, max_upload_bytes: int | None
) -> WebContext:
    """The app's shared state (:func:`create_app`'s parameters): configuration, run cache
    and the solve queue, the store created (0600) and migrated now, not by the first request."""
    folder = workspace.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    store_path = store_path_for(folder, Path(store) if store is not None else None)
    RunStore(store_path)
    config = WebConfig(
        workspace=folder,
        store_path=store_path,
        secret_key=workspace_secret(folder),
        max_parallel=max_parallel or default_parallel_solves(),
        **({"max_upload_bytes": max_upload_bytes} if max_upload_bytes else {}),
    )
    runs = RunCache()
    web: WebContext

    def prefetch(run_id: str) -> None:
        runs.prefetch(web.store(), run_id, config.snapshots)

    jobs = JobManager(store_path, config.max_parallel, on_stored=prefetch, snapshots=config.snapshots)
    web = WebContext(config=config, jobs=jobs, runs=runs)
    return web


def _lifespan(web: WebContext) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """Start and stop of the app: the newest run read ahead, older runs kept open in the
    background (:func:`keep_runs_open`), the solve queue started and shut down."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        newest = [s.run_id for s in web.store().list()[:1]]
        if newest:  # its page is likely the first one opened
            web.runs.prefetch(web.store(), newest[0], web.config.snapshots)
        threading.Thread(
            target=keep_runs_open,
            args=(web.store(), web.config.snapshots, newest),
            name="keep-open",
            daemon=True,
        ).start()
        web.jobs.start()
        try:
            yield
        finally:
            web.jobs.shutdown()

    return lifespan


def create_app(
    workspace: str | Path,
    *,
    store: str | Path | None = None,
    max_parallel: int | None = None,
    max_upload_bytes: int | None = None,
) -> FastAPI:
    """Build the web app of a workspace.

    Parameters
    ----------
    workspace
        Folder of the uploaded scenarios and the exports being written (created if
        missing); its ``staffplan.db`` is the run store unless ``store`` or
        ``$STAFFPLAN_STORE`` names another.
    store
        The run store file.
    max_parallel
        How many solves run at once (default :func:`default_parallel_solves`).
    max_upload_bytes
        The largest upload accepted (default 50 MiB).
    """
    web = _web_context(Path(workspace), store, max_parallel, max_upload_bytes)
    config = web.config
    app = FastAPI(
        title="staffplan",
        version=__version__,
        docs_url=None,
        openapi_url="/api/openapi.json",
        redoc_url=None,
        lifespan=_lifespan(web),
        # bodies over the upload limit (and its multipart overhead) are refused with 413
        # as they arrive, declared length or not, before they are spooled to disk
        max_body_size=config.max_upload_bytes + 2**20,
    )
    app.state.web = web
    app.include_router(api.router, dependencies=[Depends(require_csrf)])
    app.include_router(pages.router, dependencies=[Depends(require_csrf)])
    app.add_exception_handler(StarletteHTTPException, pages.http_error)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """The API's interactive documentation (Swagger UI shipped in the package: offline)."""
        return HTMLResponse(API_DOCS_HTML)

    @app.middleware("http")
    async def security_headers(request: Any, call_next: Any) -> Any:
        # the request's language reaches every text rendered for it (explanations, reasons)
        with speaking(get_lang(request)):
            response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.middleware("http")(auth_middleware(web.store))
    # added last, so outermost: the session is decoded before the authentication runs
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.secret_key.hex(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=False,
    )
    return app
