"""Tests of posejax.lmm.build: answers to Constraints, end to end."""

from __future__ import annotations

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest

from lmm_answers import CORPUS
from posejax.body import vocabulary
from posejax.constraints import Constraints
from posejax.constraint_tables import assignment_count
from posejax.constraints import needs_fallback
from posejax.lmm import build
from posejax.lmm.parsing import parse_answer

TWO = [c for c in CORPUS if c[1] == 2]
ONE = [c for c in CORPUS if c[1] == 1]
HEADER2 = "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n"
HEADER1 = "| Body Part A | Body Part B |\n|---|---|\n"


def _without_ground(rows):
  return [r for r in rows if vocabulary.GROUND not in ((r[0],) if isinstance(r[0], str) else r[0])
          and vocabulary.GROUND not in ((r[1],) if isinstance(r[1], str) else r[1])]


def test_two_person_corpus_becomes_constraints_with_the_same_rows():
  answers = [c[2] for c in TWO]
  cons, report = build.parse(answers, people=2, return_report=True)
  assert isinstance(cons, Constraints)
  assert cons.people == 2
  assert cons.to_pairs() == [list(c[3]) for c in TWO]
  assert np.asarray(cons.sample_valid).sum() == len(TWO)
  assert report.answers == len(TWO)
  assert report.rows_kept == sum(len(c[3]) for c in TWO)
  assert report.refusals == 1
  assert not bool(needs_fallback(cons))


def test_one_person_rows_pass_through_the_frequency_filter():
  answers = [c[2] for c in ONE]
  cons = build.parse(answers, people=1, min_frequency=1)
  assert cons.to_pairs() == [_without_ground(c[3]) for c in ONE]
  assert int(cons.min_frequency) == 1
  # Ground rows are Constraints' to drop and count.
  assert int(np.asarray(cons.ground_rows).sum()) == sum(
      len(c[3]) - len(_without_ground(c[3])) for c in ONE)
  # With the default threshold (half of the samples) one-off rows do not enter the loss.
  filtered = build.parse(answers + [HEADER1 + "| foot | butt |\n"] * 3, people=1)
  valid = np.asarray(filtered.row_valid)
  kept = {filtered.to_pairs()[i][r] for i, r in zip(*np.nonzero(valid[:len(answers) + 3]))}
  assert kept == {("foot", "butt"), ("butt", "foot")} & kept and ("foot", "butt") in kept


def test_all_empty_answers_fall_back():
  answers = ["I'm sorry, I cannot help with that.", HEADER2, HEADER2 + "| none | none |\n"]
  cons, report = build.parse(answers, people=2, return_report=True)
  assert bool(needs_fallback(cons))
  assert report.empty_answers == 3
  assert report.declared_empty == 2
  assert cons.to_pairs() == [[], [], []]


def test_rows_past_the_assignment_limit_are_left_out_and_counted():
  # "hand" seven times in Person 1's column: 2^7 - 2 = 126 valid assignments.
  text = HEADER2 + "".join(f"| hand | {part} |\n" for part in
                           ("head", "neck", "chest", "stomach", "back", "butt", "leg"))
  (rows,) = build.parse_samples([text], people=2)[0]
  assert len(rows) == 7 and assignment_count(rows) == 126
  samples, report = build.parse_samples([text], people=2, max_side_variables=6)
  (kept,) = samples
  assert kept == rows[:6]
  assert assignment_count(kept) <= 2 ** 6
  assert report.rows_dropped == {build.TOO_MANY_SIDES: 1}
  assert report.rows_kept == 6
  cons = build.parse([text], people=2, max_side_variables=6)
  assert cons.to_pairs() == [rows[:6]]


def test_the_assignment_limit_counts_the_choices_of_alternatives():
  # Two cells "hand / back": a hand on each side, or a back in one or both rows; 7 assignments,
  # more than 2^2 although only two side-free hands are repeated.
  rows = [(("hand", "back"), "head"), (("hand", "back"), "neck")]
  assert assignment_count(rows) == 7
  kept, reasons = build.fit_to_limits(rows, 2, max_side_variables=2, max_combinations=1024)
  assert kept == rows[:1] and reasons == [build.TOO_MANY_SIDES]
  Constraints.from_pairs([kept], 2, max_side_variables=2)  # within the limit: builds
  kept, reasons = build.fit_to_limits(rows, 2, max_side_variables=3, max_combinations=1024)
  assert kept == rows and reasons == []
  # Written sides count in the rule too: one side-free hand and two cells "left hand / back" have
  # 5 valid choices (the free hand on the right, each cell either; or on the left, both backs).
  rows = [("hand", "head"), (("left hand", "back"), "neck"), (("left hand", "back"), "chest")]
  assert assignment_count(rows) == 5
  kept, reasons = build.fit_to_limits(rows, 2, max_side_variables=2, max_combinations=1024)
  assert assignment_count(kept) <= 4 and reasons == [build.TOO_MANY_SIDES]
  Constraints.from_pairs([kept], 2, max_side_variables=2)


def test_rows_with_too_many_alternatives_are_left_out():
  row = ("hand", tuple(vocabulary.RESOLVED_REGIONS))
  kept, reasons = build.fit_to_limits([row, ("hand", "back")], 2, max_side_variables=10,
                                      max_combinations=20)
  assert kept == [("hand", "back")]
  assert reasons == [build.TOO_MANY_ALTERNATIVES]


_PARTS = st.sampled_from(list(vocabulary.TWO_PERSON_PARTS + vocabulary.ONE_PERSON_PARTS) + [
    "hands", "left arm", "feet", "shoulders", "lower back", "wrist", "xyz", "none", "thighs"])
_CELL = st.lists(_PARTS, min_size=1, max_size=2).map(lambda parts: " / ".join(parts))


def _is_subsequence(short, long):
  remaining = iter(long)
  return all(any(item == other for other in remaining) for item in short)


@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(st.lists(st.lists(st.tuples(_CELL, _CELL), max_size=8), min_size=1, max_size=3),
                  st.sampled_from([1, 2]), st.booleans())
def test_any_table_builds_constraints(tables, people, trust_sides):
  header = HEADER2 if people == 2 else HEADER1
  answers = [header + "".join(f"| {a} | {b} |\n" for a, b in table) for table in tables]
  # A small assignment limit keeps every example fast and exercises the row dropping.
  cons, report = build.parse(answers, people=people, trust_sides=trust_sides, return_report=True,
                             max_side_variables=5)
  assert report.answers == len(answers)
  expected = [_without_ground(list(parse_answer(a, people, trust_sides=trust_sides).rows))
              for a in answers]
  got = cons.to_pairs()
  assert len(got) == len(answers)
  for rows, want in zip(got, expected):
    assert _is_subsequence(rows, want)
    if people == 2:
      assert assignment_count(rows) <= 2 ** 5
  assert report.rows_kept == sum(len(r) for r in build.parse_samples(
      answers, people, trust_sides=trust_sides, max_side_variables=5)[0])
