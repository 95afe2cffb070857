"""PDF annexes: converted by LibreOffice, read back with poppler (pdftotext, pdffonts,
pdfinfo)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import stat
import subprocess
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from test_export_support import make_run

from optimizer.errors import InputError
from optimizer.export import pdf_annex
from optimizer.export.annex import DocumentFields, export_annexes
from optimizer.placement_tables import RunTables
from optimizer.store import StoredRun, manifest_hash, run_manifest

needs_libreoffice = pytest.mark.skipif(
    shutil.which("soffice") is None or shutil.which("pdftotext") is None,
    reason="needs LibreOffice and poppler-utils (scripts/install-system-deps.sh)",
)

FIELDS = DocumentFields(decision_no="15", issuer="Ủy ban nhân dân Thành phố Hồ Chí Minh")
#: A4 landscape in PostScript points.
A4_LANDSCAPE_PT = (841.89, 595.28)


def tool(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def squeeze(text: str) -> str:
    """NFC text without any whitespace (a name may wrap inside its cell)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFC", text))


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    out = tmp_path_factory.mktemp("pdf")
    return {
        "city": export_annexes(make_run(), "pdf", out / "city", fields=FIELDS),
        "units": export_annexes(make_run(), "pdf", out / "units", fields=FIELDS, per_unit=True),
    }


@pytest.mark.slow
@needs_libreoffice
def test_pdf_lists_the_placements_in_order(pdfs: dict[str, list[Path]]) -> None:
    [path] = pdfs["city"]
    text = squeeze(tool("pdftotext", "-raw", str(path), "-"))
    at = 0
    for name in make_run().tables.placements["full_name"]:
        found = text.find(squeeze(name), at)
        assert found >= at, name
        at = found + 1
    assert squeeze("I. PHƯỜNG SÀI GÒN") in text and squeeze("Phụ lục II") in text


@pytest.mark.slow
@needs_libreoffice
def test_pdf_is_a4_landscape_with_serif_fonts_only(pdfs: dict[str, list[Path]]) -> None:
    [path] = pdfs["city"]
    info = tool("pdfinfo", str(path))
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert size is not None
    width, height = float(size.group(1)), float(size.group(2))
    assert abs(width - A4_LANDSCAPE_PT[0]) < 1 and abs(height - A4_LANDSCAPE_PT[1]) < 1
    fonts = tool("pdffonts", str(path)).splitlines()[2:]
    assert fonts
    for line in fonts:
        name, embedded = line.split()[0], line.split()[-5]
        assert re.search(r"\+(LiberationSerif|TimesNewRoman)", name), line
        assert embedded == "yes", line
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.slow
@needs_libreoffice
def test_every_page_carries_the_run_and_its_hash(pdfs: dict[str, list[Path]]) -> None:
    [path] = pdfs["city"]
    run = make_run()
    pages = tool("pdftotext", "-layout", str(path), "-").split("\f")[:-1]
    assert len(pages) >= 2
    for page in pages:
        assert run.run_id in page and run.manifest_hash[:12] in page
    numbers = [p.strip().split()[0] for p in pages]
    assert numbers[0] == "ỦY"  # no page number on the first page (Decree 30/2020)


@pytest.mark.slow
@needs_libreoffice
def test_one_pdf_per_unit_holds_only_its_people(pdfs: dict[str, list[Path]]) -> None:
    paths = pdfs["units"]
    assert [p.name for p in paths] == [
        "phu-luc-r0001-abc123-26734-phuong-sai-gon.pdf",
        "phu-luc-r0001-abc123-27004-xa-binh-chanh.pdf",
        "phu-luc-r0001-abc123-26680-dac-khu-con-dao.pdf",
    ]
    pl = make_run().tables.placements
    for path, unit in zip(paths, ("26734", "27004", "26680"), strict=True):
        text = squeeze(tool("pdftotext", "-raw", str(path), "-"))
        for uid, name in zip(pl["unit_id"], pl["full_name"], strict=True):
            assert (squeeze(name) in text) == (uid == unit), (path.name, name)
    leftovers = [p.name for p in paths[0].parent.iterdir()]
    assert sorted(leftovers) == sorted(p.name for p in paths)  # no docx, no temp files


def test_missing_libreoffice_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError) as err:
        export_annexes(make_run(), "pdf", tmp_path / "out")
    assert err.value.issues[0].code == "export.no_libreoffice"
    assert "libreoffice" in err.value.issues[0].hint.lower()
    assert list((tmp_path / "out").iterdir()) == []


def test_a_conversion_that_makes_no_pdf_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    true = shutil.which("true")
    assert true is not None
    monkeypatch.setattr(pdf_annex, "find_soffice", lambda: true)  # exits 0, writes nothing
    with pytest.raises(InputError) as err:
        export_annexes(make_run(), "pdf", tmp_path / "out")
    assert err.value.issues[0].code == "export.pdf_failed"
    assert list((tmp_path / "out").iterdir()) == []


def _longer_run(copies: int) -> StoredRun:
    """The tiny run with its placements and unplaced repeated ``copies`` times (longer
    tables end at many different heights on their last page)."""
    run = make_run()
    tables = run.tables
    longer = RunTables(
        pd.concat([tables.placements] * copies, ignore_index=True),
        pd.concat([tables.unplaced] * copies, ignore_index=True),
        tables.units,
    )
    run = dataclasses.replace(run, tables=longer)
    return dataclasses.replace(run, manifest_hash=manifest_hash(run_manifest(run)))


def page_lines(path: Path) -> list[list[str]]:
    """The non-blank lines of every page of a PDF, stripped."""
    pages = int(re.search(r"Pages:\s+(\d+)", tool("pdfinfo", str(path)))[1])  # type: ignore[index]
    out = []
    for k in range(1, pages + 1):
        text = tool("pdftotext", "-layout", "-f", str(k), "-l", str(k), str(path), "-")
        out.append([line.strip() for line in text.splitlines() if line.strip()])
    return out


SIGNED = DocumentFields(
    decision_no="15",
    issuer="Ủy ban nhân dân Thành phố Hồ Chí Minh",
    signer="TM. ỦY BAN NHÂN DÂN|KT. CHỦ TỊCH|PHÓ CHỦ TỊCH|Nguyễn Văn Được",
)


@pytest.mark.slow
@needs_libreoffice
def test_each_annex_starts_a_page_and_no_signature_stands_alone(tmp_path: Path) -> None:
    # whole runs (the last table, Côn Đảo's, is short) and one unit whose table runs over
    # several pages (its last rows must still travel with the signature)
    runs = [_longer_run(k) for k in range(1, 8)] + [_longer_run(k) for k in range(7, 14)]
    paths = []
    for k, run in enumerate(runs):
        units = None if k < 7 else ["26734"]
        paths += export_annexes(run, "docx", tmp_path / f"d{k}", fields=SIGNED, unit_ids=units)
    pdfs = pdf_annex.convert_to_pdf(paths, tmp_path)
    head = {"ỦY BAN NHÂN DÂN", "THÀNH PHỐ HỒ CHÍ MINH", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc"}  # fmt: skip
    signature = {"TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH", "Nguyễn Văn Được"}
    for pdf, run in zip(pdfs, runs, strict=True):
        pages = page_lines(pdf)
        starts = []
        for number, lines in enumerate(pages, start=1):
            footer = [x for x in lines if run.run_id in x]
            assert footer, (pdf.name, number)
            body = [x for x in lines if x not in footer and not x.isdigit()]
            for k, line in enumerate(body):
                if line in ("Phụ lục I", "Phụ lục II", "Phụ lục III"):
                    starts.append(line)
                    # nothing of the previous annex above it: only the two-column header
                    above = {part for x in body[:k] for part in re.split(r"\s{2,}", x)}
                    assert above <= head, (pdf.name, number, body[:k])
            assert set(body) - signature, (pdf.name, number, "a signature block alone on a page")
        assert starts == ["Phụ lục I", "Phụ lục II", "Phụ lục III"], pdf.name
