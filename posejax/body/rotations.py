"""Rotation conversions between axis-angle vectors and rotation matrices.

Every function works on any leading batch shape and is safe to differentiate everywhere, in
particular at the zero rotation where fits start: square roots never see a zero argument
(``jnp.where`` picks a harmless value first) and near zero angle a Taylor series replaces the
quotients ``sin(t)/t`` and ``(1 - cos(t))/t**2``.

Conventions: axis-angle vectors are ``angle * unit_axis`` in radians; matrices act on column
vectors (``x' = R @ x``).

``shortest_arc`` is numpy (scipy's ``Rotation``), for code that builds assets and designs poses
outside of fits.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial.transform import Rotation

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


def shortest_arc(source: np.ndarray, target: np.ndarray) -> Rotation:
  """The smallest rotation taking direction ``source`` to direction ``target``.

  Opposite directions are a half-turn about an axis perpendicular to ``source`` (every such axis
  is equally short; the one perpendicular to x, or to y when ``source`` lies near x, is used).

  Args:
    source: (3,) direction, any non-zero length.
    target: (3,) direction, any non-zero length.

  Returns:
    The rotation R with ``R.apply(source / |source|) == target / |target|``; ``.as_matrix()``
    for (3, 3).
  """
  source = np.asarray(source, np.float64)
  target = np.asarray(target, np.float64)
  source = source / np.linalg.norm(source)
  target = target / np.linalg.norm(target)
  axis = np.cross(source, target)
  sine, cosine = np.linalg.norm(axis), float(source @ target)
  if sine < 1e-12:
    if cosine > 0:
      return Rotation.identity()
    helper = np.array([1.0, 0.0, 0.0]) if abs(source[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    axis = np.cross(source, helper)
    return Rotation.from_rotvec(np.pi * axis / np.linalg.norm(axis))
  return Rotation.from_rotvec(axis / sine * np.arctan2(sine, cosine))
