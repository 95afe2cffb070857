"""Edit a stored placement by hand: which hard rules a move breaks, and what it costs (layer 8).

A planner moves people on the web page (``{staff_id, unit_id, position?}``; an empty
``unit_id`` leaves the person without a post).  :class:`EditSession` holds one stored
run's problem and placement, and :meth:`EditSession.check` answers at once, without a
re-solve:

* the **violations** of the hard rules that the moves cause, each with its rule id, its
  reason (a :class:`~optimizer.rules.reason.Reason`, rendered in the reader's language)
  and the people it concerns — pair-wise rules from :data:`optimizer.rules.pair.PAIR_RULES`,
  relatives from :mod:`optimizer.rules.relatives`, post maxima and hard minima of the
  post lines the moves touch, everyone placed when required, ``fix`` pins held;
* the **change of every objective term**, computed for the moved people and the touched
  post lines only (the person-level terms by :func:`optimizer.check.objective_terms` on
  the moved people alone, the shortfall on the touched lines).

Only what the moves touch is examined, so a check costs a few milliseconds whatever the
size of the run once the session is open.  Opening one means rebuilding the run's problem
from its inputs (seconds on the city); :class:`SessionSnapshots` keeps open sessions as
signed files, so that a run is rebuilt once, not once per server start.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from optimizer import __version__
from optimizer.check import objective_terms
from optimizer.data import LEADERSHIP_SHORTFALL_WEIGHT, IntArray, Problem
from optimizer.rules import relatives
from optimizer.rules.pair import PAIR_RULES, PINS, QUALIFICATION
from optimizer.rules.reason import Reason


@dataclass(frozen=True)
class EditMove:
    """One move: ``staff_id`` to ``unit_id`` (``None`` or ``""``: no post), on a post line
    of ``position`` when given (else the best line of the unit for the person)."""

    staff_id: str
    unit_id: str | None = None
    position: str | None = None


@dataclass(frozen=True)
class EditViolation:
    """A hard rule the moves break: its id, why, and the people concerned (staff ids)."""

    rule: str
    reason: Reason
    staff_ids: tuple[str, ...]
    post_idx: int = -1

    @property
    def text(self) -> str:
        """The reason in the current language."""
        return self.reason.render()


@dataclass(frozen=True)
class EditCheck:
    """The answer to a set of moves.

    Attributes
    ----------
    violations
        Every hard rule the moves break (empty: the edited placement keeps every rule).
    before, after, deltas
        Every objective term of the run, after the moves, and the change.
    assignment
        The edited placement (post line per person, ``-1`` unplaced).
    problems
        Moves that could not be read (unknown person or unit, a unit without post lines,
        a position the unit does not have), as reasons; those moves are left out.
    time_s
        Time the check took.
    names
        The full name of each person the violations concern, by staff id.
    """

    violations: tuple[EditViolation, ...]
    before: dict[str, int]
    after: dict[str, int]
    deltas: dict[str, int]
    assignment: IntArray
    problems: tuple[Reason, ...] = ()
    time_s: float = 0.0
    names: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the edited placement keeps every hard rule (and every move was read)."""
        return not self.violations and not self.problems


@dataclass
class EditSession:
    """One stored run open for editing: its problem, placement and derived indices.

    Parameters
    ----------
    problem
        The run's problem.
    assignment
        The run's placement.
    reference
        The base placement of a re-plan (its ``changes`` term), if any.
    """

    problem: Problem
    assignment: IntArray
    reference: IntArray | None = None
    before: dict[str, int] = field(init=False)
    fill: IntArray = field(init=False)
    _relations_of: dict[int, list[int]] = field(init=False)
    _post_position: npt.NDArray[np.object_] = field(init=False)

    def __post_init__(self) -> None:
        self.assignment = np.asarray(self.assignment, dtype=np.int64)
        self.before = objective_terms(self.problem, self.assignment, self.reference)
        self.fill = np.bincount(self.assignment[self.assignment >= 0], minlength=self.problem.num_posts)
        self._post_position = np.array(self.problem.posts.position, dtype=object)
        self._relations_of = {}
        rel = self.problem.relations
        for r, (a, b) in enumerate(zip(rel.a_idx.tolist(), rel.b_idx.tolist(), strict=True)):
            self._relations_of.setdefault(a, []).append(r)
            self._relations_of.setdefault(b, []).append(r)

    # ------------------------------------------------------------------ moves → post lines

    def line_for(self, person: int, unit: int, position: str | None) -> int:
        """The post line of ``unit`` a move puts ``person`` on (``-1`` when none fits).

        With ``position``, a line of that position; else one of the person's positions,
        in their order.  Among those, lines the person is qualified for (category), then
        of their bloc, then with room, then the first; without any, the unit's first
        line of the position (the move then breaks rule qualification).
        """
        p = self.problem
        lines = np.flatnonzero(p.posts.unit_idx == unit)
        wanted = (position,) if position else p.staff.positions[person]
        lines = lines[np.isin(self._post_position[lines], wanted)] if wanted else lines[:0]
        if not len(lines):
            return -1
        people = np.full(len(lines), person)
        unqualified = QUALIFICATION.removes(p, people, lines, p.posts.unit_idx[lines])
        keys = [
            (
                int(unqualified[j]),
                wanted.index(p.posts.position[k]),
                int(p.posts.bloc[k] != p.staff.bloc[person]),
                int(self.fill[k] >= p.posts.max[k]),
            )
            for j, k in enumerate(lines.tolist())
        ]
        return int(lines[min(range(len(keys)), key=keys.__getitem__)])

    def _resolve(self, moves: Sequence[EditMove]) -> tuple[dict[int, int], list[Reason]]:
        """Each readable move as person → new post line (``-1`` unplaced), and the rest."""
        p = self.problem
        targets: dict[int, int] = {}
        problems: list[Reason] = []
        for m in moves:
            person = p.staff.id2idx.get(m.staff_id, -1)
            if person < 0:
                problems.append(Reason("edit_unknown_staff", {"staff": m.staff_id}))
                continue
            if not m.unit_id:
                targets[person] = -1
                continue
            unit = p.units.id2idx.get(m.unit_id, -1)
            if unit < 0:
                problems.append(Reason("edit_unknown_unit", {"unit": m.unit_id}))
                continue
            line = self.line_for(person, unit, m.position)
            if line < 0 and m.position:
                problems.append(
                    Reason("edit_no_position", {"unit": p.units.names[unit], "position": m.position})
                )
                continue
            if line < 0:
                problems.append(Reason("edit_no_line", {"unit": p.units.names[unit]}))
                continue
            targets[person] = line
        return targets, problems

    # ------------------------------------------------------------------ the check

    def check(self, moves: Sequence[EditMove]) -> EditCheck:
        """Violations and term changes of ``moves`` applied to the run's placement."""
        t0 = time.perf_counter()
        targets, problems = self._resolve(moves)
        return self.check_lines(targets, problems, t0)

    def check_lines(
        self, targets: Mapping[int, int], problems: Sequence[Reason] = (), t0: float | None = None
    ) -> EditCheck:
        """Violations and term changes of putting each person of ``targets`` on the post
        line given (``-1``: no post), e.g. a re-plan an explanation computed.

        ``problems`` are moves that could not be read (kept in the answer); ``t0`` is when
        the check started (now by default).
        """
        t0 = time.perf_counter() if t0 is None else t0
        x = self.assignment.copy()
        for person, line in targets.items():
            x[person] = line
        people = np.array(sorted(i for i in targets if targets[i] != self.assignment[i]), dtype=np.int64)
        old = self.assignment[people]
        new = x[people]
        touched = np.unique(np.concatenate([old[old >= 0], new[new >= 0]]))
        fill = self.fill.copy()
        np.add.at(fill, old[old >= 0], -1)
        np.add.at(fill, new[new >= 0], 1)
        violations = self._violations(x, people, touched, fill)
        after = self._after(x, people, touched, fill)
        deltas = {k: after[k] - self.before[k] for k in self.before}
        staff = self.problem.staff
        names = {s: str(staff.full_name[staff.id2idx[s]]) for v in violations for s in v.staff_ids}
        return EditCheck(
            tuple(violations),
            dict(self.before),
            after,
            deltas,
            x,
            tuple(problems),
            time.perf_counter() - t0,
            names,
        )

    def _violations(
        self, x: IntArray, people: IntArray, touched: IntArray, fill: IntArray
    ) -> list[EditViolation]:
        p = self.problem
        ids = p.staff.ids
        out: list[EditViolation] = []
        placed = people[x[people] >= 0]
        if len(placed):
            post = x[placed]
            unit = p.posts.unit_idx[post].astype(np.int64)
            for rule in PAIR_RULES:
                if rule is PINS:
                    continue
                bad = rule.removes(p, placed, post, unit)
                for k in np.flatnonzero(bad).tolist():
                    i, u = int(placed[k]), int(unit[k])
                    out.append(EditViolation(rule.id, rule.reason(p, i, u), (ids[i],), int(post[k])))
            pins = p.pins
            for row in np.flatnonzero(np.isin(pins.staff_idx, placed)).tolist():  # one per pin broken
                for k in np.flatnonzero(PINS.row_removes(p, row, placed, post, unit)).tolist():
                    i = int(placed[k])
                    if pins.mode[row] == "fix":
                        reason = Reason("pins_fixed", {"fixed": p.units.names[pins.unit_idx[row]]})
                    else:
                        reason = Reason("pins_forbid", {"unit": p.units.names[unit[k]]})
                    out.append(EditViolation(PINS.id, reason, (ids[i],), int(post[k])))
        for i in people[x[people] < 0].tolist():
            if p.rules.require_all_placed:
                out.append(EditViolation("one_post", Reason("edit_must_be_placed"), (ids[i],)))
            pins = p.pins
            for s, u, mode in zip(pins.staff_idx.tolist(), pins.unit_idx.tolist(), pins.mode, strict=True):
                if s == i and mode == "fix":
                    out.append(
                        EditViolation("pins", Reason("pins_fixed", {"fixed": p.units.names[u]}), (ids[i],))
                    )
        posts = p.posts
        for k in touched.tolist():
            holders = tuple(ids[j] for j in np.flatnonzero(x == k).tolist())
            where = {"unit": p.units.names[posts.unit_idx[k]], "position": posts.position[k]}
            if fill[k] > posts.max[k]:
                reason = Reason("edit_post_max", {**where, "count": int(fill[k]), "max": int(posts.max[k])})
                out.append(EditViolation("post_max", reason, holders, k))
            if p.rules.min_is_hard and fill[k] < posts.min[k]:
                reason = Reason("edit_post_min", {**where, "count": int(fill[k]), "min": int(posts.min[k])})
                out.append(EditViolation("post_min", reason, holders, k))
        moved = set(people.tolist())
        rows = sorted({r for i in moved for r in self._relations_of.get(i, ())})
        for a, b, u in relatives.conflicts(p, x, rows):
            mover = a if a in moved else b
            other = b if mover == a else a
            reason = relatives.reason(p, x, mover, u)
            out.append(EditViolation(relatives.ID, reason, (ids[mover], ids[other]), int(x[mover])))
        return out

    def _after(self, x: IntArray, people: IntArray, touched: IntArray, fill: IntArray) -> dict[str, int]:
        """Every term after the moves: the person-level terms (and ``changes``) changed by
        the moved people alone — the others, unplaced in both sub-placements, cancel —
        and the shortfall by the touched lines."""
        p = self.problem
        alone_before = np.full(p.num_staff, -1, dtype=np.int64)
        alone_after = alone_before.copy()
        alone_before[people] = self.assignment[people]
        alone_after[people] = x[people]
        ref = self.reference
        was = objective_terms(p, alone_before, ref)
        now = objective_terms(p, alone_after, ref)
        after = {k: v + now[k] - was[k] for k, v in self.before.items() if k != "shortfall"}
        posts = p.posts
        mult = np.where(posts.leadership[touched], LEADERSHIP_SHORTFALL_WEIGHT, 1)
        gap_before = np.maximum(0, posts.min[touched] - self.fill[touched])
        gap_after = np.maximum(0, posts.min[touched] - fill[touched])
        after["shortfall"] = self.before["shortfall"] + int((mult * (gap_after - gap_before)).sum())
        return {k: after[k] for k in self.before}


#: The layout of a session snapshot: change it with :class:`EditSession`'s fields, so that
#: snapshots an older version wrote are rebuilt, never read as today's sessions.
SNAPSHOT_FORMAT = 1


@dataclass(frozen=True)
class SessionSnapshots:
    """Open :class:`EditSession` values kept as files of ``folder``, one per run, signed
    with ``key`` (HMAC-SHA256): a file that is not one this code wrote with the same key
    is never unpickled.

    A snapshot is named by the run's id and manifest hash (what certifies its inputs and
    placement), so a run deleted and another stored under the same id never share one.
    """

    folder: Path
    key: bytes

    def path(self, run_id: str, manifest_hash: str) -> Path:
        """The snapshot file of a run."""
        return self.folder / f"{run_id}-{manifest_hash[:16]}.session"

    def load(self, run_id: str, manifest_hash: str) -> EditSession | None:
        """The session kept for a run; ``None`` when there is none, or it is damaged or
        not signed with this key."""
        try:
            data = self.path(run_id, manifest_hash).read_bytes()
        except OSError:
            return None
        signature, body = data[: hashlib.sha256().digest_size], data[hashlib.sha256().digest_size :]
        if not hmac.compare_digest(signature, hmac.new(self.key, body, hashlib.sha256).digest()):
            return None
        kept = pickle.loads(body)  # signed with this workspace's key: checked above
        if not (isinstance(kept, tuple) and kept[:2] == (SNAPSHOT_FORMAT, __version__)):
            return None  # written by another version of the program: rebuilt
        session = kept[2]
        return session if isinstance(session, EditSession) else None

    def save(self, run_id: str, manifest_hash: str, session: EditSession) -> Path:
        """Keep ``session`` for a run (written whole, then renamed into place: a reader
        never sees half a file); returns its path."""
        body = pickle.dumps((SNAPSHOT_FORMAT, __version__, session), protocol=pickle.HIGHEST_PROTOCOL)
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(run_id, manifest_hash)
        fd, part = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(hmac.new(self.key, body, hashlib.sha256).digest())
                fh.write(body)
            os.replace(part, target)
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
        return target
