"""The planner's web app behind ``staffplan serve`` (top layer, beside the CLI).

A thin FastAPI layer over :mod:`optimizer.service`:

* :mod:`optimizer.web.app` builds the application (:func:`~optimizer.web.app.create_app`);
* :mod:`optimizer.web.deps` holds what every route needs: the web context (workspace,
  store, jobs, templates), the language, the signed-in user and the CSRF token;
* :mod:`optimizer.web.api` is the JSON API (OpenAPI at ``/api/docs``);
* :mod:`optimizer.web.pages` renders the Jinja2 pages (HTMX, no build step);
* :mod:`optimizer.web.jobs` runs solves in worker processes, one queue;
* :mod:`optimizer.web.auth` keeps users, sessions, CSRF, login rate limits, the audit log;
* :mod:`optimizer.web.uploads` turns an uploaded workbook or scenario zip into a
  scenario folder of the workspace.

FastAPI, Starlette and Jinja2 are imported only inside this package.
"""
