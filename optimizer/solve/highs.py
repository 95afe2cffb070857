"""HiGHS set-up shared by every HiGHS solve of the package (layer 5).

One place for what HiGHS needs around it: a silent instance with a seed and an
interrupt callback (:func:`new_highs`), a model passed from sparse arrays
(:func:`pass_model`), and runs serialised per process with the thread pool rebuilt when
its size changes (:func:`run_highs`; HiGHS keeps one pool per process and fails without
a word when a run asks for another size).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np


class SparseColumns(Protocol):
    """A sparse matrix by columns: a SciPy CSC matrix or
    :class:`~optimizer.solve.killable.ColumnMatrix` (the MIP's child process loads this
    file alone, without SciPy)."""

    @property
    def shape(self) -> tuple[int, int]:
        """Rows and columns."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray


@contextlib.contextmanager
def native_stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null for the duration (native code's prints)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


_HIGHS_LOCK = threading.Lock()
#: size of HiGHS's thread pool in this process and the thread that last ran HiGHS
#: ((0, 0): not made yet)
_highs_pool: list[tuple[int, int]] = [(0, 0)]


def run_highs(h: Any, threads: int) -> None:
    """Run the HiGHS instance ``h`` with ``threads`` threads.

    HiGHS keeps one thread pool per process, sized by its first run: a later run that
    sets another ``threads`` fails without a word (model status "not set").  A calling
    thread also keeps its own handle on the pool: after another thread rebuilt the pool,
    that handle is stale and the thread's next run fails the same way, even at the same
    size (a solve on one worker, an explanation's solve on two in a service thread, then
    a solve on two again: "no solution" from every exact step).  So the pool is rebuilt
    whenever the size or the calling thread changes, and the runs of one process are
    serialised so that no pool is rebuilt under a running solve.
    """
    import highspy

    threads = max(1, int(threads))
    wanted = (threads, threading.get_ident())
    with _HIGHS_LOCK:
        if _highs_pool[0] != wanted:
            highspy.Highs.resetGlobalScheduler(True)
            _highs_pool[0] = wanted
        h.setOptionValue("threads", threads)
        h.run()


def new_highs(
    seed: int = 0,
    stop: Callable[[], bool] | None = None,
    improving: Callable[[Any], None] | None = None,
    checked: Callable[[Any], None] | None = None,
) -> Any:
    """A silent HiGHS instance with random seed ``seed``; ``stop()`` returning true
    interrupts its runs (between simplex iterations and MIP nodes); ``improving(out)`` is
    called with HiGHS's callback output (``mip_solution``, ``objective_function_value``,
    ``mip_dual_bound``) on every improving MIP solution, and ``checked(out)`` each time
    the MIP checks its stop (with ``mip_dual_bound``; only with ``improving``)."""
    import highspy

    with native_stdout_silenced():  # HiGHS prints a banner on construction
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", int(seed))
    kinds = highspy.cb.HighsCallbackType
    if improving is not None:
        found, mip_check = int(kinds.kCallbackMipImprovingSolution), int(kinds.kCallbackMipInterrupt)
        asked = stop or (lambda: False)

        def dispatch(kind: Any, _message: str, out: Any, data_in: Any, _user: Any) -> None:
            if int(kind) == found:
                improving(out)
                return
            if checked is not None and int(kind) == mip_check:
                checked(out)
            if data_in is not None and asked():
                data_in.user_interrupt = True

        callback: Callable[..., None] = dispatch
    elif stop is not None:

        def interrupt(_kind: Any, _message: str, _out: Any, data_in: Any, _user: Any) -> None:
            if data_in is not None and stop():
                data_in.user_interrupt = True

        callback = interrupt
    else:
        return h
    # HiGHS calls this at every simplex iteration (82,000 times in a city solve with
    # cold stage relaxations, about 8,000 with warm ones), so it is given to HiGHS's
    # own callback slot, past highspy's dispatcher, which makes an event object and
    # goes through three Python calls each time (measured 8.8 µs a call, against
    # 6.5 µs here); interior point runs are interrupted too.
    highspy._core._Highs.setCallback(h, callback, None)
    if improving is not None:
        h.startCallback(kinds.kCallbackMipImprovingSolution)
    if stop is not None:
        for kind in (kinds.kCallbackSimplexInterrupt, kinds.kCallbackIpmInterrupt):
            h.startCallback(kind)
    if stop is not None or checked is not None:
        h.startCallback(kinds.kCallbackMipInterrupt)
    return h


def pass_model(
    h: Any,
    a: SparseColumns,
    cost: np.ndarray,
    col_upper: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    integer: np.ndarray,
) -> None:
    """Give ``h`` the model: minimise ``cost · x`` with ``0 ≤ x ≤ col_upper``,
    ``row_lower ≤ a x ≤ row_upper`` and ``x`` integer where ``integer``.

    The arrays go to HiGHS as they are (its ``passModel`` of arrays): filling a
    ``HighsLp`` converts them element by element, 60 ms for the city's first
    relaxation (213,613 columns), against 6 ms.
    """
    import highspy

    num_row, num_col = a.shape
    kinds = highspy.HighsVarType
    integrality = np.where(np.asarray(integer, dtype=bool), int(kinds.kInteger), int(kinds.kContinuous))
    h.passModel(
        num_col,
        num_row,
        int(a.indptr[num_col]),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        np.asarray(cost, dtype=float),
        np.zeros(num_col),
        np.asarray(col_upper, dtype=float),
        np.asarray(row_lower, dtype=float),
        np.asarray(row_upper, dtype=float),
        np.asarray(a.indptr[:num_col], dtype=np.int32),
        np.asarray(a.indices, dtype=np.int32),
        np.asarray(a.data, dtype=float),
        integrality.astype(np.int32),
    )


def set_basis(h: Any, col_status: np.ndarray, row_status: np.ndarray) -> bool:
    """Give ``h`` (its model passed) a starting basis: HiGHS status codes (0 at lower, 1
    basic, 2 at upper) per column and per row.  Whether HiGHS took it (a basis of the
    wrong size or count of basic variables is refused, and the run starts cold)."""
    import highspy

    statuses = np.array(
        [highspy.HighsBasisStatus.kLower, highspy.HighsBasisStatus.kBasic, highspy.HighsBasisStatus.kUpper],
        dtype=object,
    )
    basis = highspy.HighsBasis()
    basis.col_status = statuses[col_status].tolist()
    basis.row_status = statuses[row_status].tolist()
    return bool(h.setBasis(basis) == highspy.HighsStatus.kOk)


def set_solution(h: Any, x: np.ndarray) -> None:
    """Offer HiGHS's ``h`` the column values ``x`` as a MIP start (kept when feasible)."""
    import highspy

    start = highspy.HighsSolution()
    start.col_value = np.asarray(x, dtype=float).tolist()
    start.value_valid = True
    h.setSolution(start)


def mip_result(h: Any) -> tuple[str, float, float, np.ndarray | None]:
    """How the MIP just run on ``h`` ended: ``optimal``, ``infeasible``, ``feasible``
    (stopped with a solution) or ``no_solution``; HiGHS's objective, its dual bound
    (``-inf`` after an error, e.g. out of memory: no bound is trusted then), and the
    solution's column values (``None`` without one)."""
    import highspy

    status = h.getModelStatus()
    info = h.getInfo()
    kinds = highspy.HighsModelStatus
    stopped = (kinds.kTimeLimit, kinds.kInterrupt, kinds.kIterationLimit, kinds.kSolutionLimit)
    bound = float(info.mip_dual_bound) if status in (kinds.kOptimal, kinds.kInfeasible, *stopped) else -np.inf
    if status == kinds.kInfeasible:
        return "infeasible", np.nan, bound, None
    x = np.asarray(h.getSolution().col_value, dtype=float)
    if info.primal_solution_status != 2 or len(x) != h.getNumCol() or not np.isfinite(x).all():
        return "no_solution", np.nan, bound, None
    return (
        ("optimal" if status == kinds.kOptimal else "feasible"),
        float(info.objective_function_value),
        bound,
        x,
    )
