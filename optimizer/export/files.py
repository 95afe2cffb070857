"""Safe output files for the annexes and tables (layer 8).

Every file that may hold personal data is written under a temporary hidden name in the
target folder, made readable by its owner only (mode 0600) and renamed onto its final
name once complete, so an interrupted export never leaves a half-written file under a
real name.  File names built from unit names are folded to ASCII and always stay inside
the output folder.  Text cells that a spreadsheet would read as a formula are neutralised.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

#: First characters that make Excel or LibreOffice Calc read a CSV cell as a formula
#: (OWASP "CSV injection"): such a cell gets a leading apostrophe.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Longest file-name part kept from a unit name.
MAX_NAME_PART = 60

_NOT_NAME = re.compile(r"[^a-z0-9]+")


def neutralise(text: str) -> str:
    """Return ``text`` so that a spreadsheet shows it as text, never runs it as a formula.

    Parameters
    ----------
    text
        A cell's text.

    Returns
    -------
    str
        ``text`` itself, or ``"'" + text`` when it starts with one of
        :data:`FORMULA_PREFIXES`.
    """
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def name_part(text: str) -> str:
    """Fold ``text`` into a safe file-name part: ASCII letters, digits and ``-`` only.

    Parameters
    ----------
    text
        Any text, e.g. ``"Phường Sài Gòn"`` or ``"../../etc"``.

    Returns
    -------
    str
        E.g. ``"phuong-sai-gon"``; ``"x"`` when nothing is left.
    """
    text = unicodedata.normalize("NFC", text).replace("đ", "d").replace("Đ", "D")
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    folded = _NOT_NAME.sub("-", plain.lower())[:MAX_NAME_PART].strip("-")
    return folded or "x"


def output_path(out_dir: Path, parts: list[str], suffix: str, taken: set[str]) -> Path:
    """A file path inside ``out_dir`` named from ``parts``, unique among ``taken``.

    Parameters
    ----------
    out_dir
        The output folder.
    parts
        Name parts (run id, unit id, unit name…), each folded by :func:`name_part`.
    suffix
        The extension with its dot, e.g. ``".xlsx"``.
    taken
        Names already used in this export; the new name is added to it.

    Returns
    -------
    Path
        ``out_dir / "<part>-<part>…<suffix>"``, with ``-2``, ``-3``… appended on a clash.

    Raises
    ------
    ValueError
        If the path would leave ``out_dir`` (impossible for folded names; kept as a guard).
    """
    stem = "-".join(name_part(p) for p in parts)
    name, k = stem + suffix, 1
    while name in taken:
        k += 1
        name = f"{stem}-{k}{suffix}"
    taken.add(name)
    path = out_dir / name
    if path.resolve().parent != out_dir.resolve():
        raise ValueError(f"output file {name!r} would leave {out_dir}")
    return path


def make_out_dir(out_dir: Path) -> Path:
    """Create the output folder if missing (mode 0700 for a new folder) and return it."""
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return out_dir


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a private temporary path next to ``path``; rename it onto ``path`` on success.

    The temporary file is created with mode 0600 in the same folder (so the rename is
    atomic) and removed if the block raises, including on Ctrl-C.

    Parameters
    ----------
    path
        The final file.

    Yields
    ------
    Path
        Where to write the content.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o600)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def private_workdir(out_dir: Path) -> Iterator[Path]:
    """Yield a hidden private folder (mode 0700) inside ``out_dir``, removed afterwards.

    Intermediate files (the Word files of a PDF export, LibreOffice's output) live there,
    on the same file system as the final files so that they can be renamed into place.
    """
    work = Path(tempfile.mkdtemp(dir=out_dir, prefix=".staffplan-export-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
