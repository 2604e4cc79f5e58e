"""Rotation conversions against scipy, and finite gradients at the zero rotation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from posejax.body import rotations as _rotations


class _Jitted:
  """The rotations module with every public function jitted (one compilation per shape instead
  of one per operation: the file runs several times faster)."""

  def __getattr__(self, name):
    value = getattr(_rotations, name)
    return jax.jit(value) if callable(value) and not name.startswith("_") else value


rotations = _Jitted()


def _vectors(seed: int = 0) -> np.ndarray:
  """Axis-angle vectors of many magnitudes: zero, tiny, both sides of the Taylor switch, large."""
  rng = np.random.default_rng(seed)
  axes = rng.normal(size=(14, 3))
  axes /= np.linalg.norm(axes, axis=1, keepdims=True)
  angles = np.array([0.0, 1e-12, 1e-7, 1e-4, 0.0099, 0.0101, 0.05, 0.3, 1.0, 2.0, 3.0,
                     np.pi - 1e-4, np.pi, 4.0])
  return axes * angles[:, None]


def test_axis_angle_to_matrix_matches_scipy(x64):
  vectors = _vectors()
  ours = np.asarray(rotations.axis_angle_to_matrix(jnp.asarray(vectors)))
  expected = Rotation.from_rotvec(vectors).as_matrix()
  np.testing.assert_allclose(ours, expected, atol=1e-14)


def test_axis_angle_to_matrix_float32_is_orthonormal():
  vectors = jnp.asarray(_vectors(1), jnp.float32)
  mats = np.asarray(rotations.axis_angle_to_matrix(vectors), np.float64)
  np.testing.assert_allclose(mats @ np.swapaxes(mats, -1, -2), np.broadcast_to(np.eye(3),
                                                                               mats.shape),
                             atol=1e-6)
  np.testing.assert_allclose(np.linalg.det(mats), 1.0, atol=1e-6)


def test_any_batch_shape():
  vectors = jnp.asarray(_vectors()[:12].reshape(2, 2, 3, 3), jnp.float32)
  mats = rotations.axis_angle_to_matrix(vectors)
  assert mats.shape == (2, 2, 3, 3, 3)


def test_jacobian_at_zero_is_the_generators(x64):
  # d R / d v_k at v = 0 is the cross-product matrix of the k-th unit vector.
  jac = np.asarray(jax.jacfwd(rotations.axis_angle_to_matrix)(jnp.zeros(3)))
  generators = np.asarray(_rotations._skew(jnp.eye(3)))  # (k, 3, 3)
  np.testing.assert_allclose(np.moveaxis(jac, -1, 0), generators, atol=1e-15)
  jac_rev = np.asarray(jax.jacrev(rotations.axis_angle_to_matrix)(jnp.zeros(3)))
  np.testing.assert_allclose(jac_rev, jac, atol=1e-15)


@pytest.mark.parametrize("fn, point", [
    (rotations.axis_angle_to_matrix, np.zeros(3)),
])
def test_gradients_finite_at_singular_points(fn, point):
  grad = jax.grad(lambda x: jnp.sum(fn(x) * jnp.arange(1.0, 1.0 + fn(x).size).reshape(
      fn(x).shape)))(jnp.asarray(point, jnp.float32))
  assert np.all(np.isfinite(np.asarray(grad)))


def test_gradient_matches_finite_differences_across_the_taylor_switch(x64):
  def energy(v):
    return jnp.sum(rotations.axis_angle_to_matrix(v) * jnp.arange(9.0).reshape(3, 3))
  direction = np.array([0.3, -0.5, 0.81])
  direction /= np.linalg.norm(direction)
  for angle in (1e-3, 0.00999, 0.01001, 0.5):
    point = direction * angle
    grad = np.asarray(jax.grad(energy)(jnp.asarray(point)))
    step = 1e-6
    numeric = np.array([(energy(point + step * e) - energy(point - step * e)) / (2 * step)
                        for e in np.eye(3)])
    np.testing.assert_allclose(grad, numeric, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=3))
def test_matches_scipy_property(vector):
  vector = np.asarray(vector, np.float32)
  ours = np.asarray(rotations.axis_angle_to_matrix(jnp.asarray(vector)))
  np.testing.assert_allclose(ours, Rotation.from_rotvec(vector).as_matrix(), atol=2e-6)


def test_shortest_arc_takes_source_to_target_including_opposite_directions():
  rng = np.random.default_rng(3)
  pairs = [(rng.normal(size=3), rng.normal(size=3)) for _ in range(20)]
  for source in (np.array([0.3, -0.2, 0.9]), np.array([2.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0])):
    pairs += [(source, 3.0 * source), (source, -0.5 * source)]
  for source, target in pairs:
    turn = _rotations.shortest_arc(source, target)
    unit_source, unit_target = (v / np.linalg.norm(v) for v in (source, target))
    np.testing.assert_allclose(turn.apply(unit_source), unit_target, atol=1e-12)
    angle = np.arccos(np.clip(unit_source @ unit_target, -1.0, 1.0))
    np.testing.assert_allclose(turn.magnitude(), angle, atol=1e-7)
