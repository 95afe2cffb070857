"""Why a person is left without a post, in words a planner can act on (layer 5)."""

from __future__ import annotations

import numpy as np

from optimizer.data import IntArray, Problem
from optimizer.i18n import t
from optimizer.labels import label, number
from optimizer.solve.candidates import Candidates, qualified_pairs


def unplaced_reasons(problem: Problem, cand: Candidates, assignment: IntArray) -> dict[int, str]:
    """One sentence per unplaced person.

    A person with candidate posts was left out because every post line they could take
    is full (the surplus): the sentence names their position and the commute cap.  A
    person without any candidate names the first rule that removed their last pair.
    """
    unplaced = np.flatnonzero(assignment < 0)
    if len(unplaced) == 0:
        return {}
    rules = problem.rules
    has_cand = np.zeros(problem.num_staff, dtype=bool)
    has_cand[cand.person] = True
    q_person, q_post = qualified_pairs(problem)
    qualified = np.zeros(problem.num_staff, dtype=bool)
    qualified[q_person] = True
    units = problem.posts.unit_idx[q_post]
    dist = problem.dist_km[q_person, units]
    reachable = np.zeros(problem.num_staff, dtype=bool)
    near = problem.units.island[units] | (dist <= rules.max_commute_km)
    reachable[q_person[near]] = True
    out: dict[int, str] = {}
    for i in unplaced:
        position = label(problem.staff.positions[i][0], "position") if problem.staff.positions[i] else "?"
        km = number(rules.max_commute_km, 1)
        if has_cand[i]:
            out[int(i)] = t("solve.reason_full", position=position, km=km)
        elif not qualified[i]:
            out[int(i)] = t(
                "solve.reason_no_post",
                position=position,
                category=label(problem.staff.category[i], "category"),
            )
        elif not reachable[i]:
            out[int(i)] = t("solve.reason_too_far", position=position, km=km)
        else:
            out[int(i)] = t("solve.reason_rules", position=position)
    return out
