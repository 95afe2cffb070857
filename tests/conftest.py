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


def synth_city(folder: Path, party: int, government: int, seed: int = 0) -> Path:
    """Generate a synthetic roster on the real HCMC units and a scenario that uses it."""
    data = folder / "data"
    subprocess.run(
        [sys.executable, "-m", "optimizer.cli", "synth", "--out", str(data), "--seed", str(seed),
         "--party", str(party), "--government", str(government), "--format", "csv"],
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
    """A scenario of about 800 people on the 168 real units (seconds to solve)."""
    return synth_city(tmp_path_factory.mktemp("small-city"), party=200, government=600)


@pytest.fixture(scope="session")
def full_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full city: 3,878 + 12,119 people on the 168 real units."""
    return synth_city(tmp_path_factory.mktemp("full-city"), party=3878, government=12119)
