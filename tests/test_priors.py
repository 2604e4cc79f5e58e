"""Pose and shape priors against brute-force numpy, on generated gmm_08.pkl-format files."""

from __future__ import annotations

import os
import pickle

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError
from posejax.losses import priors

K, FULL = 8, 69


def _random_mixture(seed: int = 0):
  rng = np.random.default_rng(seed)
  means = rng.normal(scale=0.3, size=(K, FULL))
  factors = rng.normal(size=(K, FULL, FULL)) / np.sqrt(FULL)
  # Scales differ per component so the determinants, and hence the constants, differ.
  covars = (0.05 * factors @ np.swapaxes(factors, 1, 2)
            + np.linspace(0.01, 0.08, K)[:, None, None] * np.eye(FULL))
  weights = rng.dirichlet(np.ones(K))
  return means, covars, weights


def _write_gmm(path, content, protocol=2):
  with open(path, "wb") as f:
    pickle.dump(content, f, protocol=protocol)
  return path


@pytest.fixture
def gmm_file(tmp_path):
  means, covars, weights = _random_mixture()
  path = _write_gmm(tmp_path / "gmm_08.pkl",
                    {"means": means, "covars": covars, "weights": weights})
  return path, (means, covars, weights)


def _brute_force_energy(x, means, covars, weights, dims, constant):
  """The published energy, written out the long way (explicit inverses and determinants)."""
  values = []
  for k in range(len(weights)):
    cov = covars[k][:dims, :dims]
    diff = x - means[k][:dims]
    quadratic = diff @ np.linalg.inv(cov) @ diff
    if constant == "reference":
      sqrt_dets = np.array([np.sqrt(np.linalg.det(c)) for c in covars])
      c_k = weights[k] / ((2 * np.pi) ** (FULL / 2) * sqrt_dets[k] / sqrt_dets.min())
    else:
      c_k = weights[k] / ((2 * np.pi) ** (dims / 2) * np.sqrt(np.linalg.det(cov)))
    values.append(0.5 * quadratic - np.log(c_k))
  return min(values)


@pytest.mark.parametrize("constant", ["reference", "marginal"])
@pytest.mark.parametrize("dims", [63, 69])
def test_gmm_energy_matches_brute_force(x64, gmm_file, constant, dims):
  path, (means, covars, weights) = gmm_file
  prior = priors.load_gmm_prior(path, dims=dims, constant=constant)
  assert prior.means.shape == (K, dims) and prior.num_components == K and prior.dims == dims
  rng = np.random.default_rng(1)
  poses = np.concatenate([rng.normal(scale=0.4, size=(6, dims)), means[:2, :dims]])
  energy = jax.jit(jax.vmap(priors.pose_prior_energy, in_axes=(None, 0)))(prior, poses)
  expected = [_brute_force_energy(x, means, covars, weights, dims, constant) for x in poses]
  np.testing.assert_allclose(np.asarray(energy), expected, rtol=1e-9, atol=1e-9)


def test_gmm_accepts_joint_shaped_pose_and_rejects_wrong_size(gmm_file):
  prior = priors.load_gmm_prior(gmm_file[0])
  pose = jnp.linspace(-0.3, 0.3, 63)
  np.testing.assert_allclose(priors.pose_prior_energy(prior, pose.reshape(21, 3)),
                             priors.pose_prior_energy(prior, pose), rtol=1e-6)
  with pytest.raises(InvalidInputError, match="63"):
    priors.pose_prior_energy(prior, jnp.zeros(69))


def test_marginal_equals_analytic_marginal(x64, gmm_file):
  """The 63-D marginal equals the Schur complement of the full 69-D precision (another route)."""
  path, (means, covars, _) = gmm_file
  prior = priors.load_gmm_prior(path)
  np.testing.assert_allclose(np.asarray(prior.means), means[:, :63], rtol=0, atol=0)
  for k in range(K):
    precision = np.linalg.inv(covars[k])
    aa, ab, bb = precision[:63, :63], precision[:63, 63:], precision[63:, 63:]
    schur = aa - ab @ np.linalg.solve(bb, ab.T)
    whitener = np.asarray(prior.whiteners[k])
    np.testing.assert_allclose(whitener.T @ whitener, schur, rtol=1e-8, atol=1e-8)
    assert np.allclose(whitener, np.tril(whitener))


def test_reference_constant_uses_full_covariances(x64, gmm_file):
  path, (_, covars, weights) = gmm_file
  reference = priors.load_gmm_prior(path, constant="reference")
  log_dets = np.linalg.slogdet(covars)[1]
  expected = (-np.log(weights) + 34.5 * np.log(2 * np.pi) + 0.5 * (log_dets - log_dets.min()))
  np.testing.assert_allclose(np.asarray(reference.neg_log_constants), expected, rtol=1e-10)


def test_gmm_gradients_finite(gmm_file):
  prior = priors.load_gmm_prior(gmm_file[0])
  grad = jax.jit(jax.grad(priors.pose_prior_energy, argnums=1))
  for pose in (jnp.zeros(63), prior.means[3], jnp.full(63, 3.0)):
    g = grad(prior, pose)
    assert g.shape == (63,) and bool(jnp.all(jnp.isfinite(g)))
  # At a component's mean (where it wins) its own gradient vanishes.
  means, covars, weights = _random_mixture()
  single = priors.gmm_prior_from_arrays(means[:1], covars[:1], weights[:1])
  np.testing.assert_allclose(grad(single, single.means[0]), 0.0, atol=1e-5)


def test_energy_compiles_once_for_many_poses(gmm_file):
  prior = priors.load_gmm_prior(gmm_file[0])

  @jax.jit
  @chex.assert_max_traces(n=1)
  def batched(prior, poses):
    return jax.vmap(priors.pose_prior_energy, in_axes=(None, 0))(prior, poses)

  for seed in range(3):
    poses = jax.random.normal(jax.random.PRNGKey(seed), (4, 63))
    singles = [priors.pose_prior_energy(prior, p) for p in poses]
    np.testing.assert_allclose(batched(prior, poses), singles, rtol=1e-5)


def test_missing_file_names_it(tmp_path):
  path = tmp_path / "nowhere" / "gmm_08.pkl"
  with pytest.raises(FileFormatError, match="does not exist") as info:
    priors.load_gmm_prior(path)
  assert info.value.path == os.fspath(path) and os.fspath(path) in str(info.value)


class _Exploit:
  def __reduce__(self):
    return (os.system, ("echo should-not-run",))


@pytest.mark.parametrize("content, message", [
    (b"this is not a pickle", "cannot read"),
    ([1, 2, 3], "expected a dict"),
    ({"means": np.zeros((8, 69)), "weights": np.ones(8)}, "lacks"),
    ({"means": np.zeros((8, 69)), "covars": np.zeros((8, 69, 68)), "weights": np.ones(8)},
     "covars"),
    ({"means": np.zeros((8, 69)), "covars": np.tile(np.eye(69), (8, 1, 1)),
      "weights": np.ones(7)}, "weights"),
    ({"means": np.zeros((8, 69)), "covars": np.tile(-np.eye(69), (8, 1, 1)),
      "weights": np.ones(8)}, "positive definite"),
    ({"means": np.full((8, 69), np.nan), "covars": np.tile(np.eye(69), (8, 1, 1)),
      "weights": np.ones(8)}, "NaN"),
    ({"means": np.zeros((8, 69)), "covars": np.tile(np.eye(69), (8, 1, 1)),
      "weights": np.zeros(8)}, "positive"),
    (_Exploit(), "cannot read"),
])
def test_malformed_files_raise_file_format_error(tmp_path, content, message):
  path = tmp_path / "gmm_08.pkl"
  if isinstance(content, bytes):
    path.write_bytes(content)
  else:
    _write_gmm(path, content)
  with pytest.raises(FileFormatError, match=message) as info:
    priors.load_gmm_prior(path)
  assert info.value.path == os.fspath(path)


def test_python2_style_pickle_loads(tmp_path):
  """Protocol 0 (what an old cPickle may have written) goes through the restricted unpickler."""
  means, covars, weights = _random_mixture(3)
  path = _write_gmm(tmp_path / "gmm_08.pkl",
                    {"means": means, "covars": covars, "weights": weights}, protocol=0)
  prior = priors.load_gmm_prior(path)
  np.testing.assert_allclose(np.asarray(prior.means), means[:, :63], rtol=1e-6)


def test_default_pose_prior_is_the_documented_gaussian(x64):
  prior = priors.default_pose_prior()
  assert prior.dims == 63 and prior.num_components == 1
  means = np.array([m for _, m, _ in priors._DEFAULT_JOINTS]).reshape(-1)
  stds = np.array([s for _, _, s in priors._DEFAULT_JOINTS]).reshape(-1)
  assert len(priors._DEFAULT_JOINTS) == 21 and np.all(stds > 0)
  pose = np.random.default_rng(4).normal(scale=0.5, size=63)
  expected = 0.5 * np.sum(((pose - means) / stds) ** 2)
  np.testing.assert_allclose(priors.pose_prior_energy(prior, pose), expected, rtol=1e-10)
  assert float(priors.pose_prior_energy(prior, means)) == 0.0
  grad = jax.grad(priors.pose_prior_energy, argnums=1)(prior, jnp.zeros(63))
  np.testing.assert_allclose(grad, -means / stds**2, rtol=1e-10)
  # Knee flexion (positive x) is cheaper than the same hyperextension.
  bent, hyper = np.zeros(63), np.zeros(63)
  bent[3 * 3] = 1.0
  hyper[3 * 3] = -1.0
  assert priors.pose_prior_energy(prior, bent) < priors.pose_prior_energy(prior, hyper)


def test_shape_and_init_pose_priors():
  betas = jnp.array([1.0, -2.0, 0.5])
  np.testing.assert_allclose(priors.shape_prior_energy(betas), 5.25)
  pose, init = jnp.ones((21, 3)), jnp.zeros((21, 3))
  np.testing.assert_allclose(priors.init_pose_energy(pose, init), 63.0)
  g = jax.grad(priors.init_pose_energy)(pose, init)
  np.testing.assert_allclose(g, 2.0 * np.ones((21, 3)))
  with pytest.raises(InvalidInputError, match="same shape"):
    priors.init_pose_energy(jnp.ones(63), init)


def test_init_placement_sees_only_the_change_of_relative_placement():
  anchor = jnp.array([[0.0, 0.0, 4.0], [0.5, 0.0, 4.2]])
  moved_together = anchor + jnp.array([[0.3, -0.1, 1.0]])
  np.testing.assert_allclose(priors.init_placement_energy(moved_together, anchor), 0.0, atol=1e-12)
  apart = anchor.at[1].add(jnp.array([0.0, 0.0, 0.2])).at[0].add(jnp.array([0.1, 0.0, 0.0]))
  np.testing.assert_allclose(priors.init_placement_energy(apart, anchor), 0.1**2 + 0.2**2,
                             rtol=1e-5)
  g = jax.grad(priors.init_placement_energy)(apart, anchor)
  np.testing.assert_allclose(g, [[0.2, 0.0, -0.4], [-0.2, 0.0, 0.4]], atol=1e-6)
  with pytest.raises(InvalidInputError, match="two people"):
    priors.init_placement_energy(jnp.zeros((1, 3)), jnp.zeros((1, 3)))
