"""Long fuzz run of the CLI (issue 17, point 6): ten thousand random cases or more.

Usage::

    .venv/bin/python benchmarks/fuzz.py [--cases 10000] [--seed 0] [--jobs 2]
        [--minutes 0] [--out benchmarks/results/fuzz.json]

Each case is drawn by a seeded generator from the corpus of ``tests/fuzz_cases.py``
(one to three damages to the tiny scenario, its tables or a store with two runs; one
command; one output place) and run in process through click's CliRunner, in a fresh
folder; the property is checked after each (exit 0, 1 or 2 without a traceback, no input
changed, no incomplete file under a final name).  ``--jobs`` processes share the cases
(case ``k`` always draws the same damages for a given seed).  ``--minutes`` stops early
(the count reached is reported).  The counts by command, exit code and damage, and every
failing case with its failures, go to ``--out`` as JSON; ``make fuzz`` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz_cases import COMMANDS, DAMAGES, OUTPUTS, Case, Outcome, run_case

#: A case that takes longer is a hang (a failure), e.g. a FIFO opened for reading.
CASE_TIMEOUT_S = 120
#: Relative weight of each command (the HTML reports embed plotly, 5 MB: drawn less).
WEIGHTS = {c: (1 if c.endswith("html") or c.startswith("run") else 3) for c in COMMANDS}


def draw(seed: int, k: int) -> Case:
    """Case ``k`` of the run seeded ``seed``."""
    rng = random.Random(f"{seed}-{k}")
    names = sorted(DAMAGES)
    damages = tuple((n, rng.randrange(DAMAGES[n])) for n in rng.sample(names, rng.randint(1, 3)))
    commands = sorted(COMMANDS)
    command = rng.choices(commands, weights=[WEIGHTS[c] for c in commands])[0]
    return Case(damages, command, rng.choice(OUTPUTS))


def _hang(signum: int, frame: object) -> None:
    raise TimeoutError


def work(seed: int, ks: list[int], stop_at: float, log: Path) -> None:
    """Run cases ``ks`` (until ``stop_at``, a ``time.time()``), one JSON line per case in
    ``log``, written as it starts and as it ends (so a case that kills the process is
    known); a case that takes more than :data:`CASE_TIMEOUT_S` counts as a hang."""
    os.environ.setdefault("STAFFPLAN_LANG", "en")
    signal.signal(signal.SIGALRM, _hang)
    with log.open("a", encoding="utf-8") as fh:
        for k in ks:
            if stop_at and time.time() > stop_at:
                break
            case = draw(seed, k)
            fh.write(json.dumps({"k": k, "started": True}) + "\n")
            fh.flush()
            with tempfile.TemporaryDirectory(prefix="staffplan-fuzz-") as folder:
                started = time.perf_counter()
                signal.alarm(CASE_TIMEOUT_S)
                try:
                    outcome = run_case(case, Path(folder))
                except TimeoutError:
                    outcome = Outcome(case, -1, (f"hang: no answer in {CASE_TIMEOUT_S} s",))
                except Exception as exc:  # a bug of the harness itself: kept, never lost
                    outcome = Outcome(case, -2, (f"harness error: {exc!r}",))
                finally:
                    signal.alarm(0)
            fh.write(json.dumps(_record(k, case, outcome, time.perf_counter() - started)) + "\n")
            fh.flush()


def _record(k: int, case: Case, outcome: Outcome, seconds: float) -> dict[str, object]:
    return {
        "k": k,
        "damages": [list(d) for d in case.damages],
        "command": case.command,
        "output": case.output,
        "exit_code": outcome.exit_code,
        "failures": list(outcome.failures),
        "seconds": round(seconds, 3),
    }


def _collect(logs: list[Path], seed: int) -> tuple[list[dict[str, object]], list[int]]:
    """The finished cases of the workers' logs, and the cases a worker died in."""
    results, died = [], []
    for log in logs:
        open_case: int | None = None
        for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
            item = json.loads(line)
            if item.get("started"):
                if open_case is not None:
                    died.append(open_case)
                open_case = int(item["k"])
            else:
                results.append(item)
                open_case = None
        if open_case is not None:
            died.append(open_case)
    for k in died:
        results.append(_record(k, draw(seed, k), Outcome(draw(seed, k), -9, ("the process died",)), 0.0))
    return results, died


def _last_case(log: Path) -> int:
    """The last case a worker's log names (``-1`` when none)."""
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return max((int(json.loads(line)["k"]) for line in lines), default=-1)


def main() -> None:
    """Run the cases on ``--jobs`` worker processes (restarted after the case a worker
    died in), print a summary and write the JSON results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=0.0, help="stop after this long (0: no limit)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "fuzz.json")
    parser.add_argument("--worker", nargs=3, metavar=("FIRST", "STEP", "LOG"), help=argparse.SUPPRESS)
    parser.add_argument("--stop-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        first, step, log = int(args.worker[0]), int(args.worker[1]), Path(args.worker[2])
        work(args.seed, list(range(first, args.cases, step)), args.stop_at, log)
        return
    started = time.time()
    stop_at = started + 60 * args.minutes if args.minutes else 0.0
    logs_dir = Path(tempfile.mkdtemp(prefix="staffplan-fuzz-logs-"))
    logs = [logs_dir / f"worker-{j}.jsonl" for j in range(args.jobs)]
    firsts = list(range(args.jobs))
    while True:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--seed",
                    str(args.seed),
                    "--cases",
                    str(args.cases),
                    "--stop-at",
                    str(stop_at),
                    "--worker",
                    str(first),
                    str(args.jobs),
                    str(log),
                ]
            )
            for first, log in zip(firsts, logs, strict=True)
            if first < args.cases
        ]
        if not procs:
            break
        for proc in procs:
            proc.wait()
        _, died = _collect(logs, args.seed)
        if all(p.returncode == 0 for p in procs) or (stop_at and time.time() > stop_at):
            break
        # a worker died in a case: go on after it
        last = {j: _last_case(logs[j]) for j in range(args.jobs)}
        firsts = [last[j] + args.jobs if last[j] >= 0 else j for j in range(args.jobs)]
    results, died = _collect(logs, args.seed)
    failed = [r for r in results if r["failures"]]
    summary = {
        "cases": len(results),
        "asked": args.cases,
        "seed": args.seed,
        "jobs": args.jobs,
        "minutes_limit": args.minutes,
        "wall_s": round(time.time() - started, 1),
        "load_average": os.getloadavg(),
        "failed": len(failed),
        "process_deaths": died,
        "by_command": dict(Counter(str(r["command"]) for r in results)),
        "by_exit_code": dict(Counter(str(r["exit_code"]) for r in results)),
        "by_damage": dict(Counter(str(d[0]) for r in results for d in r["damages"])),  # type: ignore[attr-defined]
        "by_output": dict(Counter(str(r["output"]) for r in results)),
        "mean_case_s": round(sum(float(r["seconds"]) for r in results) / max(1, len(results)), 3),  # type: ignore[arg-type]
        "failures": failed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"}, indent=1))
    for r in failed[:20]:
        shown = "\n  ".join(map(str, r["failures"]))[:1500]
        print(r["k"], r["command"], r["output"], r["damages"], "\n  " + shown)


if __name__ == "__main__":
    main()
