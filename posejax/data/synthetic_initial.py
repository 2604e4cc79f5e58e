"""Initial estimates of synthetic scenes: the ground truth degraded as a monocular regressor errs.

``degrade`` adds noise at fixed levels; ``calibrated_degrade`` scales one draw of noise to a
per-scene joint PA-MPJPE target; ``initial_errors`` measures an estimate as the published initial
errors are measured. Noise is largest on joints whose keypoints are hidden (``hidden_joints``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from posejax import metrics
from posejax.body import keypoints as body_keypoints
from posejax.data import synthetic_geometry as geometry
from posejax.data import synthetic_poses as poses
from posejax.data.synthetic_settings import SyntheticSettings


def _rotated(rotvecs: np.ndarray, noise: np.ndarray) -> np.ndarray:
  """(..., 3) axis-angles, each composed after its (..., 3) ``noise`` rotation vector."""
  flat = Rotation.from_rotvec(noise.reshape(-1, 3)) * Rotation.from_rotvec(rotvecs.reshape(-1, 3))
  return flat.as_rotvec().reshape(rotvecs.shape)


# Which keypoints each body joint's rotation moves (its child end): hidden ones mean a hidden limb.
_JOINT_MOVES: dict[str, tuple[str, ...]] = {
    "spine1": ("neck",), "spine2": ("neck",), "spine3": ("neck",),
    "neck": ("nose", "left_eye", "right_eye"), "head": ("nose", "left_ear", "right_ear"),
}
for _side in ("left", "right"):
  _JOINT_MOVES.update({
      f"{_side}_hip": (f"{_side}_knee",), f"{_side}_knee": (f"{_side}_ankle",),
      f"{_side}_ankle": (f"{_side}_big_toe", f"{_side}_heel"),
      f"{_side}_foot": (f"{_side}_big_toe", f"{_side}_small_toe"),
      f"{_side}_collar": (f"{_side}_shoulder",), f"{_side}_shoulder": (f"{_side}_elbow",),
      f"{_side}_elbow": (f"{_side}_wrist",), f"{_side}_wrist": (f"{_side}_wrist",),
  })
del _side


def hidden_joints(occluded: np.ndarray) -> np.ndarray:
  """(P, 21) bool: body joints whose rotation moves a hidden keypoint (``occluded``: (P, 25))."""
  names = body_keypoints.BODY_25_NAMES
  out = np.zeros((occluded.shape[0], len(poses.BODY_JOINTS)), bool)
  for j, joint in enumerate(poses.BODY_JOINTS):
    ids = [names.index(n) for n in _JOINT_MOVES[joint]]
    out[:, j] = occluded[:, ids].any(axis=1)
  return out


def _noisy_rotations(rotvecs: np.ndarray, sigma: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
  """Each axis-angle composed with a random rotation whose vector has per-axis std ``sigma``."""
  return _rotated(rotvecs, rng.normal(0.0, 1.0, rotvecs.shape) * sigma[..., None])


def degrade(model, gt: dict[str, np.ndarray], occluded: np.ndarray, settings: SyntheticSettings,
            rng: np.random.Generator) -> dict[str, np.ndarray]:
  """A monocular regressor's kind of estimate of the ground truth (camera space).

  Body joints get rotation noise of ``init_pose_noise`` per axis, or ``init_occluded_pose_noise``
  where they move a hidden keypoint; roots ``init_orient_noise``; betas ``init_shape_noise``. Each
  person's pelvis slides along its viewing ray by a relative ``init_depth_noise`` and moves by an
  extra ``init_relative_noise`` per axis.

  Args:
    gt: ground-truth parameters (``(P, width)`` numpy fields), camera space.
    occluded: (P, 25) hidden keypoints.
    rng: random generator (consumed).

  Returns:
    The degraded parameters (the same fields).
  """
  people = gt["body_pose"].shape[0]
  hidden = hidden_joints(occluded)
  sigma = np.where(hidden, settings.init_occluded_pose_noise, settings.init_pose_noise)
  body_pose = _noisy_rotations(gt["body_pose"].reshape(people, -1, 3), sigma, rng)
  orient = _noisy_rotations(gt["global_orient"][:, None, :],
                            np.full((people, 1), settings.init_orient_noise), rng)[:, 0]
  betas = gt["betas"] + rng.normal(0.0, settings.init_shape_noise, gt["betas"].shape)
  scale = 1.0 + rng.normal(0.0, settings.init_depth_noise, (people, 1))
  pelvis = (_pelvis(model, gt) * np.maximum(scale, 0.2)
            + rng.normal(0.0, settings.init_relative_noise, (people, 3)))
  return _with_pelvis(model, {**gt, "body_pose": body_pose.reshape(people, -1),
                              "global_orient": orient, "betas": betas}, pelvis)


def _pelvis(model, params: dict[str, np.ndarray]) -> np.ndarray:
  return geometry.pelvis_rest_position(model, params["betas"]) + params["transl"]


def _with_pelvis(model, params: dict[str, np.ndarray], pelvis: np.ndarray) -> dict[str, np.ndarray]:
  return {**params, "transl": pelvis - geometry.pelvis_rest_position(model, params["betas"])}


def rescale_distance(model, params: dict[str, np.ndarray], factor: float) -> dict[str, np.ndarray]:
  """The same people ``factor`` times as far from the camera (pelvises along their rays)."""
  return _with_pelvis(model, params, _pelvis(model, params) * factor)


_LSP_REGRESSORS: dict[int, tuple[Any, np.ndarray]] = {}


def _lsp_joints(model, params: dict[str, np.ndarray]) -> np.ndarray:
  """(P, 14, 3) metres: the posed people's LSP-14 joints (the regressor cached per model)."""
  entry = _LSP_REGRESSORS.get(id(model))
  if entry is None or entry[0] is not model:
    entry = (model, np.asarray(metrics.lsp14_regressor_for(model), np.float64))
    _LSP_REGRESSORS[id(model)] = entry
  vertices, _ = geometry.posed(model, params)
  return np.einsum("jv,pvk->pjk", entry[1], vertices)


def initial_errors(model, gt: dict[str, np.ndarray], init: dict[str, np.ndarray]
                   ) -> dict[str, float]:
  """How far an initial estimate is from the truth, as the published initial errors are measured.

  Args:
    gt: ground-truth parameters (``(P, width)`` numpy fields).
    init: the estimate (same fields).

  Returns:
    ``pa_mpjpe``: mm, LSP-14 joints; two people: one similarity Procrustes over both (the joint
    PA-MPJPE of the paper), one person: PA-MPJPE. ``person_pa_mpjpe``: mm, mean of each person
    aligned alone. ``relative``: mm, two people: error of the vector from person 0's pelvis to
    person 1's (camera space, no alignment); NaN for one person.
  """
  gt_joints, init_joints = _lsp_joints(model, gt), _lsp_joints(model, init)
  return _errors_of(init_joints, gt_joints, _pelvis(model, init), _pelvis(model, gt))


def _errors_of(init_joints, gt_joints, init_pelvis, gt_pelvis) -> dict[str, float]:
  people = gt_joints.shape[0]
  per_person = float(np.mean([metrics.pa_mpjpe(init_joints[p], gt_joints[p])
                              for p in range(people)]))
  if people == 2:
    joint = float(metrics.joint_pa_mpjpe(init_joints, gt_joints)[0])
    relative = 1000 * float(np.linalg.norm((init_pelvis[1] - init_pelvis[0])
                                           - (gt_pelvis[1] - gt_pelvis[0])))
  else:
    joint, relative = per_person, float("nan")
  return {"pa_mpjpe": joint, "person_pa_mpjpe": per_person, "relative": relative}


_CALIBRATION_GRID = 16
_CALIBRATION_MAX_NOISE = 1.2
"""Radians: largest per-axis pose noise of visible joints the calibration tries (hidden joints get
the ``init_occluded_pose_noise / init_pose_noise`` multiple of it)."""


def calibrated_degrade(model, gt: dict[str, np.ndarray], occluded: np.ndarray,
                       settings: SyntheticSettings, rng: np.random.Generator,
                       details: dict | None = None) -> dict[str, np.ndarray]:
  """An initial estimate whose error is set to the settings' per-scene targets.

  The scene's targets are ``init_target_pa_mpjpe`` and ``init_target_relative`` (mm) times one
  factor ``exp(s z - s^2 / 2)``, ``s = init_target_spread``. Noise directions are drawn once:
  rotations per body joint (hidden ones ``init_occluded_pose_noise / init_pose_noise`` times
  larger) and root, shape noise, for two people a pelvis-to-pelvis offset of exactly the relative
  target, then a shared move along the mean viewing ray by a relative ``init_depth_noise``. The
  rotation noise's scale is searched (two 16-point grids over [0, 1.2] rad, then linear
  interpolation) so that the joint PA-MPJPE equals the target, clipped to 0 or 1.2 rad.

  Args:
    model, gt, occluded, rng: as ``degrade``.
    settings: targets and noise ratios.
    details: optional dict that receives ``target`` (mm), ``relative_target`` (mm), ``scale``
      (rad) and the reached ``errors`` (``initial_errors``).

  Returns:
    The degraded parameters (same fields).
  """
  people = gt["body_pose"].shape[0]
  factor = float(np.exp(settings.init_target_spread * rng.normal()
                        - 0.5 * settings.init_target_spread ** 2))
  target = settings.init_target_pa_mpjpe * factor
  base = max(settings.init_pose_noise, 1e-9)
  ratio = np.where(hidden_joints(occluded), settings.init_occluded_pose_noise / base, 1.0)
  pose_dirs = rng.normal(0.0, 1.0, (people, 21, 3)) * ratio[..., None]
  orient_dirs = rng.normal(0.0, 1.0, (people, 1, 3)) * settings.init_orient_noise / base
  betas = gt["betas"] + rng.normal(0.0, settings.init_shape_noise, gt["betas"].shape)
  pelvis = gt_pelvis = _pelvis(model, gt)
  relative_target = 0.0
  if people == 2:
    direction = rng.normal(0.0, 1.0, 3) * np.array([1.0, 0.5, 2.0])
    relative_target = settings.init_target_relative * factor
    offset = direction / np.linalg.norm(direction) * relative_target / 1000.0
    pelvis = pelvis + np.stack([-offset / 2, offset / 2])
  pelvis = pelvis + rng.normal(0.0, settings.init_depth_noise) * pelvis.mean(axis=0)
  gt_pose = gt["body_pose"].reshape(people, 21, 3)
  gt_joints = _lsp_joints(model, gt)

  def build(scale: float) -> dict[str, np.ndarray]:
    return _with_pelvis(model, {
        **gt, "body_pose": _rotated(gt_pose, scale * pose_dirs).reshape(people, -1),
        "global_orient": _rotated(gt["global_orient"][:, None], scale * orient_dirs)[:, 0],
        "betas": betas}, pelvis)

  def errors(scales: np.ndarray) -> np.ndarray:
    built = [build(float(a)) for a in scales]
    stacked = {k: np.concatenate([b[k] for b in built]) for k in built[0]}
    joints = _lsp_joints(model, stacked).reshape(len(scales), people, 14, 3)
    if people == 2:
      return np.array([float(metrics.joint_pa_mpjpe(j, gt_joints)[0]) for j in joints])
    return np.array([float(metrics.pa_mpjpe(j[0], gt_joints[0])) for j in joints])

  low, high = 0.0, _CALIBRATION_MAX_NOISE
  for _ in range(2):
    grid = np.linspace(low, high, _CALIBRATION_GRID)
    values = errors(grid)
    above = np.flatnonzero(values >= target)
    if above.size == 0 or above[0] == 0:  # the target is out of reach, or reached at the start
      low = high = grid[0] if above.size else grid[-1]
      break
    i = above[0]
    low, high, e_low, e_high = grid[i - 1], grid[i], values[i - 1], values[i]
  scale = (low if low == high
           else low + (target - e_low) / max(e_high - e_low, 1e-9) * (high - low))
  init = build(scale)
  if details is not None:
    details.update(target=target, relative_target=relative_target, scale=scale,
                   errors=_errors_of(_lsp_joints(model, init), gt_joints, _pelvis(model, init),
                                     gt_pelvis))
  return init
