"""The 2D keypoint loss against brute force; missing keypoints, the ankle fallback, invariances."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posejax.errors import InvalidInputError
from posejax.losses import keypoints as kp

J = 25


def _random_person(seed: int):
  rng = np.random.default_rng(seed)
  xy = rng.uniform([100, 50], [400, 600], size=(J, 2))
  confidence = rng.uniform(0.0, 1.0, size=J)
  confidence[rng.choice(J, 4, replace=False)] = 0.0
  projected = xy + rng.normal(scale=15.0, size=(J, 2))
  return np.concatenate([xy, confidence[:, None]], axis=-1), projected


def _brute_force(projected, keypoints, min_confidence=0.0):
  """The published formula, one keypoint at a time, skipping what cannot be used."""
  usable = [j for j in range(len(keypoints))
            if np.all(np.isfinite(keypoints[j])) and keypoints[j, 2] > 0]
  box = [j for j in usable if keypoints[j, 2] > min_confidence]
  if not box:
    return 0.0
  xs = [keypoints[j, 0] for j in box]
  ys = [keypoints[j, 1] for j in box]
  scale = 512.0 / max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
  total = 0.0
  for j in usable:
    dx = scale * projected[j, 0] - scale * keypoints[j, 0]
    dy = scale * projected[j, 1] - scale * keypoints[j, 1]
    total += keypoints[j, 2] * (dx * dx + dy * dy)
  return total


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_confidence", [0.0, 0.4])
def test_matches_brute_force(x64, seed, min_confidence):
  keypoints, projected = _random_person(seed)
  loss = jax.jit(kp.keypoint_loss, static_argnames="min_confidence")(
      projected, keypoints, min_confidence=min_confidence)
  np.testing.assert_allclose(loss, _brute_force(projected, keypoints, min_confidence),
                             rtol=1e-10)


def test_unusable_keypoints_contribute_nothing_and_grads_stay_finite(x64):
  keypoints, projected = _random_person(5)
  broken = keypoints.copy()
  broken[3, 0] = np.nan  # NaN coordinate, confident
  broken[7, :] = [np.nan, np.nan, 0.9]
  broken[9, 2] = np.nan  # NaN confidence
  broken[12, 2] = 0.0
  broken[13, 2] = -0.5  # negative confidence counts as none
  broken[15, 1] = np.inf
  kept = [j for j in range(J) if j not in (3, 7, 9, 12, 13, 15)]
  loss, grad = jax.jit(jax.value_and_grad(kp.keypoint_loss))(projected, broken)
  expected = kp.keypoint_loss(projected[kept], keypoints[kept])
  np.testing.assert_allclose(loss, expected, rtol=1e-12)
  np.testing.assert_allclose(loss, _brute_force(projected, broken), rtol=1e-10)
  assert bool(jnp.all(jnp.isfinite(grad)))
  np.testing.assert_array_equal(np.asarray(grad)[[3, 7, 9, 12, 13, 15]], 0.0)


def test_all_missing_gives_zero_with_finite_gradient():
  projected = jnp.arange(2 * J, dtype=jnp.float32).reshape(J, 2)
  for confidence in (0.0, np.nan):
    keypoints = jnp.concatenate([jnp.full((J, 2), 3.0), jnp.full((J, 1), confidence)], axis=-1)
    loss, grad = jax.value_and_grad(kp.keypoint_loss)(projected, keypoints)
    assert float(loss) == 0.0 and bool(jnp.all(grad == 0.0))


def test_single_keypoint_does_not_blow_up():
  keypoints = jnp.zeros((J, 3)).at[4].set(jnp.array([100.0, 200.0, 1.0]))
  projected = jnp.full((J, 2), 101.0).at[4].set(jnp.array([101.0, 200.0]))
  assert float(kp.keypoint_box_scale(keypoints)) == 512.0 / kp.MIN_BOX_SIZE
  np.testing.assert_allclose(kp.keypoint_loss(projected, keypoints), 512.0**2)


def test_normalisation_is_invariant_to_image_scale_and_shift(x64):
  keypoints, projected = _random_person(7)
  base = kp.keypoint_loss(projected, keypoints)
  for factor, shift in ((0.25, (0.0, 0.0)), (3.0, (-40.0, 900.0))):
    moved = keypoints.copy()
    moved[:, :2] = factor * keypoints[:, :2] + np.array(shift)
    np.testing.assert_allclose(
        kp.keypoint_loss(factor * projected + np.array(shift), moved), base, rtol=1e-10)
  # ... and it is really normalised: the box's larger side maps to 512.
  usable = keypoints[keypoints[:, 2] > 0]
  side = np.max(usable[:, :2].max(0) - usable[:, :2].min(0))
  np.testing.assert_allclose(kp.keypoint_box_scale(keypoints), 512.0 / side, rtol=1e-12)


def test_threshold_shapes_only_the_box(x64):
  keypoints, projected = _random_person(8)
  keypoints[0] = [5000.0, 5000.0, 0.05]  # a low-confidence stray far away
  loose = kp.keypoint_box_scale(keypoints)
  strict = kp.keypoint_box_scale(keypoints, min_confidence=0.1)
  assert strict > 5 * loose
  ratio = kp.keypoint_loss(projected, keypoints, min_confidence=0.1) / kp.keypoint_loss(
      projected, keypoints)
  np.testing.assert_allclose(ratio, (strict / loose) ** 2, rtol=1e-10)


def test_vmaps_over_people_with_one_compilation():
  people = [_random_person(s) for s in range(3)]
  keypoints = jnp.asarray(np.stack([p[0] for p in people]), jnp.float32)
  projected = jnp.asarray(np.stack([p[1] for p in people]), jnp.float32)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def batched(projected, keypoints):
    return jax.vmap(kp.keypoint_loss)(projected, keypoints)

  out = batched(projected, keypoints)
  batched(projected + 1.0, keypoints)
  np.testing.assert_allclose(out, [kp.keypoint_loss(p, k) for p, k in zip(projected, keypoints)],
                             rtol=1e-5)


def test_ankle_fallback():
  keypoints, _ = _random_person(9)
  initial = np.random.default_rng(10).uniform(0, 500, size=(J, 2))
  keypoints[:, 2] = 0.9
  keypoints[kp.RIGHT_ANKLE, 2] = 0.1
  out = np.asarray(kp.ankle_fallback(keypoints, initial))
  replaced = [kp.RIGHT_ANKLE, *kp.RIGHT_FOOT]
  assert replaced == [11, 22, 23, 24] and [kp.LEFT_ANKLE, *kp.LEFT_FOOT] == [14, 19, 20, 21]
  np.testing.assert_allclose(out[replaced, :2], initial[replaced])
  np.testing.assert_allclose(out[replaced, 2], 0.5)
  others = [j for j in range(J) if j not in replaced]
  np.testing.assert_array_equal(out[others], keypoints[others].astype(np.float32))

  # Left side: a NaN confidence counts as missing; exactly the threshold does not trigger.
  keypoints[kp.RIGHT_ANKLE, 2] = 0.2
  keypoints[kp.LEFT_ANKLE, 2] = np.nan
  out = np.asarray(jax.jit(kp.ankle_fallback)(keypoints, initial))
  left = [kp.LEFT_ANKLE, *kp.LEFT_FOOT]
  np.testing.assert_allclose(out[left], np.concatenate([initial[left], np.full((4, 1), 0.5)], 1),
                             rtol=1e-6)
  np.testing.assert_array_equal(out[replaced], keypoints[replaced].astype(np.float32))


def test_ankle_indices_match_body_25_names():
  names = pytest.importorskip("posejax.body.keypoints").BODY_25_NAMES
  assert names[kp.RIGHT_ANKLE] == "right_ankle" and names[kp.LEFT_ANKLE] == "left_ankle"
  assert [names[j] for j in kp.RIGHT_FOOT] == ["right_big_toe", "right_small_toe", "right_heel"]
  assert [names[j] for j in kp.LEFT_FOOT] == ["left_big_toe", "left_small_toe", "left_heel"]


def test_shape_errors():
  with pytest.raises(InvalidInputError, match="keypoints"):
    kp.keypoint_loss(jnp.zeros((J, 2)), jnp.zeros((J, 2)))
  with pytest.raises(InvalidInputError, match="projected"):
    kp.keypoint_loss(jnp.zeros((J - 1, 2)), jnp.zeros((J, 3)))
  with pytest.raises(InvalidInputError, match="BODY_25"):
    kp.ankle_fallback(jnp.zeros((17, 3)), jnp.zeros((17, 2)))
