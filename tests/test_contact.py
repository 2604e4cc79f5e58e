"""The contact loss against a brute-force evaluation of the published formula; its properties."""

from __future__ import annotations

import itertools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posejax.body import vocabulary
from posejax import lmm
from posejax.constraints import Constraints
from posejax.errors import InvalidInputError
from posejax.losses import contact

REGIONS = len(vocabulary.RESOLVED_REGIONS)
K = 5

# A small pool so that parts repeat within a sample (the case the validity rule is about).
POOL = ("hand", "hand", "arm", "foot", "shoulder (front)", "left hand", "right arm", "back",
        "head", "waist", "left shoulder (back)")
ONE_PERSON_POOL = ("hand", "hand", "arm", "leg", "foot", "head", "back", "stomach", "butt",
                   "left hand", "right foot")


# --------------------------------------------------------------------------------------------------
# Independent brute force: loops over samples, roles, every 2^S assignment, rows, alternatives.


def _cells(row):
  return [(c,) if isinstance(c, str) else tuple(dict.fromkeys(c)) for c in row]


def _resolve(name, side):
  if name in vocabulary.LATERAL_PARTS:
    return vocabulary.REGION_INDEX[f"{side} {name}"]
  return vocabulary.REGION_INDEX[name]


def _region_distance(points_x, points_y, valid, rx, ry):
  """Plain numpy: every vertex pair's Euclidean distance, then the smallest."""
  x = points_x[rx][valid[rx]]
  y = points_y[ry][valid[ry]]
  return float(np.sqrt(np.sum((x[:, None, :] - y[None, :, :]) ** 2, axis=-1)).min())


def brute_two_person(samples, pa, pb, valid, count_empty=True):
  """The published formula as METHOD.md states it, by exhaustive enumeration: every cell chooses
  one of its alternatives, every chosen side-free lateral part a side; a choice is valid when each
  lateral part chosen two or more times in one column, at least once side-free, uses both sides
  (a written side counts as written). Alternatives that are not chosen take no side and do not
  count. Sample cost: min over roles and valid choices of the sum over rows of the chosen
  regions' distance."""
  cache = {}

  def d(on_a, ra, rb):  # region ra on body A (role 0) or B, region rb on the other body
    key = (on_a, ra, rb)
    if key not in cache:
      cache[key] = (_region_distance(pa, pb, valid, ra, rb) if on_a
                    else _region_distance(pb, pa, valid, ra, rb))
    return cache[key]

  total, nonempty = 0.0, 0
  for sample in samples:
    rows = [_cells(row) for row in sample]
    if not rows:
      continue
    nonempty += 1
    cells = [(r, col) for r in range(len(rows)) for col in (0, 1)]
    best = math.inf
    for chosen in itertools.product(*(rows[r][col] for r, col in cells)):
      lateral = [i for i, name in enumerate(chosen) if name in vocabulary.LATERAL_PARTS]
      for sides in itertools.product(vocabulary.SIDES, repeat=len(lateral)):
        side = dict(zip(lateral, sides))
        used = {}  # (column, part) -> [(side, written)]
        for i, name in enumerate(chosen):
          written, part = vocabulary.split_side(name)
          if part in vocabulary.LATERAL_PARTS:
            used.setdefault((cells[i][1], part), []).append((written or side[i], bool(written)))
        if any(len(v) >= 2 and not all(w for _, w in v) and {s for s, _ in v} != {"left", "right"}
               for v in used.values()):
          continue
        regions = [_resolve(name, side.get(i)) for i, name in enumerate(chosen)]
        for on_a in (True, False):
          best = min(best, sum(d(on_a, regions[2 * r], regions[2 * r + 1])
                               for r in range(len(rows))))
    total += best
  n = len(samples) if count_empty else max(nonempty, 1)
  return total / n


def _softmin(values, temperature):
  values = np.asarray(values, np.float64)
  low = values.min()
  return float(low - temperature * np.log(np.sum(np.exp(-(values - low) / temperature))))


def brute_two_person_soft(samples, pa, pb, valid, temperature):
  """The soft-min loss as documented. A lateral part that its column names two or more times,
  at least once side-free (alternatives included), is constrained; an assignment fixes, for every
  cell, which of its constrained names it takes and on which side (a written side as written), or
  that it takes one of its other names. Soft minima over each row's remaining options (the other
  names, with free sides), then over person roles, then over the valid assignments; every sample
  counts."""
  total = 0.0
  for sample in samples:
    rows = [_cells(row) for row in sample]
    if not rows:
      continue
    named, free = {}, {}
    for row in rows:
      for col in (0, 1):
        for name in row[col]:
          written, part = vocabulary.split_side(name)
          named[(col, part)] = named.get((col, part), 0) + 1
          free[(col, part)] = free.get((col, part), 0) + (written is None)

    def constrained(col, name):
      part = vocabulary.split_side(name)[1]
      return part in vocabulary.LATERAL_PARTS and named[(col, part)] >= 2 and free[(col, part)]

    cells = [(r, col) for r in range(len(rows)) for col in (0, 1)]
    choices = []
    for r, col in cells:
      cell = rows[r][col]
      own = [(name, s) for name in cell if constrained(col, name)
             for s in ((None,) if vocabulary.split_side(name)[0] else vocabulary.SIDES)]
      others = [(name, s) for name in cell if not constrained(col, name)
                for s in (vocabulary.SIDES if name in vocabulary.LATERAL_PARTS else (None,))]
      choices.append([[option] for option in own] + ([others] if others else []))
    per_assignment = []
    for choice in itertools.product(*choices):
      used = {}
      for (r, col), options in zip(cells, choice):
        name, s = options[0]
        if constrained(col, name):
          written, part = vocabulary.split_side(name)
          used.setdefault((col, part), []).append((written or s, bool(written)))
      if any(len(v) >= 2 and not all(w for _, w in v) and {s for s, _ in v} != {"left", "right"}
             for v in used.values()):
        continue
      per_role = []
      for x, y in ((pa, pb), (pb, pa)):
        cost = 0.0
        for r in range(len(rows)):
          first, second = choice[2 * r], choice[2 * r + 1]
          cost += _softmin([_region_distance(x, y, valid, _resolve(a, sa), _resolve(b, sb))
                            for (a, sa), (b, sb) in itertools.product(first, second)],
                           temperature)
        per_role.append(cost)
      per_assignment.append(_softmin(per_role, temperature))
    total += _softmin(per_assignment, temperature)
  return total / len(samples)


def _side_free_key(row):
  return tuple(sorted(tuple(sorted({vocabulary.split_side(n)[1] for n in cell}))
                      for cell in _cells(row)))


def brute_one_person(samples, points, valid, min_frequency, temperature=None):
  """Hard minimum over each kept row's combinations, or with a temperature the soft minimum over
  its distinct unordered region pairs (a region never against itself)."""
  counts = {}
  for sample in samples:
    for key in {_side_free_key(row) for row in sample}:
      counts[key] = counts.get(key, 0) + 1
  total = 0.0
  for sample in samples:
    for row in sample:
      if counts[_side_free_key(row)] < min_frequency:
        continue
      options = {}
      for a, b in itertools.product(*_cells(row)):
        for sa, sb in itertools.product(vocabulary.SIDES, repeat=2):
          ra, rb = _resolve(a, sa), _resolve(b, sb)
          if ra != rb:
            options[min(ra, rb), max(ra, rb)] = _region_distance(points, points, valid, ra, rb)
      if options:
        values = list(options.values())
        total += min(values) if temperature is None else _softmin(values, temperature)
  return total / len(samples)


# --------------------------------------------------------------------------------------------------
# Random problems


def random_samples(rng, pool, n_samples, max_rows=3, max_alternatives=2, single=0.7):
  samples = []
  for _ in range(n_samples):
    rows = []
    for _ in range(rng.integers(0, max_rows + 1)):
      row = []
      for _ in range(2):
        count = 1 if rng.random() < single else int(rng.integers(2, max_alternatives + 1))
        names = tuple(str(x) for x in rng.choice(pool, size=count))
        row.append(names[0] if count == 1 else names)
      rows.append(tuple(row))
    samples.append(rows)
  return samples


def side_free_count(sample):
  return sum(name in vocabulary.LATERAL_PARTS for row in sample for cell in _cells(row)
             for name in cell)


def random_points(rng, dtype=np.float64):
  points = rng.normal(scale=0.3, size=(2, REGIONS, K, 3)).astype(dtype)
  valid = rng.random((REGIONS, K)) < 0.7
  valid[:, 0] = True
  return points[0], points[1], valid


_jitted_loss = jax.jit(contact.contact_loss, static_argnames=("temperature", "count_empty"))

# Padding every set to common sizes (which must not change the loss) keeps compilations few.
COMMON_SIZES = {"samples": 8, "entries": 64, "rows": 8, "variants": 64, "combinations": 16,
                "pairs": 128, "alternatives": 2}


def loss(pa, pb, valid, cons, **kwargs):
  return float(_jitted_loss(jnp.asarray(pa), None if pb is None else jnp.asarray(pb),
                            jnp.asarray(valid), cons.pad(**COMMON_SIZES), **kwargs))


@pytest.mark.parametrize("seed", range(12))
def test_two_person_loss_equals_brute_force(x64, seed):
  rng = np.random.default_rng(seed)
  samples = random_samples(rng, POOL, n_samples=int(rng.integers(1, 6)))
  samples = [s if side_free_count(s) <= 8 else [] for s in samples]
  pa, pb, valid = random_points(rng)
  cons = Constraints.from_pairs(samples, 2)
  for count_empty in (True, False):
    expected = brute_two_person(samples, pa, pb, valid, count_empty)
    assert loss(pa, pb, valid, cons, count_empty=count_empty) == pytest.approx(expected, abs=1e-9)
  if seed < 4:  # the soft-min loss, near the hard minimum and far from it
    for temperature in (0.02, 0.3):
      expected = brute_two_person_soft(samples, pa, pb, valid, temperature)
      assert loss(pa, pb, valid, cons, temperature=temperature) == pytest.approx(expected,
                                                                                 abs=1e-9)


# Lateral parts repeated in one column with alternatives beside them: where an alternative that is
# not chosen must not use up a side.
ALTERNATIVES_POOL = ("hand", "hand", "arm", "arm", "foot", "head", "back", "left hand")


@pytest.mark.parametrize("seed", range(6))
def test_two_person_loss_with_alternatives_equals_brute_force(x64, seed):
  rng = np.random.default_rng(50 + seed)
  samples = random_samples(rng, ALTERNATIVES_POOL, n_samples=3, max_rows=4, single=0.4)
  samples = [s if side_free_count(s) <= 8 else [] for s in samples]
  pa, pb, valid = random_points(rng)
  cons = Constraints.from_pairs(samples, 2)
  assert loss(pa, pb, valid, cons) == pytest.approx(brute_two_person(samples, pa, pb, valid),
                                                    abs=1e-9)
  for temperature in (0.02, 0.3):
    expected = brute_two_person_soft(samples, pa, pb, valid, temperature)
    assert loss(pa, pb, valid, cons, temperature=temperature) == pytest.approx(expected, abs=1e-9)


def _neck_scene():
  """Body B's neck at the origin; body A's left hand 0.1 m from it, its left arm 0.2 m, its right
  hand 1 m; every other region of either body metres away."""
  pa = np.full((REGIONS, 1, 3), 50.0)
  pb = np.full((REGIONS, 1, 3), -50.0)
  pa[:, 0, 1] = 10.0 * np.arange(REGIONS)
  pb[:, 0, 1] = -10.0 * np.arange(REGIONS)
  pb[vocabulary.REGION_INDEX["neck"], 0] = [0.0, 0.0, 0.0]
  pa[vocabulary.REGION_INDEX["left hand"], 0] = [0.1, 0.0, 0.0]
  pa[vocabulary.REGION_INDEX["left arm"], 0] = [0.2, 0.0, 0.0]
  pa[vocabulary.REGION_INDEX["right hand"], 0] = [1.0, 0.0, 0.0]
  return pa, pb, np.ones((REGIONS, 1), bool)


def test_an_alternative_that_is_not_chosen_takes_no_side(x64):
  """Issue 16: "hand | neck" twice and "hand / arm | neck". Served by the arm, the third row
  leaves "hand" named twice, so both hands: 0.1 + 1 + 0.2; served by a hand, three hands use both
  sides: 0.1 + 0.1 + 1. Posejax gave the unchosen "hand" of the third row a side of its own (the
  right), so that both plain rows took the left hand: 0.1 + 0.1 + 0.2 = 0.4, below the formula."""
  pa, pb, valid = _neck_scene()
  samples = [[("hand", "neck"), ("hand", "neck"), (("hand", "arm"), "neck")]]
  cons = Constraints.from_pairs(samples, 2)
  assert brute_two_person(samples, pa, pb, valid) == pytest.approx(1.2, abs=1e-12)
  assert loss(pa, pb, valid, cons) == pytest.approx(1.2, abs=1e-12)
  # The same rows with the arm alone: 0.1 + 1 + 0.2 (the hands still both used).
  alone = Constraints.from_pairs([[("hand", "neck"), ("hand", "neck"), ("arm", "neck")]], 2)
  assert loss(pa, pb, valid, alone) == pytest.approx(1.3, abs=1e-12)
  # A third row with a central alternative instead of the arm: "hand / head", head far away.
  central = [[("hand", "neck"), ("hand", "neck"), (("hand", "head"), "neck")]]
  assert loss(pa, pb, valid, Constraints.from_pairs(central, 2)) == pytest.approx(
      brute_two_person(central, pa, pb, valid), abs=1e-12)


HEADER = "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n"


def test_written_sides_restrict_the_assignment_when_trusted(x64):
  """Person 1's left hand on Person 2's right shoulder, as the answer writes it. Person 1's right
  hand is nearer Person 2's left shoulder (0.1 m) than the written pair (0.3 m): the published
  reading drops the sides and takes the nearer pair; trusting them keeps the written one."""
  pa = np.full((REGIONS, 1, 3), 50.0)
  pb = np.full((REGIONS, 1, 3), -50.0)
  pa[:, 0, 1] = 10.0 * np.arange(REGIONS)
  pb[:, 0, 1] = -10.0 * np.arange(REGIONS)
  valid = np.ones((REGIONS, 1), bool)
  pb[vocabulary.REGION_INDEX["right shoulder"], 0] = [0.0, 0.0, 0.0]
  pb[vocabulary.REGION_INDEX["left shoulder"], 0] = [5.0, 0.0, 0.0]
  pa[vocabulary.REGION_INDEX["left hand"], 0] = [0.3, 0.0, 0.0]
  pa[vocabulary.REGION_INDEX["right hand"], 0] = [5.1, 0.0, 0.0]
  answers = [HEADER + "| left hand | right shoulder |\n"] * 3
  published = lmm.parse(answers, 2)
  trusted = lmm.parse(answers, 2, trust_sides=True)
  assert published.to_pairs() == [[("hand", "shoulder")]] * 3
  assert trusted.to_pairs() == [[("left hand", "right shoulder")]] * 3
  assert loss(pa, pb, valid, published) == pytest.approx(0.1, abs=1e-12)
  assert loss(pa, pb, valid, trusted) == pytest.approx(0.3, abs=1e-12)
  assert _assignments_of(trusted) == [1, 1, 1]


def _assignments_of(cons):
  return [int(a) for a in cons.assignments_per_sample()[np.asarray(cons.sample_valid)]]


def test_a_written_side_counts_in_the_rule_for_the_same_part_unwritten(x64):
  """Trusted "left hand | neck" and side-free "hand | neck": the part is named twice, so the
  side-free hand is the right one, as when no side is written (0.1 + 1 m); before, it could take
  the left hand again (0.2 m), so that writing a side loosened the constraint."""
  pa, pb, valid = _neck_scene()
  answers = [HEADER + "| left hand | neck |\n| hand | neck |\n"]
  trusted = lmm.parse(answers, 2, trust_sides=True)
  assert trusted.to_pairs() == [[("left hand", "neck"), ("hand", "neck")]]
  assert loss(pa, pb, valid, trusted) == pytest.approx(1.1, abs=1e-12)
  assert loss(pa, pb, valid, lmm.parse(answers, 2)) == pytest.approx(1.1, abs=1e-12)
  assert brute_two_person(trusted.to_pairs(), pa, pb, valid) == pytest.approx(1.1, abs=1e-12)
  # Written sides are honoured as written: two left hands stay two left hands.
  both_left = [[("left hand", "neck"), ("left hand", "neck")]]
  assert loss(pa, pb, valid, Constraints.from_pairs(both_left, 2)) == pytest.approx(0.2, abs=1e-12)
  # ... and with a side-free third hand, that one is the right hand.
  three = [[("left hand", "neck"), ("left hand", "neck"), ("hand", "neck")]]
  assert loss(pa, pb, valid, Constraints.from_pairs(three, 2)) == pytest.approx(
      brute_two_person(three, pa, pb, valid), abs=1e-12)
  assert brute_two_person(three, pa, pb, valid) == pytest.approx(1.2, abs=1e-12)


def test_every_row_of_an_answer_counts_in_the_loss(x64):
  """Issue 16, kept fixed: a repeated row is not dropped. "hand | neck" twice is both hands
  (0.1 + 1 m, not 0.1); "head | neck" twice weighs twice (2 x 0.5 m)."""
  pa, pb, valid = _neck_scene()
  pa[vocabulary.REGION_INDEX["head"], 0] = [0.0, 0.5, 0.0]
  hands = lmm.parse([HEADER + "| hand | neck |\n| hand | neck |\n"], 2)
  assert hands.to_pairs() == [[("hand", "neck")] * 2]
  assert loss(pa, pb, valid, hands) == pytest.approx(1.1, abs=1e-12)
  heads = lmm.parse([HEADER + "| head | neck |\n| head | neck |\n", ""], 2)
  assert loss(pa, pb, valid, heads) == pytest.approx(2 * 0.5 / 2, abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_one_person_loss_equals_brute_force(x64, seed):
  rng = np.random.default_rng(100 + seed)
  base = random_samples(rng, ONE_PERSON_POOL, n_samples=3)
  # Repeat some answers so that rows pass the frequency filter.
  samples = [base[int(rng.integers(0, 3))] for _ in range(6)] + [[]]
  points, _, valid = random_points(rng)
  for min_frequency in (1, 3):
    cons = Constraints.from_pairs(samples, 1, min_frequency=min_frequency)
    for temperature in (None, 0.02, 0.3):  # exact, and the soft-min loss
      expected = brute_one_person(samples, points, valid, min_frequency, temperature)
      assert loss(points, None, valid, cons, temperature=temperature) == pytest.approx(expected,
                                                                                       abs=1e-9)


def test_hand_hand_means_left_against_right_for_one_person(x64):
  rng = np.random.default_rng(3)
  points, _, valid = random_points(rng)
  cons = Constraints.from_pairs([[("hand", "hand")]], 1, min_frequency=1)
  left, right = vocabulary.REGION_INDEX["left hand"], vocabulary.REGION_INDEX["right hand"]
  expected = _region_distance(points, points, valid, left, right)
  assert expected > 0
  assert loss(points, None, valid, cons) == pytest.approx(expected, abs=1e-12)


def test_repeated_part_in_one_column_uses_both_sides(x64):
  """Person 1 touches with "hand" twice: one row per hand, never the same hand twice."""
  pa = np.zeros((REGIONS, 1, 3))
  pb = np.zeros((REGIONS, 1, 3))
  valid = np.ones((REGIONS, 1), bool)
  pa[vocabulary.REGION_INDEX["left hand"], 0] = [0.0, 0.0, 0.0]
  pa[vocabulary.REGION_INDEX["right hand"], 0] = [5.0, 0.0, 0.0]
  pb[:, 0] = [10.0, 0.0, 0.0]  # every region of body B far away ...
  pb[vocabulary.REGION_INDEX["head"], 0] = [0.0, 1.0, 0.0]  # ... but head and back near the
  pb[vocabulary.REGION_INDEX["back"], 0] = [0.0, 2.0, 0.0]  # left hand
  # With free sides both rows would take the left hand: 1 + 2 = 3.
  cons = Constraints.from_pairs([[("hand", "head"), ("hand", "back")]], 2)
  expected = min(1 + np.hypot(5, 2), np.hypot(5, 1) + 2)
  # Role swap: body B's hands are at x=10, farther than the left hand of A to head/back of B.
  assert loss(pa, pb, valid, cons) == pytest.approx(expected, abs=1e-9)


# --------------------------------------------------------------------------------------------------
# Properties


def _mirror_points(points, valid):
  index = np.asarray(vocabulary.MIRROR_INDEX)
  return points[index] * np.array([-1.0, 1.0, 1.0]), valid[index]


def _mirror_samples(samples):
  return [[tuple(vocabulary.mirror(c) if isinstance(c, str) else tuple(map(vocabulary.mirror, c))
                 for c in row) for row in sample] for sample in samples]


@pytest.mark.parametrize("people", [1, 2])
def test_mirror_symmetry(x64, people):
  rng = np.random.default_rng(7 + people)
  pool = POOL if people == 2 else ONE_PERSON_POOL
  samples = random_samples(rng, pool, n_samples=4)
  samples = [s if side_free_count(s) <= 8 else [] for s in samples]
  pa, pb, valid = random_points(rng)
  ma, valid_m = _mirror_points(pa, valid)
  mb, _ = _mirror_points(pb, valid)
  kwargs = {"min_frequency": 1} if people == 1 else {}
  cons = Constraints.from_pairs(samples, people, **kwargs)
  mirrored = Constraints.from_pairs(_mirror_samples(samples), people, **kwargs)
  if people == 1:
    pb = mb = None
  original = loss(pa, pb, valid, cons)
  assert original > 0
  assert loss(ma, mb, valid_m, mirrored) == pytest.approx(original, abs=1e-9)
  # Side-free answers are their own mirror image.
  side_free = [[tuple(c if isinstance(c, str) else c[0] for c in row) for row in s]
               for s in random_samples(rng, ("hand", "arm", "foot", "head", "back"), 4)]
  free = Constraints.from_pairs(side_free, people, **kwargs)
  assert loss(ma, mb, valid_m, free) == pytest.approx(loss(pa, pb, valid, free), abs=1e-9)


def test_swapping_bodies_leaves_two_person_loss_unchanged(x64):
  rng = np.random.default_rng(11)
  samples = random_samples(rng, POOL, n_samples=5)
  samples = [s if side_free_count(s) <= 8 else [] for s in samples]
  pa, pb, valid = random_points(rng)
  cons = Constraints.from_pairs(samples, 2)
  assert loss(pb, pa, valid, cons) == pytest.approx(loss(pa, pb, valid, cons), abs=1e-12)


def _sphere(centre, radius, count=200):
  """Fibonacci points on a sphere plus its two poles on the x axis."""
  i = np.arange(count) + 0.5
  polar = np.arccos(1 - 2 * i / count)
  azimuth = np.pi * (1 + 5 ** 0.5) * i
  points = np.stack([np.cos(polar), np.sin(polar) * np.cos(azimuth),
                     np.sin(polar) * np.sin(azimuth)], -1)
  points = np.concatenate([points, [[1.0, 0, 0], [-1.0, 0, 0]]])
  return centre + radius * points


def test_two_spheres_at_a_known_gap(x64):
  radius, gap = 0.1, 0.037
  a = np.broadcast_to(_sphere(np.zeros(3), radius), (REGIONS, 202, 3))
  b = np.broadcast_to(_sphere(np.array([2 * radius + gap, 0, 0]), radius), (REGIONS, 202, 3))
  valid = np.ones((REGIONS, 202), bool)
  cons = Constraints.from_pairs([[("hand", "back")], [("head", ("arm", "leg")), ("foot", "butt")],
                                 []], 2)
  assert loss(a, b, valid, cons) == pytest.approx(3 * gap / 3, abs=1e-12)
  assert loss(a, b, valid, cons, count_empty=False) == pytest.approx(3 * gap / 2, abs=1e-12)


def test_soft_min_is_below_and_close_to_the_exact_min(x64):
  rng = np.random.default_rng(5)
  samples = [[("hand", ("arm", "back")), ("hand", "head")], [("foot", "leg")]]
  pa, pb, valid = random_points(rng)
  cons = Constraints.from_pairs(samples, 2)
  exact = loss(pa, pb, valid, cons)
  for temperature in (1e-2, 1e-4):
    soft = loss(pa, pb, valid, cons, temperature=temperature)
    # Three nested soft minima, each at most t * log(count) below the exact one.
    assert exact - 3 * temperature * np.log(64) - 1e-12 <= soft <= exact + 1e-12
  assert soft == pytest.approx(exact, abs=1e-3)


@pytest.mark.parametrize("temperature", [None, 0.01])
def test_gradients_are_finite_at_contact_and_when_empty(temperature):
  rng = np.random.default_rng(0)
  pa, _, valid = random_points(rng, np.float32)
  pa[:, 1] = pa[:, 0]  # coincident vertices within a region
  cases = [
      (Constraints.from_pairs([[("hand", "hand"), ("back", "head")], []], 2), pa, pa),
      (Constraints.from_pairs([[], []], 2), pa, pa + 1),
      (Constraints.from_pairs([[("back", "shoulder")]] * 2, 1), pa, pa),
      (Constraints.from_pairs([[], []], 1), pa, pa),
  ]

  @jax.jit
  def value_and_grads(a, b, cons):
    return jax.value_and_grad(
        lambda a, b: contact.contact_loss(a, b, jnp.asarray(valid), cons, temperature=temperature),
        argnums=(0, 1))(a, b)

  for cons, a, b in cases:
    value, grads = value_and_grads(jnp.asarray(a), jnp.asarray(b), cons.pad(**COMMON_SIZES))
    assert np.isfinite(float(value))
    for g in grads:
      assert np.all(np.isfinite(np.asarray(g)))


def test_gradient_matches_finite_differences(x64):
  rng = np.random.default_rng(9)
  pa, pb, valid = random_points(rng)
  cons = Constraints.from_pairs([[("hand", "back"), (("arm", "head"), "hand")], []], 2)
  f = jax.jit(lambda a: contact.contact_loss(a, jnp.asarray(pb), jnp.asarray(valid), cons))
  grad = np.asarray(jax.jit(jax.grad(f))(jnp.asarray(pa)))
  direction = rng.normal(size=pa.shape)
  eps = 1e-6
  numeric = (float(f(jnp.asarray(pa + eps * direction)))
             - float(f(jnp.asarray(pa - eps * direction)))) / (2 * eps)
  assert np.sum(grad * direction) == pytest.approx(numeric, rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("slots", [1, 5, 32, 33])
def test_closest_pairs_finds_the_nearest_valid_slots_in_float32(slots):
  rng = np.random.default_rng(slots)
  samples = [[("hand", "back"), ("arm", "head")], [("foot", ("hand", "waist"))]]
  cons = Constraints.from_pairs(samples, 2)
  pa = rng.normal(scale=0.3, size=(REGIONS, slots, 3)).astype(np.float32)
  pb = rng.normal(scale=0.3, size=(REGIONS, slots, 3)).astype(np.float32)
  valid = rng.random((REGIONS, slots)) < 0.8
  valid[:, 0] = True
  pa[~valid] = np.nan  # padding slots hold anything, NaN included; they must never be chosen
  pb[~valid] = np.nan
  found = np.asarray(contact.closest_pairs(jnp.asarray(pa), jnp.asarray(pb), jnp.asarray(valid),
                                           cons))
  for p in np.flatnonzero(np.asarray(cons.pair_valid)):
    ra, rb = np.asarray(cons.pair_regions)[p]
    i, j = found[p]
    assert valid[ra, i] and valid[rb, j]
    x, y = pa[ra].astype(np.float64), pb[rb].astype(np.float64)
    squared = np.sum((x[:, None] - y[None]) ** 2, axis=-1)
    smallest = squared[valid[ra][:, None] & valid[rb][None, :]].min()
    # The slot index shares the float's low mantissa bits: at most 2^-17 relative above the
    # minimum (float32 rounding of the squared distance itself adds a few 2^-24).
    assert squared[i, j] <= smallest * (1 + 2.0 ** -16)


def test_cached_closest_pairs_are_exact_when_fresh_and_an_upper_bound_when_stale(x64):
  rng = np.random.default_rng(12)
  samples = random_samples(rng, POOL, n_samples=4)
  samples = [s if side_free_count(s) <= 8 else [] for s in samples]
  pa, pb, valid = random_points(rng)
  cons = Constraints.from_pairs(samples, 2).pad(**COMMON_SIZES)
  closest = contact.closest_pairs(jnp.asarray(pa), jnp.asarray(pb), jnp.asarray(valid), cons)
  assert loss(pa, pb, valid, cons, closest=closest) == pytest.approx(loss(pa, pb, valid, cons),
                                                                     abs=1e-12)
  moved_a = pa + rng.normal(scale=0.05, size=pa.shape)
  exact = loss(moved_a, pb, valid, cons)
  stale = loss(moved_a, pb, valid, cons, closest=closest)
  assert stale >= exact - 1e-12
  assert stale > exact  # the random move changed some closest pair


@pytest.mark.parametrize("people,temperature", [(2, None), (2, 0.05), (1, None)])
def test_surrogate_touches_the_loss_where_made_and_bounds_it_above_elsewhere(x64, people,
                                                                           temperature):
  rng = np.random.default_rng(20 + people)
  pool = POOL if people == 2 else ONE_PERSON_POOL
  samples = random_samples(rng, pool, n_samples=5)
  samples = [s if side_free_count(s) <= 8 else [] for s in samples]
  pa, pb, valid = random_points(rng)
  pb = pb if people == 2 else None
  options = {"min_frequency": 1} if people == 1 else {}
  cons = Constraints.from_pairs(samples, people, **options).pad(**COMMON_SIZES)
  kwargs = {"temperature": temperature, "count_empty": True}
  valid_j = jnp.asarray(valid)
  as_j = lambda x: None if x is None else jnp.asarray(x)

  @jax.jit
  def both(a, b, surrogate):
    exact = jax.value_and_grad(lambda a: contact.contact_loss(a, b, valid_j, cons, **kwargs))(a)
    linear = jax.value_and_grad(
        lambda a: contact.surrogate_contact_loss(a, b, valid_j, cons, surrogate))(a)
    return exact, linear

  surrogate = contact.contact_surrogate(as_j(pa), as_j(pb), valid_j, cons, **kwargs)
  (exact, exact_grad), (linear, linear_grad) = both(as_j(pa), as_j(pb), surrogate)
  assert float(exact) > 0
  assert float(linear) == pytest.approx(float(exact), abs=1e-12)
  np.testing.assert_allclose(linear_grad, exact_grad, atol=1e-12)
  above = []
  for scale in (0.01, 0.05, 0.2):
    moved = pa + rng.normal(scale=scale, size=pa.shape)
    (exact, _), (linear, _) = both(as_j(moved), as_j(pb), surrogate)
    assert float(linear) >= float(exact) - 1e-12
    above.append(float(linear) > float(exact) + 1e-9)
  assert above[-1]  # a large move changes some choice: the bound is not trivially tight


def test_vmap_over_a_stack_matches_each_image_and_compiles_once():
  rng = np.random.default_rng(4)
  answer_sets = [random_samples(rng, POOL, 3, max_rows=2) for _ in range(3)]
  answer_sets.append([[("hand", "back")]] * 5)
  sets = [Constraints.from_pairs(samples, 2) for samples in answer_sets]
  stacked = Constraints.stack(sets)
  points = rng.normal(scale=0.3, size=(len(sets), 2, REGIONS, K, 3)).astype(np.float32)
  valid = np.ones((REGIONS, K), bool)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def batched(points, cons):
    return jax.vmap(lambda p, c: contact.contact_loss(p[0], p[1], jnp.asarray(valid), c))(
        points, cons)

  result = np.asarray(batched(jnp.asarray(points), stacked))
  expected = [brute_two_person(samples, p[0].astype(np.float64), p[1].astype(np.float64), valid)
              for samples, p in zip(answer_sets, points)]
  np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
  # Another stack padded to the same sizes reuses the compiled function.
  again = Constraints.stack(sets[::-1], **stacked.sizes())
  np.testing.assert_allclose(np.asarray(batched(jnp.asarray(points[::-1]), again)),
                             expected[::-1], rtol=1e-5, atol=1e-6)


def test_region_without_valid_vertices_is_far_and_unused_regions_do_not_matter():
  rng = np.random.default_rng(1)
  pa, pb, valid = random_points(rng, np.float32)
  valid[vocabulary.REGION_INDEX["head"]] = False
  cons = Constraints.from_pairs([[("back", "chest")]], 2)
  assert np.isfinite(loss(pa, pb, valid, cons))
  far = Constraints.from_pairs([[("head", "chest")]], 2)
  assert loss(pa, pb, valid, far) >= contact.FAR


def test_bad_shapes_raise_clear_errors():
  cons = Constraints.from_pairs([[("hand", "back")]], 2)
  points = jnp.zeros((REGIONS, K, 3))
  with pytest.raises(InvalidInputError, match="points_a"):
    contact.contact_loss(jnp.zeros((10, K, 3)), points, None, cons)
  with pytest.raises(InvalidInputError, match="valid"):
    contact.contact_loss(points, points, jnp.ones((REGIONS, K + 1), bool), cons)
  with pytest.raises(InvalidInputError, match="vmap"):
    contact.contact_loss(points, points, None, Constraints.stack([cons, cons]))
