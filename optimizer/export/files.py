"""Safe output file names for the annexes and tables (layer 8).

File names built from unit names are folded to ASCII and always stay inside the output
folder.  The writing itself (temporary name, fsync, rename, mode 0600, formula escaping,
disk-full and permission errors) is :mod:`optimizer.io.outputs`, re-exported here.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from optimizer.io.outputs import (
    FORMULA_PREFIXES,
    atomic_output,
    make_out_dir,
    neutralise,
    private_workdir,
)

__all__ = [
    "FORMULA_PREFIXES",
    "atomic_output",
    "make_out_dir",
    "name_part",
    "neutralise",
    "output_path",
    "private_workdir",
]

#: Longest file-name part kept from a unit name.
MAX_NAME_PART = 60

_NOT_NAME = re.compile(r"[^a-z0-9]+")


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
