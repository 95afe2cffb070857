"""The heap warmed on a helper thread while a scenario loads (``optimizer.heap``, issue 19).

The helper frees every block exactly once, touched or not; a solve takes the warming over
(stopped, joined, its error raised) before it allocates; the amount is capped by the
memory available and nothing happens for a small scenario, off glibc or when turned off;
the placement is the one solved without warming (in a child process, where glibc's
settings stay).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from generated import solved_province

from optimizer import heap
from optimizer.check import check_placement, objective_terms
from optimizer.io.build import load_problem
from optimizer.io.scenario import load_scenario
from optimizer.shapes import SHAPES, write_province
from optimizer.solution import SolveResult
from optimizer.solve import solve
from optimizer.solve.memory import check_memory


class FakeLibc:
    """Records ``madvise``, ``memset`` and ``free``; ``madvise`` refuses when ``populate`` is
    false (an old kernel), the first touch may wait on ``gate``, a touch may raise."""

    def __init__(
        self, gate: threading.Event | None = None, fail_at: int | None = None, populate: bool = True
    ) -> None:
        self.gate = gate
        self.fail_at = fail_at
        self.populate = populate
        self.ranges: list[tuple[int, int]] = []
        self.touched: list[int] = []
        self.freed: list[int] = []
        self.entered = threading.Event()

    def _enter(self) -> None:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait()
        if len(self.touched) == self.fail_at:
            raise OSError("touch failed")

    def madvise(self, start: int, size: int, advice: int) -> int:
        assert advice == heap._MADV_POPULATE_WRITE and start % heap._PAGE == 0 and size % heap._PAGE == 0
        if not self.populate:
            return -1
        self._enter()
        self.ranges.append((start, start + size))
        self.touched.append(start)
        return 0

    def memset(self, block: int, value: int, size: int) -> None:
        assert value == 0 and size == heap.BLOCK_BYTES
        self._enter()
        self.touched.append(block)

    def free(self, block: int) -> None:
        self.freed.append(block)


BLOCKS = [2**30 + 16 + k * (heap.BLOCK_BYTES + 16) for k in range(10)]  # as glibc lays them out


def pages_inside(block: int) -> tuple[int, int]:
    return -(-block // heap._PAGE) * heap._PAGE, (block + heap.BLOCK_BYTES) // heap._PAGE * heap._PAGE


def test_a_finished_warming_populated_every_block_and_freed_each_once() -> None:
    libc = FakeLibc()
    warming = heap.Warming(libc, BLOCKS[:7])
    warming._thread.join(5)  # let it run to the end
    assert warming.settle() == 7 * heap.BLOCK_BYTES
    assert libc.freed == BLOCKS[:7]  # each exactly once, after its touch
    assert libc.ranges == [pages_inside(b) for b in BLOCKS[:7]]  # inside the blocks
    assert all(b <= lo < hi <= b + heap.BLOCK_BYTES for b, (lo, hi) in zip(BLOCKS, libc.ranges, strict=False))


def test_the_blocks_are_memset_on_a_kernel_without_populate() -> None:
    libc = FakeLibc(populate=False)
    warming = heap.Warming(libc, BLOCKS[:4])
    warming._thread.join(5)
    assert warming.settle() == 4 * heap.BLOCK_BYTES
    assert libc.touched == BLOCKS[:4] and libc.ranges == []
    assert libc.freed == BLOCKS[:4]


def test_settle_stops_after_the_current_run_and_frees_the_rest_untouched() -> None:
    gate = threading.Event()
    libc = FakeLibc(gate)
    warming = heap.Warming(libc, list(BLOCKS))
    assert libc.entered.wait(5)
    threading.Timer(0.05, gate.set).start()  # the block in hand finishes after the stop
    assert warming.settle() == heap.BLOCK_BYTES
    assert not warming._thread.is_alive()
    assert libc.ranges == [pages_inside(BLOCKS[0])]
    assert sorted(libc.freed) == BLOCKS


def test_the_helper_s_error_is_raised_by_settle_and_nothing_leaks() -> None:
    libc = FakeLibc(fail_at=2)
    warming = heap.Warming(libc, list(BLOCKS))
    with pytest.raises(OSError, match="touch failed"):
        warming.settle()
    assert sorted(libc.freed) == BLOCKS


def test_settle_never_hangs_on_a_stuck_helper(caplog: pytest.LogCaptureFixture) -> None:
    gate = threading.Event()
    libc = FakeLibc(gate)
    warming = heap.Warming(libc, BLOCKS[:2])
    assert libc.entered.wait(5)
    assert warming.settle(timeout=0.05) == 0
    assert "still running" in caplog.text
    gate.set()  # the helper then finishes and frees its blocks by itself
    warming._thread.join(5)
    assert sorted(libc.freed) == BLOCKS[:2]


def test_no_warming_for_a_small_amount_or_off_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    assert heap.start_warming(heap.MIN_WARM_BYTES - 1) is None
    monkeypatch.setattr(heap, "_glibc", lambda: None)
    assert heap.start_warming(10 * heap.MIN_WARM_BYTES) is None
    assert heap.settle_warming() == 0


def test_the_amount_follows_the_staff_table_capped_by_the_memory_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff = tmp_path / "staff.csv"
    staff.write_bytes(b"x" * 1_000_000)
    monkeypatch.setattr(heap, "available_bytes", lambda: 100 * 2**30)
    assert heap.warm_bytes_for(staff) == heap.HEAP_BYTES_PER_STAFF_BYTE * 1_000_000
    monkeypatch.setattr(heap, "available_bytes", lambda: 4 * heap.MIN_WARM_BYTES + 4)
    assert heap.warm_bytes_for(staff) == heap.MIN_WARM_BYTES + 1  # a quarter
    monkeypatch.setattr(heap, "available_bytes", lambda: 4 * heap.MIN_WARM_BYTES - 4)
    assert heap.warm_bytes_for(staff) == 0  # under the minimum
    monkeypatch.setattr(heap, "available_bytes", lambda: 100 * 2**30)
    staff.write_bytes(b"x" * (heap.MIN_WARM_BYTES // heap.HEAP_BYTES_PER_STAFF_BYTE - 1))
    assert heap.warm_bytes_for(staff) == 0  # a small scenario
    assert heap.warm_bytes_for(tmp_path / "missing.csv") == 0
    staff.write_bytes(b"x" * (heap.MAX_WARM_BYTES // heap.HEAP_BYTES_PER_STAFF_BYTE))
    assert heap.warm_bytes_for(staff) > heap.MAX_WARM_BYTES - heap.HEAP_BYTES_PER_STAFF_BYTE
    staff.write_bytes(b"x" * (heap.MAX_WARM_BYTES // heap.HEAP_BYTES_PER_STAFF_BYTE + 1))
    assert heap.warm_bytes_for(staff) == 0  # a large scenario
    staff.write_bytes(b"x" * 1_000_000)
    monkeypatch.setenv(heap.WARM_ENV, "0")
    assert heap.warm_bytes_for(staff) == 0


def test_the_warmed_heap_counts_as_available_within_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(heap.MAX_MEMORY_ENV, raising=False)
    monkeypatch.setitem(heap._state, "warmed", 0)
    before = heap.available_bytes()
    monkeypatch.setitem(heap._state, "warmed", 2**40)
    assert heap.available_bytes() >= before + 2**40 - 2**30  # MemAvailable moves a little
    monkeypatch.setenv(heap.MAX_MEMORY_ENV, "300")
    assert heap.available_bytes() == 300 * 2**20


def warm_even_this_small_table(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    staff = load_scenario(folder / "scenario.toml").source("staff")
    assert staff is not None
    per_byte = 2 * heap.MIN_WARM_BYTES // staff.path.stat().st_size
    monkeypatch.setattr(heap, "HEAP_BYTES_PER_STAFF_BYTE", per_byte)
    assert heap.MIN_WARM_BYTES <= heap.warm_bytes_for(staff.path) <= heap.MAX_WARM_BYTES


def warmed_solve_in_child(folder: str) -> None:
    """In a child process (glibc's settings stay there): a warmed load, then a solve in
    another thread, as ``staffplan run`` does; prints what happened as JSON."""
    started: list[heap.Warming] = []

    class Spy(heap.Warming):
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            started.append(self)

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(heap, "Warming", Spy)
        warm_even_this_small_table(monkeypatch, Path(folder))
        problem, _ = load_problem(load_scenario(Path(folder) / "scenario.toml"), warm_heap=True)
    problem = dataclasses.replace(problem, solver=dataclasses.replace(problem.solver, workers=1))
    pending = heap._state["pending"] is started[0] if started else False
    check_memory(problem)  # the warmed heap does not make the memory look short
    box: dict[str, SolveResult] = {}
    worker = threading.Thread(target=lambda: box.update(result=solve(problem)))
    worker.start()
    worker.join()
    result = box["result"]
    print(
        json.dumps(
            {
                "started": len(started),
                "pending_after_load": pending,
                "taken_over": heap._state["pending"] is None and not started[0]._thread.is_alive(),
                "touched": started[0].touched,
                "status": result.status,
                "assignment": result.assignment.tolist(),
            }
        )
    )


def test_a_solve_in_another_thread_takes_a_warmed_load_over_and_places_the_same() -> None:
    if heap._glibc() is None:
        pytest.skip("glibc only")
    problem0, assignment0 = solved_province("city-like", 300)
    folder = Path(tempfile.mkdtemp(prefix="province-warm-"))
    write_province(SHAPES["city-like"], 300, folder, 0)
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_memory_heap as t; "
    code += f"t.warmed_solve_in_child({str(folder)!r})"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["started"] == 1 and child["pending_after_load"] and child["taken_over"]
    assert 0 < child["touched"] <= 2 * heap.MIN_WARM_BYTES and child["touched"] % heap.BLOCK_BYTES == 0
    assert child["status"] == "optimal"
    assignment = np.array(child["assignment"], dtype=np.int64)
    assert check_placement(problem0, assignment) == []
    assert np.array_equal(assignment, assignment0)
    assert objective_terms(problem0, assignment) == objective_terms(problem0, assignment0)


def test_a_load_without_warm_heap_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = Path(tempfile.mkdtemp(prefix="province-cold-"))
    write_province(SHAPES["city-like"], 300, folder, 0)
    warm_even_this_small_table(monkeypatch, folder)
    load_problem(load_scenario(folder / "scenario.toml"))
    assert heap._state["pending"] is None
