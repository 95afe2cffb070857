"""A HiGHS MIP the time limit stops for sure: large ones run in a child process, killed
at the deadline or on a stop (layer 5).

HiGHS's MIP checks its interrupt callback and its own ``time_limit`` only now and then:
twice or three times in a whole run on the models measured, not during its root linear
program, cuts or heuristics.  A random assignment MIP of 620,000 columns asked to stop
after 2 s ran 18.5 s (16.9 s without a single check); a 16,000-person province's exact
finish over 415,590 open arcs ran 74 s past a 180 s limit.  So a MIP larger than
:data:`IN_PROCESS_MAX_COLUMNS` columns runs in a child process, a new interpreter
(``subprocess``, the ``spawn`` way: 0.25–0.4 s of start-up measured, 0.18 s of CPU),
that loads only NumPy, highspy and :mod:`optimizer.solve.highs`, and streams every
improving incumbent back (HiGHS's improving-solution callback) and HiGHS's dual bound
each time it rises (seen when the MIP checks its stop);
the parent waits on the pipe, checks ``stop()`` and the deadline every
:data:`POLL_S` seconds and kills the child at once when either says so.  What the
child reported before it died is kept — the best incumbent, the bound it gave with
it — and a proof (status ``optimal``) only when the child said so.

``fork`` was measured too (0.22–0.28 s with highspy imported in the child), and
``forkserver`` (0.03 s a child after a 0.43 s server start): ``fork`` copies a process
whose HiGHS and OR-Tools threads may hold locks (the web app solves in background
threads), and ``forkserver`` keeps a server process alive beside the parent and, like
every ``multiprocessing`` start, cannot be used from a daemonic process (a Dask
worker's).  The child dies with its parent (``PR_SET_PDEATHSIG``) and in its own
process group, so a terminal's Ctrl-C reaches only the parent, which stops the child.

A smaller MIP runs in this process through the same code (:func:`run_job`): its whole
run, root included, took at most 0.36 s on 31,000 columns here, and hard small MIPs
(dense knapsacks of 200 and 2,000 columns) were stopped within 0.01–0.36 s of their
limit (stop checks at most 1.2 s apart), so its stop checks cannot hold it long past
the limit, and a child's start-up would cost more.  The linear programs stay in this
process: simplex, interior point and crossover check the stop at most 1.45 s apart on
the 620,000-column assignment relaxation.

This module's top level imports only the standard library and NumPy: the child runs
this file as a script, outside the package.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: A MIP of at most this many columns and non-zeros runs in the calling process (see
#: the module; the programs of the exact finish hold 2–4 non-zeros a column).
IN_PROCESS_MAX_COLUMNS = 30_000
IN_PROCESS_MAX_NONZEROS = 150_000
#: Seconds between two looks of the parent at ``stop()`` and the deadline.
POLL_S = 0.05
#: Memory of a child beside its model: interpreter, NumPy and highspy (40 MB measured).
CHILD_BASE_BYTES = 200 * 2**20
#: Bytes HiGHS needs per column of a MIP (measured: 7.3 GB for the 9.4 million columns
#: of the whole model of 4× the city, with room for its search).
BYTES_PER_COLUMN = 1_000


@dataclasses.dataclass(frozen=True)
class ColumnMatrix:
    """A sparse matrix by columns (CSC arrays), without SciPy (the child does not load
    it)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def of(cls, a: Any) -> ColumnMatrix:
        """The arrays of a SciPy CSC matrix ``a``."""
        return cls(a.indptr, a.indices, a.data, (int(a.shape[0]), int(a.shape[1])))

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return len(self.data)


@dataclasses.dataclass(frozen=True)
class MipJob:
    """A MIP solved lexicographically: ``costs[0]`` minimised, then ``costs[1]`` with
    ``costs[0] · x`` held at its optimum (``≤ round(value) + 0.5``), and so on; ``0 ≤ x ≤
    col_upper``, ``row_lower ≤ a x ≤ row_upper``, ``x`` integer where ``integer``.

    ``options`` are HiGHS options set before the first run; ``start`` a solution offered
    to the first stage (HiGHS keeps it when feasible)."""

    a: ColumnMatrix
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    integer: np.ndarray
    costs: tuple[np.ndarray, ...]
    options: tuple[tuple[str, float | str], ...] = ()
    start: np.ndarray | None = None

    @property
    def num_cols(self) -> int:
        """Columns of the model."""
        return self.a.shape[1]

    def wire(self) -> dict[str, Any]:
        """The job as plain values (NumPy arrays, tuples): the child unpickles it
        without this package."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["a"] = dataclasses.astuple(self.a)
        return fields

    @classmethod
    def from_wire(cls, fields: dict[str, Any]) -> MipJob:
        """The job :meth:`wire` gave."""
        return cls(**{**fields, "a": ColumnMatrix(*fields["a"])})

    def child_bytes(self) -> int:
        """Memory estimate of a child solving this job (the rule of
        :mod:`optimizer.solve.memory`: planned before anything starts)."""
        arrays = sum(int(np.asarray(v).nbytes) for v in (self.a.indptr, self.a.indices, self.a.data))
        return CHILD_BASE_BYTES + 2 * arrays + BYTES_PER_COLUMN * self.num_cols


@dataclasses.dataclass(frozen=True)
class MipStage:
    """How one stage of a job ended: ``optimal`` (HiGHS proved it), ``feasible`` (an
    incumbent, not proven), ``no_solution`` or ``infeasible``; the best incumbent's
    column values, HiGHS's objective for it, and the last dual bound HiGHS gave
    (``-inf`` when none)."""

    status: str
    x: np.ndarray | None
    objective: float
    bound: float


@dataclasses.dataclass(frozen=True)
class MipOutcome:
    """The stages a job reached, in order (the last one may not be proven), and whether
    it was cut short: stopped, past its deadline, or its child lost."""

    stages: tuple[MipStage, ...]
    cut_short: bool

    @property
    def last(self) -> MipStage | None:
        """The last stage reached (``None``: none reported)."""
        return self.stages[-1] if self.stages else None


class _Collector:
    """What a job reported so far, message by message (:func:`run_job`'s ``send``)."""

    def __init__(self, job: MipJob) -> None:
        self.num_cols = job.num_cols
        self.num_stages = len(job.costs)
        self.done: list[MipStage] = []
        self.current: MipStage | None = None
        self.bound = -np.inf  # the stage under way's best dual bound reported

    def __call__(self, message: tuple[Any, ...]) -> None:
        kind, _, status, objective, bound, index, value = message
        x = None
        if index is not None:
            x = np.zeros(self.num_cols)
            x[index] = value
        bound = bound if np.isfinite(bound) or status == "infeasible" else -np.inf
        if kind == "bound":
            self.bound = max(self.bound, bound)
            return
        if kind == "incumbent":  # HiGHS's bound before its root is -inf (or NaN): none
            self.current = MipStage("feasible", x, objective, bound)
            return
        best = self.current
        if x is None and best is not None:
            # HiGHS ended without the incumbent it reported (out of memory, an error):
            # that incumbent is kept, not proven, with the bounds reported before.
            self.done.append(MipStage("feasible", best.x, best.objective, max(bound, best.bound, self.bound)))
        else:
            self.done.append(MipStage(status, x, objective, bound))
        self.current = None
        self.bound = -np.inf

    def outcome(self, cut_short: bool) -> MipOutcome:
        """The stages reported; when cut short, the one under way last: ``feasible``
        with its best incumbent, or ``no_solution``."""
        stages = list(self.done)
        if self.current is not None:
            now = self.current
            stages.append(MipStage(now.status, now.x, now.objective, max(now.bound, self.bound)))
        elif cut_short and len(stages) < self.num_stages and all(st.status == "optimal" for st in stages):
            stages.append(MipStage("no_solution", None, np.nan, self.bound))
        return MipOutcome(tuple(stages), cut_short)


def run_job(
    job: MipJob,
    hs: ModuleType,
    send: Callable[[tuple[Any, ...]], None],
    time_limit_s: float,
    *,
    threads: int = 1,
    seed: int = 0,
    stop: Callable[[], bool] | None = None,
) -> None:
    """Solve ``job`` with HiGHS (``hs``: :mod:`optimizer.solve.highs`), sending each
    improving incumbent and the end of each stage to ``send``:
    ``(kind, stage, status, objective, bound, index, value)`` with ``kind``
    ``"incumbent"``, ``"bound"`` (HiGHS's dual bound rose, seen when its MIP checks its
    stop) or ``"stage"`` and the incumbent's non-zero columns ``index`` and their
    ``value`` (``None`` without a solution).  Stops after a stage not proven."""
    t0 = time.monotonic()
    stage = [0]
    best = [-np.inf]  # the stage's best dual bound sent

    def improving(out: Any) -> None:
        x = np.asarray(out.mip_solution, dtype=float)
        nz = np.flatnonzero(x)
        send(
            (
                "incumbent",
                stage[0],
                "feasible",
                float(out.objective_function_value),
                float(out.mip_dual_bound),
                nz,
                x[nz],
            )
        )

    def checked(out: Any) -> None:
        bound = float(out.mip_dual_bound)
        if np.isfinite(bound) and bound > best[0]:
            best[0] = bound
            send(("bound", stage[0], "feasible", np.nan, bound, None, None))

    h = hs.new_highs(seed, stop, improving, checked)
    for name, value in job.options:
        h.setOptionValue(name, value)
    zero = np.zeros(job.num_cols)
    hs.pass_model(h, job.a, zero, job.col_upper, job.row_lower, job.row_upper, job.integer)
    columns = np.arange(job.num_cols, dtype=np.int32)
    for k, cost in enumerate(job.costs):
        stage[0], best[0] = k, -np.inf
        left = time_limit_s - (time.monotonic() - t0)
        if k > 0 and left <= 0:
            return
        h.setOptionValue("time_limit", max(1.0, left))
        h.changeColsCost(job.num_cols, columns, np.asarray(cost, dtype=float))
        if k == 0 and job.start is not None:
            hs.set_solution(h, job.start)
        hs.run_highs(h, threads)
        status, objective, bound, x = hs.mip_result(h)
        index = None if x is None else np.flatnonzero(x)
        send(("stage", k, status, objective, bound, index, None if x is None else x[index]))
        if status != "optimal" or x is None:
            return
        if k + 1 < len(job.costs):
            nz = np.flatnonzero(cost)
            value = float(np.asarray(cost, dtype=float) @ x)
            h.addRow(
                -np.inf,
                np.round(value) + 0.5,
                len(nz),
                nz.astype(np.int32),
                np.asarray(cost, dtype=float)[nz],
            )


def solve_mip(
    job: MipJob,
    time_limit_s: float,
    *,
    threads: int = 1,
    seed: int = 0,
    stop: Callable[[], bool] | None = None,
    in_process: bool | None = None,
) -> MipOutcome:
    """Solve ``job`` within ``time_limit_s`` seconds for sure: in this process when it
    has at most :data:`IN_PROCESS_MAX_COLUMNS` columns and
    :data:`IN_PROCESS_MAX_NONZEROS` non-zeros, else in a child process killed
    when ``stop()`` turns true or the time is up (see the module).  ``in_process``
    forces either way (``benchmarks/bench_timelimit.py`` times both).

    A child is started only when :meth:`MipJob.child_bytes` fits in the memory
    available (:func:`~optimizer.solve.memory.available_bytes`), and its address space
    is capped at that memory; otherwise nothing is solved (an outcome without stages,
    not cut short).
    """
    deadline = time.monotonic() + time_limit_s
    collector = _Collector(job)
    small = job.num_cols <= IN_PROCESS_MAX_COLUMNS and job.a.nnz <= IN_PROCESS_MAX_NONZEROS
    if in_process if in_process is not None else small:
        from optimizer.solve import highs

        run_job(job, highs, collector, time_limit_s, threads=threads, seed=seed, stop=stop)
        return collector.outcome(stop is not None and stop())
    from optimizer.solve.memory import available_bytes

    available = available_bytes()
    if job.child_bytes() > available:
        log.warning("a MIP of %d columns does not fit in the memory left: not solved", job.num_cols)
        return MipOutcome((), False)
    cut_short = _in_child(job, deadline, available, collector, threads, seed, stop)
    return collector.outcome(cut_short)


def _in_child(
    job: MipJob,
    deadline: float,
    available: int,
    collector: _Collector,
    threads: int,
    seed: int,
    stop: Callable[[], bool] | None,
) -> bool:
    """Run ``job`` in a child process, its messages to ``collector``, until it ends or
    is killed (``stop()``, ``deadline`` on :func:`time.monotonic`'s clock); whether it
    was cut short.  The child's address space is capped at ``available`` bytes (the
    memory the machine had left for it).  The child is killed and reaped on every way
    out."""
    import multiprocessing
    import subprocess

    mine, theirs = multiprocessing.Pipe()
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), str(theirs.fileno()), str(os.getpid())],
        pass_fds=(theirs.fileno(),),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        process_group=0,
    )
    theirs.close()
    try:
        mine.send((job.wire(), deadline, threads, seed, available))
        while True:
            if (stop is not None and stop()) or time.monotonic() > deadline:
                child.kill()
                _drain(mine, collector)
                return True
            if mine.poll(POLL_S):
                message = mine.recv()
                if message[0] == "end":
                    return False
                if message[0] == "error":
                    log.warning("the MIP's child process failed: %s", message[1])
                    return True
                collector(message)
    except (EOFError, OSError) as exc:  # the child died (e.g. out of memory)
        log.warning("the MIP's child process ended with code %s: %s", child.poll(), exc)
        return True
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        mine.close()


def _drain(conn: Any, collector: _Collector) -> None:
    """Read the whole messages a killed child left in the pipe."""
    try:
        while conn.poll(0):
            message = conn.recv()
            if message[0] in ("incumbent", "bound", "stage"):
                collector(message)
    except (EOFError, OSError):
        return


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies (``PR_SET_PDEATHSIG``), and
    leave at once when it died already."""
    import ctypes
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _cap_memory(cap: int) -> None:
    """Cap the child's address space at ``cap`` bytes, the memory available when it
    started (:func:`~optimizer.solve.memory.available_bytes`, ``STAFFPLAN_MAX_MEMORY_MB``
    included): a HiGHS that would take more fails its allocation (HiGHS then ends out
    of memory, or the child dies), the incumbents it sent kept, instead of pressing the
    machine into swap.  An estimate is no cap: the 16,000-person ``short-commute``
    province's exact finish (422,037 columns) peaked at 952 MB resident and 1,249 MB of
    address space, against 625 MB estimated."""
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ValueError, OSError):
        log.warning("the MIP's child process could not cap its memory at %d bytes", cap)


def _child_main(fd: int, parent: int) -> None:
    """The child: load :mod:`optimizer.solve.highs` alone, receive the job, run it,
    sending every message to the parent."""
    import importlib.util
    from multiprocessing.connection import Connection

    _die_with_parent(parent)
    conn = Connection(fd)
    spec = importlib.util.spec_from_file_location(
        "staffplan_highs", os.path.join(os.path.dirname(__file__), "highs.py")
    )
    assert spec is not None and spec.loader is not None
    hs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hs)
    fields, deadline, threads, seed, cap = conn.recv()
    _cap_memory(cap)
    job = MipJob.from_wire(fields)
    try:
        run_job(
            job,
            hs,
            conn.send,
            deadline - time.monotonic(),
            threads=threads,
            seed=seed,
            stop=lambda: time.monotonic() > deadline,
        )
    except Exception as exc:  # reported, then the parent keeps what it has
        conn.send(("error", repr(exc)))
        return
    conn.send(("end",))


if __name__ == "__main__":
    sys.path.pop(0)  # this file's folder: its modules must not shadow others
    _child_main(int(sys.argv[1]), int(sys.argv[2]))
