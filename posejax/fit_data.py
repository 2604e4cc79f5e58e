"""What the compiled stage loop reads per scene and what a fit produces, shared by ``fitting``
(batches) and ``streaming`` (continuous batching)."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from posejax.body import keypoints as body_keypoints
from posejax.body.forward import forward
from posejax.body.model import PARAM_FIELDS
from posejax.body.model import BodyModel
from posejax.body.model import BodyParams
from posejax.camera import Camera
from posejax.camera import project
from posejax.config import TERMS
from posejax.config import FitConfig
from posejax.constraints import Constraints
from posejax.losses.keypoints import ankle_fallback

PERSON_FIELDS = ("template", "joint_template", "frozen_rotations", "frozen_transl")
"""The pieces of a reduced model that depend on a person's folded values (hands, face, ...)."""

ANCHORED = ("body_pose", "transl")
"""The parameters whose values at a stage's start anchor the init-pose and init-placement terms."""


@flax.struct.dataclass
class Scene:
  """One scene's data (batched over scenes with a leading axis in the loop)."""

  keypoints: jax.Array  # (P, 25, 3) pixels + confidence, ankle fallback applied
  camera: Camera
  constraints: Constraints
  weights: jax.Array  # (T,) this stage's weights for this scene
  anchor: dict  # ANCHORED field -> (P, width): the stage's starting values
  fixed: dict  # field -> (P, width) parameters not optimised in this stage
  person: dict  # PERSON_FIELDS -> (P, ...) folded per-person model pieces


@flax.struct.dataclass
class Outcome:
  """What the stages produced per scene (leading scene axis S; device or numpy arrays)."""

  params: dict  # field -> (S, P, width) final parameters
  stage_terms: Any  # (S, stages, T)
  stage_total: Any  # (S, stages)
  iterations: Any  # (S, stages)
  converged: Any  # (S, stages)
  keypoints: Any  # (S, P, 25, 3) after the ankle fallback
  missing: Any  # (S, P)
  fell_back: Any  # (S,)


@jax.jit
def prepare_keypoints(kernel: BodyModel, person: dict, init: dict, keypoints, camera):
  """The ankle fallback against the initial estimate's projected joints; and which people have no
  usable keypoint at all.

  Args:
    kernel: the fitter's reduced model; person: ``PERSON_FIELDS`` -> (S, P, ...) folded pieces.
    init: ``BodyParams`` (S, P); keypoints: (S, P, 25, 3); camera: ``Camera`` (S,).

  Returns:
    ``(keypoints (S, P, 25, 3), missing (S, P) bool)``.
  """

  def one_scene(person, init_params, keypoints, camera):
    def one_person(pieces, fields):
      return forward(kernel.replace(**pieces), BodyParams(**fields)).joints

    joints = jax.vmap(one_person)(person, init_params)
    projected = project(camera, body_keypoints.smplx_to_body25(joints))
    fixed = jax.vmap(ankle_fallback)(keypoints, projected)
    usable = (jnp.nan_to_num(keypoints[..., 2]) > 0) & jnp.all(
        jnp.isfinite(keypoints[..., :2]), axis=-1)
    return fixed, ~jnp.any(usable, axis=-1)

  fields = {name: getattr(init, name) for name in PARAM_FIELDS}
  return jax.vmap(one_scene)(person, fields, keypoints, camera)


def stage_weights(config: FitConfig, stage: int, fell_back, dtype) -> np.ndarray:
  """(S, T) each scene's weights in ``stage``: the fallback's where ``fell_back`` (S,) is set
  (host numpy, of ``dtype``)."""
  main = np.array([getattr(config.stages[stage].weights, t) for t in TERMS])
  backup = config.fallback if config.fallback is not None else config
  other = np.array([getattr(backup.stages[stage].weights, t) for t in TERMS])
  return np.where(np.asarray(fell_back)[:, None], other[None], main[None]).astype(dtype)
