"""Estimate the memory a solve needs before building anything, and refuse early; keep
NumPy's arrays on small pages while it runs, on a heap warmed during the load (layer 4).

The estimate counts the (person, post line) pairs that pass qualification — an upper
bound on the candidate pairs — times the bytes one pair costs across the candidate
arrays, the flow network, OR-Tools' copy of it and the stage arrays (measured on the
full city: about 1.2 GB peak for 2.35 million candidates out of 5.9 million qualified
pairs), plus the person × unit distance and locality matrices.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from optimizer.data import Problem
from optimizer.heap import MAX_MEMORY_ENV as MAX_MEMORY_ENV
from optimizer.heap import available_bytes as available_bytes
from optimizer.heap import settle_warming
from optimizer.solve.candidates import qualification_keys

#: Bytes per qualified pair (pessimistic: most are later cut by the commute cap).
BYTES_PER_QUALIFIED_PAIR = 300
#: Bytes per person × unit cell (float32 distance, bool locality, float64 temporaries).
BYTES_PER_PERSON_UNIT = 21
#: Fixed overhead of the process (Python, numpy, pandas, pandera, OR-Tools: ~400 MB measured).
BASE_BYTES = 600 * 2**20


class MemoryLimitError(Exception):
    """The solve would need more memory than the machine has available."""

    def __init__(self, needed: int, available: int) -> None:
        self.needed = needed
        self.available = available
        super().__init__(f"needs about {needed / 2**30:.1f} GiB, {available / 2**30:.1f} GiB available")


def qualified_pair_count(problem: Problem) -> int:
    """Number of (person, post line) pairs passing rule ``qualification``, without
    building them."""
    post_key, _, want = qualification_keys(problem)
    per_key = np.bincount(post_key, minlength=int(max(post_key.max(initial=0), want.max(initial=0))) + 1)
    return int(per_key[want].sum())


def estimate_bytes(problem: Problem) -> int:
    """Peak memory estimate of :func:`~optimizer.solve.solve` on ``problem``, in bytes."""
    return (
        BASE_BYTES
        + BYTES_PER_QUALIFIED_PAIR * qualified_pair_count(problem)
        + BYTES_PER_PERSON_UNIT * problem.num_staff * problem.num_units
    )


def check_memory(problem: Problem, available: int | None = None) -> int:
    """Return the estimate; raise :class:`MemoryLimitError` when it exceeds what is
    available."""
    needed = estimate_bytes(problem)
    have = available_bytes() if available is None else available
    if needed > have:
        raise MemoryLimitError(needed, have)
    return needed


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """For the duration (or the call, as a decorator), NumPy does not advise its large
    arrays onto transparent huge pages; the setting before is restored after.

    NumPy asks Linux for 2 MB pages on every array of a few MB (``madvise``), and the
    kernel zeroes each huge page whole at its first touch.  A solve makes and drops
    arrays of millions of arcs at every step (the city: 2.3 million), so that zeroing
    recurs: on the city 1.5-1.8 s of system time per solve with huge pages against
    0.45 s with 4 kB pages, for the same user time (four solves each way, alternated:
    6.5 s of CPU on average against 7.1 s; the first stage 1.27 s against 1.73 s).
    Where NumPy has no such switch, nothing changes.
    """
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    toggle = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if toggle is None:
        yield
        return
    before = bool(toggle(False))
    try:
        yield
    finally:
        toggle(before)


@contextlib.contextmanager
def warmed_heap() -> Iterator[None]:
    """For the duration (or the call, as a decorator), the heap warmed while the scenario
    loaded (:func:`optimizer.heap.start_warming`) is taken over first: its helper thread
    stopped and joined, its errors raised, before anything is allocated."""
    settle_warming()
    yield
