"""Priors: SMPLify's Gaussian pose mixture, a licence-free default, shape, init pose, placement.

The pose prior is a max-mixture of Gaussians over the axis-angle body pose (SMPLify, Bogo et al.
2016): energy(x) = min_k [ 0.5 (x - mu_k)^T S_k^-1 (x - mu_k) - log c_k ], fitted on SMPL's 69-D
body pose; SMPL-X's 63-D body pose is its leading slice, so posejax uses the marginal there.

The constant ``c_k``: SMPLify-X's ``MaxMixturePrior`` (as BUDDI runs it for ProsePose) sets
``c_k = w_k / ((2 pi)^(69/2) * sqrt(det S_k) / min_j sqrt(det S_j))`` from the full 69-D
covariances even after slicing to 63; ``constant="reference"`` (default) reproduces that, and
``constant="marginal"`` uses the true normaliser ``w_k / ((2 pi)^(63/2) sqrt(det S_k[:63, :63]))``.
They differ by a per-component offset, which can change the winning component but not the
gradient inside one.
"""

from __future__ import annotations

import os
from typing import Literal

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from posejax import safe_load
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError

SMPLX_POSE_DIMS = 63
"""Dimensions of the SMPL-X body pose (21 joints x 3), the leading 63 of the SMPL 69."""

ConstantKind = Literal["reference", "marginal"]


@flax.struct.dataclass
class GaussianMixturePrior:
  """A max-mixture of Gaussians over a flat axis-angle pose, ready to evaluate.

  Built by :func:`load_gmm_prior`, :func:`gmm_prior_from_arrays` or :func:`default_pose_prior`.
  """

  means: jax.Array
  """(K, D) component means, radians (axis-angle components)."""
  whiteners: jax.Array
  """(K, D, D) lower-triangular ``L_k^-1`` with ``S_k = L_k L_k^T``, so that
  ``(x - mu)^T S^-1 (x - mu) = ||L^-1 (x - mu)||^2`` (never negative, unlike an explicit
  inverse)."""
  neg_log_constants: jax.Array
  """(K,) ``-log c_k``, added to each component's half Mahalanobis distance (nats)."""

  @property
  def dims(self) -> int:
    """D, the length of the pose vector the prior expects."""
    return self.means.shape[-1]

  @property
  def num_components(self) -> int:
    """K, the number of mixture components."""
    return self.means.shape[-2]


def pose_prior_energy(prior: GaussianMixturePrior, body_pose: jax.Array) -> jax.Array:
  """Max-mixture energy of one body pose: ``min_k [0.5 ||L_k^-1 (x - mu_k)||^2 - log c_k]``.

  Args:
    prior: the mixture (a :class:`GaussianMixturePrior`).
    body_pose: (D,) or (D // 3, 3) axis-angle body pose in radians, one person (``jax.vmap`` for
      more); D = ``prior.dims`` (63 for SMPL-X).

  Returns:
    () energy in nats (not weighted; the fit multiplies by its pose-prior weight).
  """
  if body_pose.size != prior.dims:
    raise InvalidInputError(
        f"body_pose has shape {body_pose.shape} ({body_pose.size} values) but the pose prior "
        f"expects {prior.dims} values for one person; vmap over people, or build the prior with "
        f"dims={body_pose.size}.")
  x = jnp.reshape(body_pose, (prior.dims,))
  offsets = x[None, :] - prior.means
  whitened = jnp.einsum("kij,kj->ki", prior.whiteners, offsets)
  per_component = 0.5 * jnp.sum(whitened * whitened, axis=-1) + prior.neg_log_constants
  return jnp.min(per_component)


def shape_prior_energy(betas: jax.Array) -> jax.Array:
  """Shape prior ``||beta||^2`` (not weighted) of one person's (B,) unitless ``betas`` (the kid
  blend weight, if present, included)."""
  return jnp.sum(jnp.square(betas))


def init_pose_energy(body_pose: jax.Array, init_body_pose: jax.Array) -> jax.Array:
  """Init-pose prior ``||theta - theta_0||^2``: stay near the initial estimate.

  Args:
    body_pose: (..., 3) or (D,) axis-angle body pose in radians, one person.
    init_body_pose: the anchor pose, same shape (the initial estimate in stage 1, the stage-1 result
      in stage 2).

  Returns:
    () sum of squared differences in radians^2 (not weighted).
  """
  if body_pose.shape != init_body_pose.shape:
    raise InvalidInputError(
        f"body_pose {body_pose.shape} and init_body_pose {init_body_pose.shape} must have the same "
        "shape.")
  return jnp.sum(jnp.square(body_pose - init_body_pose))


def init_placement_energy(transl: jax.Array, init_transl: jax.Array) -> jax.Array:
  """Init-placement prior ``|(t_1 - t_0) - (a_1 - a_0)|^2``: keep the two people's relative
  placement near the anchor's, whatever their common position.

  Nothing else resists a person sliding along the depth the keypoints leave open, so without it
  even a weak contact row moves a person as far as it wants.

  Args:
    transl: (2, 3) the two people's root translations, metres.
    init_transl: (2, 3) the anchor's (the initial estimate in stage 1, the stage-1 result in
      stage 2).

  Returns:
    () squared change of the vector from person 0 to person 1, metres^2 (not weighted).
  """
  if transl.shape != (2, 3) or init_transl.shape != (2, 3):
    raise InvalidInputError(f"transl {transl.shape} and init_transl {init_transl.shape} must both "
                            "be (2, 3): two people's root translations")
  change = (transl[1] - transl[0]) - (init_transl[1] - init_transl[0])
  return jnp.sum(jnp.square(change))


def gmm_prior_from_arrays(
    means: np.ndarray,
    covars: np.ndarray,
    weights: np.ndarray,
    *,
    dims: int = SMPLX_POSE_DIMS,
    constant: ConstantKind = "reference",
    source: str | os.PathLike | None = None,
) -> GaussianMixturePrior:
  """Builds a mixture prior from its parameters, marginalised on the leading ``dims`` dimensions.

  Args:
    means: (K, F) component means over the F-dim pose the mixture was fitted on (69 for SMPL).
    covars: (K, F, F) symmetric positive definite covariances.
    weights: (K,) positive mixture weights.
    dims: D <= F, the leading dimensions to keep (63 for SMPL-X, 69 for SMPL).
    constant: ``"reference"`` for SMPLify-X/BUDDI's ``c_k`` (from the full F-dim covariances,
      normalised by the smallest determinant), ``"marginal"`` for the exact normaliser of the D-dim
      marginal (see the module docstring).
    source: the file the arrays came from, named in errors.

  Returns:
    The prior; computed in float64, stored in JAX's default float type (float32 unless x64 is on).

  Raises:
    FileFormatError: shapes disagree, values are not finite, a weight is not positive or a
      covariance is not positive definite.
  """
  def fail(problem: str):
    raise FileFormatError(source, f"{problem}; expected a Gaussian mixture with 'means' (K, F), "
                          "'covars' (K, F, F) and 'weights' (K,), as in SMPLify's gmm_08.pkl.")

  try:
    means = np.asarray(means, dtype=np.float64)
    covars = np.asarray(covars, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
  except (TypeError, ValueError) as e:
    fail(f"the mixture arrays are not numeric ({e})")
  if means.ndim != 2 or means.shape[0] == 0:
    fail(f"'means' has shape {means.shape}")
  k, full_dims = means.shape
  if covars.shape != (k, full_dims, full_dims):
    fail(f"'covars' has shape {covars.shape}, 'means' {means.shape}")
  if weights.shape != (k,):
    fail(f"'weights' has shape {weights.shape}, 'means' {means.shape}")
  if not (np.all(np.isfinite(means)) and np.all(np.isfinite(covars))
          and np.all(np.isfinite(weights))):
    fail("the mixture holds NaN or infinite values")
  if np.any(weights <= 0):
    fail(f"mixture weights must be positive, got {weights}")
  if not 0 < dims <= full_dims:
    raise InvalidInputError(f"dims={dims} must lie in 1..{full_dims} (the mixture's dimension).")
  if constant not in ("reference", "marginal"):
    raise InvalidInputError(f"constant={constant!r}; choose 'reference' or 'marginal'.")

  covars = 0.5 * (covars + np.swapaxes(covars, 1, 2))
  full_log_dets = np.empty(k)
  whiteners = np.empty((k, dims, dims))
  marginal_log_dets = np.empty(k)
  for i in range(k):
    try:
      full_factor = np.linalg.cholesky(covars[i])
    except np.linalg.LinAlgError:
      fail(f"covariance {i} is not positive definite")
    full_log_dets[i] = 2.0 * np.sum(np.log(np.diag(full_factor)))
    # The leading block of a Cholesky factor is the factor of the leading block of the covariance.
    factor = full_factor[:dims, :dims]
    marginal_log_dets[i] = 2.0 * np.sum(np.log(np.diag(factor)))
    whiteners[i] = scipy.linalg.solve_triangular(factor, np.eye(dims), lower=True)

  if constant == "reference":
    neg_log_constants = (-np.log(weights) + 0.5 * full_dims * np.log(2.0 * np.pi)
                         + 0.5 * (full_log_dets - full_log_dets.min()))
  else:
    neg_log_constants = (-np.log(weights) + 0.5 * dims * np.log(2.0 * np.pi)
                         + 0.5 * marginal_log_dets)

  return GaussianMixturePrior(
      means=jnp.asarray(means[:, :dims]),
      whiteners=jnp.asarray(whiteners),
      neg_log_constants=jnp.asarray(neg_log_constants),
  )


def load_gmm_prior(
    path: str | os.PathLike,
    *,
    dims: int = SMPLX_POSE_DIMS,
    constant: ConstantKind = "reference",
) -> GaussianMixturePrior:
  """Reads SMPLify's mixture pose prior (``gmm_08.pkl``) and marginalises it for SMPL-X.

  The file is a Python-2 pickle of a dict with ``means`` (8, 69), ``covars`` (8, 69, 69) and
  ``weights`` (8,); it is read with latin-1 decoding and only numpy arrays are allowed in it.

  Args:
    path: the pickle file (licensed: posejax never ships it).
    dims: leading pose dimensions to keep: 63 for SMPL-X (default), 69 for SMPL.
    constant: ``"reference"`` (SMPLify-X/BUDDI's ``c_k``, default) or ``"marginal"``; see the
      module docstring.

  Raises:
    FileFormatError: the file is missing, unreadable, not such a dict, or holds invalid values.
  """
  if not os.path.isfile(path):
    raise FileFormatError(path, "the GMM pose prior file does not exist; pass the path of "
                          "SMPLify's gmm_08.pkl, or use default_pose_prior() without one.")
  content = safe_load.load_pickle(path, "the GMM pose prior (SMPLify's gmm_08.pkl)")
  if not isinstance(content, dict):
    raise FileFormatError(path, f"expected a dict with means, covars and weights, found "
                          f"{type(content).__name__}.")
  missing = [key for key in ("means", "covars", "weights") if key not in content]
  if missing:
    raise FileFormatError(path, f"the GMM pose prior lacks {missing}; found keys "
                          f"{sorted(map(str, content))}.")
  return gmm_prior_from_arrays(content["means"], content["covars"], content["weights"],
                               dims=dims, constant=constant, source=path)


# Per body joint (axis-angle in the joint's rest frame: x to the body's left, y up, z forward),
# hand-set from textbook ranges of motion, not learned.
_DEFAULT_JOINTS: tuple[tuple[str, tuple[float, float, float], tuple[float, float, float]], ...] = (
    # name, mean (x, y, z) radians, standard deviation (x, y, z) radians
    ("left_hip", (-0.25, 0.0, 0.05), (0.6, 0.3, 0.35)),
    ("right_hip", (-0.25, 0.0, -0.05), (0.6, 0.3, 0.35)),
    ("spine1", (0.05, 0.0, 0.0), (0.2, 0.12, 0.12)),
    ("left_knee", (0.4, 0.0, 0.0), (0.7, 0.08, 0.08)),
    ("right_knee", (0.4, 0.0, 0.0), (0.7, 0.08, 0.08)),
    ("spine2", (0.0, 0.0, 0.0), (0.15, 0.12, 0.1)),
    ("left_ankle", (0.0, 0.0, 0.0), (0.3, 0.15, 0.2)),
    ("right_ankle", (0.0, 0.0, 0.0), (0.3, 0.15, 0.2)),
    ("spine3", (0.0, 0.0, 0.0), (0.15, 0.12, 0.1)),
    ("left_foot", (0.0, 0.0, 0.0), (0.15, 0.1, 0.1)),
    ("right_foot", (0.0, 0.0, 0.0), (0.15, 0.1, 0.1)),
    ("neck", (0.1, 0.0, 0.0), (0.3, 0.3, 0.2)),
    ("left_collar", (0.0, 0.0, 0.0), (0.12, 0.12, 0.12)),
    ("right_collar", (0.0, 0.0, 0.0), (0.12, 0.12, 0.12)),
    ("head", (0.05, 0.0, 0.0), (0.25, 0.3, 0.2)),
    ("left_shoulder", (0.0, 0.0, -0.8), (0.7, 0.7, 0.7)),
    ("right_shoulder", (0.0, 0.0, 0.8), (0.7, 0.7, 0.7)),
    ("left_elbow", (0.0, -0.5, 0.0), (0.5, 0.7, 0.1)),
    ("right_elbow", (0.0, 0.5, 0.0), (0.5, 0.7, 0.1)),
    ("left_wrist", (0.0, 0.0, 0.0), (0.4, 0.3, 0.4)),
    ("right_wrist", (0.0, 0.0, 0.0), (0.4, 0.3, 0.4)),
)


def default_pose_prior() -> GaussianMixturePrior:
  """A licence-free pose prior for when no ``gmm_08.pkl`` is given.

  One diagonal Gaussian over SMPL-X's 63-D body pose, hand-set: per joint and axis a mean leaning
  towards the usual side of hinged joints and a standard deviation of about half the joint's
  range of motion. The energy is ``0.5 sum_i ((x_i - m_i) / s_i)^2`` (no constant). It knows no
  correlations between joints, so it is a weaker prior than SMPLify's. One component, dims 63.
  """
  means = np.array([mean for _, mean, _ in _DEFAULT_JOINTS], dtype=np.float64).reshape(-1)
  stds = np.array([std for _, _, std in _DEFAULT_JOINTS], dtype=np.float64).reshape(-1)
  return GaussianMixturePrior(
      means=jnp.asarray(means[None, :]),
      whiteners=jnp.asarray(np.diag(1.0 / stds)[None]),
      neg_log_constants=jnp.zeros((1,)),
  )
