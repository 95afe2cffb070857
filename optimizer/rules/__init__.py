"""One object per hard rule id of DESIGN §4: the registry every consumer asks (layer 2).

* :mod:`optimizer.rules.pair` — the rules that judge one (person, post line) pair:
  qualification, bloc_change, island, commute_cap, non_local, service_left, pins; each
  with a vectorised ``removes`` mask and its :class:`~optimizer.rules.reason.Reason`.
* :mod:`optimizer.rules.relatives` — rule ``relatives``: the one reading of
  ``relatives_scope``, conflict detection, the "at most one" rows and the pairs a placed
  relative closes.
* :mod:`optimizer.rules.binding` — which rule binds a person out of a unit, given a
  placement (the one source of the short notes and of the unplaced reasons).
* :mod:`optimizer.rules.reason` — reasons as (code, parameters), rendered in the reader's
  language.

The solver's candidates, explain, fairness, validate's capacity warnings, diagnose and
the unplaced reasons call these objects; the independent checker :mod:`optimizer.check`
stays a separate, simple re-implementation on purpose.
"""

from __future__ import annotations

from optimizer.data import RULE_IDS
from optimizer.rules.base import Rule
from optimizer.rules.pair import PAIR_RULES, PairRule
from optimizer.rules.reason import Reason, render

#: Every hard rule id → its registry entry, in the order of DESIGN §4 (the pair-wise
#: rules are their own entries).
RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in sorted(
        (
            Rule(
                "one_post",
                "one post per person; everyone placed when required",
                ("require_all_placed", False),
            ),
            Rule("post_max", "no post line above its maximum"),
            Rule("post_min", "no post line below its minimum when hard", ("min_is_hard", False)),
            *PAIR_RULES,
            Rule("relatives", "relatives never share a unit within the scope", ("relatives_scope", "off")),
        ),
        key=lambda rule: RULE_IDS.index(rule.id),
    )
}

__all__ = ["PAIR_RULES", "RULES", "PairRule", "Reason", "Rule", "render"]
