"""The pages of the web app: Jinja2 templates (``templates/pages``) and HTMX, no build step.

Every page is a plain address that can be bookmarked and shared, renders on the server,
speaks Vietnamese by default (English with the switch in the header, kept in a cookie)
and works with no network: htmx, the stylesheet and plotly.js are served by the app.
Pages call :mod:`optimizer.service` (never the command line); every form and HTMX
request carries the session's CSRF token (the app checks it on every POST and DELETE).

=======================================  =========================================
page                                     module
=======================================  =========================================
start, runs, a solve's progress          :mod:`optimizer.web.views.start`
data upload and validation, template     :mod:`optimizer.web.views.data`
scenario form, TOML, variants, run       :mod:`optimizer.web.views.scenario`
result: summary, units, map, people      :mod:`optimizer.web.views.result`
edit by hand                             :mod:`optimizer.web.views.edit`
diagnose, re-plan                        :mod:`optimizer.web.views.diagnose`
compare                                  :mod:`optimizer.web.views.compare`
export                                   :mod:`optimizer.web.views.export`
=======================================  =========================================
"""

from __future__ import annotations

from fastapi import APIRouter

from optimizer.web.views import compare, data, diagnose, export, result, scenario, start

router = APIRouter(include_in_schema=False)
# diagnose before scenario: its /scenarios/{id}/diagnose must win over /scenarios/{id}
for _module in (start, data, diagnose, scenario, result, compare, export):
    router.include_router(_module.router)
