"""An initial estimate of each person from the 2D keypoints alone, for photos without a BEV /
HMR2 / SMPL-X estimate.

Each person starts in a canonical pose (arms lowered from the model's rest pose), upright, with its
pelvis on the mid-hip keypoint's viewing ray at the depth the torso's pixel length implies
(pinhole: ``depth = focal * torso_metres / torso_pixels``, torso = neck to mid-hip), turned about
the vertical (yaw) so that its shoulders and hips are as wide in the image as they look
(``cos(yaw) = signed width in pixels * depth / (focal * width in metres)``, corrected for the
person's angle off the optical axis; of the two yaws with that cosine, the one whose projected
keypoints fit better). Without a visible torso, the depth is the median of what the seen head and
trunk keypoint pairs imply. A short keypoint-only fit (``keypoint_init_config``: orientation and
placement first, then the pose and shape too) finishes it; people are fitted independently.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from posejax.body import keypoints as body_keypoints
from posejax.body.forward import forward
from posejax.body.model import BodyModel
from posejax.body.model import BodyParams
from posejax.camera import Camera
from posejax.camera import project
from posejax.config import FitConfig
from posejax.config import LossWeights
from posejax.config import StageConfig
from posejax.data.photo_files import MIN_CONFIDENCE
from posejax.errors import InvalidInputError
from posejax.errors import UnsupportedImageError
from posejax.fitting import fit

_BODY25 = body_keypoints.BODY_25_NAMES
_NECK, _MID_HIP = _BODY25.index("neck"), _BODY25.index("mid_hip")
_SHOULDERS = (_BODY25.index("left_shoulder"), _BODY25.index("right_shoulder"))
_HIPS = (_BODY25.index("left_hip"), _BODY25.index("right_hip"))
_RIGID = tuple(_BODY25.index(name) for name in (
    "nose", "neck", "right_shoulder", "left_shoulder", "mid_hip", "right_hip", "left_hip",
    "right_eye", "left_eye", "right_ear", "left_ear"))
"""BODY_25 points on the head and trunk, whose distances change little with the pose."""

CANONICAL_ARM_DROP = 1.2
"""Radians the canonical pose lowers each arm from the rest pose (a T-pose) about the body's
forward axis: arms hang about 20 degrees away from the sides."""

_UPRIGHT = np.array([np.pi, 0.0, 0.0])
"""Half a turn about x: a body (y up, facing +z) upright in front of the camera, facing it."""


def canonical_body_pose() -> np.ndarray:
  """(63,) axis-angle body pose, radians: the rest pose with the arms lowered."""
  pose = np.zeros((21, 3))
  left_shoulder, right_shoulder = 15, 16  # body_pose rows of SMPL-X joints 16 and 17
  # The body frame has x to the person's left and z forward: turning the left arm (along +x)
  # by a negative angle about z lowers it; the right arm (along -x) by a positive one.
  pose[left_shoulder, 2] = -CANONICAL_ARM_DROP
  pose[right_shoulder, 2] = CANONICAL_ARM_DROP
  return pose.reshape(-1)


def yaw_orient(yaw: float) -> np.ndarray:
  """(3,) axis-angle global orientation: upright before the camera, turned by ``yaw`` radians
  about the body's vertical axis (0: facing the camera)."""
  from scipy.spatial.transform import Rotation

  turn = Rotation.from_rotvec(_UPRIGHT) * Rotation.from_euler("y", yaw)
  return turn.as_rotvec()


@dataclasses.dataclass(frozen=True)
class CanonicalMeasures:
  """Lengths of the canonical body (zero betas) between BODY_25 points, metres."""

  torso: float  # neck to mid-hip
  shoulders: float
  hips: float
  distances: np.ndarray  # (25, 25) between all points


def canonical_measures(model: BodyModel) -> CanonicalMeasures:
  """Torso length, shoulder and hip widths of the canonical pose of ``model`` (metres)."""
  # Two copies: the shape ``init_from_keypoints`` poses its two candidate yaws in, so the compiled
  # ``_posed_keypoints`` is shared (an eager forward pass compiles each of its ops on its own).
  params = BodyParams.create(model, (2,), body_pose=np.tile(canonical_body_pose(), (2, 1)))
  points = np.asarray(_posed_keypoints(model, params)[0][0], np.float64)
  distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
  return CanonicalMeasures(torso=float(distances[_NECK, _MID_HIP]),
                           shoulders=float(distances[_SHOULDERS]), hips=float(distances[_HIPS]),
                           distances=distances)


def place_person(keypoints: np.ndarray, camera: Camera, measures: CanonicalMeasures,
                 path: str = "keypoints") -> tuple[np.ndarray, list[float]]:
  """Pelvis position and candidate yaws of one person from its BODY_25 keypoints.

  Args:
    keypoints: (25, 3) pixels and confidence.
    camera: the photo's camera.
    measures: the canonical body's lengths.
    path: the keypoint file (named in errors).

  Returns:
    ``(pelvis (3,) camera-frame metres, candidate yaws in radians)``.

  Raises:
    UnsupportedImageError: neither the torso nor two head or trunk points are visible.
  """
  # Viewing-ray slopes ((u - cx) / fx, (v - cy) / fy).
  rays = ((keypoints[:, :2] - np.asarray(camera.principal_point, np.float64))
          / np.asarray(camera.focal_length, np.float64))
  seen = np.nan_to_num(keypoints[:, 2]) > MIN_CONFIDENCE
  gap = lambda a, b: float(np.linalg.norm(rays[a] - rays[b]))
  if seen[_NECK] and seen[_MID_HIP] and gap(_NECK, _MID_HIP) > 0:
    depth = measures.torso / gap(_NECK, _MID_HIP)
  else:
    # No torso: the median of what each pair of seen head and trunk points implies (their
    # canonical 3D distance over their distance in the image).
    ids = [i for i in _RIGID if seen[i]]
    depths = [measures.distances[a, b] / gap(a, b) for k, a in enumerate(ids) for b in ids[k + 1:]
              if gap(a, b) > 0 and measures.distances[a, b] > 0.05]
    if not depths:
      raise UnsupportedImageError(path, "a person's torso (neck and mid-hip) is not visible and "
                                  "too few head, shoulder or hip keypoints are, so posejax cannot "
                                  "tell how far away they are; give an initial estimate (--init_dir)")
    depth = float(np.median(depths))
  if seen[_MID_HIP]:
    centre = rays[_MID_HIP]
  else:
    centre = rays[seen].mean(axis=0)
  pelvis = np.array([centre[0] * depth, centre[1] * depth, depth])
  # A person off the optical axis is seen from the side by the ray's angle: a horizontal
  # segment of width w at yaw psi (its direction (cos psi, 0, sin psi) in the camera frame), on a
  # ray at angle alpha, spans w cos(psi + alpha) / (depth cos alpha) in x / z. The person's left
  # is on the image's right when they face the camera.
  alpha = -float(np.arctan(centre[0]))
  cosines = [(rays[left, 0] - rays[right, 0]) * depth * np.cos(alpha) / metres
             for (left, right), metres in ((_SHOULDERS, measures.shoulders),
                                           (_HIPS, measures.hips))
             if seen[left] and seen[right]]
  if not cosines:
    return pelvis, [alpha, alpha + np.pi]
  turn = float(np.arccos(np.clip(np.mean(cosines), -1.0, 1.0)))
  return pelvis, sorted({alpha + turn, alpha - turn})


@jax.jit
def _posed_keypoints(model: BodyModel, params: BodyParams):
  """(K,) params -> ((K, 25, 3) BODY_25 points, (K, 3) pelvis), metres."""
  joints = forward(model, params).joints
  return body_keypoints.smplx_to_body25(joints), joints[..., 0, :]


def keypoint_init_config(max_iters: int = 100, *, pose_prior: float = 4.0,
                         init_pose: float = 10.0) -> FitConfig:
  """The keypoint-only fit that finishes ``init_from_keypoints`` (one person per scene): stage 1
  moves the orientation and translation, stage 2 the pose and shape too, held by the priors.

  Args:
    max_iters: the iteration cap of each stage.
    pose_prior: stage 2's weight of the pose prior (``posejax.losses.priors``).
    init_pose: stage 2's weight of the squared distance to the canonical pose (radians^2).
  """
  return FitConfig(
      people=1,
      stages=(
          StageConfig(("global_orient", "transl"), 0.02, max_iters,
                      LossWeights(keypoints=0.04, shape=40)),
          StageConfig(("body_pose", "betas", "transl", "global_orient"), 0.01, max_iters,
                      LossWeights(keypoints=0.04, pose_prior=pose_prior, init_pose=init_pose,
                                  shape=40)),
      ),
      name="keypoint-init",
  )


def init_from_keypoints(model: BodyModel, keypoints, camera: Camera, *, max_iters: int = 100,
                        path: str = "keypoints", config: FitConfig | None = None) -> BodyParams:
  """An initial estimate of the people from their 2D keypoints alone (see the module docstring).

  Args:
    model: the body model.
    keypoints: (P, 25, 3) BODY_25 pixels and confidence of P = 1 or 2 people.
    camera: the photo's camera (one, unbatched).
    max_iters: the cap of each stage of the keypoint-only fit; 0 skips the fit (the placed
      canonical bodies).
    path: the keypoint file, named in errors.
    config: the keypoint-only fit; ``keypoint_init_config(max_iters)`` when None.

  Returns:
    ``BodyParams`` with batch shape (P,), in the camera frame.

  Raises:
    UnsupportedImageError: a person whose distance cannot be told (no torso, shoulders or hips).
    InvalidInputError: misshaped keypoints.
  """
  keypoints = np.asarray(keypoints, np.float64)
  if keypoints.ndim != 3 or keypoints.shape[1:] != (25, 3) or keypoints.shape[0] not in (1, 2):
    raise InvalidInputError(f"keypoints must be (P, 25, 3) BODY_25 for P = 1 or 2 people, got "
                            f"{keypoints.shape}")
  measures = canonical_measures(model)
  pose = canonical_body_pose()
  seen = np.nan_to_num(keypoints[..., 2]) > MIN_CONFIDENCE
  orients, transls = [], []
  for person in range(keypoints.shape[0]):
    pelvis, yaws = place_person(keypoints[person], camera, measures, path)
    candidates = np.stack([yaw_orient(yaw) for yaw in yaws])
    params = BodyParams.create(model, (len(yaws),), global_orient=candidates,
                               body_pose=np.tile(pose, (len(yaws), 1)))
    points, root = (np.asarray(x, np.float64) for x in _posed_keypoints(model, params))
    shift = pelvis - root  # (K, 3): each candidate's pelvis onto the mid-hip ray
    pixels = np.asarray(project(camera, points + shift[:, None]), np.float64)
    gaps = np.linalg.norm(pixels - keypoints[person, None, :, :2], axis=-1)
    errors = np.where(seen[person][None], gaps, 0.0).sum(axis=1)
    best = int(np.argmin(errors))
    orients.append(candidates[best])
    transls.append(shift[best])
  people = keypoints.shape[0]
  init = BodyParams.create(model, (people,), global_orient=np.stack(orients),
                           body_pose=np.tile(pose, (people, 1)), transl=np.stack(transls))
  if max_iters <= 0:
    return init
  # Each person is its own one-person scene, and a lone person is fitted twice: always two
  # scenes, so photos of one and of two people share one compiled program.
  scenes = [0, 0] if people == 1 else [0, 1]
  result = fit(keypoints[scenes, None], None,
               init=jax.tree_util.tree_map(lambda x: jnp.asarray(x)[scenes, None], init),
               model=model, camera=camera, config=config or keypoint_init_config(max_iters))
  return jax.tree_util.tree_map(lambda x: jnp.asarray(x)[:people, 0], result.params)


def keypoint_error_px(model: BodyModel, params: BodyParams, keypoints, camera: Camera) -> float:
  """Mean distance in pixels between projected BODY_25 joints and the confident keypoints.

  Args:
    params: ``BodyParams`` with batch shape (P,).
    keypoints: (P, 25, 3).
  """
  people = int(np.shape(params.body_pose)[0])
  if people == 1:  # posed as two, the batch shape every other call here compiles for
    params = jax.tree_util.tree_map(lambda x: jnp.concatenate([x, x]), params)
  points, _ = _posed_keypoints(model, params)
  return body25_error_px(points[:people], keypoints, camera)


def body25_error_px(points, keypoints, camera: Camera) -> float:
  """``keypoint_error_px`` of posed BODY_25 points: (P, 25, 3) metres against (P, 25, 3)
  keypoints (pixels and confidence)."""
  pixels = np.asarray(project(camera, points), np.float64)
  keypoints = np.asarray(keypoints, np.float64)
  seen = np.nan_to_num(keypoints[..., 2]) > MIN_CONFIDENCE
  gaps = np.linalg.norm(pixels - keypoints[..., :2], axis=-1)
  return float(gaps[seen].mean()) if seen.any() else float("nan")
