"""Why a person is left without a post, in words a planner can act on (layer 5).

The reasons come from :mod:`optimizer.rules.binding`, the same source as explain's
detail table and short notes: for each unit where the person is qualified, the rule that
binds them out of it (a pair-wise rule, a relative, or posts full).
"""

from __future__ import annotations

from optimizer.data import IntArray, Problem
from optimizer.rules.binding import unplaced_reasons as unplaced_reason_codes
from optimizer.rules.reason import render

__all__ = ["unplaced_reason_codes", "unplaced_reasons"]


def unplaced_reasons(problem: Problem, assignment: IntArray) -> dict[int, str]:
    """One sentence per unplaced person, in the current language (see
    :func:`unplaced_reason_codes` for the reasons as codes and parameters)."""
    return {i: render(r) for i, r in unplaced_reason_codes(problem, assignment).items()}
