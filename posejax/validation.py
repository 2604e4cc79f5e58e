"""Checks at the fit's boundary: inputs that cannot give a meaningful fit are refused with a message
naming the argument; results that are not trustworthy are flagged per scene and warned about once.

Keypoints must lie within ``MAX_VIEW_ANGLE_FOCALS`` focal lengths of the principal point (about 87
degrees off the optical axis: anything further is no detection a pinhole camera made), and every
initial root ``MIN_DEPTH_M`` in front of the camera (behind it the projection flips and the fit runs
away). ``diverged`` flags finite results with a person behind the camera or keypoints on average
further than ``DIVERGED_KEYPOINT_ERROR`` normalised pixels (a quarter of the 512-pixel box) away.
"""

from __future__ import annotations

import warnings

import numpy as np

from posejax.body.forward import rest_root
from posejax.errors import InvalidInputError
from posejax.errors import PoseJaxWarning

MAX_VIEW_ANGLE_FOCALS = 20.0
MIN_DEPTH_M = 0.05
DIVERGED_KEYPOINT_ERROR = 128.0


def check_keypoint_values(image_kp: np.ndarray, camera) -> None:
  """Refuses confidences outside [0, 1] and coordinates no camera could have produced.

  Args:
    image_kp: (scenes, P, 25, 3) pixels and confidence.
    camera: the ``Camera`` batched over scenes.
  """
  confidence = image_kp[..., 2]
  known = np.isfinite(confidence)
  if np.any(known & ((confidence < 0) | (confidence > 1))):
    worst = confidence[known & ((confidence < 0) | (confidence > 1))].flat[0]
    raise InvalidInputError(
        f"image_kp confidence must lie in [0, 1] (NaN or 0 marks a missing keypoint); found "
        f"{worst:.3g}. Rescale detector scores to probabilities.")
  focal = np.asarray(camera.focal_length, np.float64)[:, None, None, :]
  centre = np.asarray(camera.principal_point, np.float64)[:, None, None, :]
  offset = np.abs(image_kp[..., :2] - centre) / focal
  used = np.isfinite(offset) & (np.nan_to_num(confidence, nan=0.0) > 0)[..., None]
  if np.any(used & (offset > MAX_VIEW_ANGLE_FOCALS)):
    worst = np.max(np.where(used, offset, 0.0))
    raise InvalidInputError(
        f"image_kp has a confident keypoint {worst:.3g} focal lengths from the principal point "
        f"(at most {MAX_VIEW_ANGLE_FOCALS:g}); check the keypoints' units (pixels) and the "
        "image size or camera.")


def check_camera(camera) -> None:
  """Refuses a camera with non-finite numbers or non-positive focal lengths."""
  for name in ("focal_length", "principal_point", "rotation", "translation"):
    value = np.asarray(getattr(camera, name))
    if not np.all(np.isfinite(value)):
      raise InvalidInputError(f"camera.{name} has non-finite values; build the camera with "
                              "posejax.camera.reference_camera or Camera.from_intrinsics.")
  if np.any(np.asarray(camera.focal_length) <= 0):
    raise InvalidInputError("camera.focal_length must be positive pixels.")


def root_depths(model, betas, transl, camera) -> np.ndarray:
  """(scenes, P) depth of each person's root joint in the camera frame, metres (host numpy). The
  root rotates about itself, so it sits at its shaped rest position plus ``transl``.

  Args:
    model: the ``BodyModel``.
    betas: (scenes, P, B) shape coefficients; transl: (scenes, P, 3) metres.
    camera: the ``Camera`` batched over scenes.
  """
  root_world = rest_root(model, betas) + np.asarray(transl, np.float64)
  depth_row = np.asarray(camera.rotation, np.float64)[:, None, 2]  # (scenes, 1, 3)
  depth_shift = np.asarray(camera.translation, np.float64)[:, None, 2]  # (scenes, 1)
  return np.sum(depth_row * root_world, axis=-1) + depth_shift


def check_init_in_front(depths: np.ndarray) -> None:
  """Refuses an initial estimate with a person behind (or at) the camera."""
  depths = np.asarray(depths)
  if np.any(depths < MIN_DEPTH_M):
    scene, person = np.argwhere(depths < MIN_DEPTH_M)[0]
    raise InvalidInputError(
        f"init puts person {person} of scene {scene} at depth {depths[scene, person]:.3g} m, "
        f"behind or at the camera (needs >= {MIN_DEPTH_M} m in front); the camera looks along +z: "
        "check init.transl's sign and units (metres).")


def result_flags(params_leaves, stage_terms, stage_total, keypoint_term, confidence_sum,
                 final_depths) -> tuple[np.ndarray, np.ndarray]:
  """Per-scene ``finite`` and ``diverged`` flags (see the module docstring), host numpy.

  Args:
    params_leaves: the final parameter arrays, each (scenes, ...).
    stage_terms: (scenes, S, T); stage_total: (scenes, S).
    keypoint_term: (scenes,) the unweighted keypoint term at the end of the last stage.
    confidence_sum: (scenes,) the summed confidences of the usable keypoints.
    final_depths: (scenes, P) root depths of the final bodies, metres.
  """
  finite = (np.all(np.isfinite(stage_terms), axis=(1, 2))
            & np.all(np.isfinite(stage_total), axis=1))
  for leaf in params_leaves:
    leaf = np.asarray(leaf)
    finite &= np.all(np.isfinite(np.reshape(leaf, (leaf.shape[0], -1))), axis=1)
  with np.errstate(invalid="ignore"):
    mean_square = keypoint_term / np.maximum(confidence_sum, 1e-9)
    far = (confidence_sum > 0) & (mean_square > DIVERGED_KEYPOINT_ERROR**2)
    behind = np.any(final_depths < MIN_DEPTH_M, axis=-1)
  return finite, finite & (far | behind)


def warn_about(finite: np.ndarray, diverged: np.ndarray, converged: np.ndarray) -> None:
  """One warning per fit call summing up the scenes that are not to be trusted as they are.

  Args:
    finite, diverged: (scenes,) flags.
    converged: (scenes, S) the early-stop rule fired per stage.
  """
  scenes = finite.size
  problems = []
  if not finite.all():
    problems.append(f"{int((~finite).sum())} non-finite")
  if diverged.any():
    problems.append(f"{int(diverged.sum())} diverged (a body behind the camera or far from its "
                    "keypoints)")
  capped = finite & ~converged.any(axis=-1)
  if capped.any():
    problems.append(f"{int(capped.sum())} reached the iteration cap in every stage without "
                    "converging")
  if problems:
    warnings.warn(
        f"of {scenes} fitted scenes, " + "; ".join(problems) + ". FitResult.finite, .diverged, "
        ".converged and .status say which; raise the caps or check those scenes' inputs.",
        PoseJaxWarning, stacklevel=3)
