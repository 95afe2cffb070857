"""One writer for every output file, and the guard that keeps outputs off the inputs (layer 2).

Every file staffplan writes — CSV tables, workbooks, Word and PDF annexes, HTML reports,
the errors sheet — goes through :func:`atomic_output`: the content is written under a
hidden temporary name in the target folder (``.<name>.<pid>-<random>.part``), flushed to
the disk (``fsync``), made readable by its owner only (mode 0600) and renamed onto its
final name, so a reader never sees half a file and an old file is only replaced by a
complete new one.  A full disk, a missing permission or a folder that is a file become an
:class:`~optimizer.errors.InputError` naming the path and what to do (exit 2), never a
traceback.  What a killed process leaves behind (``.part`` files, export work folders) is
removed by the next writer in that folder (:func:`clean_leftovers`).

The guard (:func:`guard_inputs`, :func:`check_table_folders`) refuses an output path that
resolves to an input file of the scenario or to the run store, and an output folder that
holds the scenario's tables.  Beyond the inputs it knows, an output replaces an existing
file only when staffplan wrote it (:func:`written_by_staffplan`, checked by
:func:`check_replaceable`): an emptied or damaged table of another copy of a scenario, a
damaged store, anyone's document of the same name are left as they are.

Text cells that a spreadsheet would read as a formula are neutralised
(:func:`neutralise`, :func:`write_csv_frame`).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

import pandas as pd

from optimizer.errors import InputError, Issue
from optimizer.i18n import t

#: First characters that make Excel or LibreOffice Calc read a CSV cell as a formula
#: (OWASP "CSV injection"): such a cell gets a leading apostrophe.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Suffix of the temporary files of :func:`atomic_output`.
PART_SUFFIX = ".part"
#: Prefix of the private work folders of an export (:func:`private_workdir`).
WORKDIR_PREFIX = ".staffplan-export-"
#: Text encoding of CSV outputs: UTF-8 with a byte-order mark, so Excel shows Vietnamese.
CSV_ENCODING = "utf-8-sig"
#: The mark staffplan leaves in what it writes, so that it replaces its own files only:
#: the ``generator`` meta tag of an HTML report, a document property of a workbook
#: (``staffplan_version``) or of a Word file (its keywords, carried into the PDF made
#: from it).  A CSV output is known by its UTF-8 byte-order mark.
GENERATOR = "staffplan"
#: The HTML element that marks a report as staffplan's (:data:`GENERATOR`).
HTML_GENERATOR_TAG = f'<meta name="generator" content="{GENERATOR}">'
#: How much of an existing file's beginning (and a PDF's end) is read to recognise it.
_SNIFF_BYTES = 1 << 16

_OWNER = re.compile(r"[.-](\d+)-[a-z0-9_]+(?:\.part)?$")
_PROTECTED: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("protected", default=())


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


def _issue(path: Path, key: str, **kwargs: object) -> InputError:
    return InputError(
        [Issue(file=str(path), message=t(key, path=str(path), **kwargs), hint=t(f"{key}_hint"), code=key)]
    )


def output_error(path: Path, exc: OSError) -> InputError:
    """The planner's error for an :class:`OSError` met while writing ``path``.

    A full disk (``ENOSPC``, ``EDQUOT``), a refused permission (``EACCES``, ``EPERM``,
    ``EROFS``) and a path through a file (``ENOTDIR``, ``EEXIST``, ``EISDIR``) each get
    their own message and what to do; any other error is quoted.
    """
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return _issue(path, "files.disk_full")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return _issue(path, "files.no_permission")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return _issue(path, "files.not_a_folder")
    return _issue(path, "files.cannot_write", error=exc.strerror or str(exc))


# --------------------------------------------------------------------------- the guard


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


@contextlib.contextmanager
def guard_inputs(inputs: Iterable[Path]) -> Iterator[None]:
    """Within the block, :func:`atomic_output` refuses to write onto any of ``inputs``.

    Commands that write wrap their work in this with every input file of the scenario
    (tables, scenario files, GeoJSON) and the run store's files.
    """
    token = _PROTECTED.set((*_PROTECTED.get(), *(Path(p) for p in inputs)))
    try:
        yield
    finally:
        _PROTECTED.reset(token)


def check_not_input(path: Path) -> None:
    """Raise :class:`InputError` when ``path`` is one of the files protected by
    :func:`guard_inputs`."""
    for protected in _PROTECTED.get():
        if _same(path, protected):
            raise _issue(path, "files.output_is_input", input=str(protected))


def check_table_folders(folders: Iterable[Path], tables: Iterable[Path]) -> None:
    """Refuse an output folder of CSV tables that holds one of the scenario's tables.

    ``run --out .`` or ``export --format csv --out .`` in the scenario's folder would
    otherwise write ``units.csv`` over the input table of that name.

    Raises
    ------
    InputError
        Naming the folder and the input table it holds.
    """
    tables = list(tables)
    for folder in folders:
        for table in tables:
            if _same(Path(folder), Path(table).parent):
                raise _issue(Path(folder), "files.folder_holds_inputs", input=str(table))


# --------------------------------------------------------------------------- writing


def make_out_dir(out_dir: Path) -> Path:
    """Create the output folder if missing (mode 0700 for a new folder) and return it.

    Raises
    ------
    InputError
        When the folder cannot be created (a file in the way, no permission, full disk).
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(out_dir, exc) from None
    if not out_dir.is_dir():
        raise _issue(out_dir, "files.not_a_folder")
    return out_dir


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(folder: Path) -> list[Path]:
    """Remove what killed writers left in ``folder``: ``.part`` files and export work folders.

    Only leftovers whose writing process (its id is part of the name) is gone are removed,
    so a writer working at the same moment in the same folder is never disturbed.

    Returns
    -------
    list of Path
        What was removed.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(".") or not (name.endswith(PART_SUFFIX) or name.startswith(WORKDIR_PREFIX)):
            continue
        owner = _OWNER.search(name)
        if owner is None or _alive(int(owner.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot sync a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def publish(tmp: Path, path: Path) -> None:
    """Sync ``tmp`` to the disk, make it private (0600) and rename it onto ``path``.

    ``tmp`` must be in the same folder as ``path`` (the rename is then atomic).

    Raises
    ------
    InputError
        When the disk is full or the rename is refused; ``tmp`` is left for the caller.
    """
    check_not_input(path)
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        raise output_error(path, exc) from None
    _fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_output(path: Path, header: Sequence[str] | None = None) -> Iterator[Path]:
    """Yield a private temporary path next to ``path``; publish it onto ``path`` on success.

    The folder is created when missing (mode 0700).  The temporary file (mode 0600) is
    in the same folder, so the final rename is atomic;
    it is synced to the disk first (:func:`publish`), and removed if the block raises,
    including on Ctrl-C.  The folder's leftovers of killed writers are removed first.

    Parameters
    ----------
    path
        The final file.
    header
        For a CSV file, the header row it will have: an existing file with that very
        header is a previous output and may be replaced.

    Yields
    ------
    Path
        Where to write the content.

    Raises
    ------
    InputError
        When ``path`` is an input (:func:`guard_inputs`) or an existing file staffplan
        did not write (:func:`check_replaceable`), or on a full disk, a refused
        permission or a folder that is a file — with the path and what to do.
    """
    path = Path(path)
    check_replaceable(path, header)
    make_out_dir(path.parent)
    clean_leftovers(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-", suffix=PART_SUFFIX)
    except OSError as exc:
        raise output_error(path, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except OSError as exc:
            raise output_error(path, exc) from None
        publish(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_text(
    path: Path, encoding: str = "utf-8", header: Sequence[str] | None = None
) -> Iterator[IO[str]]:
    """:func:`atomic_output` for text: yield an open text file (``newline=""``)."""
    with atomic_output(path, header) as tmp:
        try:
            with open(tmp, "w", encoding=encoding, newline="") as fh:
                yield fh
        except OSError as exc:
            raise output_error(path, exc) from None


@contextlib.contextmanager
def private_workdir(out_dir: Path) -> Iterator[Path]:
    """Yield a hidden private folder (mode 0700) inside ``out_dir``, removed afterwards.

    Intermediate files (the Word files of a PDF export, LibreOffice's output and its
    profiles) live there, on the same file system as the final files so that they can
    be renamed into place.  Its name holds the process id, so that the next writer in
    the folder removes it if this process is killed (:func:`clean_leftovers`).
    """
    clean_leftovers(out_dir)
    try:
        work = Path(tempfile.mkdtemp(dir=out_dir, prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    except OSError as exc:
        raise output_error(out_dir, exc) from None
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def csv_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells a spreadsheet cannot read as formulas."""
    out = frame.copy()
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_string_dtype(values) or values.dtype == object:
            out[col] = values.map(lambda v: neutralise(v) if isinstance(v, str) else v)
    return out


def check_replaceable(path: Path, header: Sequence[str] | None = None) -> None:
    """Refuse an output onto an input, or onto an existing file staffplan did not write.

    Parameters
    ----------
    path
        The output file.
    header
        For a CSV output, the header row it will have (see :func:`input_table_of`).

    Raises
    ------
    InputError
        When ``path`` is protected by :func:`guard_inputs`; when an existing ``path`` is an
        input table of some scenario (:func:`input_table_of`), an SQLite database (a run
        store), not a regular file (a folder, a FIFO, a device: never opened), or any
        other file :func:`written_by_staffplan` does not recognise (an emptied or
        damaged table, someone's document) — each with the path and what to do.
    """
    path = Path(path)
    check_not_input(path)
    if not os.path.lexists(path):
        return
    if not path.is_file():
        raise _issue(path, "files.replaces_foreign")
    table = input_table_of(path, header)
    if table is not None:
        raise _issue(path, "files.replaces_input_table", table=table)
    if _is_database(path):
        raise _issue(path, "files.replaces_database")
    if not written_by_staffplan(path):
        raise _issue(path, "files.replaces_foreign")


def written_by_staffplan(path: Path) -> bool:
    """Whether the existing regular file ``path`` is one staffplan wrote (:data:`GENERATOR`).

    Recognised: a workbook or Word file (a zip) whose document properties carry the
    mark, a PDF whose keywords do (read from its last 64 KB), an HTML report with
    :data:`HTML_GENERATOR_TAG`, and a CSV file in UTF-8 with a byte-order mark, as
    :func:`write_csv_frame` writes them.  An empty file, binary junk, a table saved by
    another program without the mark, a damaged store are not.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
            if head.startswith(b"%PDF-"):
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - _SNIFF_BYTES))
                return _pdf_marked(fh.read(_SNIFF_BYTES))
    except OSError:
        return False
    if head.startswith(b"PK\x03\x04"):
        return _zip_marked(path)
    if head.startswith(b"\xef\xbb\xbf"):
        return b"\x00" not in head and _utf8_line(head[3:])
    return HTML_GENERATOR_TAG.encode() in head


def _utf8_line(data: bytes) -> bool:
    """The first line of ``data`` is UTF-8 text (a character cut at the end allowed)."""
    line = data.split(b"\n", 1)[0]
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(line) - 3 and len(line) == len(data)
    return True


def _zip_marked(path: Path) -> bool:
    """A workbook or Word file whose document properties carry :data:`GENERATOR`: the
    custom property ``staffplan_version`` (workbooks), or the last of the keywords (Word
    files, as :func:`~optimizer.export.docx_annex.render_docx` sets them)."""
    import zipfile

    marks = {
        "docProps/custom.xml": f'name="{GENERATOR}_version"'.encode(),
        "docProps/core.xml": f"{GENERATOR}</cp:keywords>".encode(),
    }
    try:
        with zipfile.ZipFile(path) as book:
            names = set(book.namelist())
            return any(
                mark in book.read(part)
                for part, mark in marks.items()
                if part in names and book.getinfo(part).file_size <= _SNIFF_BYTES
            )
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def _pdf_marked(tail: bytes) -> bool:
    """A PDF's end holds the keywords LibreOffice carried from a staffplan Word file,
    written as text or as UTF-16 in hexadecimal."""
    utf16 = ("FEFF" + "".join(f"{ord(c):04X}" for c in GENERATOR)).encode()
    return GENERATOR.encode() in tail or utf16 in tail.upper()


def _is_database(path: Path) -> bool:
    """An existing SQLite database (a run store, or another program's): never an output."""
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _decoded(data: bytes) -> str:
    """The text of a table file's first bytes, in whatever encoding it was saved in
    (UTF-16 as Excel's "Unicode text", UTF-8, else a legacy Vietnamese code page)."""
    from optimizer.io.tables import looks_utf16

    if looks_utf16(data):
        return data.decode("utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-16-le", "replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1258", "replace")


def input_table_of(path: Path, header: Sequence[str] | None = None) -> str | None:
    """The input table (``units``, ``staff``…) an existing CSV file is, judged by its
    header row naming every required column of that table — unless its header is
    ``header`` itself (a previous output of the same kind); ``None`` otherwise."""
    from optimizer.io.vocab import TABLES, fold

    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return None
    first = _decoded(head).split("\n", 1)[0].strip()
    delimiter = max(",;\t", key=first.count)
    cells = [c.strip().strip('"') for c in first.split(delimiter)]
    if header is not None and cells == list(header):
        return None
    for name, spec in TABLES.items():
        found = {spec.header_lookup.get(fold(c)) for c in cells}
        if all(col.name in found for col in spec.columns if col.required):
            return name
    return None


def write_csv_frame(frame: pd.DataFrame, path: Path) -> Path:
    """Write one frame as CSV (UTF-8 with BOM) through :func:`atomic_output`; return ``path``.

    Every text cell goes through :func:`neutralise`.  An existing file that is an input
    table of some scenario (:func:`input_table_of`) is never replaced, even when no
    guard names it (a scenario other than the run's own); one with the same header (a
    previous output) is.
    """
    with atomic_text(path, CSV_ENCODING, [str(c) for c in frame.columns]) as fh:
        csv_cells(frame).to_csv(fh, index=False, lineterminator="\n")
    return path
