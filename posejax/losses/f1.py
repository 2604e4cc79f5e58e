"""Precision, recall and F1 of contact pairs read from an answer against ground-truth pairs.

A way to judge the language model's answers before any fitting (METHOD.md, "Evaluation").
"""

from __future__ import annotations

from typing import Iterable, Sequence

from posejax.body import vocabulary
from posejax.errors import InvalidInputError

_ACCEPTED = set(vocabulary.RESOLVED_REGIONS) | set(vocabulary.LATERAL_PARTS) | {vocabulary.GROUND}


def _key(pair: Sequence[str], ignore_sides: bool, ignore_person_order: bool, what: str):
  if isinstance(pair, (str, bytes)) or len(pair) != 2:
    raise InvalidInputError(f"{what}: expected (name_1, name_2), got {pair!r}")
  names = []
  for name in pair:
    if not isinstance(name, str):
      raise InvalidInputError(
          f"{what}: contact_f1 compares one name per cell, got {name!r}; expand alternatives "
          f"into separate pairs first")
    name = " ".join(name.lower().split())
    if name not in _ACCEPTED:
      raise InvalidInputError(f"{what}: unknown body part {name!r}")
    names.append(vocabulary.split_side(name)[1] if ignore_sides else name)
  return tuple(sorted(names)) if ignore_person_order else tuple(names)


def contact_f1(
    predicted_pairs: Iterable[Sequence[str]],
    true_pairs: Iterable[Sequence[str]],
    ignore_sides: bool = False,
    ignore_person_order: bool = False,
) -> tuple[float, float, float]:
  """Precision, recall and F1 of predicted contact pairs, as sets of name pairs.

  Pairs are compared as sets: a pair listed twice counts once. Names are compared exactly (after
  lower-casing), so a side-free prediction such as ``"hand"`` matches a sided truth
  ``"left hand"`` only with ``ignore_sides``.

  Args:
    predicted_pairs: ``(name_1, name_2)`` pairs, e.g. from one parsed answer; for two people
      ``name_1`` is Person 1's part.
    true_pairs: ground-truth pairs in the same form.
    ignore_sides: drop "left"/"right" from every name before comparing.
    ignore_person_order: compare unordered pairs ((a, b) matches (b, a)); for two people this
      ignores which person is which per pair.

  Returns:
    (precision, recall, f1) in [0, 1]. With no predicted and no true pairs all three are 1; a
    ratio with an empty denominator is otherwise 0.

  Raises:
    InvalidInputError: malformed pairs or unknown names.
  """
  predicted = {_key(p, ignore_sides, ignore_person_order, "predicted pair")
               for p in predicted_pairs}
  truth = {_key(p, ignore_sides, ignore_person_order, "true pair") for p in true_pairs}
  if not predicted and not truth:
    return 1.0, 1.0, 1.0
  hits = len(predicted & truth)
  precision = hits / len(predicted) if predicted else 0.0
  recall = hits / len(truth) if truth else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
  return precision, recall, f1
