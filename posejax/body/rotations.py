"""Rotation conversions: axis-angle, rotation matrices and the continuous 6D representation.

Every function works on any leading batch shape and is safe to differentiate everywhere, in
particular at the zero rotation where fits start: square roots never see a zero argument
(``jnp.where`` picks a harmless value first) and near zero angle a Taylor series replaces the
quotients ``sin(t)/t`` and ``(1 - cos(t))/t**2``.

Conventions: axis-angle vectors are ``angle * unit_axis`` in radians; matrices act on column
vectors (``x' = R @ x``); the 6D representation is the first two rows of the matrix, flattened
(``R[..., :2, :]``), as in Zhou et al. (CVPR 2019) and pytorch3d.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Below this squared angle the Taylor series are used. Their first omitted terms are of order
# angle**6 / 5040 < 1e-15 here, so both branches are exact to float64 precision.
_SMALL_ANGLE_SQ = 1e-4


def _skew(v: jax.Array) -> jax.Array:
  """(..., 3) -> (..., 3, 3) cross-product matrix: ``skew(v) @ x == cross(v, x)``."""
  x, y, z = v[..., 0], v[..., 1], v[..., 2]
  zero = jnp.zeros_like(x)
  return jnp.stack(
      [
          jnp.stack([zero, -z, y], axis=-1),
          jnp.stack([z, zero, -x], axis=-1),
          jnp.stack([-y, x, zero], axis=-1),
      ],
      axis=-2,
  )


def axis_angle_to_matrix(axis_angle: jax.Array) -> jax.Array:
  """Rotation matrices from axis-angle vectors (exact Rodrigues formula).

  ``R = I + a K + b K @ K`` with ``K = skew(v)``, ``v = axis_angle``, ``a = sin(t)/t`` and
  ``b = (1 - cos(t))/t**2 = 0.5 * (sin(t/2)/(t/2))**2`` (the half-angle form avoids the
  cancellation in ``1 - cos(t)``), ``t`` the angle; ``K @ K = v v^T - t**2 I`` is used so
  that no tiny matrix product is formed.

  Args:
    axis_angle: (..., 3) rotation vectors, radians.

  Returns:
    (..., 3, 3) rotation matrices.
  """
  angle_sq = jnp.sum(axis_angle * axis_angle, axis=-1)
  small = angle_sq < _SMALL_ANGLE_SQ
  safe_angle = jnp.sqrt(jnp.where(small, 1.0, angle_sq))
  half = 0.5 * safe_angle
  sinc = jnp.sin(safe_angle) / safe_angle
  half_sinc = jnp.sin(half) / half
  a = jnp.where(small, 1.0 - angle_sq / 6.0 + angle_sq * angle_sq / 120.0, sinc)
  b = jnp.where(small, 0.5 - angle_sq / 24.0 + angle_sq * angle_sq / 720.0,
                0.5 * half_sinc * half_sinc)
  k = _skew(axis_angle)
  eye = jnp.broadcast_to(jnp.eye(3, dtype=axis_angle.dtype), k.shape)
  outer = axis_angle[..., :, None] * axis_angle[..., None, :]
  b = b[..., None, None]
  return (1.0 - b * angle_sq[..., None, None]) * eye + a[..., None, None] * k + b * outer


def matrix_to_quaternion(matrix: jax.Array) -> jax.Array:
  """Unit quaternions ``(w, x, y, z)`` with ``w >= 0`` from rotation matrices.

  Uses the numerically best of the four classic formulas per matrix (largest denominator), so
  rotations by angles near pi are handled as well as small ones.

  Args:
    matrix: (..., 3, 3) rotation matrices.

  Returns:
    (..., 4) unit quaternions, scalar first.
  """
  m = matrix
  m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
  m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
  m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
  # Four times the square of each quaternion component, from the diagonal.
  four_sq = jnp.stack(
      [
          1.0 + m00 + m11 + m22,
          1.0 + m00 - m11 - m22,
          1.0 - m00 + m11 - m22,
          1.0 - m00 - m11 + m22,
      ],
      axis=-1,
  )
  # Candidate quaternions, each scaled by 4 times one of its components.
  candidates = jnp.stack(
      [
          jnp.stack([four_sq[..., 0], m21 - m12, m02 - m20, m10 - m01], axis=-1),
          jnp.stack([m21 - m12, four_sq[..., 1], m10 + m01, m02 + m20], axis=-1),
          jnp.stack([m02 - m20, m10 + m01, four_sq[..., 2], m12 + m21], axis=-1),
          jnp.stack([m10 - m01, m20 + m02, m21 + m12, four_sq[..., 3]], axis=-1),
      ],
      axis=-2,
  )
  best = jnp.argmax(four_sq, axis=-1)
  chosen = jnp.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
  # The largest of the four squares is at least 1 for a rotation matrix, so the root is safe.
  scale = 2.0 * jnp.sqrt(jnp.maximum(jnp.max(four_sq, axis=-1), 1e-12))
  quat = chosen / scale[..., None]
  return jnp.where(quat[..., :1] < 0, -quat, quat)


def matrix_to_axis_angle(matrix: jax.Array) -> jax.Array:
  """Axis-angle vectors from rotation matrices, angle in [0, pi].

  Args:
    matrix: (..., 3, 3) rotation matrices.

  Returns:
    (..., 3) rotation vectors, radians.
  """
  quat = matrix_to_quaternion(matrix)
  w, xyz = quat[..., 0], quat[..., 1:]
  sin_half_sq = jnp.sum(xyz * xyz, axis=-1)
  small = sin_half_sq < _SMALL_ANGLE_SQ
  sin_half = jnp.sqrt(jnp.where(small, 1.0, sin_half_sq))
  # angle / sin(angle/2) = 2 atan2(s, w) / s; for small s its series in s (w = sqrt(1 - s^2)).
  exact = 2.0 * jnp.arctan2(sin_half, w) / sin_half
  series = 2.0 + sin_half_sq / 3.0 + 0.15 * sin_half_sq * sin_half_sq
  factor = jnp.where(small, series, exact)
  return factor[..., None] * xyz


def rotation_6d_to_matrix(rot6d: jax.Array) -> jax.Array:
  """Rotation matrices from the 6D representation by Gram-Schmidt.

  Args:
    rot6d: (..., 6) two 3-vectors, the (unnormalised) first and second matrix rows.

  Returns:
    (..., 3, 3) rotation matrices whose first row is ``normalize(rot6d[..., :3])``.
  """
  first = _normalize(rot6d[..., :3])
  second_raw = rot6d[..., 3:]
  second = _normalize(second_raw - jnp.sum(first * second_raw, axis=-1, keepdims=True) * first)
  third = jnp.cross(first, second)
  return jnp.stack([first, second, third], axis=-2)


def matrix_to_rotation_6d(matrix: jax.Array) -> jax.Array:
  """The 6D representation of rotation matrices (their first two rows).

  Args:
    matrix: (..., 3, 3) rotation matrices.

  Returns:
    (..., 6) first row followed by second row.
  """
  return matrix[..., :2, :].reshape(matrix.shape[:-2] + (6,))


def axis_angle_to_rotation_6d(axis_angle: jax.Array) -> jax.Array:
  """(..., 3) axis-angle, radians -> (..., 6) 6D representation."""
  return matrix_to_rotation_6d(axis_angle_to_matrix(axis_angle))


def rotation_6d_to_axis_angle(rot6d: jax.Array) -> jax.Array:
  """(..., 6) 6D representation -> (..., 3) axis-angle, radians, angle in [0, pi]."""
  return matrix_to_axis_angle(rotation_6d_to_matrix(rot6d))


def _normalize(v: jax.Array) -> jax.Array:
  """Unit vectors along ``v`` (..., 3); a zero vector maps to zero with finite gradients."""
  norm_sq = jnp.sum(v * v, axis=-1, keepdims=True)
  safe = jnp.where(norm_sq > 0, norm_sq, 1.0)
  return v * jax.lax.rsqrt(safe)
