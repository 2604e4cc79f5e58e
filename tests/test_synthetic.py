"""Tests of the synthetic contact benchmark: simulated answers, designs, scenes, files."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from posejax import InvalidInputError
from posejax.body import vocabulary
from posejax.data import synthetic_answers as answers_lib
from posejax.data import synthetic_poses
from posejax.data.synthetic_answers import AnswerSettings
from posejax.data.synthetic_answers import simulate_answers
from posejax.lmm import parse_answer


def _strip(cell) -> str:
  assert isinstance(cell, str), f"the simulator never writes alternatives, got {cell!r}"
  return vocabulary.split_side(cell)[1]


def _coarse_set(rows, people):
  out = set()
  for a, b in rows:
    pair = (_strip(a), _strip(b))
    out.add(tuple(sorted(pair)) if people == 1 else pair)
  return out


def _true_coarse(design):
  return _coarse_set(design.contacts, design.people)


# ---------------------------------------------------------------------------------------------
# Designs


@pytest.mark.parametrize("kind", list(synthetic_poses.SCENE_DESIGNS))
def test_designs_are_answerable_and_well_formed(kind):
  design = synthetic_poses.scene_design(kind)
  assert len(design.persons) == design.people
  for pair in design.contacts:
    # Every true pair can be named in the prompt vocabulary of its people count.
    answers_lib.coarse_pair(pair, design.people)
    assert all(name in vocabulary.REGION_INDEX for name in pair)
  for person in design.persons:
    pose = person.body_pose()
    assert pose.shape == (21, 3) and np.all(np.isfinite(pose))
    assert np.all(np.linalg.norm(pose, axis=1) < np.pi)


def test_turn_and_mirror_follow_the_documented_conventions():
  from scipy.spatial.transform import Rotation
  lowered = Rotation.from_rotvec(synthetic_poses.turn(("z", -np.pi / 2))).apply([1.0, 0.0, 0.0])
  np.testing.assert_allclose(lowered, [0.0, -1.0, 0.0], atol=1e-12)  # left arm hangs down
  forward = Rotation.from_rotvec(synthetic_poses.turn(("y", -np.pi / 2))).apply([1.0, 0.0, 0.0])
  np.testing.assert_allclose(forward, [0.0, 0.0, 1.0], atol=1e-12)  # left arm points forward
  right = synthetic_poses.mirror_rotation(synthetic_poses.turn(("y", -np.pi / 2)))
  np.testing.assert_allclose(Rotation.from_rotvec(right).apply([-1.0, 0.0, 0.0]), [0, 0, 1],
                             atol=1e-12)  # the mirrored rotation sends the right arm forward too
  thigh = Rotation.from_rotvec(synthetic_poses.turn(("x", -np.pi / 2))).apply([0.0, -1.0, 0.0])
  np.testing.assert_allclose(thigh, [0.0, 0.0, 1.0], atol=1e-12)  # hip flexion lifts the thigh
  composed = Rotation.from_rotvec(synthetic_poses.turn(("z", -np.pi / 2), ("y", -np.pi / 2)))
  # First lowered (to -y), then turned about y: a vector along -y is unchanged by that turn.
  np.testing.assert_allclose(composed.apply([1.0, 0.0, 0.0]), [0.0, -1.0, 0.0], atol=1e-12)


def test_unknown_kind_is_a_clear_error():
  with pytest.raises(InvalidInputError, match="known kinds"):
    synthetic_poses.scene_design("tango")


# ---------------------------------------------------------------------------------------------
# Simulated answers (pure text; parsed by the real parser)


@pytest.mark.parametrize("kind", list(synthetic_poses.SCENE_DESIGNS))
def test_perfect_answers_parse_back_to_the_true_pairs(kind):
  design = synthetic_poses.scene_design(kind)
  texts = simulate_answers(design.contacts, design.people, AnswerSettings.perfect(num_answers=5),
                           seed=(3, 1), description=design.description,
                           pose_name=design.pose_name)
  assert len(texts) == 5
  for text in texts:
    parsed = parse_answer(text, design.people)
    # "hand | back" written twice (both hands) loses its repeat in the parser, which drops
    # duplicate rows; nothing else may be dropped.
    assert {d.reason for d in parsed.dropped} <= {"duplicate row"}, (text, parsed)
    assert not parsed.unknown_words, (text, parsed)
    assert all(isinstance(c, str) and vocabulary.split_side(c)[0] is None
               for row in parsed.rows for c in row)
    assert _coarse_set(parsed.rows, design.people) == _true_coarse(design), text


def test_plurals_and_sides_parse_back_exactly():
  design = synthetic_poses.scene_design("hug")
  settings = AnswerSettings.perfect(num_answers=10, plural_rate=1.0)
  for record in simulate_answers(design.contacts, 2, settings, seed=0, detailed=True):
    parsed = parse_answer(record.text, 2)
    # Both hands on the back, twice over: each becomes one plural row, expanded with sides.
    assert ("hands", "back") in record.rows and ("waist (back)", "hands") in record.rows
    assert set(parsed.rows) == {("left hand", "back"), ("right hand", "back"),
                                ("waist (back)", "left hand"), ("waist (back)", "right hand"),
                                ("chest", "chest")}
  wrong = simulate_answers(design.contacts, 2, AnswerSettings.perfect(
      num_answers=50, side_rate=1.0, wrong_side_rate=1.0), seed=0, detailed=True)
  for record in wrong:
    assert record.sides_given == 4 and record.wrong_sides == 4
    assert ("right hand", "back") in record.rows  # the left hand written as the right one
    parsed = parse_answer(record.text, 2)
    assert parsed.sides_dropped == 4  # the parser ignores sides by default ...
    assert _coarse_set(parsed.rows, 2) == _true_coarse(design)
    trusted = parse_answer(record.text, 2, trust_sides=True)  # ... or keeps them when asked
    assert set(trusted.rows) == set(record.rows)


def test_swapped_roles_swap_both_columns():
  design = synthetic_poses.scene_design("hand_on_shoulder")
  records = simulate_answers(design.contacts, 2, AnswerSettings.perfect(swap_rate=1.0), seed=1,
                             detailed=True)
  for record in records:
    assert record.swapped
    assert set(parse_answer(record.text, 2).rows) == {("shoulder (front)", "hand")}


def test_error_rates_give_the_configured_shares():
  design = synthetic_poses.scene_design("piggyback")
  settings = AnswerSettings(num_answers=3000, miss_rate=0.3, hallucination_rate=0.25,
                            side_rate=0.2, wrong_side_rate=0.5, empty_rate=0.15, swap_rate=0.5,
                            plural_rate=0.0)
  records = simulate_answers(design.contacts, 2, settings, seed=11, detailed=True)
  n = len(records)
  empty = sum(r.empty for r in records)
  assert abs(empty / n - 0.15) < 4 * np.sqrt(0.15 * 0.85 / n)
  nonempty = [r for r in records if not r.empty]
  kinds = collections.Counter(k for r in nonempty for k in r.row_kinds)
  rows = sum(kinds.values())
  share = kinds["hallucinated"] / rows
  assert abs(share - 0.25) < 0.03, share
  kept = kinds["true"] / (len(nonempty) * len(design.contacts))
  assert abs(kept - 0.7) < 4 * np.sqrt(0.21 / (len(nonempty) * 3)), kept
  lateral_cells = sum(vocabulary.is_lateral(_strip(c)) for r in nonempty for row in r.rows
                      for c in row)
  given = sum(r.sides_given for r in nonempty)
  assert abs(given / lateral_cells - 0.2) < 0.03
  wrong = sum(r.wrong_sides for r in nonempty)
  true_given = sum(r.sides_given for r in nonempty)  # hallucinated cells' sides are never "wrong"
  assert 0.3 < wrong / true_given < 0.55
  assert 0.45 < np.mean([r.swapped for r in nonempty]) < 0.55

  # The real parser sees exactly the written rows, and the hallucinated ones are wrong.
  truth = _true_coarse(design)
  truth_swapped = {(b, a) for a, b in truth}
  wrong_rows = parsed_rows = 0
  for r in records[:600]:
    parsed = parse_answer(r.text, 2)
    assert not parsed.unknown_words
    assert _coarse_set(parsed.rows, 2) == _coarse_set(r.rows, 2)
    reference = truth_swapped if r.swapped else truth
    for row, kind in zip(r.rows, r.row_kinds):
      pair = (_strip(row[0]), _strip(row[1]))
      assert (pair in reference) == (kind == "true"), (row, kind, r.text)
    wrong_rows += sum(k == "hallucinated" for k in r.row_kinds)
    parsed_rows += len(r.row_kinds)
  assert abs(wrong_rows / parsed_rows - 0.25) < 0.06


def test_hallucinations_avoid_pairs_that_really_touch():
  design = synthetic_poses.scene_design("handshake")
  touching = [("right arm", "right hand"), ("right hand", "right arm")]
  settings = AnswerSettings(num_answers=400, hallucination_rate=0.6, near_miss_share=1.0,
                            empty_rate=0.0, swap_rate=0.0)
  records = simulate_answers(design.contacts, 2, settings, seed=2, also_touching=touching,
                             detailed=True)
  forbidden = {("hand", "hand"), ("arm", "hand"), ("hand", "arm")}
  halluc = [(_strip(a), _strip(b)) for r in records for (a, b), k in zip(r.rows, r.row_kinds)
            if k == "hallucinated"]
  assert halluc and not forbidden & set(halluc)


def test_one_person_answers_use_the_one_person_table():
  design = synthetic_poses.scene_design("hands_together")
  text = simulate_answers(design.contacts, 1, AnswerSettings.perfect(num_answers=1), seed=0,
                          pose_name=design.pose_name)[0]
  assert "| Body Part A | Body Part B |" in text and "| hand | hand |" in text
  assert design.pose_name in text
  assert parse_answer(text, 1).rows == (("hand", "hand"),)


def test_answers_are_deterministic_and_seeded():
  design = synthetic_poses.scene_design("hug")
  first = simulate_answers(design.contacts, 2, seed=(0, 4))
  assert first == simulate_answers(design.contacts, 2, seed=(0, 4))
  assert first != simulate_answers(design.contacts, 2, seed=(0, 5))
  assert len(first) == AnswerSettings().num_answers == 20


def test_answer_settings_are_checked_and_round_trip():
  with pytest.raises(InvalidInputError, match="miss_rate"):
    AnswerSettings(miss_rate=1.5)
  with pytest.raises(InvalidInputError, match="hallucination_rate"):
    AnswerSettings(hallucination_rate=1.0)
  with pytest.raises(InvalidInputError, match="unknown"):
    AnswerSettings.from_dict({"bogus": 1})
  settings = AnswerSettings(miss_rate=0.1, num_answers=7)
  assert AnswerSettings.from_dict(settings.to_dict()) == settings
  with pytest.raises(InvalidInputError, match="cannot be named"):
    simulate_answers([("waist", "back")], 2)  # plain "waist" is not a two-person prompt part
  with pytest.raises(InvalidInputError, match="not a resolved region"):
    simulate_answers([("left hnad", "back")], 2)
