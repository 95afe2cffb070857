"""PDF annexes: the Word files converted by LibreOffice headless (layer 8).

The PDF is made from the very Word file the office can edit, so the two never disagree.
Each LibreOffice run has its own private profile (``-env:UserInstallation=file:///…/lo-…``,
inside the export's private work folder): parallel conversions sharing one profile fail,
sometimes with exit code 0, so every PDF is also checked to exist, be non-empty and start
like a PDF.  Several Word files are converted by one LibreOffice start, and many
files (one per unit) by one run per CPU at once.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from optimizer.errors import InputError, Issue
from optimizer.i18n import t

logger = logging.getLogger(__name__)

#: Commands tried, in order, to find LibreOffice.
SOFFICE_NAMES = ("soffice", "libreoffice")
#: A conversion is abandoned after this many seconds.
TIMEOUT_S = 1800.0
#: Characters of LibreOffice's error output quoted in an error message.
MAX_ERROR_CHARS = 400


def find_soffice() -> str:
    """The LibreOffice command on ``PATH``.

    Raises
    ------
    InputError
        When LibreOffice is not installed, saying what to install.
    """
    for name in SOFFICE_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise InputError(
        [
            Issue(
                file="soffice",
                message=t("export.no_libreoffice"),
                hint=t("export.no_libreoffice_hint"),
                code="export.no_libreoffice",
            )
        ]
    )


def _failure(file: Path, error: str) -> InputError:
    return InputError(
        [
            Issue(
                file=file.name,
                message=t("export.pdf_failed", file=file.name, error=error[-MAX_ERROR_CHARS:]),
                hint=t("export.pdf_failed_hint"),
                code="export.pdf_failed",
            )
        ]
    )


def _convert_batch(soffice: str, docx_files: Sequence[Path], out_dir: Path) -> list[Path]:
    """One LibreOffice run, with its own private profile, over some Word files.

    The profile lives in ``out_dir`` (the export's private work folder), never in
    ``$TMPDIR``: a killed export leaves it where the next export removes it.
    """
    with tempfile.TemporaryDirectory(prefix="lo-", dir=out_dir) as profile:
        command = [
            soffice,
            f"-env:UserInstallation={Path(profile).absolute().as_uri()}",  # --out may be relative
            "--headless", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
            "--convert-to", "pdf:writer_pdf_Export",
            "--outdir", str(out_dir),
            *(str(f) for f in docx_files),
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise _failure(docx_files[0], t("export.pdf_timeout", seconds=int(TIMEOUT_S))) from exc
    error = done.stderr.strip() or t("export.exit_code", code=done.returncode)
    pdfs = []
    for docx_file in docx_files:
        pdf = out_dir / (docx_file.stem + ".pdf")
        if not pdf.is_file() or pdf.stat().st_size == 0:
            raise _failure(pdf, error)
        with pdf.open("rb") as fh:
            if fh.read(5) != b"%PDF-":
                raise _failure(pdf, error)
        pdfs.append(pdf)
    return pdfs


def convert_to_pdf(docx_files: Sequence[Path], out_dir: Path, jobs: int | None = None) -> list[Path]:
    """Convert Word files to PDF with LibreOffice headless, each run with a private profile.

    The files are shared out over ``jobs`` LibreOffice runs working at once (one start
    converts many files; one file is always converted by one run).

    Parameters
    ----------
    docx_files
        The ``.docx`` files (distinct stems).
    out_dir
        Folder that receives ``<stem>.pdf`` for each file.
    jobs
        LibreOffice runs at once; default: the number of CPUs.

    Returns
    -------
    list of Path
        The PDF files, in the order of ``docx_files``, each checked to be a non-empty PDF.

    Raises
    ------
    InputError
        When LibreOffice is missing, times out, or leaves a PDF missing or empty.
    """
    soffice = find_soffice()
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(docx_files)))
    logger.info("converting %d Word file(s) to PDF with %s (%d at once)", len(docx_files), soffice, jobs)
    if jobs == 1:
        return _convert_batch(soffice, docx_files, out_dir)
    batches = [list(docx_files[k::jobs]) for k in range(jobs)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = list(pool.map(lambda batch: _convert_batch(soffice, batch, out_dir), batches))
    by_name = {pdf.name: pdf for pdfs in done for pdf in pdfs}
    return [by_name[f.stem + ".pdf"] for f in docx_files]
