"""The output guard lives in the service: CLI and web exports both refuse to write onto
the inputs of the run or the store (issue 17, point 2; the web app's exports lacked the
CLI's guard)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hardening_support import copy_tiny, digests, invoke
from test_web_api_runs import web  # noqa: F401 - the web API's app and store, a fixture
from web_support import csrf, start, tiny_zip, upload, wait

from optimizer import service
from optimizer.errors import InputError
from optimizer.io.scenario import resolved_input_files
from optimizer.store import StoredRun


def scenario_folder(run: StoredRun) -> Path:
    """The folder of a stored run's input tables."""
    return resolved_input_files(run.meta["resolved_scenario"])[1][0].parent


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, StoredRun]:
    """A store holding one run of a copy of the tiny scenario."""
    folder = tmp_path_factory.mktemp("svc")
    store = folder / "s.db"
    assert invoke("run", str(copy_tiny(folder)), "--store", str(store)).exit_code == 0
    return store, service.get_run(service.open_store(store), "latest")


@pytest.mark.parametrize("through", ["folder", "symlink"])
def test_service_export_refuses_the_runs_scenario_folder(
    cli_run: tuple[Path, StoredRun], tmp_path: Path, through: str
) -> None:
    store_path, run = cli_run
    folder = scenario_folder(run)
    target = folder
    if through == "symlink":
        target = tmp_path / "out"
        target.symlink_to(folder)
    before = digests(folder)
    with pytest.raises(InputError) as refused:
        service.export(service.open_store(store_path), run.run_id, "csv", target)
    assert refused.value.issues[0].code == "files.folder_holds_inputs"
    assert digests(folder) == before  # not even the tables of other names were written


def test_service_export_never_writes_onto_the_store(cli_run: tuple[Path, StoredRun], tmp_path: Path) -> None:
    store_path, run = cli_run
    store = service.open_store(store_path)
    calls: list[tuple[Path, ...]] = []

    def spy(*args: object, **kwargs: object) -> list[Path]:
        from optimizer.io.outputs import _PROTECTED

        calls.append(_PROTECTED.get())
        return []

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("optimizer.export.annex.export_annexes", spy)
        service.export(store, run.run_id, "xlsx", tmp_path / "o")
    protected = {p.resolve() for p in calls[0]}
    assert store_path.resolve() in protected
    assert {p.resolve() for p in resolved_input_files(run.meta["resolved_scenario"])[0]} <= protected


def test_web_export_is_guarded_like_the_cli(
    web: tuple[TestClient, Path],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, store_path = web
    answer = upload(client, "tiny.zip", tiny_zip())
    assert answer.status_code == 201, answer.text
    body = wait(client, start(client, str(answer.json()["id"])))
    assert body["status"] == "optimal", body
    run = service.get_run(service.open_store(store_path), str(body["run_id"]))
    folder = scenario_folder(run)
    before = digests(folder)
    work = tmp_path / "x"
    work.mkdir()
    (work / "out").symlink_to(folder)  # an export folder that is the uploaded scenario's
    monkeypatch.setattr(tempfile, "mkdtemp", lambda **kwargs: str(work))
    refused = client.get(f"/api/runs/{run.run_id}/export", params={"format": "csv"}, headers=csrf(client))
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"]["issues"][0]["code"] == "files.folder_holds_inputs"
    assert digests(folder) == before
    monkeypatch.undo()
    done = client.get(f"/api/runs/{run.run_id}/export", params={"format": "csv"})
    assert done.status_code == 200 and digests(folder) == before
