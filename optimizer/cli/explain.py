"""``staffplan explain``, ``diagnose`` and ``replan``: why a placement, why no placement,
and a re-plan after changes.

Exit codes: 0 done; 1 infeasible (``diagnose`` on an infeasible scenario, a re-plan with
no placement); 2 bad input (unknown run or person, changed inputs, a bad changes file).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import rich_click as click

from optimizer.cli.common import (
    EXIT_INFEASIBLE,
    bad_input_exits,
    print_issues,
    set_option,
    store_option,
)
from optimizer.i18n import t
from optimizer.labels import label, labels, number

if TYPE_CHECKING:
    from rich.console import Console

    from optimizer.data import Problem
    from optimizer.diagnose import Diagnosis
    from optimizer.explain import Forcing, PersonExplanation
    from optimizer.solve.engine import Progress

#: How many of the other people who would move are named per alternative.
MOVERS_SHOWN = 5


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, markup=False)


def _unit_label(problem: Problem, unit: int) -> str:
    return f"{problem.units.names[unit]} ({problem.units.ids[unit]})" if unit >= 0 else "-"


def _post_label(problem: Problem, post: int) -> str:
    if post < 0:
        return t("cli_explain.unplaced")
    posts = problem.posts
    position, bloc = label(posts.position[post], "position"), label(posts.bloc[post], "bloc")
    return f"{_unit_label(problem, int(posts.unit_idx[post]))} · {position} · {bloc}"


def _forcing_text(problem: Problem, force: Forcing) -> str:
    deltas = ", ".join(
        f"{label(k, 'term')} {number(v, signed=True)}" for k, v in force.deltas.items() if v
    ) or t("cli_explain.no_change")
    movers = [
        " ".join(
            (
                problem.staff.ids[m.staff_idx],
                _post_label(problem, m.from_post),
                "→",
                _post_label(problem, m.to_post),
            )
        )
        for m in force.moves[:MOVERS_SHOWN]
    ]
    more = len(force.moves) - MOVERS_SHOWN
    text = t(
        "cli_explain.forcing",
        post=label(problem.posts.position[force.post_idx], "position"),
        deltas=deltas,
        count=len(force.moves),
        method=label(force.method, "method"),
        seconds=number(force.time_s, 2),
    )
    if movers:
        text += "\n  " + "\n  ".join(movers) + (t("diagnose.more", count=more) if more > 0 else "")
    return text


def print_explanation(console: Console, p: Problem, exp: PersonExplanation) -> None:
    """Print one person's explanation: the placement, then a table of the alternatives."""
    from rich.table import Table

    i = exp.staff_idx
    console.print(
        t(
            "cli_explain.person",
            id=p.staff.ids[i],
            name=p.staff.full_name[i],
            positions=labels(p.staff.positions[i], "position"),
            category=label(p.staff.category[i], "category"),
        )
    )
    console.print(
        t(
            "cli_explain.placement",
            post=_post_label(p, exp.post_idx),
            km="-" if exp.distance_km is None else number(exp.distance_km, 1),
            origin=_unit_label(p, exp.origin_idx),
            rank=exp.preference_rank or "-",
        )
    )
    console.print(t("cli_explain.reason", reason=exp.reason))
    table = Table(title=t("cli_explain.alternatives"), title_justify="left", show_lines=True)
    for key in ("unit", "km", "rank", "verdict"):
        table.add_column(t(f"cli_explain.col.{key}"), justify="right" if key in ("km", "rank") else "left")
    for alt in exp.alternatives:
        if alt.excluded:
            verdict = "\n".join(f"[{label(r.rule, 'rule')}] {r.text}" for r in alt.excluded)
        elif alt.forcing is not None and alt.forcing.feasible:
            verdict = _forcing_text(p, alt.forcing)
        else:
            verdict = t("cli_explain.allowed")
        table.add_row(
            _unit_label(p, alt.unit_idx), number(alt.distance_km, 1), str(alt.preference_rank or "-"), verdict
        )
    console.print(table)


@click.command("explain")
@click.argument("run")
@click.argument("staff_id", required=False)
@click.option(
    "--alternatives",
    "-n",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="How many of the nearest other units to examine.",
)
@click.option(
    "--unit", "units", multiple=True, metavar="UNIT_ID", help="Also examine this unit (repeatable)."
)
@click.option(
    "--no-forcing", is_flag=True, help="Only name the rules; skip the cost of forcing an alternative."
)
@click.option("--all", "all_people", is_flag=True, help="One short reason per person (with --out).")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --all: the CSV file to write (staff_id, full_name, unit_id, position, note).",
)
@store_option
@bad_input_exits
def explain(
    run: str,
    staff_id: str | None,
    alternatives: int,
    units: tuple[str, ...],
    no_forcing: bool,
    all_people: bool,
    out_path: Path | None,
    store_path: Path | None,
) -> None:
    """Why STAFF_ID is where they are in RUN (a run id, a prefix, or `latest`).

    Shows the post, distance, origin unit and preference rank; then, for the nearest
    other units (and each --unit), the hard rule that excludes it (rule id and plain
    words), or what forcing the person there would cost: the change of every objective
    term and who else would move.  --all --out FILE writes one short reason per person,
    usable as the annex's Ghi chú column.
    """
    from optimizer import service

    if all_people == (staff_id is not None):
        raise click.UsageError(t("cli_explain.usage_all"))
    if all_people and out_path is None:
        raise click.UsageError(t("cli_explain.usage_out"))
    store = service.open_store(store_path)
    if all_people:
        assert out_path is not None
        base_run, reasons = service.explain_all(store, run)
        with service.guard_outputs(store, [base_run]):
            service.write_short_reasons(reasons, out_path)
        click.echo(t("cli_explain.written", path=str(out_path), count=len(reasons)))
        return
    assert staff_id is not None
    found = service.explain(
        store, run, staff_id, alternatives=alternatives, units=units, forcing=not no_forcing
    )
    console = _console()
    console.print(t("cli_explain.run", run=found.run.run_id, status=label(found.run.status, "status")))
    print_explanation(console, found.problem, found.person)


# --------------------------------------------------------------------------- diagnose


def print_diagnosis(console: Console, diagnosis: Diagnosis) -> None:
    """Print each conflict (summary, members) and its checked relaxations."""
    for k, conflict in enumerate(diagnosis.conflicts, start=1):
        console.print(t("cli_explain.conflict", number=k, summary=conflict.summary))
        if conflict.assuming:
            console.print(t("cli_explain.assuming", fixes="; ".join(r.text for r in conflict.assuming)))
        for member in conflict.members:
            console.print(f"  - {member}")
        if conflict.relaxations:
            console.print(t("cli_explain.relaxations"))
        for r in conflict.relaxations:
            scope = t("cli_explain.fixes_all") if r.fixes_all else t("cli_explain.fixes_conflict")
            console.print(f"  * {r.text} [{scope}]")
    if diagnosis.message:
        console.print(diagnosis.message)


@click.command("diagnose")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@click.option(
    "--max-conflicts",
    type=click.IntRange(1),
    default=3,
    show_default=True,
    help="Stop after this many separate conflicts.",
)
@bad_input_exits
def diagnose(scenario: Path, overrides: tuple[str, ...], max_conflicts: int) -> None:
    """Why SCENARIO has no placement: the smallest sets of conflicting rules, and fixes.

    Each conflict is a set of rule groups (a post line's hard minimum, a pin, a person
    who must be placed, a forbidden bloc change, a pair of relatives) that cannot all
    hold, though dropping any one of them lets the rest hold.  Each is followed by
    relaxations, checked and ranked: those that make the whole scenario feasible first.
    Exit 0 when the scenario is feasible, 1 when conflicts were found.
    """
    from optimizer import service

    diagnosed = service.diagnose(scenario, overrides, max_conflicts=max_conflicts)
    sc, result = diagnosed.scenario, diagnosed.diagnosis
    console = _console()
    if result.feasible:
        console.print(t("cli_explain.feasible", scenario=sc.name, seconds=f"{result.time_s:.1f}"))
        return
    console.print(
        t(
            "cli_explain.infeasible",
            scenario=sc.name,
            count=len(result.conflicts),
            seconds=f"{result.time_s:.1f}",
        )
    )
    print_diagnosis(console, result)
    sys.exit(EXIT_INFEASIBLE)


# --------------------------------------------------------------------------- replan


def _progress(event: Progress) -> None:
    click.echo(event.describe(), err=True)


@click.command("replan")
@click.argument("run")
@click.option(
    "--changes",
    "changes_path",
    required=True,
    metavar="FILE",
    help="Changes file (CSV, XLSX[#sheet] or Parquet): action = leave | arrive | post_change.",
)
@click.option(
    "--move-penalty",
    type=click.IntRange(0),
    default=None,
    help="Weigh each change (in units of 100 m of commute) instead of ranking changes.",
)
@click.option(
    "--changes-first", is_flag=True, help="Fewest changes first: nobody moves unless a hard rule forces it."
)
@click.option("--time-limit", type=float, help="Solver time limit in seconds (default: the base run's).")
@click.option(
    "--prove/--quick",
    default=True,
    show_default=True,
    help="Prove the re-plan optimal on every stage (the default: a re-plan's stages are mostly "
    "proven by their first flow, which is faster than the quick placement's repairs), or "
    "--quick: each stage's flow and its repair, with the bounds that come with them.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the list of changes to this CSV file.",
)
@store_option
@bad_input_exits
def replan(
    run: str,
    changes_path: str,
    move_penalty: int | None,
    changes_first: bool,
    time_limit: float | None,
    prove: bool,
    out_path: Path | None,
    store_path: Path | None,
) -> None:
    """Re-plan RUN after people leave or arrive or post lines change (--changes FILE).

    The base placement is kept as far as the changes allow: by default a change counts
    right after shortfall and unplaced (vacancies are refilled, arrivals placed, nobody
    moved for comfort); --changes-first ranks changes first; --move-penalty W weighs
    each change W.  Stores a new run linked to its base and lists who moves, from where,
    to where and why.
    """
    from optimizer import service
    from optimizer.cli.runs import print_kpis

    try:
        mode = service.replan_mode(move_penalty, changes_first)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    store = service.open_store(store_path)
    prepared = service.prepare_replan(store, run, changes_path, time_limit=time_limit)
    changes_file = [prepared.changes.path]
    with service.guard_outputs(
        store, [prepared.base.run], inputs=changes_file, files=[out_path] if out_path else []
    ):
        pass  # a bad --out is refused before the re-plan is solved and stored
    if prepared.changes.warnings:
        print_issues(list(prepared.changes.warnings))
    try:
        done = service.solve_replan(
            store, prepared, mode=mode, move_penalty=move_penalty, prove=prove, progress=_progress
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    base, plan, changes = done.base, done.plan, done.changes
    if done.run is None:
        failure = plan.result.failure
        click.echo(t("cli_explain.replan_infeasible", message=failure.render() if failure else ""), err=True)
        sys.exit(EXIT_INFEASIBLE)
    run_id = done.run.run_id
    console = _console()
    console.print(
        t(
            "cli_explain.replan_stored",
            run_id=run_id,
            base=base.run.run_id,
            status=label(plan.result.status, "status"),
            count=sum(c.why != "left" for c in plan.changes),
            leaves=len(changes.leaves),
            arrivals=len(changes.arrivals),
            lines=len(changes.post_changes),
        )
    )
    from rich.table import Table

    table = Table(title=t("cli_explain.changes_title"), title_justify="left")
    for col in (
        "staff_id",
        "full_name",
        "from_unit",
        "from_position",
        "to_unit",
        "to_position",
        "why_text",
        "note",
    ):
        table.add_column(t(f"cli_explain.col.{col}"))
    for c in plan.changes:
        why = t(f"replan.why.{c.why}")
        old, new = label(c.from_position, "position"), label(c.to_position, "position")
        table.add_row(c.staff_id, c.full_name, c.from_unit, old, c.to_unit, new, why, c.note)
    console.print(table)
    if out_path is not None:
        with service.guard_outputs(store, [base.run], inputs=changes_file):
            service.write_replan_changes(done, out_path)
    print_kpis({base.run.run_id: base.run.kpis, run_id: done.run.kpis})


COMMANDS: list[click.Command] = [explain, diagnose, replan]
