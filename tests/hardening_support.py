"""Shared set-up of the hardening tests (issue 17): the tiny scenario copied to a folder,
a store holding one real run of it, and a CLI runner that records every input's bytes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from click.testing import CliRunner, Result

from optimizer.cli import main

TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"


def invoke(*args: str) -> Result:
    """``staffplan --lang en ARGS`` in process; tracebacks are kept in ``result.exception``."""
    return CliRunner().invoke(main, ["--lang", "en", *args])


def no_traceback(result: Result) -> bool:
    """The command ended through ``sys.exit`` (exit code 0, 1 or 2), not an exception."""
    return result.exit_code in (0, 1, 2) and (
        result.exception is None or isinstance(result.exception, SystemExit)
    )


def copy_tiny(folder: Path) -> Path:
    """The tiny scenario copied into ``folder/tiny``; returns its scenario file."""
    target = folder / "tiny"
    shutil.copytree(TINY, target)
    return target / "scenario.toml"


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (relative path → digest)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
