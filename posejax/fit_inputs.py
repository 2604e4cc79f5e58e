"""The checks that turn a fit's inputs into batched arrays (host side, once per call): keypoints,
initial parameters, constraints and camera, each refused with an error that names what is wrong."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from posejax.body.model import PARAM_FIELDS
from posejax.body.model import BodyModel
from posejax.body.model import BodyParams
from posejax.body.model import field_width
from posejax.camera import Camera
from posejax.camera import reference_camera
from posejax.constraints import Constraints
from posejax.errors import InvalidInputError


def people_of(image_kp) -> int:
  """P, the people per scene of (..., P, 25, 3) keypoints (1 or 2)."""
  shape = np.shape(image_kp)
  if len(shape) < 3 or shape[-2:] != (25, 3) or shape[-3] not in (1, 2):
    raise InvalidInputError(
        f"image_kp has shape {shape}; expected (..., P, 25, 3): BODY_25 (x, y, confidence) in "
        "pixels for P = 1 or 2 people per scene.")
  return int(shape[-3])


def check_keypoints(image_kp, people: int) -> np.ndarray:
  """The keypoints as float64, refused if they hold another people count or infinities."""
  if people_of(image_kp) != people:
    raise InvalidInputError(
        f"image_kp holds {np.shape(image_kp)[-3]} people per scene but the config fits {people}.")
  image_kp = np.asarray(image_kp, dtype=np.float64)
  if np.any(np.isinf(image_kp[..., :2])):
    raise InvalidInputError("image_kp has infinite coordinates; use NaN (or confidence 0) to mark "
                            "a missing keypoint.")
  return image_kp


def check_init(model: BodyModel, init: BodyParams, shape: tuple[int, ...]) -> BodyParams:
  """``init`` broadcast to ``shape + (width,)`` per field in the model's dtype; refused when a
  field cannot broadcast or is not finite."""
  if not isinstance(init, BodyParams):
    raise InvalidInputError(f"init must be a posejax.body.BodyParams, got {type(init).__name__}")
  fields = {}
  for name in PARAM_FIELDS:
    value = np.asarray(getattr(init, name))
    width = field_width(model, name)
    try:
      value = np.broadcast_to(value, shape + (width,))
    except ValueError:
      raise InvalidInputError(
          f"init.{name} has shape {value.shape}; expected {shape + (width,)} (batch, people, "
          f"{width}).") from None
    if not np.all(np.isfinite(value)):
      raise InvalidInputError(f"init.{name} has non-finite values; give a finite initial estimate.")
    fields[name] = jnp.asarray(value, model.dtype)
  return BodyParams(**fields)


def batch_constraints(constraints, batch_shape, people: int, scenes: int) -> Constraints:
  """Constraints with one flat axis of ``scenes`` (from None: empty answers; one ``Constraints``
  of ``batch_shape``; or a sequence of unbatched ones)."""
  if constraints is None:
    empty = Constraints.from_pairs([[]], people=people)
    return Constraints.stack([empty] * scenes)
  if isinstance(constraints, Constraints):
    if constraints.people != people:
      raise InvalidInputError(
          f"constraints are for {constraints.people} people but the fit is for {people}.")
    shape = tuple(constraints.batch_shape)
    if shape == ():
      if scenes != 1:
        raise InvalidInputError(
            f"one unbatched Constraints for {scenes} scenes; pass one per scene "
            "(Constraints.stack or a list).")
      return Constraints.stack([constraints])
    if shape != tuple(batch_shape):
      raise InvalidInputError(
          f"constraints have batch shape {shape} but the keypoints {tuple(batch_shape)}.")
    return jax.tree_util.tree_map(
        lambda x: np.reshape(x, (scenes,) + np.shape(x)[len(shape):]), constraints)
  items = list(constraints)
  if len(items) != scenes:
    raise InvalidInputError(f"{len(items)} constraints for {scenes} scenes; give one per scene.")
  for item in items:
    if item.people != people:
      raise InvalidInputError(f"constraints are for {item.people} people but the fit is for "
                              f"{people}.")
  return Constraints.stack(items)


def batch_camera(camera, image_size, batch_shape, scenes: int, dtype) -> Camera:
  """A camera per scene on one flat axis of ``scenes``: one camera repeated, one per scene of
  ``batch_shape`` flattened, or the reference camera of ``image_size``."""
  if camera is None:
    if image_size is None:
      raise InvalidInputError("fit needs a camera or an image_size=(width, height) in pixels for "
                              "the reference camera.")
    camera = reference_camera(float(image_size[0]), float(image_size[1]), dtype=dtype)
  if not isinstance(camera, Camera):
    raise InvalidInputError(f"camera must be a posejax.camera.Camera, got {type(camera).__name__}")
  extra = camera.focal_length.ndim - 1
  if extra == 0:
    return jax.tree_util.tree_map(
        lambda x: jnp.asarray(np.broadcast_to(np.asarray(x, dtype), (scenes,) + x.shape)), camera)
  if tuple(camera.focal_length.shape[:-1]) != tuple(batch_shape):
    raise InvalidInputError(
        f"camera batch shape {camera.focal_length.shape[:-1]} differs from the scenes' "
        f"{tuple(batch_shape)}; give one camera or one per scene.")
  return jax.tree_util.tree_map(
      lambda x: jnp.reshape(jnp.asarray(x, dtype), (scenes,) + x.shape[extra:]), camera)
