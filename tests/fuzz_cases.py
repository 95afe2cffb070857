"""The fuzz harness of issue 17: random scenarios, tables, stores and output paths through
the CLI, in process (click's CliRunner), and the property every case must keep.

A case is plain data (:class:`Case`): a few damages picked from the corpus below (the
attacks of the adversarial pass: bad cells, NUL bytes, folders and devices as tables,
deep TOML, booleans as numbers, foreign and damaged stores, outputs aimed at inputs…),
one command and one output path.  :func:`run_case` builds a fresh copy of the tiny
scenario and of a store with two runs, applies the damages, runs the command and checks:

* the exit code is 0, 1 or 2, and the command ended through ``sys.exit`` (no traceback);
* no input file changed (every file of the scenario folder that existed before keeps its
  bytes; a store keeps its bytes under every command that only reads it);
* no file is left under a final name that is not complete: no ``.part`` file and no
  export work folder is left, every xlsx/docx is a whole zip, every CSV decodes, every
  HTML report ends with ``</html>``.

``tests/test_fuzz.py`` draws cases with Hypothesis (a small number, in the suite);
``benchmarks/fuzz.py`` draws ten thousand or more with a seeded generator
(``make fuzz``).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from optimizer.cli import main

TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"
TABLES = ("units", "posts", "staff", "relations", "pins")

#: Cell values tried in a table (the row, column and value are picked by the case).
CELLS = (
    "", " ", "=1+1", "@SUM(A1)", "-1", "1e400", "nan", "inf", "99999999999999999999", "0001-01-01",
    "31/02/1980", "true", "Nữ", "Phường\u0301", "a\x00b", "x" * 40_000, "<a href=x>y</a>", '"', "a,b",
    "\ufeffU1", "#N/A", "S01", "T01", "; ;", "0", "10.7;106.7",
)  # fmt: skip

#: ``--set`` values tried (bad and good).
SETTINGS = (
    "rules.max_commute_km=true", "solver.workers=true", "rules.max_commute_km=20",
    "rules.reference_date=0001-01-01", "rules.reference_date=2025-07-01", "foo.bar=1",
    "objective.priorities=[]", "objective.weights={shortfall=9223372036854775807}",
    "solver.seed=-1", "solver.time_limit_s=0", "rules.max_commute_km=" + "[" * 50 + "]" * 50,
    "rules.relatives_scope=any", "rules.bloc_change=forbid", "solver.workers=1", "data.units=/dev/zero",
    "extends=x.toml", "rules.road_factor=inf", "objective.priorities=[\"commute\"]", "=", "rules.=1",
)  # fmt: skip

#: Damages: (name, how many variants its integer parameter selects among).
DAMAGES: dict[str, int] = {
    "cell": 10_000,
    "nul": len(TABLES),
    "folder": len(TABLES),
    "fifo": len(TABLES),
    "devzero": len(TABLES),
    "empty": len(TABLES),
    "binary": len(TABLES),
    "utf16": len(TABLES),
    "cp1258": len(TABLES),
    "missing": len(TABLES),
    "set": len(SETTINGS),
    "toml_deep": 1,
    "toml_bool": 1,
    "toml_binary": 1,
    "toml_cycle": 1,
    "store_foreign": 2,
    "store_truncate": 4,
    "store_corrupt": 8,
    "store_row": 5,
    "store_missing": 1,
    "store_empty": 1,
    "none": 1,
}

#: Commands: (name, whether it only reads the store).
COMMANDS: dict[str, bool] = {
    "validate": True,
    "validate_xlsx": True,
    "run": False,
    "run_out": False,
    "runs": True,
    "show": True,
    "show_html": True,
    "compare": True,
    "compare_csv": True,
    "compare_html": True,
    "export_csv": True,
    "export_xlsx": True,
    "export_docx": True,
    "rm_blank": True,
    "explain_all": True,
}

#: Where an output goes.
OUTPUTS = (
    "fresh", "scenario_dir", "input_file", "store_file", "under_file", "symlink_input", "nested", "dot",
)  # fmt: skip

_ROW_SQL = (
    "UPDATE runs SET meta = '{' WHERE seq = 1",
    "UPDATE runs SET kpis = '[]' WHERE seq = 2",
    "UPDATE run_placements SET distance_km = 'far'",
    "UPDATE run_placements SET full_name = 'Giả Mạo' WHERE row = 0",
    "DELETE FROM run_lines",
)


@dataclass(frozen=True)
class Case:
    """One fuzz case: damages ``(name, parameter)``, a command and an output place."""

    damages: tuple[tuple[str, int], ...]
    command: str
    output: str


@dataclass(frozen=True)
class Outcome:
    """What a case did: its exit code and the property's failures (empty when it held)."""

    case: Case
    exit_code: int
    failures: tuple[str, ...]
    #: What the command printed (standard output and error).
    output: str = ""


def _digests(folder: Path) -> dict[str, str]:
    out = {}
    for p in folder.rglob("*"):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


_TEMPLATE: dict[str, Path] = {}


def template_store() -> Path:
    """A store with two runs of the tiny scenario (made once per process)."""
    if "store" not in _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="staffplan-fuzz-"))
        atexit.register(shutil.rmtree, folder, True)
        store = folder / "s.db"
        for cap in ("30", "12"):
            result = CliRunner().invoke(
                main,
                [
                    "run",
                    str(TINY / "scenario.toml"),
                    "--store",
                    str(store),
                    "--set",
                    f"rules.max_commute_km={cap}",
                ],
            )
            assert result.exit_code == 0, result.output
        _TEMPLATE["store"] = store
    return _TEMPLATE["store"]


def _table(folder: Path, k: int) -> Path:
    return folder / f"{TABLES[k % len(TABLES)]}.csv"


def _damage(name: str, k: int, folder: Path, store: Path, settings: list[str]) -> None:
    """Apply one damage to the scenario folder or the store."""
    table = _table(folder, k // 1000 if name == "cell" else k)
    if name in ("cell", "nul", "utf16", "cp1258", "empty", "binary") and (
        table.is_symlink() or not table.is_file()
    ):
        return  # never read or write a FIFO or /dev/zero left by an earlier damage (it never ends)
    if name == "cell":
        lines = table.read_text(encoding="utf-8").splitlines()
        row = 1 + (k // 7) % max(1, len(lines) - 1)
        cells = lines[row].split(",") if row < len(lines) else [""]
        cells[(k // 3) % len(cells)] = CELLS[k % len(CELLS)].replace(",", ";").replace("\n", " ")
        if row < len(lines):
            lines[row] = ",".join(cells)
        table.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n")
    elif name == "nul":
        table.write_bytes(table.read_bytes()[:60] + b"\x00" + table.read_bytes()[60:])
    elif name in ("folder", "fifo", "devzero", "missing"):
        table.unlink()
        if name == "folder":
            table.mkdir()
        elif name == "fifo":
            os.mkfifo(table)
        elif name == "devzero":
            table.symlink_to("/dev/zero")
    elif name == "empty":
        table.write_bytes(b"")
    elif name == "binary":
        table.write_bytes(bytes(range(256)) * 8)
    elif name == "utf16":
        table.write_bytes(table.read_text(encoding="utf-8").encode("utf-16"))
    elif name == "cp1258":
        table.write_bytes(table.read_text(encoding="utf-8").encode("cp1258", "replace"))
    elif name == "set":
        settings.append(SETTINGS[k % len(SETTINGS)])
    elif name.startswith("toml_"):
        _damage_toml(name, folder / "scenario.toml")
    elif name.startswith("store_"):
        _damage_store(name, k, store)


def _damage_toml(name: str, scenario: Path) -> None:
    text = scenario.read_text(encoding="utf-8")
    if name == "toml_deep":
        scenario.write_text(text + "\n[x]\ny = " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    elif name == "toml_bool":
        scenario.write_text(text.replace("max_commute_km = 30.0", "max_commute_km = true"), encoding="utf-8")
    elif name == "toml_binary":
        scenario.write_bytes(b"\xff\xfe\x00" * 100)
    else:
        scenario.write_text(f'extends = "{scenario.name}"\n' + text, encoding="utf-8")


def _damage_store(name: str, k: int, store: Path) -> None:
    if name == "store_missing":
        store.unlink()
    elif name == "store_empty":
        store.write_bytes(b"")
    elif name == "store_foreign":
        store.unlink()
        with contextlib.closing(sqlite3.connect(store)) as conn:
            conn.executescript(
                "CREATE TABLE runs (x); PRAGMA user_version = 1;" if k else "CREATE TABLE t (x);"
            )
    elif not store.is_file() or store.stat().st_size == 0:
        return  # an earlier damage left nothing to damage
    elif name == "store_truncate":
        data = store.read_bytes()
        store.write_bytes(data[: len(data) * (k + 1) // 5])
    elif name == "store_corrupt":
        data = bytearray(store.read_bytes())
        for i in range(64):
            data[(k * 7919 + i * 104729) % len(data)] ^= 0x5A
        store.write_bytes(bytes(data))
    else:
        with contextlib.closing(sqlite3.connect(store)) as conn:
            conn.execute(_ROW_SQL[k % len(_ROW_SQL)])
            conn.commit()


def _output(place: str, folder: Path, store: Path, out_root: Path, file_name: str) -> Path:
    """The output path of a case (``file_name`` for a file, ``""`` for a folder)."""
    if place == "scenario_dir":
        return folder / file_name if file_name else folder
    if place == "input_file":
        return folder / "units.csv"
    if place == "store_file":
        return store
    if place == "under_file":
        (out_root / "afile").write_text("x", encoding="utf-8")
        return out_root / "afile" / (file_name or "sub")
    if place == "symlink_input":
        link = out_root / ("link" + (Path(file_name).suffix or ".csv"))
        link.symlink_to(folder / "staff.csv")
        return link if file_name else out_root
    if place == "dot":  # relative to the working folder of the command (``out_root.parent``)
        return Path(os.path.relpath(folder / file_name if file_name else folder, out_root.parent))
    target = out_root / ("a/b" if place == "nested" else "o")
    return target / file_name if file_name else target


def _argv(
    command: str, scenario: Path, store: Path, out: Callable[[str], Path], settings: Sequence[str]
) -> list[str]:
    sets = [a for s in settings for a in ("--set", s)]
    at = ["--store", str(store)]
    table: dict[str, Callable[[], list[str]]] = {
        "validate": lambda: ["validate", str(scenario), *sets],
        "validate_xlsx": lambda: ["validate", str(scenario), *sets, "--errors-xlsx", str(out("loi.xlsx"))],
        "run": lambda: ["run", str(scenario), *sets, "--time-limit", "5", *at],
        "run_out": lambda: ["run", str(scenario), *sets, "--time-limit", "5", "--out", str(out("")), *at],
        "runs": lambda: ["runs", *at],
        "show": lambda: ["show", "latest", *at],
        "show_html": lambda: ["show", "latest", "--html", str(out("r.html")), *at],
        "compare": lambda: ["compare", "r0001", "r0002", "--redact", *at],
        "compare_csv": lambda: ["compare", "r0001", "r0002", "--csv", str(out("")), *at],
        "compare_html": lambda: ["compare", "r0001", "r0002", "--html", str(out("c.html")), *at],
        "export_csv": lambda: ["export", "latest", "--format", "csv", "--out", str(out("")), *at],
        "export_xlsx": lambda: ["export", "latest", "--format", "xlsx", "--out", str(out("")), *at],
        "export_docx": lambda: [
            "export",
            "latest",
            "--format",
            "docx",
            "--unit",
            "T01",
            "--out",
            str(out("")),
            *at,
        ],
        "rm_blank": lambda: ["rm", "", *at],
        "explain_all": lambda: ["explain", "latest", "--all", "--out", str(out("why.csv")), *at],
    }
    return ["--lang", "en", *table[command]()]


def _complete(path: Path) -> str | None:
    """Why ``path`` is not a complete output file (``None`` when it is)."""
    name = path.name
    if name.endswith(".part") or name.startswith(".staffplan-export-"):
        return f"leftover {path}"
    if not path.is_file() or path.is_symlink():
        return None
    try:
        if path.suffix in (".xlsx", ".docx"):
            with zipfile.ZipFile(path) as z:
                if z.testzip() is not None:
                    return f"broken zip {path}"
        elif path.suffix == ".csv":
            path.read_bytes().decode("utf-8")
        elif path.suffix == ".html" and not path.read_text(encoding="utf-8").rstrip().endswith("</html>"):
            return f"truncated report {path}"
    except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
        return f"incomplete {path}: {exc}"
    return None


def run_case(case: Case, work: Path) -> Outcome:
    """Run one case in the empty folder ``work`` and check the property."""
    folder = work / "tiny"
    shutil.copytree(TINY, folder)
    store = work / "s.db"
    shutil.copyfile(template_store(), store)
    out_root = work / "out"
    out_root.mkdir()
    settings: list[str] = []
    for name, k in case.damages:
        with contextlib.suppress(OSError, ValueError, sqlite3.DatabaseError):  # an earlier damage in the way
            _damage(name, k, folder, store, settings)
    before = _digests(folder)
    store_before = store.read_bytes() if store.is_file() and not store.is_symlink() else None
    blank_store = store_before is not None and len(store_before) == 0

    def out(file_name: str) -> Path:
        return _output(case.output, folder, store, out_root, file_name)

    argv = _argv(case.command, folder / "scenario.toml", store, out, settings)
    previous = Path.cwd()
    os.chdir(work)
    try:
        result = CliRunner().invoke(main, argv)
    finally:
        os.chdir(previous)
    failures = []
    code = result.exit_code
    if code not in (0, 1, 2) or (
        result.exception is not None and not isinstance(result.exception, SystemExit)
    ):
        failures.append(f"exit {code}: {result.exception!r}\n{result.output[-2000:]}")
    after = _digests(folder)
    changed = sorted(k for k, v in before.items() if after.get(k) != v)
    if changed:
        failures.append(f"inputs changed: {changed}")
    reads_only = COMMANDS[case.command] and store_before is not None and not blank_store
    if reads_only and (not store.is_file() or store.read_bytes() != store_before):
        failures.append("store changed by a command that only reads it")
    written = [p for p in folder.rglob("*") if str(p.relative_to(folder)) not in before]
    for path in [*out_root.rglob("*"), *written]:
        problem = _complete(path)
        if problem:
            failures.append(problem)
    return Outcome(case, code, tuple(failures), result.output)
