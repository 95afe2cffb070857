"""Independent rule checker and objective recomputation (layer 2-3).

Solver-free: one function per hard rule id of DESIGN §4, each returning the
violations it finds in any placement, and one function per objective term of DESIGN
§5 recomputing its value.  It runs after every solve; a violation there is a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optimizer.data import CHANGES, LEADERSHIP_SHORTFALL_WEIGHT, IntArray, Problem


@dataclass(frozen=True)
class Violation:
    """One broken hard rule: its id, the person and/or post line, and what is wrong."""

    rule: str
    message: str
    staff_idx: int = -1
    post_idx: int = -1


class RuleViolationError(AssertionError):
    """A placement returned by the solver breaks a hard rule: always a bug."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        head = "; ".join(f"{v.rule}: {v.message}" for v in violations[:5])
        super().__init__(f"{len(violations)} hard-rule violation(s): {head}")


def _placed(assignment: IntArray) -> tuple[IntArray, IntArray]:
    people = np.flatnonzero(assignment >= 0)
    return people, assignment[people].astype(np.int64)


def check_one_post(problem: Problem, assignment: IntArray) -> list[Violation]:
    """``one_post``: one entry per person, a valid post line or -1; every person placed
    when ``require_all_placed``."""
    if len(assignment) != problem.num_staff:
        return [Violation("one_post", f"{len(assignment)} entries for {problem.num_staff} people")]
    bad = np.flatnonzero((assignment < -1) | (assignment >= problem.num_posts))
    out = [Violation("one_post", "not a post line", int(i), int(assignment[i])) for i in bad]
    if problem.rules.require_all_placed:
        out += [
            Violation("one_post", "unplaced although require_all_placed", int(i))
            for i in np.flatnonzero(assignment == -1)
        ]
    return out


def check_post_max(problem: Problem, assignment: IntArray) -> list[Violation]:
    """``post_max``: no post line holds more than its max."""
    _, posts = _placed(assignment)
    filled = np.bincount(posts, minlength=problem.num_posts)
    over = np.flatnonzero(filled > problem.posts.max)
    return [
        Violation("post_max", f"{filled[p]} people > max {problem.posts.max[p]}", post_idx=int(p))
        for p in over
    ]


def check_post_min(problem: Problem, assignment: IntArray) -> list[Violation]:
    """``post_min``: with ``min_is_hard``, no post line holds fewer than its min."""
    if not problem.rules.min_is_hard:
        return []
    _, posts = _placed(assignment)
    filled = np.bincount(posts, minlength=problem.num_posts)
    under = np.flatnonzero(filled < problem.posts.min)
    return [
        Violation("post_min", f"{filled[p]} people < min {problem.posts.min[p]}", post_idx=int(p))
        for p in under
    ]


def check_qualification(problem: Problem, assignment: IntArray) -> list[Violation]:
    """``qualification``: a position in the person's list, of the person's category."""
    out = []
    posts, staff = problem.posts, problem.staff
    for i, p in zip(*_placed(assignment), strict=True):
        if posts.position[p] not in staff.positions[i] or posts.category[p] != staff.category[i]:
            out.append(Violation("qualification", f"{posts.position[p]}/{posts.category[p]}", int(i), int(p)))
    return out


def check_commute_cap(problem: Problem, assignment: IntArray) -> list[Violation]:
    """``commute_cap``: distance ≤ max_commute_km, except placements on an island unit."""
    people, posts = _placed(assignment)
    units = problem.posts.unit_idx[posts]
    dist = problem.dist_km[people, units]
    bad = ~problem.units.island[units] & (dist > problem.rules.max_commute_km + 1e-6)
    return [
        Violation("commute_cap", f"{dist[k]:.1f} km", int(people[k]), int(posts[k]))
        for k in np.flatnonzero(bad)
    ]


def check_island(problem: Problem, assignment: IntArray) -> list[Violation]:
    """``island``: an island unit takes only people with ``island_ok``."""
    people, posts = _placed(assignment)
    units = problem.posts.unit_idx[posts]
    bad = problem.units.island[units] & ~problem.staff.island_ok[people]
    return [Violation("island", "not island_ok", int(people[k]), int(posts[k])) for k in np.flatnonzero(bad)]


def check_non_local(problem: Problem, assignment: IntArray) -> list[Violation]:
    """``non_local``: a non_local post line is never held by a person local to its unit."""
    out = []
    for i, p in zip(*_placed(assignment), strict=True):
        u = int(problem.posts.unit_idx[p])
        if problem.posts.non_local[p] and u in problem.staff.local_idx[i]:
            out.append(Violation("non_local", "local person on a non_local post", int(i), int(p)))
    return out


def check_relatives(problem: Problem, assignment: IntArray) -> list[Violation]:
    """``relatives``: two relatives never share a unit when either holds a leadership post
    (scope ``leadership``), never at all (scope ``any``), or the rule is off."""
    scope = problem.rules.relatives_scope
    if scope == "off":
        return []
    out = []
    unit_of, lead = problem.posts.unit_idx, problem.posts.leadership
    for a, b in zip(problem.relations.a_idx, problem.relations.b_idx, strict=True):
        pa, pb = int(assignment[a]), int(assignment[b])
        if pa < 0 or pb < 0 or unit_of[pa] != unit_of[pb]:
            continue
        if scope == "any" or lead[pa] or lead[pb]:
            out.append(
                Violation("relatives", f"relative {problem.staff.ids[b]} in the same unit", int(a), pa)
            )
    return out


def check_service_left(problem: Problem, assignment: IntArray) -> list[Violation]:
    """``service_left``: a leadership post needs ≥ min_service_months before retirement."""
    people, posts = _placed(assignment)
    months = problem.months_left[people]
    bad = problem.posts.leadership[posts] & (months < problem.rules.min_service_months)
    return [
        Violation("service_left", f"{months[k]} months left", int(people[k]), int(posts[k]))
        for k in np.flatnonzero(bad)
    ]


def check_pins(problem: Problem, assignment: IntArray) -> list[Violation]:
    """``pins``: fixes hold (unit, and position when named); forbidden pairs never happen."""
    out = []
    pins, posts = problem.pins, problem.posts
    for s, u, pos, mode in zip(pins.staff_idx, pins.unit_idx, pins.position, pins.mode, strict=True):
        p = int(assignment[s])
        here = p >= 0 and posts.unit_idx[p] == u and (pos is None or posts.position[p] == pos)
        if mode == "fix" and not here:
            out.append(Violation("pins", "fix pin not held", int(s), p))
        if mode == "forbid" and here:
            out.append(Violation("pins", "forbidden pair used", int(s), p))
    return out


def check_bloc_change(problem: Problem, assignment: IntArray) -> list[Violation]:
    """``bloc_change``: with ``forbid``, nobody moves to the other bloc."""
    if problem.rules.bloc_change != "forbid":
        return []
    return [
        Violation("bloc_change", f"{problem.staff.bloc[i]} → {problem.posts.bloc[p]}", int(i), int(p))
        for i, p in zip(*_placed(assignment), strict=True)
        if problem.staff.bloc[i] != problem.posts.bloc[p]
    ]


#: One checker per hard rule id, in the order of DESIGN §4.
CHECKS: dict[str, Callable[[Problem, IntArray], list[Violation]]] = {
    "one_post": check_one_post,
    "post_max": check_post_max,
    "post_min": check_post_min,
    "qualification": check_qualification,
    "commute_cap": check_commute_cap,
    "island": check_island,
    "non_local": check_non_local,
    "relatives": check_relatives,
    "service_left": check_service_left,
    "pins": check_pins,
    "bloc_change": check_bloc_change,
}


def check_placement(problem: Problem, assignment: IntArray) -> list[Violation]:
    """Every violation of every hard rule in ``assignment``."""
    first = check_one_post(problem, assignment)
    invalid = len(assignment) != problem.num_staff or bool(
        ((assignment < -1) | (assignment >= problem.num_posts)).any()
    )
    if invalid:
        return first  # the other checks need valid post line indices
    out = list(first)
    for rule, check in CHECKS.items():
        if rule != "one_post":
            out += check(problem, assignment)
    return out


def assert_valid(problem: Problem, assignment: IntArray) -> None:
    """Raise :class:`RuleViolationError` if any hard rule is broken."""
    violations = check_placement(problem, assignment)
    if violations:
        raise RuleViolationError(violations)


def objective_terms(
    problem: Problem, assignment: IntArray, reference: IntArray | None = None
) -> dict[str, int]:
    """Recompute every objective term of DESIGN §5 from the placement alone, plus
    ``changes`` (people placed differently from ``reference``) when one is given."""
    people, posts = _placed(assignment)
    staff = problem.staff
    units = problem.posts.unit_idx[posts].astype(np.int64)
    filled = np.bincount(posts, minlength=problem.num_posts)
    mult = np.where(problem.posts.leadership, LEADERSHIP_SHORTFALL_WEIGHT, 1)
    dist = problem.dist_km[people, units].astype(np.float64)
    moves = int(np.count_nonzero(staff.origin_idx[people] != units))
    if problem.rules.bloc_change == "penalize":
        moves += sum(staff.bloc[i] != problem.posts.bloc[p] for i, p in zip(people, posts, strict=True))
    preference = 0
    for i, u in zip(people, units, strict=True):
        prefs = staff.preferences[i]
        if prefs:
            preference += prefs.index(u) if u in prefs else len(prefs)
    values = {
        "shortfall": int((mult * np.maximum(0, problem.posts.min - filled)).sum()),
        "unplaced": int(problem.num_staff - len(people)),
        "moves": int(moves),
        "long_commute": int(np.count_nonzero(dist > problem.rules.long_commute_km)),
        "commute": int(np.rint(dist * 10.0).astype(np.int64).sum()),
        "preference": int(preference),
    }
    if reference is not None:
        values[CHANGES] = int(np.count_nonzero(np.asarray(assignment) != np.asarray(reference)))
    return values
