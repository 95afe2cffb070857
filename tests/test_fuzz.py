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

#: The attacks of the adversarial pass that found the issue's findings, and the cases the
#: long runs found, one case each: the exit code and words the planner must read (the
#: property alone held on pre-fix code for some of them: a bad message is no traceback).
CORPUS = (
    (Case((("none", 0),), "run_out", "dot"), 2, "holds the scenario's input table"),  # finding 1
    (Case((("none", 0),), "export_csv", "dot"), 2, "is an input table"),  # finding 1
    (Case((("store_foreign", 0),), "runs", "fresh"), 2, "another program's database"),  # finding 3
    (Case((("store_foreign", 1),), "run", "fresh"), 2, "another program's database"),  # finding 3
    (Case((("set", 0),), "validate", "fresh"), 2, "true/false is not a number"),  # finding 4
    (Case((("none", 0),), "rm_blank", "fresh"), 2, "The run id is blank"),  # finding 8
    (Case((("none", 0),), "run_out", "under_file"), 2, "part of the path is a file"),  # finding 12
    (Case((("none", 0),), "validate_xlsx", "under_file"), 2, "part of the path is a file"),  # finding 12
    (Case((("store_row", 1),), "show", "fresh"), 2, "staffplan rm r0002-"),  # finding 13
    (Case((("store_corrupt", 3),), "export_xlsx", "fresh"), 2, "The run store is damaged"),  # finding 13
    (Case((("toml_deep", 0),), "validate", "fresh"), 2, "nested too deeply"),  # finding 14
    (Case((("set", 5),), "validate", "fresh"), 2, "is not a scenario key"),  # finding 16: --set foo.bar=1
    (Case((("nul", 2),), "validate", "fresh"), 2, "NUL character"),  # finding 16
    (Case((("devzero", 0),), "validate", "fresh"), 2, "is not a regular file"),  # finding 16
    (Case((("fifo", 4),), "run", "fresh"), 2, "is not a regular file"),  # finding 16
    (Case((("none", 0),), "compare_html", "input_file"), 2, "is an input table"),  # point 2
    (Case((("none", 0),), "explain_all", "symlink_input"), 2, "is an input table"),  # point 2
    (Case((("none", 0),), "compare_csv", "scenario_dir"), 2, "is an input table"),  # point 2
    (Case((("empty", 0),), "compare_csv", "scenario_dir"), 2, "not written by staffplan"),  # long run
    (Case((("binary", 0),), "export_csv", "scenario_dir"), 2, "not written by staffplan"),  # long run
    (Case((("empty", 0),), "explain_all", "input_file"), 2, "not written by staffplan"),  # long run
    (Case((("none", 0),), "export_docx", "fresh"), 0, "Wrote 1 file(s)"),  # and a clean case passes
)


@pytest.mark.parametrize(
    ("case", "code", "words"),
    CORPUS,
    ids=[f"{c.damages[0][0]}-{c.command}-{c.output}" for c, _, _ in CORPUS],
)
def test_corpus_keeps_the_property(case: Case, code: int, words: str, tmp_path: Path) -> None:
    outcome = run_case(case, tmp_path)
    assert outcome.failures == ()
    assert outcome.exit_code == code and words in outcome.output, outcome.output


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
