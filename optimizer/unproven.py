"""Why a stage ended without a proof, and what to try, in planner words (layer 3).

The engine records, per stage not proven optimal, a cause code and the relatives its
last relaxed flow still put together (:class:`~optimizer.solution.Unproven`, people and
units by index).  :func:`unproven_notes` turns them into :class:`UnprovenNote` values
that name people and units by id and name — what a run stores, in no language — and
:func:`unproven_lines` makes them sentences from the message catalogues when a reader
sees them (Vietnamese by default, English with ``--lang en``): which stage, why, for
whom, and what to try next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optimizer.data import Problem
from optimizer.i18n import t
from optimizer.labels import number, terms_label
from optimizer.solution import SolveResult, UnprovenCause

#: Pairs of relatives named per stage (the others are counted).
SHOWN_PAIRS = 5


@dataclass(frozen=True)
class UnprovenNote:
    """One stage left without a proof, as a run stores it.

    ``pairs`` are the first :data:`SHOWN_PAIRS` relatives the stage's last relaxed flow
    still put together, as ``(id, name, id, name, unit name)``; ``count`` is how many
    there were in all; ``limit_s`` is the solve's time limit; ``province`` names the
    province of a multi-province run the stage belongs to (``""`` otherwise).
    """

    stage: str
    cause: UnprovenCause
    limit_s: float
    count: int = 0
    pairs: tuple[tuple[str, str, str, str, str], ...] = ()
    province: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dictionary (what a run's meta keeps under ``unproven``)."""
        return {
            "stage": self.stage,
            "cause": self.cause,
            "limit_s": self.limit_s,
            "count": self.count,
            "pairs": [list(p) for p in self.pairs],
            "province": self.province,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnprovenNote:
        """The note of a :meth:`to_dict` dictionary."""
        pairs = tuple((str(a), str(an), str(b), str(bn), str(u)) for a, an, b, bn, u in data.get("pairs", ()))
        return cls(
            str(data["stage"]),
            data["cause"],
            float(data["limit_s"]),
            int(data.get("count", 0)),
            pairs,
            str(data.get("province", "")),
        )


def unproven_notes(problem: Problem, result: SolveResult) -> tuple[UnprovenNote, ...]:
    """The notes of the stages of ``result`` left without a proof (a solve of ``problem``)."""
    staff, units = problem.staff, problem.units
    return tuple(
        UnprovenNote(
            item.stage,
            item.cause,
            problem.solver.time_limit_s,
            len(item.conflicts),
            tuple(
                (staff.ids[a], staff.full_name[a], staff.ids[b], staff.full_name[b], units.names[u])
                for a, b, u in item.conflicts[:SHOWN_PAIRS]
            ),
        )
        for item in result.unproven
    )


def unproven_lines(notes: Sequence[UnprovenNote], run_id: str, lang: str | None = None) -> list[str]:
    """The sentences that explain each stage left without a proof, in ``lang`` (the
    current language by default)."""
    lines: list[str] = []
    for note in notes:
        stage, limit = terms_label(note.stage, lang), note.limit_s
        if note.province:
            stage = t("unproven.in_province", lang, stage=stage, province=note.province)
        lines.append(t(f"unproven.{note.cause}", lang, stage=stage, limit=number(limit, 0, lang)))
        if note.pairs:
            pairs = [
                t("unproven.pair", lang, a=a, a_id=a_id, b=b, b_id=b_id, unit=unit)
                for a_id, a, b_id, b, unit in note.pairs
            ]
            more = note.count - len(note.pairs)
            if more > 0:
                pairs.append(t("unproven.more", lang, count=number(more, 0, lang)))
            lines.append(t("unproven.conflicts", lang, count=note.count, pairs="; ".join(pairs)))
            lines.append(t("unproven.try_conflicts", lang, run=run_id, staff=note.pairs[0][0]))
        if note.cause != "gap":
            lines.append(t("unproven.try_time", lang, limit=number(2 * limit, 0, lang)))
        else:
            lines.append(t("unproven.try_gap", lang, limit=number(2 * limit, 0, lang)))
    return lines
