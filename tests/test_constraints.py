"""Building, padding, stacking, saving and loading contact constraints; the fallback rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

import posejax
from posejax.body import vocabulary
from posejax.constraints import Constraints
from posejax.constraint_tables import assignment_count
from posejax.constraints import needs_fallback
from posejax.errors import ConstraintError
from posejax.errors import FileFormatError

R = vocabulary.REGION_INDEX


def _pairs(cons, sample=0, role=0, assignment=0, row=0):
  """The (region, region) combinations a row costs under one assignment and role."""
  entries = np.flatnonzero(cons.entry_valid & (cons.entry_sample == sample))
  variant = cons.entry_variants[row, entries[assignment]]
  if variant < 0:
    return []
  index = cons.variant_pairs[role, :, variant][cons.variant_valid[:, variant]]
  return [tuple(int(x) for x in cons.pair_regions[p]) for p in index]


def _assignments(cons, sample=0):
  return int(cons.assignments_per_sample()[sample])


def assert_same(a: Constraints, b: Constraints):
  assert a.people == b.people
  for name in ("pair_regions", "pair_valid", "variant_pairs", "variant_valid", "entry_variants",
               "row_valid", "row_count", "row_names", "entry_sample", "entry_valid", "sample_valid",
               "sample_nonempty", "ground_rows", "min_frequency"):
    np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)),
                                  err_msg=name)


def test_exported_at_top_level():
  assert posejax.Constraints is Constraints


def test_shapes_are_buckets_and_samples_keep_their_count():
  samples = [[("hand", "back")] * 5, [], [(("arm", "hand", "leg"), "head")]]
  cons = Constraints.from_pairs(samples, 2)
  sizes = cons.sizes()
  assert sizes["samples"] == 3
  assert sizes["rows"] == 6  # five rows: three quarters of 8
  assert sizes["alternatives"] == 4
  assert sizes["combinations"] & (sizes["combinations"] - 1) == 0  # a power of two
  for key in ("entries", "rows", "variants", "pairs"):  # a power of two or 3/4 of one
    size = sizes[key]
    assert size & (size - 1) == 0 or (size % 3 == 0 and (size // 3) & (size // 3 - 1) == 0)
  assert cons.variant_pairs.shape == (2, sizes["combinations"], sizes["variants"])
  assert cons.variant_valid.shape == (sizes["combinations"], sizes["variants"])
  assert cons.entry_variants.shape == (6, sizes["entries"])
  # Variants: "hand | back" with the hand's side fixed, twice; "arm, hand, leg | head" once.
  assert int(cons.variant_valid.any(axis=0).sum()) == 3
  # "hand" five times in one column: 2^5 - 2 assignments; 30 + 1 + 1 entries fill 32 exactly.
  np.testing.assert_array_equal(cons.assignments_per_sample(), [30, 1, 1])
  assert sizes["entries"] == 32
  np.testing.assert_array_equal(cons.sample_nonempty, [True, False, True])
  np.testing.assert_array_equal(cons.row_valid.sum(axis=1), [5, 0, 1])
  assert cons.to_pairs() == samples


def test_free_sides_become_alternatives_and_repeated_parts_are_enumerated():
  # "hand" once per column: free, so both hands are alternatives of one row; one assignment.
  cons = Constraints.from_pairs([[("hand", "back"), ("arm", "hand")]], 2)
  assert _assignments(cons) == 1
  assert sorted(_pairs(cons)) == sorted([(R["left hand"], R["back"]), (R["right hand"], R["back"])])
  assert len(_pairs(cons, row=1)) == 4
  # Role 1 swaps which body each column lands on.
  assert sorted(_pairs(cons, role=1)) == sorted(
      [(R["back"], R["left hand"]), (R["back"], R["right hand"])])
  # "hand" twice in Person 1's column: two valid assignments (left, right) and (right, left).
  cons = Constraints.from_pairs([[("hand", "back"), ("hand", "head")]], 2)
  assert _assignments(cons) == 2
  first = {a: _pairs(cons, assignment=a, row=0)[0][0] for a in range(2)}
  second = {a: _pairs(cons, assignment=a, row=1)[0][0] for a in range(2)}
  for a in range(2):
    assert {first[a], second[a]} == {R["left hand"], R["right hand"]}
  # Three times: 2^3 - 2 assignments use both sides.
  cons = Constraints.from_pairs([[("hand", "back")] * 3], 2)
  assert _assignments(cons) == 6
  # An explicit side is fixed, and counts: "hand" named a second time, side-free, is the other
  # hand, as if neither side were written.
  cons = Constraints.from_pairs([[("left hand", "back"), ("hand", "head")]], 2)
  assert _assignments(cons) == 1
  assert _pairs(cons) == [(R["left hand"], R["back"])]
  assert _pairs(cons, row=1) == [(R["right hand"], R["head"])]
  # Both sides written (as a plural "hands" becomes): the rule holds whatever the side-free hand
  # takes, so it stays a free alternative of its row.
  cons = Constraints.from_pairs([[("left hand", "back"), ("right hand", "back"), ("hand", "head")]],
                                2)
  assert _assignments(cons) == 1
  assert len(_pairs(cons, row=2)) == 2
  # Written sides alone are honoured as written: two left hands, nothing to enumerate.
  cons = Constraints.from_pairs([[("left hand", "back"), ("left hand", "head")]], 2)
  assert _assignments(cons) == 1
  assert _pairs(cons, row=1) == [(R["left hand"], R["head"])]


def test_an_alternative_takes_a_side_only_when_chosen():
  # "hand" three times in Person 1's column, once beside "arm": either the third row takes a hand
  # (three hands, both sides: 6 assignments) or the arm (two hands, one each: 2 assignments).
  rows = [("hand", "neck"), ("hand", "neck"), (("hand", "arm"), "neck")]
  assert assignment_count(rows) == 8
  cons = Constraints.from_pairs([rows], 2)
  assert _assignments(cons) == 8
  hands = {R["left hand"], R["right hand"]}
  arms = {R["left arm"], R["right arm"]}
  served_by_arm = 0
  for a in range(8):
    chosen = [_pairs(cons, assignment=a, row=r) for r in range(3)]
    first, second = chosen[0][0][0], chosen[1][0][0]
    third = {pair[0] for pair in chosen[2]}
    if third == arms:  # the arm, either side: the two plain rows take one hand each
      served_by_arm += 1
      assert {first, second} == hands
    else:  # one hand: the three rows use both hands
      assert len(third) == 1 and third <= hands and {first, second} | third == hands
  assert served_by_arm == 2
  # Two cells "hand / arm": each takes a hand or an arm, with a side; a part taken twice uses
  # both sides: 16 - 2 - 2.
  assert assignment_count([(("hand", "arm"), "back"), (("hand", "arm"), "head")]) == 12
  # A cell whose alternatives are all central or sided adds one choice ("hand / back" twice: a
  # hand on each side, or the back in either row, or both backs).
  assert assignment_count([(("hand", "back"), "head"), (("hand", "back"), "neck")]) == 7
  # A written side is one choice: (hand L, R), (hand R, L), (left hand, R).
  assert assignment_count([(("hand", "left hand"), "head"), ("hand", "neck")]) == 3


@pytest.mark.parametrize("seed", range(4))
def test_assignment_count_is_the_number_of_entries_built(seed):
  rng = np.random.default_rng(seed)
  pool = ["hand", "hand", "arm", "arm", "foot", "back", "left hand", "shoulder"]
  for _ in range(10):
    rows = []
    for _ in range(int(rng.integers(1, 6))):
      rows.append(tuple(
          str(rng.choice(pool)) if rng.random() < 0.5
          else tuple(dict.fromkeys(str(x) for x in rng.choice(pool, size=int(rng.integers(2, 4)))))
          for _ in range(2)))
    count = assignment_count(rows)
    if count > 2 ** 10:
      with pytest.raises(ConstraintError, match=f"{count} valid"):
        Constraints.from_pairs([rows], 2)
      continue
    assert _assignments(Constraints.from_pairs([rows], 2)) == count


def test_one_person_rules():
  samples = [[("hand", "hand"), ("head", "head"), ("foot", "ground"), ("Left  Hand", "leg")]] * 2 \
      + [[("arm", "back")], []]
  cons = Constraints.from_pairs(samples, 1)
  assert cons.variant_pairs.shape[0] == 1
  assert int(cons.min_frequency) == 2  # half of four samples
  np.testing.assert_array_equal(cons.ground_rows, [1, 1, 0, 0])
  # hand | hand: left against right only; head | head: nothing left, the row drops out.
  assert _pairs(cons) == [(R["left hand"], R["right hand"])]
  np.testing.assert_array_equal(cons.row_valid[0, :3], [True, False, True])
  assert sorted(_pairs(cons, row=2)) == [(R["left hand"], R["left leg"]),
                                         (R["left hand"], R["right leg"])]
  # "arm | back" occurs once, below the threshold of two; counting is per sample.
  assert not cons.row_valid[2, 0] and cons.row_count[2, 0] == 1 and cons.row_count[0, 0] == 2
  assert cons.to_pairs()[0] == [("hand", "hand"), ("head", "head"), ("left hand", "leg")]
  # Sides are ignored when counting: "left hand | foot" and "foot | hand" are one pair.
  cons = Constraints.from_pairs([[("left hand", "foot")], [("foot", "hand")], []], 1,
                                min_frequency=2)
  np.testing.assert_array_equal(cons.row_count[:2, 0], [2, 2])
  assert cons.row_valid[:2, 0].all()
  assert int(Constraints.from_pairs([[]] * 20, 1).min_frequency) == 10


@pytest.mark.parametrize("samples, people, match", [
    ([[("hand", "elbow")]], 2, r"sample 0, row 0: unknown body part 'elbow'"),
    ([[], [("hand", ("arm", "tail"))]], 2, r"sample 1, row 0: unknown body part 'tail'"),
    ([[("hand", "ground")]], 2, "two-person"),
    ([[("hand",)]], 2, "two cells"),
    ([[("hand", ())]], 2, "empty cell"),
    ([[("hand", 3)]], 2, "a cell must be"),
    (["hand | back"], 2, "list of"),
    ("hand", 2, "list of answers"),
    ([[("hand", "back")]], 3, "people must be 1 or 2"),
])
def test_malformed_answers_raise_constraint_errors(samples, people, match):
  with pytest.raises(ConstraintError, match=match):
    Constraints.from_pairs(samples, people)


def test_assignment_cap_is_an_error_not_a_truncation():
  sample = [("hand", "back")] * 6 + [("foot", "head")] * 5
  assert assignment_count(sample) == (2 ** 6 - 2) * (2 ** 5 - 2)
  with pytest.raises(ConstraintError,
                     match=r"sample 0: 1860 valid .* 2\^max_side_variables = 1024"):
    Constraints.from_pairs([sample], 2)
  cons = Constraints.from_pairs([sample], 2, max_side_variables=11)
  assert _assignments(cons) == 1860
  # Twelve constrained variables in six pairs: 2^12 raw assignments, 64 valid, enumerated directly.
  pairs = [("hand", "hand"), ("arm", "leg"), ("foot", "shoulder (front)")] * 2
  assert assignment_count(pairs) == 64
  assert _assignments(Constraints.from_pairs([pairs], 2)) == 64
  assert assignment_count([("left hand", "back"), ("hand", ("hand", "arm"))]) == 1
  with pytest.raises(ConstraintError, match="min_frequency"):
    Constraints.from_pairs([[]], 1, min_frequency=-1)


def test_json_round_trip():
  samples = [[("hand", ("back", "waist (front)")), ("left foot", "leg")], [],
             [("shoulder (back)", "chest")]]
  for people, extra in ((2, []), (1, [("foot", "ground")])):
    source = [s + extra for s in samples]
    cons = Constraints.from_pairs(source, people, **({"min_frequency": 1} if people == 1 else {}))
    text = cons.to_json()
    assert json.loads(text)["samples"][0][0] == ["hand", ["back", "waist (front)"]]
    assert_same(Constraints.from_json(text), cons)
    padded = cons.pad(rows=16, samples=5)
    again = Constraints.from_json(padded.to_json())
    assert_same(again, padded)
  with pytest.raises(FileFormatError, match="not valid JSON"):
    Constraints.from_json("{")
  with pytest.raises(FileFormatError, match="format"):
    Constraints.from_json(json.dumps({"samples": []}))
  with pytest.raises(FileFormatError, match="unknown body part"):
    Constraints.from_json(json.dumps({"format": "posejax.constraints", "version": 1, "people": 2,
                                      "min_frequency": 0, "samples": [[["hand", "wing"]]],
                                      "ground_rows": [0]}))


def test_pad_and_stack():
  a = Constraints.from_pairs([[("hand", "back")]], 2)
  b = Constraints.from_pairs([[("hand", "back"), ("hand", ("arm", "head"))]] * 3, 2)
  stacked = Constraints.stack([a, b])
  assert stacked.batch_shape == (2,)
  sizes = stacked.sizes()
  assert sizes == {k: max(a.sizes()[k], b.sizes()[k]) for k in sizes}
  np.testing.assert_array_equal(stacked.sample_valid[0], [True, False, False])
  np.testing.assert_array_equal(stacked.assignments_per_sample(), [[1, 0, 0], [2, 2, 2]])
  np.testing.assert_array_equal(stacked.min_frequency, [0, 0])
  with pytest.raises(ConstraintError, match="people"):
    Constraints.stack([a, Constraints.from_pairs([[]], 1)])
  with pytest.raises(ConstraintError, match="unbatched"):
    Constraints.stack([stacked])
  with pytest.raises(ConstraintError, match="unknown padding"):
    a.pad(row=3)
  assert a.pad(rows=2) is a


def test_fallback_rule():
  all_empty = Constraints.from_pairs([[], [], []], 2)
  two_empty = Constraints.from_pairs([[("hand", "back")], [], []], 2)
  one_empty = Constraints.from_pairs([[("hand", "back")], [("hand", "back")], []], 2)
  assert bool(needs_fallback(all_empty))
  assert not bool(needs_fallback(two_empty))
  assert bool(needs_fallback(two_empty, min_empty=2))
  assert not bool(needs_fallback(one_empty, min_empty=2))
  ground_only = Constraints.from_pairs([[("foot", "ground")], []], 1)
  assert bool(needs_fallback(ground_only))
  stacked = Constraints.stack([all_empty, two_empty, one_empty])
  np.testing.assert_array_equal(needs_fallback(stacked), [True, False, False])
  np.testing.assert_array_equal(needs_fallback(stacked, min_empty=2), [True, True, False])


def test_remembered_cells_rows_and_samples_change_nothing():
  # from_pairs remembers cells, rows and whole samples by content; a repeat, the same answers
  # written with lists, and a sample between remembered ones build exactly what a first build does.
  rows = [("hand", "back"), ("hand", ("arm", "head")), ("foot", "foot"), ("arm", "arm")]
  samples = [rows, [], rows[:2], [("Left Hand", "back")]]
  first = Constraints.from_pairs(samples, 2)
  assert_same(Constraints.from_pairs(samples, 2), first)
  as_lists = [[[a if isinstance(a, str) else list(a), b if isinstance(b, str) else list(b)]
               for a, b in sample] for sample in samples]
  assert_same(Constraints.from_pairs(as_lists, 2), first)
  mixed = Constraints.from_pairs([[("chest", "chest")]] + samples, 2)
  assert mixed.to_pairs()[1:] == first.to_pairs()
  np.testing.assert_array_equal(mixed.assignments_per_sample()[1:5],
                                first.assignments_per_sample())
  for one_person in (Constraints.from_pairs(samples, 1), Constraints.from_pairs(as_lists, 1)):
    assert_same(one_person, Constraints.from_pairs(samples, 1))
  # Errors still name the sample and row where they occur, wherever the content was seen before.
  too_many = [("hand", "back")] * 11  # 2^11 - 2 assignments
  for position in (0, 2):
    bad = list(samples)
    bad[position] = too_many
    with pytest.raises(ConstraintError, match=f"sample {position}: 2046 valid"):
      Constraints.from_pairs(bad, 2)
    bad[position] = [rows[0], ("hand", "elbow")]
    with pytest.raises(ConstraintError, match=f"sample {position}, row 1: unknown body part"):
      Constraints.from_pairs(bad, 2)


def test_one_person_samples_whose_rows_all_fail_the_frequency_filter_fall_back():
  # Every answer names a different pair: no pair reaches 3 of 5 samples, nothing constrains.
  parts = ["hand", "foot", "head", "back", "leg"]
  scattered = [[(parts[i], parts[(i + 1) % 5])] for i in range(5)]
  cons = Constraints.from_pairs(scattered, people=1, min_frequency=3)
  assert not cons.row_valid.any()
  np.testing.assert_array_equal(cons.sample_nonempty[:5], [False] * 5)
  assert bool(needs_fallback(cons))
  # One pair repeated enough: the samples naming it constrain, the image is fitted.
  agreed = [[("hand", "foot")]] * 3 + scattered[:2]
  cons = Constraints.from_pairs(agreed, people=1, min_frequency=3)
  np.testing.assert_array_equal(cons.sample_nonempty[:5], [True, True, True, True, False])
  assert not bool(needs_fallback(cons))
