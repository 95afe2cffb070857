"""Warm the C heap on the idle core while a scenario loads, for the solve that follows
(layer 1: standard library only).

A solve on the full city grows the process by about 1 GB of NumPy arrays and HiGHS
buffers, and a fresh process pays for every new 4 kB page at its first touch: the
kernel zeroes it in the page fault.  Measured on the city (``benchmarks/bench_solve.py
--scales 1``, three solves in one process): the first solve took 243,000 minor page
faults and 0.52 s of system time, the second 47,000 and 0.1 s; the first was
0.5-0.9 s slower in all.  While the scenario loads (0.6 s of one core, mostly pandas
and Python) the machine's second core is idle, so :func:`start_warming` has a helper
thread touch that memory there:

* three ``mallopt`` settings first: every thread allocates from the one main arena
  (``M_ARENA_MAX``; ``staffplan run`` and the web's jobs solve in a thread of their
  own, which would otherwise get a fresh arena and none of the warmed pages: measured,
  220,000 faults in the solve and 2.1 GB peak instead of 1.1), blocks and arrays below
  32 MB stay on the heap instead of fresh ``mmap`` regions (``M_MMAP_THRESHOLD``,
  glibc's own ceiling), and freed heap memory is kept for reuse rather than handed back
  to the kernel at once (``M_TRIM_THRESHOLD``), as a long-running process's heap
  settles by itself after its first solve;
* the calling thread ``malloc``-s the blocks (:data:`BLOCK_BYTES` each);
* the helper thread faults each in with ``madvise(MADV_POPULATE_WRITE)`` through
  ``ctypes`` (the GIL released, so it runs beside the load; 0.37-0.40 s of CPU for 1 GB
  against 0.60-0.64 s for ``memset``, which stands in before Linux 5.14), and
  ``free``-s it at once, so the load's own allocations may already land on touched
  pages;
* :func:`settle_warming`, at the start of the solve, stops the helper after its current
  block, joins it, and raises any error it hit; the blocks left untouched are freed all
  the same.

On the city the solve's thread then takes 0.004-0.09 s of system time instead of
0.43-0.63 s, and its first solve in a process no more CPU than the next ones.
``bench_solve.py --scales 1`` on a quiet machine: 3.53-3.94 s wall (mean 3.69)
against 3.73-3.97 s (3.86), eight alternated runs each, the same CPU time in all (the
helper's included); the load ~0.1 s longer (the helper's ``madvise`` holds the address
space's lock the load's own ``mmap`` calls wait on; ``memset`` does not, but touches
half as much in the time: the same total), the solve ~0.3 s shorter.  On a loaded
machine the helper competes with the load for the process's share of the CPU.  The
memory is not given back after the solve (``malloc_trim``: 0.05-0.15 s on the city):
the callers that warm (``staffplan run``, a web job, each its own process) exit after
it.

It is safe because the solve never sees the blocks: they are freed (into the heap, not
to the kernel) before it allocates, and no memory is shared with the helper after
:func:`settle_warming`.  The amount is capped by a quarter of the memory available
(:func:`available_bytes`, which counts the warmed heap as available, so the solve's
memory check is not fooled by it) and sized from the staff table's bytes (the memory a
solve needs grows with the people; :data:`HEAP_BYTES_PER_STAFF_BYTE`); a small
scenario (under :data:`MIN_WARM_BYTES`), a large one (over :data:`MAX_WARM_BYTES`), a
C library other than glibc, or ``STAFFPLAN_WARM_HEAP=0`` make it a no-op.

Why not the large ones: on 4× the city (3.9 GB wanted) most of the solve's memory is
in arrays over 32 MB, which bypass the heap, so the warming covers a small part of it,
and the one arena made the multi-threaded HiGHS runs wait: the exact stage took
49.6-75.9 s of wall time in the three runs with ``M_ARENA_MAX=1`` against 35.2-49.9 s
in the five without (the same CPU time; a loaded machine).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Bytes of one block (below glibc's 32 MB mmap ceiling, so a block comes from the heap;
#: touched in one call of ~5-10 ms, the wait of a stop).
BLOCK_BYTES = 16 * 2**20
#: Heap bytes a solve grows by per byte of its staff table (the city: ~1 GB of new
#: pages for a 2.8 MB CSV; a workbook's compressed bytes make it an underestimate).
HEAP_BYTES_PER_STAFF_BYTE = 350
#: Below this, no warming (the scenario is small: its first touches cost little).
MIN_WARM_BYTES = 8 * BLOCK_BYTES
#: Above this, no warming (see the module).
MAX_WARM_BYTES = 2 * 2**30
#: At most this share of the memory available is warmed.
AVAILABLE_SHARE = 4
#: Seconds :func:`settle_warming` waits for the helper thread before going on without it.
JOIN_TIMEOUT_S = 10.0
#: Environment variable capping the memory a solve may plan to use, in MB.
MAX_MEMORY_ENV = "STAFFPLAN_MAX_MEMORY_MB"
#: Environment variable: ``0`` turns the warming off.
WARM_ENV = "STAFFPLAN_WARM_HEAP"

#: glibc's ``mallopt`` parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: Linux's ``madvise`` advice that faults a range in, writable, without writing it (5.14+).
_MADV_POPULATE_WRITE = 23
#: The page size assumed (with larger pages a block's start may be misaligned: ``madvise``
#: refuses, ``memset`` stands in).
_PAGE = 4096
#: The largest ``M_MMAP_THRESHOLD`` glibc accepts on 64-bit (``DEFAULT_MMAP_THRESHOLD_MAX``).
_MMAP_THRESHOLD = 32 * 2**20
_TRIM_THRESHOLD = 2**31 - 1

_lock = threading.Lock()
#: the warming no solve took over yet, and the bytes the last one touched
_state: dict[str, Any] = {"pending": None, "warmed": 0}


def available_bytes() -> int:
    """Memory this process can still get, in bytes: the kernel's ``MemAvailable`` plus the
    heap memory the last warming touched (free in this process's heap),
    capped by ``STAFFPLAN_MAX_MEMORY_MB`` when set (e.g. on a shared server)."""
    have = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                have = int(line.split()[1]) * 1024
    have += _state["warmed"]
    cap = os.environ.get(MAX_MEMORY_ENV, "").strip()
    if cap.isdigit():
        have = min(have, int(cap) * 2**20)
    return have


def _glibc() -> Any | None:
    """glibc's functions through ``ctypes``, typed (``madvise`` and ``memset`` release the
    GIL, ``free`` keeps it: a short call); ``None`` on any other C library."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (ValueError, OSError, AttributeError):  # no such name: not glibc
        return None
    import ctypes
    from types import SimpleNamespace

    released, held = ctypes.CDLL("libc.so.6"), ctypes.PyDLL("libc.so.6")
    released.malloc.restype = ctypes.c_void_p
    released.malloc.argtypes = [ctypes.c_size_t]
    held.free.restype = None
    held.free.argtypes = [ctypes.c_void_p]
    released.memset.restype = ctypes.c_void_p
    released.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    released.madvise.restype = ctypes.c_int
    released.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    released.mallopt.restype = ctypes.c_int
    released.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return SimpleNamespace(
        malloc=released.malloc,
        free=held.free,
        memset=released.memset,
        madvise=released.madvise,
        mallopt=released.mallopt,
    )


class Warming:
    """A helper thread touching heap blocks the calling thread allocated; see the module.

    Parameters
    ----------
    libc
        glibc's ``madvise``, ``memset`` and ``free`` (:func:`_glibc`).
    blocks
        Addresses of :data:`BLOCK_BYTES`-byte blocks from glibc's ``malloc``; the helper
        frees each exactly once, touched or not.
    """

    def __init__(self, libc: Any, blocks: list[int]) -> None:
        self._libc = libc
        self._blocks = blocks
        self._stop = threading.Event()
        #: bytes touched so far
        self.touched = 0
        #: what the helper raised, re-raised by :meth:`settle`
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="staffplan-warm-heap", daemon=True)
        self._thread.start()

    def _touch(self, block: int) -> None:
        """Fault in the pages of a block: ``madvise(MADV_POPULATE_WRITE)`` over the whole
        pages inside it (made present and writable, their content untouched), the block
        ``memset`` where the kernel refuses it (before Linux 5.14)."""
        first = -(-block // _PAGE) * _PAGE
        end = (block + BLOCK_BYTES) // _PAGE * _PAGE
        if self._libc.madvise(first, end - first, _MADV_POPULATE_WRITE) != 0:
            self._libc.memset(block, 0, BLOCK_BYTES)

    def _run(self) -> None:
        done = 0
        try:
            for block in self._blocks:
                if self._stop.is_set():
                    break
                self._touch(block)
                self._libc.free(block)
                done += 1
                self.touched += BLOCK_BYTES
        except BaseException as exc:  # handed to settle(), in the caller's thread
            self.error = exc
        finally:
            for block in self._blocks[done:]:
                self._libc.free(block)

    def settle(self, timeout: float = JOIN_TIMEOUT_S) -> int:
        """Stop the helper after its current block and join it; return the bytes touched.

        Raises
        ------
        BaseException
            Whatever the helper raised.
        """
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():  # never expected: a block of 16 MB; the solve goes on
            log.warning("heap warming still running after %.0f s; going on without it", timeout)
            return 0
        if self.error is not None:
            raise self.error
        return self.touched


def warm_bytes_for(staff_table: Path) -> int:
    """Bytes to warm for a scenario whose staff table is ``staff_table``: in proportion to
    its size, at most a quarter of :func:`available_bytes`; 0 when under
    :data:`MIN_WARM_BYTES` or over :data:`MAX_WARM_BYTES`, when the file cannot be read
    or when ``STAFFPLAN_WARM_HEAP=0``."""
    if os.environ.get(WARM_ENV, "").strip() == "0":
        return 0
    try:
        wanted = HEAP_BYTES_PER_STAFF_BYTE * staff_table.stat().st_size
    except OSError:
        return 0
    if wanted > MAX_WARM_BYTES:
        return 0
    wanted = min(wanted, available_bytes() // AVAILABLE_SHARE)
    return wanted if wanted >= MIN_WARM_BYTES else 0


def start_warming(nbytes: int) -> Warming | None:
    """Start warming ``nbytes`` of the heap on a helper thread, for the solve that follows
    (:func:`settle_warming`); ``None`` (nothing done) when ``nbytes`` is under
    :data:`MIN_WARM_BYTES` or on a C library other than glibc.  A warming started before
    and not taken over by a solve is settled first."""
    settle_warming()
    if nbytes < MIN_WARM_BYTES:
        return None
    libc = _glibc()
    if libc is None:
        return None
    libc.mallopt(_M_ARENA_MAX, 1)
    libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    blocks = []
    for _ in range(nbytes // BLOCK_BYTES):
        block = libc.malloc(BLOCK_BYTES)
        if not block:  # the address space is refused: warm what we have
            break
        blocks.append(block)
    warming = Warming(libc, blocks)
    with _lock:
        _state["pending"] = warming
    return warming


def settle_warming() -> int:
    """Hand the warming, if any, over to the solve about to start (in any thread: the heap
    is one arena): stop and join its helper (errors raised here); return the bytes it
    touched (0 without warming)."""
    with _lock:
        warming: Warming | None = _state["pending"]
        _state["pending"] = None
    if warming is None:
        return 0
    touched = warming.settle()
    _state["warmed"] = touched
    return touched
