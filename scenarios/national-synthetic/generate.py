"""Generate the tables of the national synthetic scenario (not committed: about 60 MB).

For each of the 34 provinces of ``optimizer.national.PROVINCES`` this writes
``generated/<province>/``: synthetic commune-level units (Hồ Chí Minh City: the 168 real
units of ``data/hcmc``), then the staffing tables, roster, relatives and pins made by
``optimizer.synth.synthesize`` — the generator behind ``staffplan synth`` — with a
province's own id prefix, and a ``scenario.toml`` that extends ``base.toml``.
Deterministic by seed.

Usage, from the repository root::

    .venv/bin/python scenarios/national-synthetic/generate.py [--seed 0] [--people 250000]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from optimizer.national import NATIONAL_PEOPLE, write_national

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Parse the options and write every province."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument(
        "--people", type=int, default=NATIONAL_PEOPLE, help="people nationwide (default 250000)"
    )
    parser.add_argument(
        "--out", type=Path, default=HERE / "generated", help="output folder (default generated/)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()
    paths = write_national(args.out, HERE / "base.toml", seed=args.seed, total_people=args.people)
    logging.info("%d province scenarios in %s (%.1f s)", len(paths), args.out, time.perf_counter() - start)


if __name__ == "__main__":
    main()
