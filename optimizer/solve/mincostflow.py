"""Min-cost flow solvers behind one interface (layer 5).

Each back-end's ``solve`` (:class:`MinCostFlow`; :func:`backend` picks one) solves one
min-cost flow problem given as arrays (arc tails, heads, capacities, integer costs, node
supplies summing to zero) and returns an optimal flow with optimal node potentials: the
pointwise largest potentials ``π ≤ 0`` under which every residual arc has a
non-negative reduced cost ``cost + π[tail] − π[head]`` (the shortest-path distances in
the residual graph from a virtual root joined to every node at cost 0).  Those
potentials are unique whatever optimal flow is returned, so both back-ends give the
same ones; the flows may differ where several are optimal.

Back-ends (:data:`BACKENDS`):

``lemon``
    LEMON's network simplex through ``pylmcf``: 6–8× faster than OR-Tools on the
    city's first-stage flows (0.13 s against 1.0 s), 2–3× on the commute stage's, as
    fast on the moves stage's.  It needs
    non-negative costs, so every arc of negative cost is saturated and replaced by its
    reverse (which leaves the residual graph, hence the potentials, unchanged), and
    arcs sorted by (tail, head).  Its potentials come with the solve.
``ortools``
    OR-Tools' ``SimpleMinCostFlow``, the potentials computed afterwards by Bellman–Ford
    on the residual graph (:func:`potentials`).  The fallback: used when ``pylmcf`` is
    not importable or when asked for (``STAFFPLAN_FLOW=ortools``).

:func:`reoptimise` solves a problem from a feasible flow and potentials with either
back-end (the circulation left in the residual graph), for the pricing rounds of
:meth:`~optimizer.solve.flow.FlowModel.solve`, and returns the same potentials.

Dependency verdict on ``pylmcf`` (December 2026): version 1.3.0, a 0.66 MB wheel (about
2.5 MB installed) plus ``nanobind-backend`` 1.0 (its compiled binding layer); Boost
Software Licence 1.0, like LEMON itself (permissive, compatible with this project's
MIT); one maintainer (Michał Startek, University of Warsaw), 18 releases on the
package index from 0.9.2 to 1.3.0 (October 2026); the wheel installed here is CPython
≥ 3.10 abi3, manylinux x86-64.  A single maintainer is the risk, hence the
OR-Tools fallback behind the same interface and a differential test of the two
(``tests/test_solve_backends.py``).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Protocol

import numpy as np

from optimizer.data import IntArray

if TYPE_CHECKING:
    import pylmcf
    import scipy.sparse as sp

#: The back-ends, in the order ``auto`` tries them.
BACKENDS = ("lemon", "ortools")
#: Environment variable that picks the back-end of ``auto`` (one of :data:`BACKENDS`).
BACKEND_ENV = "STAFFPLAN_FLOW"


class FlowInfeasible(Exception):
    """The flow model has no feasible flow (a fix pin or require_all_placed cannot hold)."""


class MinCostFlow(Protocol):
    """A min-cost flow solver: :meth:`solve` returns an optimal flow and the pointwise
    largest optimal potentials ``π ≤ 0`` (see the module docstring)."""

    name: str

    def solve(
        self, num_nodes: int, tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray, supply: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Flow per arc and potential per node of an optimal solution.

        Raises
        ------
        FlowInfeasible
            When no flow meets the supplies within the capacities.
        """
        ...

    def circulate(
        self, num_nodes: int, tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Flow per arc and potential per node of an optimal circulation (every supply
        zero): any optimal potentials ``π ≤ 0``, not necessarily the largest."""
        ...


def potentials(
    num_nodes: int,
    tail: IntArray,
    head: IntArray,
    cap: IntArray,
    cost: IntArray,
    flow: IntArray,
    max_rounds: int | None = None,
) -> IntArray:
    """Optimal node potentials: shortest-path distances in the residual graph from a
    virtual root joined to every node at cost 0 (vectorised Bellman-Ford).

    The flow must be optimal (no negative cycle), which guarantees termination within
    ``num_nodes + 1`` rounds; ``max_rounds`` stops sooner (a caller that only suspects
    optimality, e.g. an explanation of a stored placement).

    Raises
    ------
    RuntimeError
        When distances still fall after the last round (a negative cycle: the flow was
        not optimal).
    """
    u, v, _, w, _ = residual(tail, head, cap, cost, flow)
    neg = w < 0
    # Only arcs that can ever lower a distance from 0 matter at the start; all arcs are
    # relaxed every round, grouped by head for a segmented minimum.
    order = np.argsort(v, kind="stable")
    u, v, w = u[order], v[order], w[order]
    heads, starts = np.unique(v, return_index=True)
    dist = np.zeros(num_nodes, dtype=np.int64)
    if not neg.any():
        return dist
    for _ in range(num_nodes + 1 if max_rounds is None else max_rounds):
        cand = dist[u] + w
        best = np.minimum.reduceat(cand, starts)
        improved = best < dist[heads]
        if not improved.any():
            return dist
        dist[heads[improved]] = best[improved]
    raise RuntimeError("negative cycle in the residual graph: the flow was not optimal")


class OrToolsFlow:
    """OR-Tools' ``SimpleMinCostFlow``, potentials by Bellman–Ford (:func:`potentials`)."""

    name = "ortools"

    def solve(
        self, num_nodes: int, tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray, supply: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Flow per arc and potential per node of an optimal solution (see
        :meth:`MinCostFlow.solve`)."""
        from ortools.graph.python import min_cost_flow

        smcf = min_cost_flow.SimpleMinCostFlow()
        smcf.add_arcs_with_capacity_and_unit_cost(tail, head, cap, cost)
        smcf.set_nodes_supplies(np.arange(num_nodes), supply)
        status = smcf.solve()
        if status != smcf.OPTIMAL:
            if status in (smcf.INFEASIBLE, smcf.UNBALANCED):
                raise FlowInfeasible(f"min-cost flow status {status}")
            raise RuntimeError(f"min-cost flow failed with status {status}")
        flow = np.asarray(smcf.flows(np.arange(len(tail))), dtype=np.int64)
        return flow, potentials(num_nodes, tail, head, cap, cost, flow)

    def circulate(
        self, num_nodes: int, tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray
    ) -> tuple[IntArray, IntArray]:
        """An optimal circulation and its largest optimal potentials (see
        :meth:`MinCostFlow.circulate`): Bellman–Ford gives no others."""
        return self.solve(num_nodes, tail, head, cap, cost, np.zeros(num_nodes, dtype=np.int64))


class LemonFlow:
    """LEMON's network simplex (``pylmcf``), with its potentials."""

    name = "lemon"

    def solve(
        self, num_nodes: int, tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray, supply: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Flow per arc and potential per node of an optimal solution (see
        :meth:`MinCostFlow.solve`): LEMON's potentials made the largest by ``pylmcf``
        (one Dijkstra over the residual graph)."""
        graph, flow = self._run(num_nodes, tail, head, cap, cost, supply)
        return flow, np.asarray(graph.potentials(), dtype=np.int64)

    def circulate(
        self, num_nodes: int, tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Flow per arc and potential per node of an optimal circulation (see
        :meth:`MinCostFlow.circulate`): the potentials of LEMON's last spanning tree,
        shifted to be ``≤ 0``, without the Dijkstra that makes them the largest (5–12 ms
        a round on the city's moves stage).  With every supply zero, LEMON's artificial
        arcs cost 0 and carry no flow, so those potentials are optimal and as small in
        magnitude as path costs."""
        graph, flow = self._run(num_nodes, tail, head, cap, cost, np.zeros(num_nodes, dtype=np.int64))
        pot = np.asarray(graph.raw_potentials(), dtype=np.int64)
        return flow, pot - max(0, int(pot.max(initial=0)))

    @staticmethod
    def _run(
        num_nodes: int, tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray, supply: IntArray
    ) -> tuple[pylmcf.Graph, IntArray]:
        """The solved ``pylmcf`` graph and the flow per arc.

        Every arc of negative cost is saturated and replaced by its reverse at the
        opposite cost (LEMON takes non-negative costs only): the residual graphs of the
        two problems are the same, so are their optimal potentials.  The arcs go to
        LEMON sorted by (tail, head), their ends as 32-bit indices (its own type: no
        checked conversion of 64-bit ones).

        Raises
        ------
        FlowInfeasible
            When no flow meets the supplies within the capacities.
        """
        import pylmcf

        if int(supply.sum()) != 0:
            raise FlowInfeasible("supplies do not sum to zero")
        neg = cost < 0
        supply = supply.copy()
        np.subtract.at(supply, tail[neg], cap[neg])
        np.add.at(supply, head[neg], cap[neg])
        src, dst = np.where(neg, head, tail), np.where(neg, tail, head)
        order = np.argsort(src * num_nodes + dst, kind="stable")  # LEMON wants them sorted
        graph = pylmcf.Graph(num_nodes, src[order].astype(np.int32), dst[order].astype(np.int32))
        graph.set_node_supply(supply)
        graph.set_edge_capacities(cap[order])
        graph.set_edge_costs(np.abs(cost)[order])
        try:
            graph.solve()
        except RuntimeError as exc:
            if "INFEASIBLE" in str(exc):
                raise FlowInfeasible(str(exc)) from exc
            raise
        flow = np.empty(len(tail), dtype=np.int64)
        flow[order] = graph.result()
        return graph, np.where(neg, cap - flow, flow)


def residual(
    tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray, flow: IntArray
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
    """The residual graph of ``flow``: tails, heads, capacities and costs of its arcs, and
    the arc each comes from, its sign: ``+1`` ahead (an arc below capacity), ``−1`` back
    (an arc with flow, reversed at the opposite cost)."""
    ahead, back = np.flatnonzero(flow < cap), np.flatnonzero(flow > 0)
    return (
        np.concatenate([tail[ahead], head[back]]),
        np.concatenate([head[ahead], tail[back]]),
        np.concatenate([cap[ahead] - flow[ahead], flow[back]]),
        np.concatenate([cost[ahead], -cost[back]]),
        np.concatenate([ahead + 1, -(back + 1)]),
    )


def reoptimise(
    solver: MinCostFlow,
    num_nodes: int,
    arcs: tuple[IntArray, IntArray, IntArray, IntArray],
    start: tuple[IntArray, IntArray],
) -> tuple[IntArray, IntArray]:
    """What :meth:`MinCostFlow.solve` returns (an optimal flow, the pointwise largest
    optimal potentials ``π ≤ 0``) on the ``arcs`` (tails, heads, capacities, costs),
    from ``start``: a feasible flow and any potentials ``pot ≤ 0``.  The flow plus the
    min-cost circulation in its residual graph at the reduced costs
    ``cost + pot[tail] − pot[head]`` (:meth:`MinCostFlow.circulate`).

    Only the arcs of negative reduced cost start out of balance: from the flow and
    potentials of a nearby problem (the pricing round before, with a few arcs fewer),
    the network simplex has little to do.  The city's moves stage: the first flow's
    four later pricing rounds took 0.17, 0.10, 0.08 and 0.05 s of CPU against
    0.40-0.46 s each afresh, and its first round 0.22 s from the stage before's
    placement against 0.39 s.  The potentials are then made the largest
    (:func:`canonical_potentials`): those of a solve afresh, whatever optimal ones the
    circulation ended on.  The flow is an optimum, not necessarily the one a solve
    afresh returns where several are optimal; the pricing rounds of
    :meth:`~optimizer.solve.flow.FlowModel.solve` return it as it is.
    """
    tail, head, cap, cost = arcs
    flow, pot = start
    src, dst, room, reduced, arc = residual(tail, head, cap, cost + pot[tail] - pot[head], flow)
    step, shift = solver.circulate(num_nodes, src, dst, room, reduced)
    new = flow.copy()
    np.add.at(new, np.abs(arc) - 1, np.sign(arc) * step)
    pot = pot + shift
    src, dst, _, reduced, _ = residual(tail, head, cap, cost + pot[tail] - pot[head], new)
    return new, canonical_potentials(num_nodes, src, dst, reduced, pot)


def canonical_potentials(
    num_nodes: int, src: IntArray, dst: IntArray, reduced: IntArray, pot: IntArray
) -> IntArray:
    """The pointwise largest optimal potentials ``π ≤ 0`` of an optimal flow, from any
    optimal ones ``pot ≤ 0`` and the flow's residual graph (arcs ``src → dst``) at the
    reduced costs ``reduced`` under ``pot`` (none negative).  ``π[v]`` is the shortest
    distance to ``v`` from a virtual root joined to every node at cost 0: ``pot[v]``
    plus the distance at the reduced costs from a root joined to every ``u`` at cost
    ``−pot[u]`` (one Dijkstra, 12 ms on the city's moves flow).  Exact in floating
    point: every distance stays below ``2**53`` while costs keep within ``COST_LIMIT``
    of :mod:`~optimizer.solve.flow`.
    """
    from scipy.sparse.csgraph import dijkstra

    src = np.concatenate([src, np.full(num_nodes, num_nodes)])
    dst = np.concatenate([dst, np.arange(num_nodes)])
    graph = arc_matrix(num_nodes + 1, src, dst, np.concatenate([reduced, -pot]))
    return pot + np.rint(dijkstra(graph, indices=num_nodes)[:num_nodes]).astype(np.int64)


def arc_matrix(num_nodes: int, tail: IntArray, head: IntArray, weight: np.ndarray) -> sp.csr_matrix:
    """The arcs ``tail → head`` as a sparse matrix of their weights (floats), for
    ``scipy.sparse.csgraph``: parallel arcs kept (built from sorted rows: a COO
    conversion would sum them)."""
    import scipy.sparse as sp

    order = np.argsort(tail, kind="stable")
    indptr = np.searchsorted(tail[order], np.arange(num_nodes + 1)).astype(np.int32)
    data = np.asarray(weight[order], dtype=float)
    return sp.csr_matrix((data, head[order].astype(np.int32), indptr), shape=(num_nodes,) * 2)


@functools.cache
def lemon_available() -> bool:
    """Whether ``pylmcf`` (LEMON) can be imported here."""
    try:
        import pylmcf  # noqa: F401
    except ImportError:
        return False
    return True


def backend(name: str = "auto") -> MinCostFlow:
    """The back-end called ``name`` (one of :data:`BACKENDS`), or for ``auto`` the one
    ``$STAFFPLAN_FLOW`` names, else LEMON when ``pylmcf`` is importable, else OR-Tools.

    Raises
    ------
    ValueError
        For an unknown name, or ``lemon`` when ``pylmcf`` is not installed.
    """
    if name == "auto":
        name = os.environ.get(BACKEND_ENV) or ("lemon" if lemon_available() else "ortools")
    if name == "ortools":
        return OrToolsFlow()
    if name == "lemon":
        if not lemon_available():
            raise ValueError("flow back-end 'lemon' needs the pylmcf package: pip install pylmcf")
        return LemonFlow()
    raise ValueError(f"unknown flow back-end {name!r}: one of {', '.join(BACKENDS)} or auto")
