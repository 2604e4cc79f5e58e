"""Precision, recall and F1 of contact pairs, on cases worked out by hand."""

from __future__ import annotations

import pytest

from posejax.errors import InvalidInputError
from posejax.losses.f1 import contact_f1


def test_hand_worked_cases():
  truth = [("left hand", "back"), ("right hand", "right shoulder (front)"), ("head", "head")]
  predicted = [("left hand", "back"), ("left hand", "right shoulder (front)"), ("back", "head"),
               ("left hand", "back")]
  # 1 of 3 distinct predictions is true; 1 of 3 truths is found.
  assert contact_f1(predicted, truth) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
  # Without sides: "hand-back" and "hand-shoulder (front)" both hit; predictions are 3 distinct.
  p, r, f = contact_f1(predicted, truth, ignore_sides=True)
  assert (p, r) == pytest.approx((2 / 3, 2 / 3))
  assert f == pytest.approx(2 / 3)
  # Person order: ("back", "head") does not match ("head", "head"), ("back", "left hand") does.
  p, r, f = contact_f1([("back", "left hand")], truth, ignore_person_order=True)
  assert (p, r, f) == pytest.approx((1.0, 1 / 3, 0.5))
  assert contact_f1([("back", "left hand")], truth) == (0.0, 0.0, 0.0)
  side_free = [("hand", "back"), ("Hand", "Shoulder (front)")]
  assert contact_f1(side_free, truth, ignore_sides=True) == pytest.approx((1.0, 2 / 3, 0.8))


def test_empty_sets():
  assert contact_f1([], []) == (1.0, 1.0, 1.0)
  assert contact_f1([], [("hand", "back")]) == (0.0, 0.0, 0.0)
  assert contact_f1([("hand", "back")], []) == (0.0, 0.0, 0.0)


def test_bad_input():
  with pytest.raises(InvalidInputError, match="unknown body part"):
    contact_f1([("hand", "elbow")], [])
  with pytest.raises(InvalidInputError, match="alternatives"):
    contact_f1([(("hand", "arm"), "back")], [])
  with pytest.raises(InvalidInputError, match="expected"):
    contact_f1(["hand"], [])
