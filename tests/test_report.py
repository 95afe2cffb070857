"""The offline HTML report: content, map, privacy, and a real headless Chromium render
with the network blocked (a local TCP listener stands in as the only proxy)."""

from __future__ import annotations

import json
import shutil
import socket
import stat
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from plotly.offline import get_plotlyjs
from test_kpis import tiny_problem, tiny_tables
from test_store import new_run, random_assignment, random_problem, tiny_run

from optimizer.cli import main
from optimizer.cli.runs import MAP_KPI_CHOICES
from optimizer.data import Rules
from optimizer.errors import InputError
from optimizer.export.report import build_report, write_report
from optimizer.export.report_map import (
    NO_DATA_COLOR,
    Shape,
    geojson_of_run,
    inset_units,
    load_geojson,
    map_figure,
    map_shapes,
)
from optimizer.kpis import MAP_KPIS, unit_kpis
from optimizer.placement_tables import RunTables
from optimizer.store import RunStore, StoredRun

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def square(lon: float, lat: float, half: float = 0.02) -> list[list[float]]:
    return [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]


def write_geojson(path: Path, units: list[tuple[str, str, float, float]]) -> Path:
    """A GeoJSON of squares around the given (code, name, lon, lat); the first is a
    MultiPolygon of two squares."""
    features = []
    for k, (code, name, lon, lat) in enumerate(units):
        if k == 0:
            geom = {
                "type": "MultiPolygon",
                "coordinates": [[square(lon, lat)], [square(lon + 0.05, lat, 0.01)]],
            }
        else:
            geom = {"type": "Polygon", "coordinates": [square(lon, lat)]}
        features.append({"type": "Feature", "properties": {"code": code, "name": name}, "geometry": geom})
    features.append({"type": "Feature", "properties": {"name": "no code"}, "geometry": None})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


@pytest.fixture
def tiny_pair(tmp_path: Path) -> tuple[StoredRun, StoredRun]:
    store = RunStore(tmp_path / "s.db")
    a = store.get(store.save(tiny_run()))
    other = np.array([1, 5, 2, 3, -1, 4, 5, -1], dtype=np.int32)
    b = store.get(store.save(new_run(tiny_problem(), other, scenario_name="tiny-b")))
    return a, b


def test_report_is_self_contained_vietnamese_and_private(
    tmp_path: Path, tiny_pair: tuple[StoredRun, StoredRun]
) -> None:
    a, b = tiny_pair
    geo = write_geojson(
        tmp_path / "u.geojson", [("U1", "Phường An", 106.0, 10.0), ("U2", "Xã Bình", 106.0, 10.1)]
    )
    path = write_report(tmp_path / "r" / "report.html", [a, b], geojson=geo)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert text.count(get_plotlyjs()) == 1  # plotly.js embedded once
    assert "<script src" not in text and "<link" not in text and "<iframe" not in text
    assert text.count('class="plotly-graph-div"') == 5  # 3 charts + one map per run
    for label in (
        "Tóm tắt",
        "Phân bố quãng đường đi làm",
        "đơn vị thiếu nhiều nhất",
        "Dôi dư và thiếu theo vị trí việc làm",
        "Bản đồ các đơn vị",
        "Người được bố trí khác nhau",
    ):
        assert label in text
    assert a.run_id in text and b.run_id in text and a.manifest_hash in text
    assert "Võ Văn Phúc" in text  # s6 is placed differently


def test_redacted_report_has_initials_and_birth_years_only(
    tmp_path: Path, tiny_pair: tuple[StoredRun, StoredRun]
) -> None:
    a, b = tiny_pair
    text = build_report([a, b], redacted=True)
    for name in ("Võ Văn Phúc", "Nguyễn Thị Lan", "1968-12-12", "1980-01-15"):
        assert name not in text
    assert "V.V.P." in text and "N.T.L." in text and ">1968<" in text
    single = build_report([a], redacted=True)  # show: the unplaced list
    assert "Bùi Văn Hải" not in single and "B.V.H." in single and ">1995<" in single
    assert "Bùi Văn Hải" in build_report([a])


def test_map_uses_polygons_points_and_colours(tmp_path: Path, tiny_pair: tuple[StoredRun, StoredRun]) -> None:
    a, _ = tiny_pair
    geo = write_geojson(
        tmp_path / "u.geojson", [("U1", "Phường An", 106.0, 10.0), ("U2", "Xã Bình", 106.0, 10.1)]
    )
    polygons = load_geojson(geo)
    assert set(polygons) == {"U1", "U2"}
    assert len(polygons["U1"][1]) == 2  # a MultiPolygon keeps both parts
    uk = unit_kpis(a.tables, a.rules, by_bloc=False)
    shapes = map_shapes(uk, polygons)
    by_id = {s.unit_id: s for s in shapes}
    assert set(by_id) == {"U1", "U2", "U3"}
    assert by_id["U3"].rings == () and (by_id["U3"].lat, by_id["U3"].lon) == (8.7, 106.6)
    values = {"U1": 0.0, "U2": 1.0}
    fig = map_figure(shapes, values, "Tỷ lệ", "rate", "t")
    fills = {tr.name: tr.fillcolor for tr in fig.data if tr.fill == "toself"}
    assert set(fills) == {"Phường An", "Xã Bình"}
    assert fills["Phường An"] != fills["Xã Bình"]
    assert all(
        not tr.mode.startswith("markers") or tr.hoverinfo == "skip" or "Đặc khu Cồn" in tr.hovertext[0]
        for tr in fig.data
    )
    point = next(tr for tr in fig.data if tr.mode == "markers+text" and tr.hoverinfo != "skip")
    assert list(point.text) == ["Đặc khu Cồn"]  # few units: named on the map
    assert point.marker.color[0] == NO_DATA_COLOR  # U3 has no value
    assert all(tr.type == "scatter" for tr in fig.data)  # no geo traces, no tiles
    # a shared colour range (several runs): value 1 is now mid-scale, not the top
    wider = map_figure(shapes, values, "Tỷ lệ", "rate", "t", value_range=(0.0, 2.0))
    wider_fills = {tr.name: tr.fillcolor for tr in wider.data if tr.fill == "toself"}
    assert wider_fills["Phường An"] == fills["Phường An"]
    assert wider_fills["Xã Bình"] != fills["Xã Bình"]
    assert wider.data[-1].marker.cmax == 2.0


def test_inset_takes_the_far_unit_only() -> None:
    near = [Shape(f"u{i}", f"n{i}", (), 106.6 + 0.05 * i, 10.8 + 0.03 * (i % 3)) for i in range(8)]
    island = Shape("con_dao", "Đặc khu Côn Đảo", (), 106.61, 8.69)
    assert inset_units([*near, island]) == {"con_dao"}
    assert inset_units(near) == set()
    fig = map_figure([*near, island], {}, "x", "count", "t")
    assert fig.layout.xaxis2.domain is not None
    assert sum(tr.xaxis == "x2" for tr in fig.data) == 1


SHIPPED_GEOJSON = Path(__file__).resolve().parents[1] / "data" / "hcmc" / "hcmc_units_2025.geojson"


@pytest.mark.skipif(not SHIPPED_GEOJSON.exists(), reason="the project's HCMC GeoJSON is not present")
def test_shipped_hcmc_polygons_put_con_dao_in_the_inset() -> None:
    polygons = load_geojson(SHIPPED_GEOJSON)
    assert len(polygons) == 168
    assert polygons["26732"][0] == "Đặc khu Côn Đảo"
    empty = unit_kpis(*_no_units())
    assert inset_units(map_shapes(empty, polygons)) == {"26732"}


def _no_units() -> tuple[RunTables, Rules]:
    """Tables with no post line: the map then draws only the GeoJSON polygons."""
    _, tables = tiny_tables()
    return RunTables(tables.placements.iloc[:0], tables.unplaced.iloc[:0], tables.units.iloc[:0]), Rules()


def test_geojson_comes_from_the_scenario_or_is_reported(tmp_path: Path) -> None:
    run = tiny_run(
        scenario_path=str(tmp_path / "scen" / "s.toml"),
        resolved_scenario={"name": "tiny", "data": {"geojson": "../data/u.geojson"}},
    )
    store = RunStore(tmp_path / "s.db")
    got = store.get(store.save(run))
    assert geojson_of_run(got) == tmp_path / "scen" / ".." / "data" / "u.geojson"
    assert geojson_of_run(store.get(store.save(tiny_run()))) is None
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_geojson(bad)
    assert err.value.issues[0].code == "report.bad_geojson"
    # a missing scenario GeoJSON does not stop the report: units become points
    assert "Không có tệp ranh giới đơn vị" in build_report([got])


def test_map_kpi_choices_match_the_kpis() -> None:
    assert tuple(MAP_KPI_CHOICES) == tuple(MAP_KPIS)


def test_show_and_compare_write_html(tmp_path: Path, tiny_pair: tuple[StoredRun, StoredRun]) -> None:
    a, b = tiny_pair
    store = str(tmp_path / "s.db")
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "show",
            a.run_id,
            "--store",
            store,
            "--html",
            str(tmp_path / "one.html"),
            "--map-kpi",
            "shortfall",
            "--redact",
        ],
    )
    assert res.exit_code == 0, res.output
    text = (tmp_path / "one.html").read_text(encoding="utf-8")
    assert "Thiếu (tối thiểu)" in text and "Bùi Văn Hải" not in text
    res = runner.invoke(
        main,
        ["compare", a.run_id, b.run_id, "--store", store, "--html", str(tmp_path / "two.html")],
    )
    assert res.exit_code == 0, res.output
    assert b.run_id in (tmp_path / "two.html").read_text(encoding="utf-8")
    res = runner.invoke(main, ["show", "latest", "--store", store, "--map-kpi", "nonsense"])
    assert res.exit_code == 2


# --- headless Chromium ------------------------------------------------------------


#: Chromium's own background services.  Even with the flags below, Chromium 156 as
#: packaged by Debian (its launcher sets Google API keys) contacts these from the browser
#: process on an empty page; they are not requests of the page.  Every other host a run
#: contacts fails the test.
BROWSER_SERVICE_HOSTS = frozenset(
    {
        "accounts.google.com",
        "clients2.google.com",
        "update.googleapis.com",
        "clientservices.googleapis.com",
        "optimizationguide-pa.googleapis.com",
        "safebrowsing.googleapis.com",
        "redirector.gvt1.com",
        "edgedl.me.gvt1.com",
    }
)


class Listener:
    """A TCP listener on localhost, given to Chromium as its only proxy: it records the
    host of every request it receives (``CONNECT host:443`` or ``GET http://host/…``) and
    answers none; a connection that sends no request line carries no host and is only
    counted."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.hosts: list[str] = []
        #: connections closed without a request line (Chromium's spare connections)
        self.silent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(2.0)
            try:
                line = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
            except OSError:
                line = ""
            conn.close()
            if line.count(" ") < 2:
                # Chromium opens spare connections to its proxy ahead of need and may close
                # them without a word: no request line, no host, nothing sent anywhere.
                self.silent += 1
                continue
            target = line.split(" ")[1]
            self.hosts.append(target.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0])

    def page_hosts(self) -> set[str]:
        """The hosts contacted other than Chromium's own services."""
        return set(self.hosts) - BROWSER_SERVICE_HOSTS

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    lis = Listener()
    yield lis
    lis.close()


def chromium(url: str, tmp: Path, proxy_port: int, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'chrome-profile'}",
        f"--proxy-server=http://127.0.0.1:{proxy_port}",
        "--proxy-bypass-list=<-loopback>",
        "--disable-extensions",
        "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,Translate,MediaRouter",
        "--hide-scrollbars",
        "--virtual-time-budget=15000",
        *extra,
        url,
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def png_pixels(path: Path) -> np.ndarray:
    """Decode an 8-bit, non-interlaced RGB or RGBA PNG (as Chromium writes) to an array.

    Rows filtered with None, Sub or Up are undone with numpy; Average and Paeth rows, whose
    bytes depend on their left neighbour, byte by byte.
    """
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and ctype in (2, 6)
            channels = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + stride)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    c = channels
    for y in range(height):
        ftype, line = int(raw[y, 0]), raw[y, 1:].astype(np.int64)
        if ftype == 0:
            cur = line
        elif ftype == 1:
            cur = (line.reshape(-1, c).cumsum(axis=0) & 0xFF).reshape(-1)
        elif ftype == 2:
            cur = (line + prev) & 0xFF
        else:
            lst, up = line.tolist(), prev.tolist()
            res = [0] * stride
            for x in range(stride):
                left = res[x - c] if x >= c else 0
                if ftype == 3:
                    pred = (left + up[x]) >> 1
                else:
                    ul = up[x - c] if x >= c else 0
                    p = left + up[x] - ul
                    pa, pb, pc = abs(p - left), abs(p - up[x]), abs(p - ul)
                    pred = left if pa <= pb and pa <= pc else (up[x] if pb <= pc else ul)
                res[x] = (lst[x] + pred) & 0xFF
            cur = np.array(res, dtype=np.int64)
        out[y] = cur
        prev = cur
    return out.reshape(height, width, channels)[:, :, :3]


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed: the offline render cannot be checked"
)
def test_chromium_renders_the_report_offline(tmp_path: Path, listener: Listener) -> None:
    problem = random_problem(1500, num_units=10, seed=4)
    store = RunStore(tmp_path / "s.db")
    a = store.get(store.save(new_run(problem, random_assignment(problem, 1))))
    b = store.get(store.save(new_run(problem, random_assignment(problem, 2), scenario_name="b")))
    units = [
        (u, n, float(lo), float(la))
        for u, n, lo, la in zip(
            problem.units.ids[:-2],
            problem.units.names,
            problem.units.lon,
            problem.units.lat,
            strict=False,
        )
    ]
    geo = write_geojson(tmp_path / "u.geojson", units)  # the last two units stay points
    report = write_report(tmp_path / "report.html", [a, b], geojson=geo, map_kpi="fill_rate")

    # Positive control: the same set-up does reach the listener when a page asks for the
    # network, so silence below means no request, not a deaf listener.
    probe = tmp_path / "probe.html"
    probe.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>', encoding="utf-8")
    chromium(probe.as_uri(), tmp_path, listener.port, "--dump-dom")
    assert "example.invalid" in listener.page_hosts()
    listener.hosts.clear()

    dom = chromium(report.as_uri(), tmp_path, listener.port, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="main-svg"') >= 4  # plotly drew the charts and maps
    shot = tmp_path / "shot.png"
    res = chromium(
        report.as_uri(), tmp_path, listener.port, f"--screenshot={shot}", "--window-size=1280,3000"
    )
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    pixels = png_pixels(shot)
    assert pixels.shape[:2] == (3000, 1280)
    assert pixels[0, 0].tolist() == [255, 255, 255]  # the page margin
    flat = pixels.reshape(-1, 3)
    non_white = (flat < 245).any(axis=1).mean()
    colourful = (np.ptp(flat, axis=1) > 60).mean()  # saturated pixels: bars and map fills
    assert non_white > 0.05, non_white
    assert colourful > 0.01, colourful
    assert listener.page_hosts() == set(), "the report made network requests"


def test_report_and_show_of_a_run_without_placements(tmp_path: Path) -> None:
    problem = tiny_problem()
    store = RunStore(tmp_path / "s.db")
    empty = store.get(store.save(new_run(problem, np.full(problem.num_staff, -1, dtype=np.int32))))
    assert empty.kpis["placed"] == 0
    text = build_report([empty], map_kpi="commute_mean_km")
    assert "Danh sách chưa bố trí" in text and "Bùi Văn Hải" in text
    full = store.get(store.save(tiny_run()))
    assert full.run_id in build_report([empty, full])
    res = CliRunner().invoke(main, ["show", empty.run_id, "--store", str(store.path)])
    assert res.exit_code == 0, res.output
