"""The 2D keypoint loss: confidence-weighted squared reprojection error, normalised by the box size.

For one person, with detected BODY_25 keypoints ``x_j`` (pixels) and confidences ``c_j``, and the
model's projected joints ``p_j`` in the same order::

    s = 512 / max(box width, box height)     (box of the confident detected keypoints)
    L = sum_j c_j || s p_j - s x_j ||^2

The scale makes one weight fit every image, as in the reference. "Confident" means
``c_j > min_confidence`` (0 by default: the keypoints that weigh in the loss).

A keypoint with confidence 0, negative or NaN, or a non-finite coordinate contributes nothing and
is zeroed before any arithmetic, so neither loss nor gradient turns NaN (the reference's would).
Before the fit, :func:`ankle_fallback` replaces ankles below 0.2 confidence, and their foot
points, with the initial estimate's projected joints at confidence 0.5.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from posejax.body.keypoints import NUM_BODY_25
from posejax.errors import InvalidInputError

NORMALISED_BOX_SIZE = 512.0
"""Pixels the larger side of the keypoint box is scaled to."""

MIN_BOX_SIZE = 1.0
"""Pixels: floor on the box's larger side, so one lone keypoint does not give an infinite scale."""

# BODY_25 indices (posejax.body.keypoints.BODY_25_NAMES has the names; the order is OpenPose's).
RIGHT_ANKLE = 11
LEFT_ANKLE = 14
RIGHT_FOOT = (22, 23, 24)
"""Right big toe, small toe, heel."""
LEFT_FOOT = (19, 20, 21)
"""Left big toe, small toe, heel."""


def _check_keypoints(name: str, keypoints: jax.Array) -> None:
  if keypoints.ndim != 2 or keypoints.shape[-1] != 3:
    raise InvalidInputError(f"{name} has shape {keypoints.shape}; expected (J, 3) rows of "
                            "(x, y, confidence) in pixels for one person (vmap for more).")


def usable_keypoints(keypoints: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Sanitised coordinates and confidences: unusable keypoints become zeros.

  Args:
    keypoints: (J, 3) rows ``(x, y, confidence)``, pixels.

  Returns:
    ``(xy, confidence)``: (J, 2) pixels and (J,) weights, both zero where the keypoint is unusable
    (non-finite coordinate, or confidence not a positive finite number).
  """
  _check_keypoints("keypoints", keypoints)
  xy, confidence = keypoints[:, :2], keypoints[:, 2]
  usable = (jnp.all(jnp.isfinite(xy), axis=-1) & jnp.isfinite(confidence) & (confidence > 0))
  xy = jnp.where(usable[:, None], xy, 0.0)
  confidence = jnp.where(usable, confidence, 0.0)
  return xy, confidence


def keypoint_box_scale(keypoints: jax.Array, *, min_confidence: float = 0.0) -> jax.Array:
  """The normalising scale ``512 / max(box width, box height)`` of one person's keypoints.

  Args:
    keypoints: (J, 3) rows ``(x, y, confidence)``, pixels.
    min_confidence: a keypoint counts for the box when its confidence is above this (and it is
      usable at all, see :func:`usable_keypoints`).

  Returns:
    () scale in 1/pixel-units (normalised pixels per pixel). 1 when no keypoint counts (the loss is
    then zero anyway at the default threshold); the box side is floored at ``MIN_BOX_SIZE`` pixels.
  """
  xy, confidence = usable_keypoints(keypoints)
  counts = confidence > min_confidence
  any_counts = jnp.any(counts)
  big = jnp.asarray(jnp.inf, xy.dtype)
  low = jnp.min(jnp.where(counts[:, None], xy, big), axis=0)
  high = jnp.max(jnp.where(counts[:, None], xy, -big), axis=0)
  side = jnp.where(any_counts, jnp.max(high - low), NORMALISED_BOX_SIZE)
  side = jnp.maximum(side, MIN_BOX_SIZE)
  return jax.lax.stop_gradient(NORMALISED_BOX_SIZE / side)


def keypoint_loss(
    projected: jax.Array,
    keypoints: jax.Array,
    *,
    min_confidence: float = 0.0,
) -> jax.Array:
  """Confidence-weighted squared reprojection error of one person, box-normalised.

  ``sum_j c_j ||s p_j - s x_j||^2`` with ``s`` from :func:`keypoint_box_scale`; unusable keypoints
  contribute nothing (see the module docstring). Apply :func:`ankle_fallback` to ``keypoints``
  once before the fit.

  Args:
    projected: (J, 2) model joints projected to the image, pixels, in the keypoints' order
      (BODY_25 for the method).
    keypoints: (J, 3) detected ``(x, y, confidence)``, pixels.
    min_confidence: confidence a keypoint must exceed to count for the box (default 0, as in the
      reference).

  Returns:
    () loss in normalised pixels^2 (not weighted; the fit multiplies by its keypoint weight).
  """
  _check_keypoints("keypoints", keypoints)
  if projected.shape != (keypoints.shape[0], 2):
    raise InvalidInputError(f"projected has shape {projected.shape}; expected "
                            f"({keypoints.shape[0]}, 2) pixels, one row per keypoint.")
  xy, confidence = usable_keypoints(keypoints)
  scale = keypoint_box_scale(keypoints, min_confidence=min_confidence)
  residual = scale * (projected - xy)
  residual = jnp.where(confidence[:, None] > 0, residual, 0.0)
  return jnp.sum(confidence * jnp.sum(residual * residual, axis=-1))


def ankle_fallback(
    keypoints: jax.Array,
    initial_projected: jax.Array,
    *,
    threshold: float = 0.2,
    fallback_confidence: float = 0.5,
) -> jax.Array:
  """Replaces unreliable ankles (and their feet) by the initial estimate's projected joints.

  For each side: when the ankle's confidence is below ``threshold`` or NaN (cropped or occluded
  feet), the ankle and its big toe, small toe and heel take the positions of the initial estimate's
  projected joints, with confidence ``fallback_confidence``, whatever their own confidences were.
  (The reference treats a NaN confidence as reliable; posejax treats it as missing.)

  Args:
    keypoints: (25, 3) BODY_25 rows ``(x, y, confidence)``, pixels, one person.
    initial_projected: (25, 2) the initial estimate's BODY_25 joints projected to the image, pixels.
    threshold: ankle confidence below which the fallback applies (0.2 in the reference).
    fallback_confidence: confidence given to the replaced points (0.5 in the reference).

  Returns:
    (25, 3) keypoints with the fallback applied.
  """
  _check_keypoints("keypoints", keypoints)
  if keypoints.shape[0] != NUM_BODY_25 or initial_projected.shape != (NUM_BODY_25, 2):
    raise InvalidInputError(
        f"ankle_fallback needs BODY_25 keypoints (25, 3) and initial_projected (25, 2); got "
        f"{keypoints.shape} and {initial_projected.shape}.")
  keypoints = jnp.asarray(keypoints)
  replacement = jnp.concatenate(
      [jnp.asarray(initial_projected, keypoints.dtype),
       jnp.full((NUM_BODY_25, 1), fallback_confidence, keypoints.dtype)], axis=-1)
  confidence = keypoints[:, 2]
  replace = jnp.zeros((NUM_BODY_25,), bool)
  for ankle, foot in ((RIGHT_ANKLE, RIGHT_FOOT), (LEFT_ANKLE, LEFT_FOOT)):
    unreliable = ~(confidence[ankle] >= threshold)
    replace = replace.at[jnp.array((ankle,) + foot)].set(unreliable)
  return jnp.where(replace[:, None], replacement, keypoints)
