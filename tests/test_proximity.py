"""Nearest-point search and the heuristic proximity term against brute force."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from posejax.errors import InvalidInputError
from posejax.losses import proximity


def _brute_squared(a, b):
  return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_nearest_matches_brute_force(x64, chunk_size):
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(53, 3)), rng.normal(size=(41, 3))
  ids, fast = proximity.nearest_ids(a, b, chunk_size=chunk_size)
  brute = _brute_squared(a, b)
  np.testing.assert_array_equal(ids, brute.argmin(1))
  np.testing.assert_allclose(fast, brute.min(1), atol=1e-12)


def test_min_squared_distance_matches_brute_force_and_its_gradient(x64):
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(60, 3)), rng.normal(size=(45, 3)) + 3.0
  brute = _brute_squared(a, b)
  i, j = np.unravel_index(brute.argmin(), brute.shape)
  value, (ga, gb) = jax.value_and_grad(proximity.min_squared_distance, argnums=(0, 1))(a, b)
  np.testing.assert_allclose(value, brute.min(), rtol=1e-12)
  expected_ga = np.zeros_like(a)
  expected_ga[i] = 2 * (a[i] - b[j])
  np.testing.assert_allclose(ga, expected_ga, atol=1e-12)
  np.testing.assert_allclose(gb[j], -2 * (a[i] - b[j]), atol=1e-12)
  np.testing.assert_allclose(
      proximity.min_squared_distance(a, b, chunk_size=4), value, rtol=0, atol=0)


def test_no_valid_pair_gives_zero_with_zero_gradient(x64):
  rng = np.random.default_rng(5)
  a, b = rng.normal(size=(60, 3)), rng.normal(size=(45, 3)) + 3.0
  none = np.zeros(45, bool)
  value, grad = jax.value_and_grad(
      lambda a: proximity.min_squared_distance(a, b, valid_b=none))(jnp.asarray(a))
  assert float(value) == 0.0 and not np.any(np.asarray(grad))


def test_two_spheres_at_a_known_gap(x64):
  sphere = trimesh.creation.uv_sphere(radius=0.2, count=[16, 16])
  a = np.asarray(sphere.vertices)
  for gap in (0.05, 0.0):
    b = a + np.array([0.0, 0.0, 0.4 + gap])  # the poles face each other along z
    fn = jax.jit(jax.value_and_grad(proximity.min_squared_distance, argnums=(0, 1)))
    value, grads = fn(a, b)
    np.testing.assert_allclose(value, gap**2, atol=1e-12)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)


def test_masks_and_non_finite_vertices_are_ignored(x64):
  rng = np.random.default_rng(2)
  a, b = rng.normal(size=(30, 3)), rng.normal(size=(20, 3)) + 2.0
  a_broken, b_broken = a.copy(), b.copy()
  a_broken[3] = np.nan
  b_broken[5] = [np.inf, 0.0, 0.0]
  valid_a = np.ones(30, bool)
  valid_a[:10] = False
  valid_b = np.ones(20, bool)
  valid_b[-4:] = False
  expected = _brute_squared(np.delete(a, list(range(10)), 0),
                            np.delete(b, [5, 16, 17, 18, 19], 0)).min()
  value, grad = jax.value_and_grad(proximity.min_squared_distance)(
      a_broken, b_broken, valid_a=valid_a, valid_b=valid_b)
  np.testing.assert_allclose(value, expected, rtol=1e-12)
  assert bool(jnp.all(jnp.isfinite(grad)))
  nothing = proximity.min_squared_distance(a, b, valid_a=np.zeros(30, bool))
  assert float(nothing) == 0.0


def test_vmaps_over_scenes():
  rng = np.random.default_rng(3)
  a = jnp.asarray(rng.normal(size=(4, 50, 3)), jnp.float32)
  b = jnp.asarray(rng.normal(size=(4, 40, 3)) + 1.0, jnp.float32)
  batched = jax.jit(jax.vmap(proximity.min_squared_distance))(a, b)
  np.testing.assert_allclose(
      batched, [proximity.min_squared_distance(x, y) for x, y in zip(a, b)], rtol=1e-6)


def test_shape_errors():
  with pytest.raises(InvalidInputError, match="vertices_a"):
    proximity.min_squared_distance(jnp.zeros((5, 2)), jnp.zeros((5, 3)))
  with pytest.raises(InvalidInputError, match="others_valid"):
    proximity.nearest_ids(jnp.zeros((5, 3)), jnp.zeros((4, 3)), others_valid=jnp.ones(5, bool))


def test_safe_sqrt_values_and_gradient_at_zero(x64):
  squared = jnp.array([0.0, 0.25, 4.0, -1.0])
  np.testing.assert_array_equal(proximity.safe_sqrt(squared), [0.0, 0.5, 2.0, 0.0])
  gradient = jax.grad(lambda s: jnp.sum(proximity.safe_sqrt(s)))(squared)
  np.testing.assert_allclose(gradient, [0.0, 1.0, 0.25, 0.0])  # d sqrt(s)/ds = 1 / (2 sqrt(s))
