"""Pinhole camera: the reference's fixed default camera and user-given intrinsics.

Axis convention (the reference's, and OpenCV's): camera space has x to the right of the image,
y down the image, z forward along the optical axis, so a point is in front of the camera when
z > 0 and lands on pixel

    u = cx + fx * x / z,    v = cy + fy * y / z.

The reference builds a PyTorch3D camera (x left, y up) rolled 180 degrees about its optical axis;
that roll turns it into exactly this convention, with identity extrinsics: BEV's bodies are
already in camera space. A SMPL-X body in its own frame (y up, facing +z) therefore has to be
turned 180 degrees about x to stand upright in front of this camera and face it; BEV's
``global_orient`` carries that turn. The optional extrinsics here map world points into camera
space, ``x_cam = rotation @ x_world + translation``; the reference never uses them (identity).
Pixels count from the image's top-left corner.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from posejax.errors import InvalidInputError

REFERENCE_FIELD_OF_VIEW_DEG = 60.0
"""The reference's field of view across the longer image side, degrees (BEV's camera)."""

DEFAULT_MIN_DEPTH = 1e-3
"""Depth (metres) below which ``project`` clamps z, so points at or behind the camera stay finite."""


@struct.dataclass
class Camera:
  """A pinhole camera with optional world-to-camera extrinsics.

  Build it with ``reference_camera`` (the reference's camera) or
  ``Camera.from_intrinsics``; those check their inputs. It is a pytree: stack cameras and
  ``jax.vmap`` over scenes.
  """

  focal_length: jax.Array
  """(2,) focal lengths (fx, fy), pixels."""
  principal_point: jax.Array
  """(2,) principal point (cx, cy), pixels from the top-left corner."""
  image_size: jax.Array
  """(2,) image (width, height), pixels."""
  rotation: jax.Array
  """(3, 3) world-to-camera rotation (identity for the reference camera)."""
  translation: jax.Array
  """(3,) world-to-camera translation, metres (zero for the reference camera)."""

  @classmethod
  def from_intrinsics(
      cls,
      focal_length: float | Sequence[float],
      principal_point: Sequence[float],
      image_size: Sequence[float],
      rotation: np.ndarray | None = None,
      translation: np.ndarray | None = None,
      dtype=jnp.float32,
  ) -> Camera:
    """A camera from user-given intrinsics (and optionally extrinsics).

    Args:
      focal_length: f or (fx, fy), pixels, > 0.
      principal_point: (cx, cy), pixels.
      image_size: (width, height), pixels, > 0.
      rotation: (3, 3) world-to-camera rotation; identity if omitted.
      translation: (3,) world-to-camera translation, metres; zero if omitted.
      dtype: floating dtype of the stored arrays.

    Raises:
      InvalidInputError: on wrong shapes, non-finite values, non-positive focal length or image
        size, or a rotation that is not orthonormal with determinant +1.
    """
    focal = np.asarray(focal_length, dtype=np.float64)
    if focal.ndim == 0:
      focal = np.full(2, float(focal))
    centre = np.asarray(principal_point, dtype=np.float64)
    size = np.asarray(image_size, dtype=np.float64)
    rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    trans = np.zeros(3) if translation is None else np.asarray(translation, dtype=np.float64)
    for name, value, shape in (
        ("focal_length", focal, (2,)),
        ("principal_point", centre, (2,)),
        ("image_size", size, (2,)),
        ("rotation", rot, (3, 3)),
        ("translation", trans, (3,)),
    ):
      if value.shape != shape:
        raise InvalidInputError(f"Camera {name} must have shape {shape}, got {value.shape}")
      if not np.all(np.isfinite(value)):
        raise InvalidInputError(f"Camera {name} must be finite, got {value.tolist()}")
    if np.any(focal <= 0):
      raise InvalidInputError(f"Camera focal_length must be positive pixels, got {focal.tolist()}")
    if np.any(size <= 0):
      raise InvalidInputError(f"Camera image_size must be positive pixels, got {size.tolist()}")
    if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-5) or np.linalg.det(rot) < 0:
      raise InvalidInputError(
          "Camera rotation must be a proper rotation matrix (orthonormal, det +1); "
          f"got {rot.tolist()}"
      )
    return cls(
        focal_length=jnp.asarray(focal, dtype),
        principal_point=jnp.asarray(centre, dtype),
        image_size=jnp.asarray(size, dtype),
        rotation=jnp.asarray(rot, dtype),
        translation=jnp.asarray(trans, dtype),
    )


def reference_focal_length(width: float, height: float) -> float:
  """The reference's focal length, ``max(W, H) / (2 tan 30 deg)`` pixels (60 degree field of view)."""
  half_angle = math.radians(REFERENCE_FIELD_OF_VIEW_DEG / 2.0)
  return max(width, height) / (2.0 * math.tan(half_angle))


def reference_camera(width: float, height: float, dtype=jnp.float32) -> Camera:
  """The reference's fixed camera for a ``width`` x ``height`` pixel image: focal length
  ``reference_focal_length`` on both axes, principal point ``(W / 2, H / 2)``, identity extrinsics.

  Args:
    width, height: image size, pixels.
    dtype: floating dtype of the stored arrays.

  Raises:
    InvalidInputError: when the size is not positive and finite.
  """
  if not (np.isfinite(width) and np.isfinite(height) and width > 0 and height > 0):
    raise InvalidInputError(f"image width and height must be positive pixels, got {width}x{height}")
  return Camera.from_intrinsics(
      focal_length=reference_focal_length(width, height),
      principal_point=(width / 2.0, height / 2.0),
      image_size=(width, height),
      dtype=dtype,
  )


def _row(vector: jax.Array, ndim: int) -> jax.Array:
  """Reshapes a (3,) vector to broadcast against (..., 3) without implicit rank promotion."""
  return jnp.reshape(vector, (1,) * (ndim - 1) + (vector.shape[-1],))


def to_camera_frame(camera: Camera, points: jax.Array) -> jax.Array:
  """World points in camera space, ``rotation @ p + translation``.

  Args:
    camera: the camera.
    points: (..., 3) points, metres.

  Returns:
    (..., 3) points in camera space (x right, y down, z forward), metres.
  """
  points = jnp.asarray(points)
  if points.ndim < 1 or points.shape[-1] != 3:
    raise InvalidInputError(f"points must have shape (..., 3), got {points.shape}")
  rotated = jnp.einsum("ij,...j->...i", camera.rotation.astype(points.dtype), points)
  return rotated + _row(camera.translation.astype(points.dtype), points.ndim)


def project(camera: Camera, points: jax.Array, min_depth: float = DEFAULT_MIN_DEPTH) -> jax.Array:
  """Projects 3D points to pixels.

  Points with depth below ``min_depth`` (at or behind the camera) are projected as if their depth
  were ``min_depth``: values and gradients stay finite, and the gradient through the clamped depth
  is zero. Losses should down-weight such points; a fitted body never legitimately goes there.

  Args:
    camera: the camera.
    points: (..., 3) world points, metres.
    min_depth: smallest depth used in the division, metres (> 0).

  Returns:
    (..., 2) pixel coordinates (u right, v down) from the image's top-left corner.

  Raises:
    InvalidInputError: when ``points`` is not (..., 3).
  """
  cam = to_camera_frame(camera, points)
  depth = cam[..., 2:]
  safe_depth = jnp.where(depth > min_depth, depth, jnp.full_like(depth, min_depth))
  ndim = cam.ndim
  focal = _row(camera.focal_length.astype(cam.dtype), ndim)
  centre = _row(camera.principal_point.astype(cam.dtype), ndim)
  return centre + focal * cam[..., :2] / safe_depth


def stack_cameras(cameras: Sequence[Camera]) -> Camera:
  """Stacks single cameras into one with a leading scene axis (what ``fit`` takes per scene)."""
  cameras = list(cameras)
  if not cameras:
    raise InvalidInputError("stack_cameras needs at least one camera")
  return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *cameras)
