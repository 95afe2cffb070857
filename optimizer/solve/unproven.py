"""Why a stage ended without a proof, and what to try, in planner words (layer 5).

The engine records, per stage not proven optimal, a cause code and the relatives its
last relaxed flow still put together (:class:`~optimizer.solution.Unproven`); this
module turns them into sentences from the message catalogues (Vietnamese by default,
English with ``--lang en``): which stage, why, for whom, and what to try next.
"""

from __future__ import annotations

from optimizer.data import Problem
from optimizer.i18n import t
from optimizer.labels import number, terms_label
from optimizer.solution import SolveResult

#: Pairs of relatives named per stage (the others are counted).
SHOWN_PAIRS = 5


def unproven_lines(problem: Problem, result: SolveResult, run_id: str, lang: str | None = None) -> list[str]:
    """The sentences that explain each stage of ``result`` left without a proof."""
    lines: list[str] = []
    staff, units = problem.staff, problem.units
    limit = problem.solver.time_limit_s
    for item in result.unproven:
        stage = terms_label(item.stage, lang)
        lines.append(t(f"unproven.{item.cause}", lang, stage=stage, limit=number(limit, 0, lang)))
        if item.conflicts:
            pairs = [
                t(
                    "unproven.pair",
                    lang,
                    a=staff.full_name[a],
                    a_id=staff.ids[a],
                    b=staff.full_name[b],
                    b_id=staff.ids[b],
                    unit=units.names[u],
                )
                for a, b, u in item.conflicts[:SHOWN_PAIRS]
            ]
            more = len(item.conflicts) - SHOWN_PAIRS
            if more > 0:
                pairs.append(t("unproven.more", lang, count=number(more, 0, lang)))
            lines.append(t("unproven.conflicts", lang, count=len(item.conflicts), pairs="; ".join(pairs)))
            first = staff.ids[item.conflicts[0][0]]
            lines.append(t("unproven.try_conflicts", lang, run=run_id, staff=first))
        if item.cause != "gap":
            lines.append(t("unproven.try_time", lang, limit=number(2 * limit, 0, lang)))
        else:
            lines.append(t("unproven.try_gap", lang, limit=number(2 * limit, 0, lang)))
    return lines
