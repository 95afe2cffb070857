"""Uploads refused or kept invalid: type by content, sizes, paths leaving a zip, bad data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import TINY, csrf, tiny_zip, upload

from optimizer.web.app import create_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(tmp_path / "ws", store=tmp_path / "store.db", max_parallel=1, max_upload_bytes=2**20)
    with TestClient(app) as c:
        yield c


def _uploads(client: TestClient) -> list[Path]:
    folder = Path(client.app.state.web.config.workspace) / "uploads"  # type: ignore[attr-defined]
    return sorted(folder.iterdir()) if folder.exists() else []


def test_binary_junk_is_refused_and_nothing_kept(client: TestClient) -> None:
    answer = upload(client, "book.xlsx", b"\x00\x01junk" * 100)  # named xlsx, is not
    assert answer.status_code == 422
    assert answer.json()["detail"]["issues"][0]["code"] == "server.upload_bad_type"
    assert _uploads(client) == []


def test_a_zip_pointing_outside_itself_is_refused(client: TestClient) -> None:
    toml = (TINY / "scenario.toml").read_text(encoding="utf-8").replace('"units.csv"', '"../../etc/passwd"')
    answer = upload(client, "evil.zip", tiny_zip({"scenario.toml": toml}))
    assert answer.status_code == 422
    issue = answer.json()["detail"]["issues"][0]
    assert issue["code"] == "server.upload_path_outside"
    assert "../../etc/passwd" in issue["message"]
    assert _uploads(client) == []


def test_a_zip_missing_a_named_table_is_refused(client: TestClient) -> None:
    answer = upload(client, "thieu.zip", tiny_zip(skip=("staff.csv",)))
    assert answer.status_code == 422
    assert answer.json()["detail"]["issues"][0]["code"] == "server.upload_path_missing"


def test_too_big_is_refused(client: TestClient) -> None:
    answer = upload(client, "big.csv", b"a,b\n" + b"1,2\n" * 300_000)  # 1.2 MB, over 1 MB
    assert answer.status_code == 413
    huge = b"a,b\n" + b"1,2\n" * 1_000_000  # 4 MB: past the body limit, refused before parsing

    def chunks() -> Iterator[bytes]:  # sent without a declared length
        yield b"--x\r\nContent-Disposition: form-data; name=file; filename=h.csv\r\n\r\n"
        yield from (huge[i : i + 2**16] for i in range(0, len(huge), 2**16))
        yield b"\r\n--x--\r\n"

    streamed = client.post(
        "/api/scenarios",
        content=chunks(),
        headers={**csrf(client), "content-type": "multipart/form-data; boundary=x"},
    )
    assert streamed.status_code == 413
    assert _uploads(client) == []


def test_bad_data_is_kept_invalid_with_its_problems_and_cannot_run(client: TestClient) -> None:
    staff = (TINY / "staff.csv").read_text(encoding="utf-8").replace("1975-03-12", "12/13/1975")
    answer = upload(client, "loi.zip", tiny_zip({"staff.csv": staff}))
    assert answer.status_code == 201
    body = answer.json()
    assert body["valid"] is False
    problem = next(i for i in body["issues"] if i["severity"] == "error")
    assert (problem["row"], problem["column"]) == (2, "birth_date")
    assert problem["file"] == "loi.zip/tiny/staff.csv"  # the planner's name, no server path
    assert "/" not in problem["location"].split(":")[0].replace("loi.zip/tiny/", "")
    run = client.post("/api/runs", json={"scenario": body["id"]}, headers=csrf(client))
    assert run.status_code == 409
    assert _uploads(client) == []  # only its problems are kept, not the data
    kept = client.get(f"/api/scenarios/{body['id']}").json()
    assert kept["valid"] is False and kept["toml"] == "" and kept["issues"] == body["issues"]


def test_csv_files_and_a_workbook_make_scenarios(client: TestClient) -> None:
    files = [
        ("file", (name, (TINY / name).read_bytes()))
        for name in ("units.csv", "posts.csv", "staff.csv", "relations.csv", "pins.csv")
    ]
    answer = client.post("/api/scenarios", files=files, headers=csrf(client))
    assert answer.status_code == 201, answer.text
    assert answer.json()["valid"] is True
    odd = client.post("/api/scenarios", files=[("file", ("ds.csv", b"a,b\n1,2\n"))], headers=csrf(client))
    assert odd.status_code == 422
    assert odd.json()["detail"]["issues"][0]["code"] == "server.upload_csv_unknown"


def test_workbook_with_vietnamese_sheet_names(client: TestClient, tmp_path: Path) -> None:
    import pandas as pd

    book = tmp_path / "tinh.xlsx"
    with pd.ExcelWriter(book) as writer:
        for name, sheet in (("units", "Đơn vị"), ("posts", "Biên chế"), ("staff", "Nhân sự")):
            pd.read_csv(TINY / f"{name}.csv", dtype=str).to_excel(writer, sheet_name=sheet, index=False)
    answer = upload(client, "tỉnh.xlsx", book.read_bytes())
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["valid"] is True, body["issues"]
    toml = client.get(f"/api/scenarios/{body['id']}").json()["toml"]
    assert 'staff = "book.xlsx#Nhân sự"' in toml
    wrong = tmp_path / "wrong.xlsx"
    pd.DataFrame({"a": [1]}).to_excel(wrong, sheet_name="Sheet1", index=False)
    refused = upload(client, "wrong.xlsx", wrong.read_bytes())
    assert refused.status_code == 422
    assert refused.json()["detail"]["issues"][0]["code"] == "server.upload_sheets_missing"


def test_the_template_workbook_uploads_as_a_valid_scenario(client: TestClient, tmp_path: Path) -> None:
    from optimizer.io.template import WORKBOOK, write_template

    write_template(tmp_path)
    answer = upload(client, WORKBOOK, (tmp_path / WORKBOOK).read_bytes())
    assert answer.status_code == 201, answer.text
    assert answer.json()["valid"] is True, answer.json()["issues"]
    toml = client.get(f"/api/scenarios/{answer.json()['id']}").json()["toml"]
    assert 'relations = "book.xlsx#Quan hệ gia đình"' in toml and 'pins = "book.xlsx#Ghim"' in toml
