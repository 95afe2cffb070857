"""Test configuration: make ``tests/`` importable (``builders``) and shared city fixtures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parents[1]
CITY_TABLES = (
    ("units", "units"),
    ("posts", "posts_transition"),
    ("staff", "staff"),
    ("relations", "relations"),
    ("pins", "pins"),
)


def synth_city(folder: Path, party: int, government: int, seed: int = 0, num_units: int = 168) -> Path:
    """Generate a synthetic roster on the first ``num_units`` real HCMC units and a
    scenario that uses it."""
    data = folder / "data"
    units = folder / "units.csv"
    lines = (ROOT / "data" / "hcmc" / "units.csv").read_text(encoding="utf-8").splitlines()
    units.write_text("\n".join(lines[: num_units + 1]) + "\n", encoding="utf-8")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "optimizer.cli",
            "synth",
            "--out",
            str(data),
            "--seed",
            str(seed),
            "--units",
            str(units),
            "--party",
            str(party),
            "--government",
            str(government),
            "--format",
            "csv",
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    base = ROOT / "scenarios" / "hcmc-2025" / "base.toml"
    lines = [f'name = "city-{party + government}"', f'extends = "{base}"', "[data]"]
    lines += [f'{table} = "{data / (file + ".csv")}"' for table, file in CITY_TABLES]
    scenario = folder / "city.toml"
    scenario.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return scenario


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quarter of the city: 42 real units, 970 + 3,030 people (seconds to solve)."""
    return synth_city(tmp_path_factory.mktemp("small-city"), party=970, government=3030, num_units=42)


@pytest.fixture(scope="session")
def full_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full city: 3,878 + 12,119 people on the 168 real units."""
    return synth_city(tmp_path_factory.mktemp("full-city"), party=3878, government=12119)
