"""Users, sessions, roles, redaction, rate limits and the audit log of the web app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from web_support import TINY, csrf

from optimizer import service
from optimizer.cli import main
from optimizer.store import RunStore
from optimizer.web.app import create_app
from optimizer.web.auth import add_user, audit, audit_log, check_password, grant_names, remove_user

PASSWORD = "mật-khẩu-dài"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("auth")
    store = RunStore(root / "store.db")
    add_user(store, "lan", "planner", PASSWORD)
    add_user(store, "minh", "viewer", PASSWORD)
    add_user(store, "hoa", "viewer", PASSWORD, see_names=True)
    run_id = service.solve_and_record(service.load(TINY / "scenario.toml"), store).run_id
    return root, store.path, run_id


@pytest.fixture
def client(setup: tuple[Path, Path, str]) -> Iterator[TestClient]:
    root, store, _ = setup
    with TestClient(create_app(root / "ws", store=store)) as c:
        yield c


def login(client: TestClient, name: str, password: str = PASSWORD) -> int:
    answer = client.post("/api/login", json={"name": name, "password": password}, headers=csrf(client))
    return answer.status_code


def test_anonymous_requests_are_refused(client: TestClient, setup: tuple[Path, Path, str]) -> None:
    run_id = setup[2]
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/session").json()["user"] is None
    assert client.get("/api/runs").status_code == 401
    assert client.get(f"/api/runs/{run_id}/export").status_code == 401
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_login_sets_a_signed_httponly_cookie(client: TestClient) -> None:
    answer = client.post("/api/login", json={"name": "lan", "password": PASSWORD}, headers=csrf(client))
    assert answer.status_code == 200
    set_cookie = answer.headers["set-cookie"].lower()
    assert set_cookie.startswith("staffplan_session=")
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert client.get("/api/session").json()["user"] == "lan"
    value = client.cookies["staffplan_session"]
    client.cookies.set("staffplan_session", value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
    assert client.get("/api/runs").status_code == 401  # tampered: not signed by the app


def test_login_rotates_the_session_and_its_csrf_token(client: TestClient) -> None:
    before = client.get("/api/session").json()["csrf_token"]
    assert login(client, "lan") == 200
    after = client.get("/api/session").json()["csrf_token"]
    assert before != after


def test_wrong_passwords_are_rate_limited(client: TestClient) -> None:
    for _ in range(5):
        assert login(client, "lan", "sai-mat-khau") == 401
    assert login(client, "lan") == 429  # even the right password, for a while
    assert login(client, "hoa") == 429  # the same address is blocked too
    actions = [e.action for e in audit_log(RunStore(client.app.state.web.config.store_path), 10)]  # type: ignore[attr-defined]
    assert "login_failed" in actions and "login_refused" in actions


def test_viewer_cannot_solve_nor_export_names(client: TestClient, setup: tuple[Path, Path, str]) -> None:
    run_id = setup[2]
    assert login(client, "minh") == 200
    refused = client.post("/api/runs", json={"scenario": "u000000000000"}, headers=csrf(client))
    assert refused.status_code == 403
    move = {"moves": [{"staff_id": "S01", "unit_id": "T02"}]}
    assert client.post(f"/api/runs/{run_id}/check", json=move, headers=csrf(client)).status_code == 403
    assert client.get(f"/api/runs/{run_id}/export", params={"redact": False}).status_code == 403
    redacted = client.get(f"/api/runs/{run_id}/export", params={"format": "csv"})
    assert redacted.status_code == 200
    people = client.get(f"/api/runs/{run_id}/people", params={"query": "S01"}).json()["rows"]
    assert people[0]["full_name"] == "N.V.A." and people[0]["birth_date"] == "1975"
    by_name = client.get(f"/api/runs/{run_id}/people", params={"query": "Nguyễn"}).json()
    assert by_name["total"] == 0  # a redacted list is not searchable by name
    entries = audit_log(RunStore(setup[1]), 20)
    assert any(e.action == "export_refused" and e.user == "minh" for e in entries)
    assert any(e.action == "export" and e.user == "minh" and e.detail["redact"] for e in entries)


def test_granted_viewer_and_planner_see_names(client: TestClient, setup: tuple[Path, Path, str]) -> None:
    run_id = setup[2]
    assert login(client, "hoa") == 200
    rows = client.get(f"/api/runs/{run_id}/people", params={"query": "S01"}).json()["rows"]
    assert rows[0]["full_name"] == "Nguyễn Văn An"
    assert (
        client.get(f"/api/runs/{run_id}/export", params={"format": "csv", "redact": False}).status_code == 200
    )


def test_removed_user_loses_the_session(client: TestClient, setup: tuple[Path, Path, str]) -> None:
    store = RunStore(setup[1])
    add_user(store, "tam", "planner", PASSWORD)
    assert login(client, "tam") == 200
    assert client.get("/api/runs").status_code == 200
    remove_user(store, "tam")
    assert client.get("/api/runs").status_code == 401


def test_passwords_are_argon2_hashes(setup: tuple[Path, Path, str]) -> None:
    store = RunStore(setup[1])
    with store.reading() as conn:
        digest = conn.execute("SELECT password_hash FROM users WHERE name = 'lan'").fetchone()[0]
    assert digest.startswith("$argon2") and PASSWORD not in digest
    assert check_password(store, "lan", PASSWORD) is not None
    assert check_password(store, "lan", PASSWORD + "x") is None
    assert check_password(store, "nobody", PASSWORD) is None
    grant_names(store, "minh", True)
    assert check_password(store, "minh", PASSWORD).see_names  # type: ignore[union-attr]
    grant_names(store, "minh", False)


def test_users_command(tmp_path: Path) -> None:
    env = {"STAFFPLAN_STORE": str(tmp_path / "s.db")}
    runner = CliRunner()
    added = runner.invoke(
        main,
        ["--lang", "en", "users", "add", "an", "--role", "viewer", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert added.exit_code == 0, added.output
    short = runner.invoke(
        main, ["users", "add", "binh", "--role", "planner", "--password-stdin"], input="short\n", env=env
    )
    assert short.exit_code == 2
    assert (
        "an\tviewer\tnames redacted" in runner.invoke(main, ["--lang", "en", "users", "list"], env=env).output
    )
    assert runner.invoke(main, ["users", "grant", "an"], env=env).exit_code == 0
    assert "an\tviewer\tsees names" in runner.invoke(main, ["--lang", "en", "users", "list"], env=env).output
    assert runner.invoke(main, ["users", "remove", "an"], env=env).exit_code == 0
    assert runner.invoke(main, ["users", "remove", "an"], env=env).exit_code == 2
    audit(RunStore(tmp_path / "s.db"), "an", "export", "r0001-abcdef", format="pdf", redact=True)
    log = runner.invoke(main, ["users", "audit", "--limit", "5"], env=env).output.splitlines()
    assert log[0].split("\t")[1:4] == ["an", "export", "r0001-abcdef"]
    assert '"format": "pdf"' in log[0]
