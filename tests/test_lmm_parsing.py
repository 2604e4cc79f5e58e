"""Tests of posejax.lmm.parsing: the answer corpus, the decisions, and never raising on any text."""

from __future__ import annotations

import random
import time
import warnings

import hypothesis
import hypothesis.strategies as st
import pytest

from lmm_answers import CORPUS
from lmm_answers import TRUST_SIDES
from posejax.body import vocabulary
from posejax.errors import InvalidInputError
from posejax.errors import PoseJaxWarning
from posejax.lmm import parsing as parse_module
from posejax.lmm import words
from posejax.lmm.words import SYNONYMS
from posejax.lmm.parsing import ParseReport
from posejax.lmm.parsing import parse_answer
from posejax.lmm.parsing import parse_answers

ACCEPTED = set(vocabulary.RESOLVED_REGIONS) | set(vocabulary.LATERAL_PARTS)


def _check_diagnostics(parsed, expected):
  for field, value in expected.items():
    if field == "dropped_reasons":
      assert tuple(d.reason for d in parsed.dropped) == value
    else:
      assert getattr(parsed, field) == value, field


@pytest.mark.parametrize("name, people, text, rows, diagnostics", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(name, people, text, rows, diagnostics):
  parsed = parse_answer(text, people)
  assert list(parsed.rows) == rows
  _check_diagnostics(parsed, diagnostics)


@pytest.mark.parametrize("name, people, text, rows, diagnostics", TRUST_SIDES,
                         ids=[c[0] for c in TRUST_SIDES])
def test_corpus_trusting_sides(name, people, text, rows, diagnostics):
  parsed = parse_answer(text, people, trust_sides=True)
  assert list(parsed.rows) == rows
  _check_diagnostics(parsed, diagnostics)


def _names(cell):
  return (cell,) if isinstance(cell, str) else cell


@pytest.mark.parametrize("people", [1, 2])
def test_every_emitted_name_is_accepted_by_constraints(people):
  allowed = ACCEPTED | ({vocabulary.GROUND} if people == 1 else set())
  for _, corpus_people, text, _, _ in CORPUS:
    for row in parse_answer(text, people).rows:
      for cell in row:
        assert set(_names(cell)) <= allowed


@pytest.mark.parametrize("people", [1, 2])
def test_synonym_table_maps_only_to_vocabulary(people):
  allowed = ACCEPTED | {vocabulary.GROUND}
  for word in SYNONYMS:
    names = words._expand(word, people)
    assert names and set(names) <= allowed, word
  # One person: names folded onto the one-person prompt where it has a part for them.
  assert words._expand("shoulderfront", 1) == ("shoulder",)
  assert words._expand("lowerback", 1) == ("back",)
  assert words._expand("lowerback", 2) == ("waist (back)",)
  assert words._expand("groin", 2) == ("waist (front)",)


def test_every_prompt_part_reads_as_itself():
  for part in vocabulary.TWO_PERSON_PARTS:
    text = f"| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| {part} | head |\n"
    assert parse_answer(text, 2).rows == ((part, "head"),)
  for part in vocabulary.ONE_PERSON_PARTS:
    other = "stomach" if part == "head" else "head"
    text = f"| Body Part A | Body Part B |\n|---|---|\n| {part} | {other} |\n"
    assert parse_answer(text, 1).rows == ((part, other),)


def test_sides_kept_only_when_trusted():
  text = "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| left hand | right foot |\n"
  assert parse_answer(text, 2).rows == (("hand", "foot"),)
  assert parse_answer(text, 2).sides_dropped == 2
  trusted = parse_answer(text, 2, trust_sides=True)
  assert trusted.rows == (("left hand", "right foot"),)
  assert trusted.sides_dropped == 0


def test_plural_with_alternatives_expands_per_side():
  text = "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| hands/arms | back |\n"
  assert parse_answer(text, 2).rows == ((("left hand", "left arm"), "back"),
                                        (("right hand", "right arm"), "back"))


def test_shoulder_blades_are_both_backs_of_the_shoulders():
  text = "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| hand | shoulder blades |\n"
  assert parse_answer(text, 2).rows == (("hand", "left shoulder (back)"),
                                        ("hand", "right shoulder (back)"))
  assert parse_answer(text, 1).rows == (("hand", "left shoulder"), ("hand", "right shoulder"))


def test_sub_part_plural_is_one_side():
  text = "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| fingers | toes |\n"
  assert parse_answer(text, 2).rows == (("hand", "foot"),)


def test_short_and_ambiguous_words_are_not_corrected():
  # "hard" is one edit from "hand" but four letters: only neighbour swaps are corrected there.
  text = "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| hard | back |\n"
  parsed = parse_answer(text, 2)
  assert parsed.rows == ()
  assert parsed.unknown_words == ("hard",)
  assert parse_answer(text, 2, fuzzy=False).corrected_words == ()


def test_header_only_at_start_without_separator():
  text = "Person 1 Body Part | Person 2 Body Part\nhand | back\nhead | chest\n"
  assert parse_answer(text, 2).rows == (("hand", "back"), ("head", "chest"))


def test_headerless_piped_rows_choose_columns_by_content():
  text = "| 1 | hand | back | sure |\n| 2 | arm | neck | maybe |\n"
  assert parse_answer(text, 2).rows == (("hand", "back"), ("arm", "neck"))


def test_report_sums_answers():
  answers = [CORPUS[0][2], CORPUS[6][2], CORPUS[7][2], CORPUS[14][2]]
  samples, report, parsed = parse_answers(answers, 2)
  assert [len(s) for s in samples] == [4, 0, 0, 1]
  assert report == ParseReport.of(parsed)
  assert report.answers == 4
  assert report.empty_answers == 2
  assert report.refusals == 1
  assert report.declared_empty == 1
  assert report.no_table == 0  # the refusal had no table; each empty answer counts once
  assert report.rows_kept == 5
  assert report.rows_dropped == {"no known part in cell 1": 2}
  assert report.unknown_words == {"aura": 1, "spleen": 1}
  assert "4 answers" in report.summary()
  assert report.as_dict()["rows_kept"] == 5


def test_bad_people_is_an_input_error():
  with pytest.raises(InvalidInputError, match="people"):
    parse_answer("| hand | back |", 3)
  with pytest.raises(InvalidInputError, match="list"):
    parse_answers("| hand | back |", 2)


def test_an_answer_that_is_not_text_is_an_input_error_naming_it():
  with pytest.raises(InvalidInputError, match="must be a string.*NoneType"):
    parse_answer(None, 2)
  with pytest.raises(InvalidInputError, match=r"answers\[1\] must be a string.*int 123"):
    parse_answers(["| hand | back |", 123], 2)


def test_empty_answers_fall_in_exactly_one_kind_and_the_summary_adds_up():
  answers = [
      "They hug.\n| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| hand | back |",
      "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| none | none |",
      "The two people are not touching; there is no contact between them.",
      "I cannot see any body parts touching in this picture.",
      "I'm sorry, I can't help with that.",
      "Person 1 stands next to Person 2.",
      "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| aura | spleen |",
      "I'm sorry, I cannot tell.\n| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n"
      "| aura | aura |",
  ]
  _, report, parsed = parse_answers(answers, 2)
  assert report.empty_answers == 7
  assert (report.declared_empty, report.refusals, report.no_table, report.unreadable) == (3, 2, 1, 1)
  assert report.empty_answers == (report.declared_empty + report.refusals + report.no_table
                                  + report.unreadable)
  # Honest "no contact" answers are not refusals.
  assert [p.refusal for p in parsed[2:4]] == [False, False]
  assert "7 empty: 3 said none, 2 refusals, 1 without a table, 1 with no usable row" in (
      report.summary())


ONE_PERSON_ANSWER = ("The person holds a seated forward bend.\n| Body Part A | Body Part B |\n"
                     "|---|---|\n| hand | foot |\n| butt | ground |")
TWO_PERSON_ANSWER = ("They hug.\n| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n"
                     "| arm | back |")


def test_answers_of_the_other_prompt_are_warned_about():
  with pytest.warns(PoseJaxWarning, match="one-person prompt.*people=2"):
    _, report, _ = parse_answers([ONE_PERSON_ANSWER] * 3, 2)
  assert report.other_prompt == 3
  with pytest.warns(PoseJaxWarning, match="two-person prompt.*people=1"):
    parse_answers([TWO_PERSON_ANSWER] * 3, 1)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert parse_answers([ONE_PERSON_ANSWER] * 3, 1)[1].other_prompt == 0
    assert parse_answers([TWO_PERSON_ANSWER] * 3, 2)[1].other_prompt == 0


def _brute_force_correct(word):
  """The spelling correction by measuring every correctable word (the definition)."""
  limit = 1 if len(word) <= 7 else 2
  distances = {known: words._osa_distance(word, known, limit)
               for known in words._CORRECTABLE if len(known) >= 4}
  best = min(distances.values())
  return best, {k for k, d in distances.items() if d == best}


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=5, max_size=12),
    st.sampled_from(sorted(words._CORRECTABLE)).flatmap(
        lambda w: st.tuples(st.just(w), st.integers(0, 20), st.sampled_from("aeiostr"))
        .map(lambda t: (t[0][:t[1]] + t[2] + t[0][t[1] + 1:])))))
def test_spelling_correction_finds_what_measuring_every_word_finds(word):
  hypothesis.assume(len(word) >= 5 and word not in words._FILLER_WORDS
                    and word not in words._EMPTY_WORDS)
  best, found = _brute_force_correct(word)
  corrected = words._correct.__wrapped__(word)
  limit = 1 if len(word) <= 7 else 2
  if best > limit:
    assert corrected is None
  elif len(found) == 1:
    assert corrected == next(iter(found))
  else:
    assert corrected is None or corrected in found


def test_a_long_table_parses_in_linear_time():
  rng = random.Random(0)
  parts = ["hand", "arm", "back", "shoulder (front)", "head", "neck", "chest", "stomach", "waist",
           "leg", "foot", "butt", "sholder", "hnad"]
  def table(rows):
    lines = [f"| {rng.choice(['left ', 'right ', ''])}{rng.choice(parts)} / {rng.choice(parts)} | "
             f"{rng.choice(parts)}, {rng.choice(parts)} |" for _ in range(rows)]
    return "Reasoning.\n| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n" + "\n".join(lines)
  times = {}
  for rows in (1000, 4000):
    text = table(rows)
    words.read_row.cache_clear()
    started = time.perf_counter()
    parsed = parse_answer(text, 2, trust_sides=True)
    times[rows] = time.perf_counter() - started
    assert len(parsed.rows) + len(parsed.dropped) >= rows * 0.9
  print(f"parse times: {times}")
  assert times[4000] < 0.5


_TABLE_BITS = st.sampled_from([
    "|", "||", "---", "|---|---|", ":--", "\n", " ", "hand", "hands", "left", "right", "both",
    "shoulder (back)", "(", ")", "/", ",", " or ", " and ", "none", "n/a", "**", "_", "`", "```",
    "ground", "head", "lower back", "back of the", "Person 1 Body Part", "Body Part A", "<br>", "-",
    "sholder", "wrist", "fingers", "'s", "\u00e9", "\t", "\r\n", "|\n|", "hips", "shoulders (front)",
])


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.lists(st.one_of(_TABLE_BITS, st.text(max_size=8)), max_size=40),
                  st.sampled_from([1, 2]), st.booleans(), st.booleans())
def test_never_raises_and_emits_only_vocabulary(pieces, people, trust_sides, fuzzy):
  parsed = parse_answer("".join(pieces), people, trust_sides=trust_sides, fuzzy=fuzzy)
  allowed = ACCEPTED | ({vocabulary.GROUND} if people == 1 else set())
  for row in parsed.rows:
    assert len(row) == 2
    for cell in row:
      names = _names(cell)
      assert names and set(names) <= allowed
      assert len(set(names)) == len(names)


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(st.text(max_size=300), st.sampled_from([1, 2]))
def test_never_raises_on_arbitrary_text(text, people):
  parse_answer(text, people)


def test_every_row_counts_repeats_included():
  # The loss sums over rows: a repeated row weighs twice, a lateral one names both sides.
  text = ("| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| hand | back |\n"
          "| hand | back |\n| head | head |\n| head | head |\n| hand | back |\n")
  answer = parse_module.parse_answer(text, 2)
  assert answer.rows.count(("hand", "back")) == 3
  assert answer.rows.count(("head", "head")) == 2
  assert answer.dropped == ()


def test_a_ground_table_complements_the_contact_table_and_a_corrected_one_replaces_it():
  self_then_ground = (
      "Seated forward bend.\n| Body Part A | Body Part B |\n|---|---|\n| hand | foot |\n"
      "| head | leg |\n\nAnd with the ground:\n| Body Part A | Body Part B |\n|---|---|\n"
      "| butt | ground |\n")
  answer = parse_answer(self_then_ground, 1)
  assert answer.rows == (("hand", "foot"), ("head", "leg"), ("butt", "ground"))
  assert answer.tables_ignored == 0
  draft_then_final = (
      "Draft:\n| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| arm | back |\n"
      "Corrected:\n| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| hand | hand |\n")
  answer = parse_answer(draft_then_final, 2)
  assert answer.rows == (("hand", "hand"),)
  assert answer.tables_ignored == 1
