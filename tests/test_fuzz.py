"""Fuzz harness (issue 17, point 6): random damages, commands and output paths through the
CLI keep the property of :mod:`fuzz_cases` — exit 0, 1 or 2 without a traceback, no input
changed, no incomplete file under a final name.

A small Hypothesis run here (well under a minute); ``make fuzz`` runs ten thousand cases
(``benchmarks/fuzz.py``), and the corpus cases below run every time.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from fuzz_cases import COMMANDS, DAMAGES, OUTPUTS, Case, run_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: The attacks of the adversarial pass that found the issue's findings, one case each.
CORPUS = (
    (Case((("none", 0),), "run_out", "dot"), 2),  # finding 1
    (Case((("none", 0),), "export_csv", "dot"), 2),  # finding 1
    (Case((("store_foreign", 0),), "runs", "fresh"), 2),  # finding 3
    (Case((("store_foreign", 1),), "run", "fresh"), 2),  # finding 3
    (Case((("set", 0),), "validate", "fresh"), 2),  # finding 4
    (Case((("none", 0),), "rm_blank", "fresh"), 2),  # finding 8
    (Case((("none", 0),), "run_out", "under_file"), 2),  # finding 12
    (Case((("none", 0),), "validate_xlsx", "under_file"), 2),  # finding 12
    (Case((("store_row", 1),), "show", "fresh"), 2),  # finding 13
    (Case((("store_corrupt", 3),), "export_xlsx", "fresh"), 2),  # finding 13
    (Case((("toml_deep", 0),), "validate", "fresh"), 2),  # finding 14
    (Case((("set", 5),), "validate", "fresh"), 2),  # finding 16: --set foo.bar=1
    (Case((("nul", 2),), "validate", "fresh"), 2),  # finding 16
    (Case((("devzero", 0),), "validate", "fresh"), 2),  # finding 16
    (Case((("fifo", 4),), "run", "fresh"), 2),  # finding 16
    (Case((("none", 0),), "compare_html", "input_file"), 2),  # point 2
    (Case((("none", 0),), "explain_all", "symlink_input"), 2),  # point 2
    (Case((("none", 0),), "compare_csv", "scenario_dir"), 2),  # point 2
    (Case((("none", 0),), "export_docx", "fresh"), 0),  # and a clean case passes
)


@pytest.mark.parametrize(
    ("case", "code"), CORPUS, ids=[f"{c.damages[0][0]}-{c.command}-{c.output}" for c, _ in CORPUS]
)
def test_corpus_keeps_the_property(case: Case, code: int, tmp_path: Path) -> None:
    outcome = run_case(case, tmp_path)
    assert outcome.failures == ()
    assert outcome.exit_code == code


damage = st.sampled_from(sorted(DAMAGES)).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, DAMAGES[n] - 1))
)
cases = st.builds(
    Case,
    st.lists(damage, min_size=1, max_size=3).map(tuple),
    st.sampled_from(sorted(COMMANDS)),
    st.sampled_from(OUTPUTS),
)


@settings(
    max_examples=12, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(cases)
def test_random_cases_keep_the_property(case: Case) -> None:
    with tempfile.TemporaryDirectory() as work:
        outcome = run_case(case, Path(work))
    assert outcome.failures == (), (case, outcome.failures)
