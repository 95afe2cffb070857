"""PDF annexes: converted by LibreOffice, read back with poppler (pdftotext, pdffonts,
pdfinfo)."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import unicodedata
from pathlib import Path

import pytest
from test_export_support import make_run

from optimizer.errors import InputError
from optimizer.export import pdf_annex
from optimizer.export.annex import DocumentFields, export_annexes

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
