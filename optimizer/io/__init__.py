"""The input layer (layer 2): scenarios and tables → a validated :class:`~optimizer.data.Problem`.

Typical use::

    from optimizer.io import load_problem, load_scenario

    scenario = load_scenario("scenarios/hcmc-2025/transition.toml", ["rules.max_commute_km=20"])
    problem, warnings = load_problem(scenario)   # raises InputError with every problem

Modules: :mod:`~optimizer.io.scenario` (TOML, ``extends``, ``--set``),
:mod:`~optimizer.io.tables` (CSV, XLSX, Parquet readers and cell parsing),
:mod:`~optimizer.io.vocab` (columns, Vietnamese aliases), :mod:`~optimizer.io.validate`
(pandera and cross-table checks), :mod:`~optimizer.io.build` (problem building),
:mod:`~optimizer.io.issues_xlsx` (the planner's "Lỗi" workbook).
"""

from optimizer.io.build import load_problem, read_tables
from optimizer.io.issues_xlsx import write_issues_xlsx
from optimizer.io.scenario import Scenario, load_scenario
from optimizer.io.tables import TableSource

__all__ = [
    "Scenario",
    "TableSource",
    "load_problem",
    "load_scenario",
    "read_tables",
    "write_issues_xlsx",
]
