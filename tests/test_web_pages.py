"""The pages of the web app (optimizer/web/pages.py, screens/, templates/pages/), through
FastAPI's TestClient: every page renders in Vietnamese and in English, a hostile name is
shown as text (never as markup), forms carry the CSRF token and work.

The runs are solved once per module, straight through the service (the browser test,
tests/test_web_e2e.py, runs them through the job queue as a planner does).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from optimizer import service
from optimizer.i18n import Lang, speaking
from optimizer.localtime import local_time
from optimizer.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny"
#: A name that would run a script if a page printed it as markup.
HOSTILE = '<script>alert("x")</script><b>Bình</b> & "Ân"'
SCENARIO_ID = "scenarios/tiny/scenario.toml"


def hostile_tiny(folder: Path) -> Path:
    """The tiny scenario in ``folder``, with person S02 renamed to :data:`HOSTILE`."""
    shutil.copytree(TINY, folder)
    staff = folder / "staff.csv"
    text = staff.read_text(encoding="utf-8")
    staff.write_text(text.replace("Trần Thị Bình", HOSTILE.replace('"', '""').join('""')), encoding="utf-8")
    return folder / "scenario.toml"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """A workspace holding the tiny scenario (hostile name) and a store with two runs of it."""
    ws = tmp_path_factory.mktemp("web") / "ws"
    scenario = hostile_tiny(ws / "scenarios" / "tiny")
    store_path = ws / "staffplan.db"
    store = service.open_store(store_path, create=True)
    ids = [
        service.solve_and_record(service.load(scenario, overrides), store).run_id
        for overrides in ((), ("rules.max_commute_km=20",))
    ]
    return ws, store_path, ids


@pytest.fixture
def client(workspace: tuple[Path, Path, list[str]]) -> Iterator[TestClient]:
    ws, store_path, _ = workspace
    with TestClient(create_app(ws, store=store_path, max_parallel=1)) as c:
        yield c


@pytest.fixture
def run_ids(workspace: tuple[Path, Path, list[str]]) -> list[str]:
    return workspace[2]


def token(client: TestClient) -> str:
    """The session's CSRF token, as the pages put it in their forms."""
    page = client.get("/").text
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page) or re.search(
        r'"X-CSRF-Token": "([0-9a-f]{64})"', page
    )
    assert found, "the Start page carries no CSRF token"
    return found.group(1)


def pages(run_ids: list[str]) -> list[tuple[str, str, str]]:
    """(address, Vietnamese text, English text) of every page."""
    a, b = run_ids
    return [
        ("/", "Các lần chạy gần đây", "Recent runs"),
        ("/runs", "Các lần chạy đã lưu", "Stored runs"),
        ("/scenarios", "tiny", "tiny"),
        ("/data", "Tải dữ liệu lên", "Upload data"),
        (f"/scenarios/{SCENARIO_ID}", "Quãng đường đi làm tối đa (km)", "Longest commute (km)"),
        (f"/scenarios/{SCENARIO_ID}/toml", "Tệp kịch bản", "Scenario file"),
        (f"/scenarios/{SCENARIO_ID}/diagnose", "có lời giải", "has a solution"),
        (f"/runs/{a}", "Tóm tắt cho lãnh đạo", "Summary for leaders"),
        (f"/runs/{a}/units?sort=fill_rate&desc=1", "Tỷ lệ lấp đầy", "Fill rate"),
        (f"/runs/{a}/map", "Tô màu theo", "Colour by"),
        (f"/runs/{a}/people?q=S02", "Vì sao?", "Why?"),
        (f"/runs/{a}/people/S02", "Các nơi khác gần nhất", "The nearest other units"),
        (f"/runs/{a}/edit?staff_id=S02", "Chuyển đến", "Move to"),
        (f"/runs/{a}/replan", "Người nghỉ việc", "Departures"),
        (f"/runs/{a}/export", "Che tên", "Redact names"),
        ("/compare", "Chọn hai lần chạy trở lên", "Pick two runs or more"),
        (f"/compare?run={a}&run={b}", "Người được bố trí khác nhau", "People placed differently"),
        (f"/compare/map?run={a}&run={b}", "Tô màu theo", "Colour by"),
    ]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_page_renders_in_both_languages(client: TestClient, run_ids: list[str], lang: str) -> None:
    for address, vi, en in pages(run_ids):
        sep = "&" if "?" in address else "?"
        answer = client.get(f"{address}{sep}lang={lang}")
        assert answer.status_code == 200, (address, answer.text[:300])
        assert (vi if lang == "vi" else en) in answer.text, address
        if vi != en:
            assert (en if lang == "vi" else vi) not in answer.text, address
        assert "snake" not in answer.text


def test_no_code_is_shown_raw(client: TestClient, run_ids: list[str]) -> None:
    text = client.get(f"/runs/{run_ids[0]}").text
    assert "Chủ tịch" not in text or "committee_chair" not in text
    for code in ("shortfall", "long_commute", "civil_servant", "government"):
        assert f">{code}<" not in text, code
    assert "thiếu so với tối thiểu" in text  # the term "shortfall" by its Vietnamese name


def test_a_hostile_name_is_text_not_markup(client: TestClient, run_ids: list[str]) -> None:
    a, b = run_ids
    for address in (
        f"/runs/{a}/people?q=S02",
        f"/runs/{a}/people/S02",
        f"/runs/{a}/edit?staff_id=S02",
        f"/compare?run={a}&run={b}",
    ):
        text = client.get(address).text
        assert '<script>alert("x")</script>' not in text, address
        assert "<b>Bình</b>" not in text, address
    people = client.get(f"/runs/{a}/people?q=S02").text
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;Bình&lt;/b&gt; &amp; &#34;Ân&#34;" in people
    )


def test_the_language_switch_is_kept_in_a_cookie(client: TestClient) -> None:
    answer = client.get("/lang/en?next=/runs", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/runs"
    assert "Stored runs" in client.get("/runs").text
    assert client.get("/lang/vi?next=//evil.example", follow_redirects=False).headers["location"] == "/"
    assert "Các lần chạy đã lưu" in client.get("/runs").text


def test_assets_are_served_from_the_package(client: TestClient) -> None:
    htmx = client.get("/static/vendor/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text[:200]
    assert "Zero-Clause BSD" in client.get("/static/vendor/htmx.LICENSE").text
    plotly = client.get("/assets/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
    page = client.get("/").text
    assert "http://" not in page and "https://" not in page  # nothing from the network


def test_unit_table_is_sorted_filtered_and_paged_on_the_server(
    client: TestClient, run_ids: list[str]
) -> None:
    a = run_ids[0]
    down = client.get(f"/runs/{a}/units?sort=unit_name&desc=1").text
    up = client.get(f"/runs/{a}/units?sort=unit_name").text
    names = ("Phường An Bình", "Xã Bình Phú", "Đặc khu Hòn Ngọc")
    assert sorted(names, key=up.index) == list(reversed(sorted(names, key=down.index)))
    assert 'aria-sort="descending"' in down and 'aria-sort="ascending"' in up
    only = client.get(f"/runs/{a}/units?q=hon+ngoc").text
    assert "Đặc khu Hòn Ngọc" in only and "Xã Bình Phú" not in only
    assert "Trang 1/1" in only


def test_forms_without_the_csrf_token_are_refused(client: TestClient, run_ids: list[str]) -> None:
    assert client.post(f"/scenarios/{SCENARIO_ID}/copy", data={"name": "x"}).status_code == 403
    assert client.post(f"/runs/{run_ids[0]}/export", data={"format": "csv"}).status_code == 403


def test_scenario_form_saves_toml_and_makes_a_variant(
    client: TestClient, workspace: tuple[Path, Path, list[str]]
) -> None:
    ws = workspace[0]
    csrf = token(client)
    answer = client.post(
        f"/scenarios/{SCENARIO_ID}/copy",
        data={"csrf_token": csrf, "name": "Đi lại 25 km"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    variant = answer.headers["location"].removeprefix("/scenarios/")
    assert variant == "scenarios/di-lai-25-km.toml"
    form = client.get(f"/scenarios/{variant}").text
    assert 'value="30"' in form  # the copy starts with the base's rules (30 km)
    fields = {
        "csrf_token": csrf,
        "rules.max_commute_km": "25",
        "rules.long_commute_km": "20",
        "rules.road_factor": "1,3",
        "rules.relatives_scope": "any",
        "rules.bloc_change": "forbid",
        "rules.min_service_months": "60",
        "rules.reference_date": "01/07/2025",
        "solver.time_limit_s": "10",
        "solver.workers": "1",
        "solver.seed": "0",
        "mode": "priorities",
        "priorities": ["unplaced", "shortfall", "moves", "long_commute", "commute", "preference"],
    }
    saved = client.post(f"/scenarios/{variant}", data=fields, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:500]
    toml = (ws / variant).read_text(encoding="utf-8")
    assert "max_commute_km = 25" in toml and 'bloc_change = "forbid"' in toml
    assert 'priorities = [\n    "unplaced",\n    "shortfall",' in toml or '"unplaced", "shortfall"' in toml
    assert service.validate(ws / variant).valid  # the variant still reads its data
    bad = client.post(f"/scenarios/{variant}", data={**fields, "rules.max_commute_km": "xa"})
    assert bad.status_code == 422 and "không hợp lệ" in bad.text
    assert "max_commute_km = 25" in (ws / variant).read_text(encoding="utf-8")  # unchanged


def test_upload_with_a_mistake_lists_it_and_offers_the_errors_sheet(client: TestClient) -> None:
    staff = (TINY / "staff.csv").read_text(encoding="utf-8").replace("1978-09-05", "31/02/1978")
    files = [("files", (name, (TINY / name).read_bytes(), "text/csv")) for name in ("units.csv", "posts.csv")]
    files.append(("files", ("staff.csv", staff.encode(), "text/csv")))
    answer = client.post("/data", data={"csrf_token": token(client)}, files=files)
    assert answer.status_code == 200, answer.text[:300]
    assert "Dữ liệu chưa hợp lệ" in answer.text
    assert "31/02/1978" in answer.text
    sheet = re.search(r'href="(/data/u[0-9a-f]{12}/errors\.xlsx)"', answer.text)
    assert sheet
    book = client.get(sheet.group(1))
    assert book.status_code == 200
    with zipfile.ZipFile(io.BytesIO(book.content)) as z:
        assert "xl/workbook.xml" in z.namelist()


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_an_uploads_problems_are_read_in_the_readers_language(
    client: TestClient, tmp_path: Path, lang: Lang
) -> None:
    staff = (TINY / "staff.csv").read_text(encoding="utf-8").replace("1978-09-05", "31/02/1978")
    files = [("files", (name, (TINY / name).read_bytes(), "text/csv")) for name in ("units.csv", "posts.csv")]
    files.append(("files", ("staff.csv", staff.encode(), "text/csv")))
    other = "en" if lang == "vi" else "vi"
    client.cookies.set("staffplan_lang", other)  # uploaded by a reader of the other language
    answer = client.post("/data", data={"csrf_token": token(client)}, files=files)
    sid = re.search(r"/data/(u[0-9a-f]{12})/errors\.xlsx", answer.text)
    assert sid
    # the same files checked in the reader's language give the messages the page must show
    folder = tmp_path / "copy"
    shutil.copytree(TINY, folder)
    (folder / "staff.csv").write_text(staff, encoding="utf-8")
    with speaking(lang):
        expected = [i.message for i in service.validate(folder / "scenario.toml").issues]
    with speaking(other):
        uploaded_in = [i.message for i in service.validate(folder / "scenario.toml").issues]
    assert expected and expected != uploaded_in
    client.cookies.set("staffplan_lang", lang)
    page = client.get(f"/data/{sid.group(1)}")
    assert all(str(escape(m)) in page.text for m in expected)
    assert not any(str(escape(m)) in page.text for m in uploaded_in)
    api = client.get(f"/api/scenarios/{sid.group(1)}").json()
    assert [i["message"] for i in api["issues"]] == expected


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_failed_export_says_so_in_the_readers_language(
    client: TestClient, run_ids: list[str], lang: Lang, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optimizer.errors import InputError, Issue
    from optimizer.i18n import t

    def refused(*_: object, **__: object) -> None:  # a message made where the export runs
        raise InputError([Issue(file="", message=t("server.export_unknown", format="pdf"))])

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("internal detail 4711")

    client.cookies.set("staffplan_lang", lang)
    for failing, shown in (
        (refused, t("server.export_unknown", lang, format="pdf")),
        (broken, t("server.export_crashed", lang)),
    ):
        monkeypatch.setattr(service, "export", failing)
        started = client.post(
            f"/runs/{run_ids[0]}/export", data={"csrf_token": token(client), "format": "csv"}
        )
        state = started.text  # already failed, or the fragment that asks again
        for _ in range(100):
            poll = re.search(r'hx-get="(/exports/[0-9a-f]{24})"', state)
            if poll is None:
                break
            state = client.get(poll.group(1)).text
        assert str(escape(shown)) in state and "4711" not in state and "RuntimeError" not in state


def test_a_run_that_fails_on_its_data_offers_its_scenario_and_diagnosis(client: TestClient) -> None:
    from web_support import start, wait

    impossible = {"rules.min_is_hard": True, "rules.max_commute_km": 0.1}  # nobody lives that close
    job = start(client, SCENARIO_ID, set=impossible)
    assert wait(client, job)["status"] == "failed"
    for lang, words in (("vi", "Chẩn đoán"), ("en", "Diagnose")):
        page = client.get(f"/jobs/{job}", params={"lang": lang})
        assert f'href="/scenarios/{SCENARIO_ID}/diagnose"' in page.text and words in page.text


def test_export_runs_in_the_background_and_gives_the_files(client: TestClient, run_ids: list[str]) -> None:
    started = client.post(f"/runs/{run_ids[0]}/export", data={"csrf_token": token(client), "format": "csv"})
    assert started.status_code == 200
    poll = re.search(r'hx-get="(/exports/[0-9a-f]{24})"', started.text)
    assert poll
    for _ in range(100):
        state = client.get(poll.group(1)).text
        if "Đã xuất xong" in state:
            break
    assert "placements.csv" in state
    link = re.search(r'href="(/exports/[0-9a-f]{24}/\d+)"', state)
    assert link and client.get(link.group(1)).status_code == 200


def test_replan_after_a_departure_shows_who_moves(client: TestClient, run_ids: list[str]) -> None:
    a = run_ids[0]
    data = {"csrf_token": token(client), "departures": "S05\n", "reason": "nghỉ hưu"}
    answer = client.post(f"/runs/{a}/replan", data=data, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:500]
    assert answer.headers["location"].startswith(f"/compare?run={a}&run=")
    shown = client.get(answer.headers["location"]).text
    assert "Người được bố trí khác nhau" in shown and "S05" in shown
    unknown = client.post(f"/runs/{a}/replan", data={**data, "departures": "NOBODY"})
    assert unknown.status_code == 422 and "NOBODY" in unknown.text


def test_the_template_of_a_new_province_downloads(client: TestClient) -> None:
    from openpyxl import load_workbook

    answer = client.get("/template.xlsx")
    assert answer.status_code == 200
    assert "tinh-mau.xlsx" in answer.headers["content-disposition"]
    book = load_workbook(io.BytesIO(answer.content))
    assert {"Đơn vị", "Biên chế", "Nhân sự"} <= set(book.sheetnames)


def test_a_move_by_hand_shows_the_rules_it_breaks_and_the_terms(
    client: TestClient, run_ids: list[str]
) -> None:
    a = run_ids[0]
    assert "Chuyển đến" in client.get(f"/runs/{a}/edit?staff_id=S02").text
    lines = client.get(f"/runs/{a}/edit/posts?unit_id=T03").text
    assert "Y tế" in lines or "health" not in lines  # positions by their names
    # S02, a committee chair, onto the island's health desk: not qualified (and not for islands)
    data = {"csrf_token": token(client), "staff_id": "S02", "unit_id": "T03", "line": "1"}
    checked = client.post(f"/runs/{a}/edit/check", data=data)
    assert checked.status_code == 200, checked.text[:300]
    assert "vi phạm" in checked.text and 'class="badge bad"' in checked.text
    assert "đúng vị trí việc làm" in checked.text  # the qualification rule, by its name
    assert "&lt;script&gt;" in checked.text and "<script>alert" not in checked.text  # who: the hostile name
    assert "Không giữ được thay đổi này" in checked.text  # its fixed pin could not hold (see below)
    unplaced = client.post(f"/runs/{a}/edit/check", data={**data, "unit_id": "-"})
    assert "chưa bố trí" in unplaced.text  # the unplaced term changes
    assert client.post(f"/runs/{a}/edit/check", data={**data, "staff_id": "NOBODY"}).status_code == 422


def test_errors_of_pages_are_pages(client: TestClient) -> None:
    missing = client.get("/runs/r9999-000000")
    assert missing.status_code == 404
    assert "Không làm được việc này" in missing.text and "<html" in missing.text
    fragment = client.get("/runs/r9999-000000/units", headers={"HX-Request": "true"})
    assert fragment.status_code == 404 and "<html" not in fragment.text and "Không tìm thấy" in fragment.text
    assert client.get("/api/runs/r9999-000000").headers["content-type"].startswith("application/json")


def test_a_variant_in_a_linked_scenarios_folder_reads_its_data(tmp_path: Path) -> None:
    # make demo links the workspace's scenarios/ to the project's: a variant's paths must
    # be relative to where its file really is
    real = tmp_path / "project-scenarios"
    shutil.copytree(TINY, real / "tiny")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "scenarios").symlink_to(real, target_is_directory=True)
    with TestClient(create_app(ws, store=tmp_path / "s.db", max_parallel=1)) as c:
        answer = c.post(
            f"/scenarios/{SCENARIO_ID}/copy",
            data={"csrf_token": token(c), "name": "Biến thể"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        variant = answer.headers["location"].removeprefix("/scenarios/")
        assert "Kịch bản: Biến thể" in c.get(f"/scenarios/{variant}").text
    assert service.validate(ws / variant).valid


def test_a_viewer_signs_in_sees_no_names_and_cannot_change_anything(tmp_path: Path) -> None:
    from optimizer.web.auth import add_user

    ws = tmp_path / "ws"
    scenario = hostile_tiny(ws / "scenarios" / "tiny")
    store = service.open_store(tmp_path / "s.db", create=True)
    run_id = service.solve_and_record(service.load(scenario), store).run_id
    add_user(store, "minh", "viewer", "mat-khau-dai")
    with TestClient(create_app(ws, store=tmp_path / "s.db", max_parallel=1)) as c:
        assert c.get("/", follow_redirects=False).headers["location"].startswith("/login")
        login = c.get("/login").text
        assert "Đăng nhập" in login and "Trang đầu" not in login  # no navigation before signing in
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', login)
        assert csrf
        wrong = c.post(
            "/login", data={"csrf_token": csrf.group(1), "name": "minh", "password": "sai-mat-khau"}
        )
        assert wrong.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in wrong.text
        form = {"csrf_token": csrf.group(1), "name": "minh", "password": "mat-khau-dai", "next": "/runs"}
        signed = c.post("/login", data=form, follow_redirects=False)
        assert signed.status_code == 303 and signed.headers["location"] == "/runs"
        people = c.get(f"/runs/{run_id}/people?q=S02").text
        assert "S02" in people and "&lt;b&gt;Bình" not in people and "alert" not in people
        assert c.get(f"/runs/{run_id}/people?q=Binh").text.count("<tr>") == 0  # no search by name
        assert "Điều chỉnh bằng tay" not in c.get(f"/runs/{run_id}").text
        for address in ("/data", f"/runs/{run_id}/edit", f"/runs/{run_id}/replan"):
            assert c.get(address).status_code == 403, address
        assert "chỉ được xuất bản đã che tên" in c.get(f"/runs/{run_id}/export").text


def test_diagnose_an_infeasible_variant_and_make_the_fix(
    client: TestClient, workspace: tuple[Path, Path, list[str]]
) -> None:
    ws = workspace[0]
    csrf = token(client)
    made = client.post(
        f"/scenarios/{SCENARIO_ID}/copy",
        data={"csrf_token": csrf, "name": "Tối thiểu bắt buộc"},
        follow_redirects=False,
    )
    variant = made.headers["location"].removeprefix("/scenarios/")
    path = ws / variant
    path.write_text(
        path.read_text(encoding="utf-8").replace("min_is_hard = false", "min_is_hard = true"), "utf-8"
    )
    page = client.get(f"/scenarios/{variant}/diagnose").text
    assert "Xung đột 1" in page and "Đặc khu Hòn Ngọc" in page  # the island's health minimum
    assert 'value="rules.min_is_hard=false"' in page
    fixed = client.post(
        f"/scenarios/{variant}/fix",
        data={"csrf_token": csrf, "setting": "rules.min_is_hard=false"},
        follow_redirects=False,
    )
    assert fixed.status_code == 303
    again = fixed.headers["location"].removeprefix("/scenarios/")
    assert "min_is_hard = false" in (ws / again).read_text(encoding="utf-8")
    assert "có lời giải" in client.get(f"/scenarios/{again}/diagnose").text
    bad = client.post(
        f"/scenarios/{variant}/fix", data={"csrf_token": csrf, "setting": "data.staff=/etc/passwd"}
    )
    assert bad.status_code == 422  # only rules and solver settings


def test_replan_from_an_uploaded_changes_file(client: TestClient, run_ids: list[str]) -> None:
    a = run_ids[0]
    changes = "action,staff_id,reason\nleave,S11,chuyển công tác\n".encode()
    answer = client.post(
        f"/runs/{a}/replan",
        data={"csrf_token": token(client)},
        files={"changes": ("thay-doi.csv", changes, "text/csv")},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith(f"/compare?run={a}&run=")
    binary = client.post(
        f"/runs/{a}/replan",
        data={"csrf_token": token(client)},
        files={"changes": ("x.csv", b"\x00\x01\x02binary", "text/csv")},
    )
    assert binary.status_code == 422  # typed by content, not by name


def test_changes_are_coloured_by_their_direction_not_their_sign(
    client: TestClient, run_ids: list[str]
) -> None:
    a, b = run_ids  # b caps the commute at 20 km: one more person unplaced, fewer moves
    page = client.get(f"/compare?run={b}&run={a}").text  # the oldest run is the baseline whatever the order
    assert page.index(a) < page.index(b)
    unplaced = page[page.index("Số người chưa bố trí") :]
    assert re.match(
        r'Số người chưa bố trí</td>\s*(<td class="n">[^<]*</td>\s*){2}<td class="n bad">\+1</td>', unplaced
    )


def test_old_exports_are_deleted(
    client: TestClient,
    run_ids: list[str],
    workspace: tuple[Path, Path, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from optimizer.web.screens import export

    monkeypatch.setattr(export, "EXPORTS_KEPT", 1)
    tokens = []
    for _ in range(3):
        started = client.post(
            f"/runs/{run_ids[0]}/export", data={"csrf_token": token(client), "format": "csv"}
        )
        poll = re.search(r'hx-get="/exports/([0-9a-f]{24})"', started.text)
        assert poll
        tokens.append(poll.group(1))
        for _ in range(200):
            if "Đã xuất xong" in client.get(f"/exports/{tokens[-1]}").text:
                break
    assert client.get(f"/exports/{tokens[0]}").status_code == 404
    assert not (workspace[0] / "exports" / tokens[0]).exists()
    assert client.get(f"/exports/{tokens[-1]}").status_code == 200


def test_keeping_a_move_pins_it_in_a_variant_and_solves_again(
    client: TestClient, run_ids: list[str], workspace: tuple[Path, Path, list[str]]
) -> None:
    a = run_ids[0]
    lines = client.get(f"/runs/{a}/edit/posts?unit_id=T01").text
    office = re.search(r'<option value="(\d+)">[^<]*Hành chính', lines)
    assert office, lines
    data = {"csrf_token": token(client), "staff_id": "S11", "unit_id": "T01", "line": office.group(1)}
    kept = client.post(f"/runs/{a}/edit/keep", data=data, follow_redirects=False)
    assert kept.status_code == 303 and kept.headers["location"].startswith("/jobs/j")
    variants = sorted((workspace[0] / "scenarios").glob(f"edit-{a}-*.toml"))
    assert len(variants) == 1
    pins = next((workspace[0] / "scenarios").glob(f"pins-{a}-*.csv")).read_text(encoding="utf-8")
    assert "S11,T01,office_admin,fix" in pins and "S01,T02,committee_chair,fix" in pins  # the old pins kept
    assert service.validate(variants[0]).valid


def test_a_run_without_placement_says_why_and_offers_no_edit_nor_export(
    client: TestClient, workspace: tuple[Path, Path, list[str]]
) -> None:
    ws, store_path, _ = workspace
    folder = ws / "scenarios" / "pinned-to-island"
    shutil.copytree(TINY, folder)
    with (folder / "pins.csv").open("a", encoding="utf-8") as pins:  # S04 is no islander
        pins.write("S04,T03,health,fix,quyết định đã ký\n")
    store = service.open_store(store_path)
    recorded = service.solve_and_record(service.load(folder / "scenario.toml"), store)
    assert recorded.result.status == "infeasible"
    for lang in ("vi", "en"):
        page = client.get(f"/runs/{recorded.run_id}", params={"lang": lang}).text
        why = service.run_notes(recorded.run, lang)
        assert why and all(str(escape(line)) in page for line in why)
        assert 'href="/scenarios/scenarios/pinned-to-island/scenario.toml/diagnose"' in page
        assert f"/runs/{recorded.run_id}/edit" not in page and f"/runs/{recorded.run_id}/export" not in page
    service.delete_run(store, recorded.run_id)
    shutil.rmtree(folder)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_move_its_fixed_pin_could_not_hold_is_not_offered_to_keep(
    client: TestClient, run_ids: list[str], workspace: tuple[Path, Path, list[str]], lang: Lang
) -> None:
    """S04 (health, no islander) onto the island's health line breaks the island rule: kept
    as a fixed pin, the variant would have no solution."""
    from optimizer.i18n import t

    a = run_ids[0]
    lines = client.get(f"/runs/{a}/edit/posts?unit_id=T03").text
    health = re.search(r'<option value="(\d+)">[^<]*(Y tế|health)', lines)
    assert health, lines
    data = {"csrf_token": token(client), "staff_id": "S04", "unit_id": "T03", "line": health.group(1)}
    client.cookies.set("staffplan_lang", lang)
    checked = client.post(f"/runs/{a}/edit/check", data=data).text
    assert str(escape(t("page.edit.cannot_keep", lang))) in checked
    assert "/edit/keep" not in checked
    before = sorted((workspace[0] / "scenarios").glob("edit-*.toml"))
    kept = client.post(f"/runs/{a}/edit/keep", data=data, follow_redirects=False)
    assert kept.status_code == 422 and str(escape(t("page.edit.cannot_keep", lang))) in kept.text
    assert sorted((workspace[0] / "scenarios").glob("edit-*.toml")) == before


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_person_is_explained_in_the_page_language(
    client: TestClient, workspace: tuple[Path, Path, list[str]], lang: Lang
) -> None:
    """The "why" sentence follows the page's language, whatever the server process speaks."""
    _, store_path, ids = workspace
    store = service.open_store(store_path)
    texts = {}
    for each in ("vi", "en"):
        with speaking(each):
            texts[each] = service.explain(store, ids[0], "S02").person.reason
    assert texts["vi"] != texts["en"]
    page = client.get(f"/runs/{ids[0]}/people/S02?lang={lang}").text
    other = "en" if lang == "vi" else "vi"
    assert str(escape(texts[lang])) in page
    assert str(escape(texts[other])) not in page


def test_run_times_are_shown_in_the_planners_zone(
    client: TestClient, workspace: tuple[Path, Path, list[str]]
) -> None:
    """A run stored at 11:33 UTC reads 18:33 in Hồ Chí Minh City (not the server's clock zone)."""
    _, store_path, ids = workspace
    stamp = service.open_store(store_path).get(ids[0]).created_at
    page = client.get("/runs?lang=vi").text
    assert local_time(stamp, "vi") in page
    utc = dt.datetime.fromisoformat(stamp).astimezone(dt.UTC).strftime("%d/%m/%Y %H:%M")
    assert utc != local_time(stamp, "vi")


def test_a_narrow_range_of_fill_rates_gets_ticks_that_differ() -> None:
    from optimizer.export.report_map import _colour_bar, _Colours

    def ticks(vmin: float, vmax: float) -> str:
        return str(_colour_bar(_Colours(vmin, vmax), "", "rate").marker.colorbar.tickformat)

    assert ticks(0.97, 1.0) == ".1%"  # 97.0 %, 97.5 % … not 97 %, 97 %, 98 %
    assert ticks(0.5, 1.0) == ".0%"


def test_map_numbers_are_written_in_the_readers_style(client: TestClient, run_ids: list[str]) -> None:
    for lang, separators in (("vi", ",."), ("en", ".,")):
        page = client.get(f"/runs/{run_ids[0]}/map", params={"lang": lang}).text
        assert f'"separators":"{separators}"' in page


def test_the_post_field_starts_on_a_line_of_the_persons_own_position(
    client: TestClient, run_ids: list[str]
) -> None:
    from optimizer.labels import label

    store = service.open_store(client.app.state.web.config.store_path)  # type: ignore[attr-defined]
    run = service.get_run(store, run_ids[0])
    lines = run.tables.units[run.tables.units["unit_id"] == "T01"]
    first = lines["position"].iloc[0]
    # someone placed elsewhere whose position T01 has, but not as its first line
    pl = run.tables.placements
    who = pl[(pl["unit_id"] != "T01") & pl["position"].isin(set(lines["position"]) - {first})].iloc[0]
    query = {"unit_id": "T01", "staff_id": who["staff_id"]}
    page = client.get(f"/runs/{run_ids[0]}/edit/posts", params=query)
    chosen = re.search(r'<option value="\d+" selected>([^<]*)</option>', page.text)
    with speaking("vi"):
        assert chosen and chosen.group(1).startswith(str(escape(label(who["position"], "position"))))
