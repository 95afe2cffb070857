"""The web app's server half (optimizer/web): health, session, CSRF, pages skeleton."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from optimizer import __version__
from optimizer.web.app import create_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(tmp_path / "ws", store=tmp_path / "store.db", max_parallel=1)
    with TestClient(app) as c:
        yield c


def test_health(client: TestClient) -> None:
    answer = client.get("/api/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "version": __version__}


def test_openapi_lists_the_api(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/health",
        "/api/scenarios",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/export",
    ):
        assert path in paths
    assert "/" not in paths  # pages are not part of the API


def test_api_docs_work_offline(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    scripts = re.findall(r'src="([^"]+)"', page.text) + re.findall(r'href="([^"]+)"', page.text)
    assert scripts and all(s.startswith("/static/") for s in scripts)  # nothing from a CDN
    for asset in scripts:
        assert client.get(asset).status_code == 200
    assert "<script>" not in page.text  # no inline script: the CSP holds


def test_session_without_users_is_the_local_planner(client: TestClient) -> None:
    body = client.get("/api/session").json()
    assert (body["user"], body["role"], body["see_names"]) == ("local", "planner", True)
    assert len(body["csrf_token"]) == 64
    assert client.get("/api/session").json()["csrf_token"] == body["csrf_token"]  # same session


def test_start_page_in_vietnamese_and_english(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "Các lần chạy" in page.text
    assert "Runs" in client.get("/?lang=en").text
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_post_without_csrf_token_is_refused(client: TestClient) -> None:
    answer = client.post("/api/logout")
    assert answer.status_code == 403
    token = client.get("/api/session").json()["csrf_token"]
    assert client.post("/api/logout", headers={"X-CSRF-Token": token}).status_code == 200
    assert client.post("/api/logout", headers={"X-CSRF-Token": "0" * 64}).status_code == 403


def test_static_files_are_served(client: TestClient) -> None:
    answer = client.get("/static/app.css")
    assert answer.status_code == 200
    assert "text/css" in answer.headers["content-type"]


def test_serve_refuses_another_address_without_users(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from optimizer.cli import main

    result = CliRunner().invoke(
        main,
        ["--lang", "en", "serve", "--host", "0.0.0.0", "--workspace", str(tmp_path), "--no-browser"],
        env={"STAFFPLAN_STORE": str(tmp_path / "s.db")},
    )
    assert result.exit_code == 2
    assert "without users" in result.output


def test_browser_opens_only_with_a_display_and_not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from optimizer.cli.serve import app_url, is_loopback, should_open_browser

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    assert should_open_browser(False) is True
    assert should_open_browser(True) is False
    monkeypatch.setenv("CI", "true")
    assert should_open_browser(False) is False
    monkeypatch.delenv("CI")
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert should_open_browser(False) is False
    assert [
        is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "localhost", "0.0.0.0", "10.0.0.5")
    ] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert app_url("::1", 8765) == "http://[::1]:8765/"
