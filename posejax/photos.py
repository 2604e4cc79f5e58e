"""From one photo with 2D keypoints to fitted meshes: initial estimate, answers, fit, files.

The library side of ``experiments/fit_images.py`` (which loops over a folder, resumably):

* ``init_from_keypoints``: an initial estimate from the keypoints alone, for photos without a
  BEV / HMR2 / SMPL-X estimate. Each person starts in a canonical pose (arms lowered from the
  model's rest pose), upright, with its pelvis on the mid-hip keypoint's viewing ray at the depth
  the torso's pixel length implies (pinhole: ``depth = focal * torso_metres / torso_pixels``,
  torso = neck to mid-hip), turned about the vertical (yaw) so that its shoulders and hips are as
  wide in the image as they look (``cos(yaw) = signed width in pixels * depth / (focal * width
  in metres)``, corrected for the person's angle off the optical axis; of the two yaws with that
  cosine, the one whose projected keypoints fit better). Without a visible torso, the depth is
  the median of what the seen head and trunk keypoint pairs imply.
  A short keypoint-only fit (``keypoint_init_config``: orientation and placement first, then the
  pose and shape too) finishes it; people are fitted independently.
* ``photo_answers``: the language model's answers about the photo, through the answer cache
  (``posejax.lmm``), with the image cropped to the people fitted.
* ``fit_photos``: the ProsePose fit of photos of one people count (``posejax.fit_dataset``) and
  each one's status.
* ``save_photo_outputs``: meshes (GLB, OBJ), parameters (``.npz`` + JSON), overlay PNG, answers.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from posejax import lmm
from posejax.body import keypoints as body_keypoints
from posejax.body.forward import forward
from posejax.body.model import PARAM_FIELDS
from posejax.body.model import BodyModel
from posejax.body.model import BodyParams
from posejax.camera import Camera
from posejax.camera import stack_cameras
from posejax.camera import project
from posejax.config import FitConfig
from posejax.config import LossWeights
from posejax.config import StageConfig
from posejax.constraints import Constraints
from posejax.data.photos import MIN_CONFIDENCE
from posejax.errors import InvalidInputError
from posejax.errors import LMMRefusalError
from posejax.errors import UnsupportedImageError
from posejax.fitting import fit
from posejax.fitting import fit_dataset
from posejax.io_utils import atomic_write_bytes
from posejax.io_utils import atomic_write_text
from posejax.result import FitResult

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


# ----------------------------------------------------------------------------------------------
# The initial estimate from keypoints


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
  """Lengths of the canonical body (zero betas), metres.

  Attributes:
    torso: neck to mid-hip (BODY_25 points).
    shoulders: left to right shoulder.
    hips: left to right hip.
    distances: (25, 25) distances between all BODY_25 points.
  """

  torso: float
  shoulders: float
  hips: float
  distances: np.ndarray


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


def _normalised(keypoints: np.ndarray, camera: Camera) -> np.ndarray:
  """(..., 25, 2) keypoints as viewing-ray slopes ``((u - cx) / fx, (v - cy) / fy)``."""
  focal = np.asarray(camera.focal_length, np.float64)
  centre = np.asarray(camera.principal_point, np.float64)
  return (keypoints[..., :2] - centre) / focal


def place_person(keypoints: np.ndarray, camera: Camera, measures: CanonicalMeasures,
                 path: str = "keypoints") -> tuple[float, np.ndarray, list[float]]:
  """Depth, pelvis position and candidate yaws of one person from its BODY_25 keypoints.

  Args:
    keypoints: (25, 3) pixels and confidence.
    camera: the photo's camera.
    measures: the canonical body's lengths.
    path: the keypoint file (named in errors).

  Returns:
    ``(depth metres, pelvis (3,) camera-frame metres, candidate yaws in radians)``.

  Raises:
    UnsupportedImageError: neither the torso nor two head or trunk points are visible.
  """
  rays = _normalised(keypoints, camera)
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
    return depth, pelvis, [alpha, alpha + np.pi]
  turn = float(np.arccos(np.clip(np.mean(cosines), -1.0, 1.0)))
  return depth, pelvis, sorted({alpha + turn, alpha - turn})


_forward = jax.jit(forward)


@jax.jit
def _posed_keypoints(model: BodyModel, params: BodyParams):
  """(K,) params -> ((K, 25, 3) BODY_25 points, (K, 3) pelvis), metres."""
  joints = forward(model, params).joints
  return body_keypoints.smplx_to_body25(joints), joints[..., 0, :]


def keypoint_init_config(max_iters: int = 100, *, pose_prior: float = 4.0,
                         init_pose: float = 10.0) -> FitConfig:
  """The keypoint-only fit that finishes ``init_from_keypoints`` (one person per scene).

  Stage 1 turns and moves the canonical body (global orientation and translation) onto the
  keypoints; stage 2 also moves the body pose and shape, held by the pose prior, a weak anchor to
  the canonical pose and the shape prior. No contact: the language model's constraints come after.

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
    _, pelvis, yaws = place_person(keypoints[person], camera, measures, path)
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
  pixels = np.asarray(project(camera, points[:people]), np.float64)
  keypoints = np.asarray(keypoints, np.float64)
  seen = np.nan_to_num(keypoints[..., 2]) > MIN_CONFIDENCE
  gaps = np.linalg.norm(pixels - keypoints[..., :2], axis=-1)
  return float(gaps[seen].mean()) if seen.any() else float("nan")


# ----------------------------------------------------------------------------------------------
# Answers


@dataclasses.dataclass(frozen=True)
class PhotoAnswers:
  """The language model's answers about one photo and what they became.

  Attributes:
    constraints: the parsed ``Constraints`` (for the photo's people count).
    answers: the answer texts, verbatim (empty when read from a constraints file).
    samples: the parsed rows per answer.
    report: ``ParseReport.as_dict()``.
    source: ``"asked"`` (some answers fetched now), ``"cache"`` or ``"constraints file"``.
    fetched: answers fetched from the model in this call.
    cache_key: the answer cache key ("" for a constraints file).
    prompt_version: the prompt's version.
    model: the model that answered.
    refused: every answer was a refusal.
  """

  constraints: Constraints
  answers: tuple[str, ...]
  samples: list
  report: dict
  source: str
  fetched: int
  cache_key: str
  prompt_version: str
  model: str
  refused: bool

  def to_json(self) -> dict:
    """The JSON-ready record written as the photo's ``answers.json``."""
    return {"source": self.source, "model": self.model, "prompt_version": self.prompt_version,
            "cache_key": self.cache_key, "fetched": self.fetched, "refused": self.refused,
            "answers": list(self.answers), "samples": self.samples, "report": self.report,
            "constraints": json.loads(self.constraints.to_json())}


def photo_answers(image_path: str, keypoints: np.ndarray, *, cache: lmm.AnswerCache,
                  settings: lmm.SamplingSettings, client=None, n: int = 20, offline: bool = False,
                  margin: float = 0.2, max_side: int = 1024,
                  trust_sides: bool = False) -> PhotoAnswers:
  """Asks the model about one photo (cropped to its people), through the answer cache.

  Args:
    image_path: the photo.
    keypoints: (P, 25, 3) the people fitted; the crop is their keypoint box grown by ``margin``.
    cache: the answer cache (answers are appended as they arrive; cached ones are never asked
      again).
    settings: model and sampling settings.
    client: an ``LMMClient``; None with ``offline``.
    n: answers per photo.
    offline: answer from the cache only.
    margin, max_side: the crop (``posejax.lmm.prepare_image``).
    trust_sides: keep left/right written in the answers.

  Returns:
    ``PhotoAnswers``.

  Raises:
    LMMError: offline with answers missing from the cache, or a request that failed for good.
  """
  people = int(keypoints.shape[0])
  prompt = lmm.prompt_for(people)
  item = lmm.QueryItem(image_id=os.path.splitext(os.path.basename(image_path))[0],
                       image=lmm.prepare_image(image_path, keypoints=keypoints, margin=margin,
                                               max_side=max_side))
  found = lmm.query(item, prompt=prompt, settings=settings, cache=cache, client=client, n=n,
                    offline=offline)
  samples, report = lmm.parse_samples(found.answers, people, trust_sides=trust_sides)
  constraints = Constraints.from_pairs(samples, people)
  return PhotoAnswers(
      constraints=constraints, answers=tuple(found.answers), samples=_json_rows(samples),
      report=report.as_dict(), source="asked" if found.fetched else "cache",
      fetched=int(found.fetched), cache_key=found.key, prompt_version=found.prompt_version,
      model=found.model, refused=bool(report.answers and report.refusals == report.answers))


def answers_from_file(entry: lmm.ImageConstraints, people: int, path: str) -> PhotoAnswers:
  """A constraints-file entry (``posejax.lmm.load_constraints_file``) as ``PhotoAnswers``.

  Raises:
    UnsupportedImageError: the entry is for another number of people than the keypoints show.
  """
  if entry.people != people:
    raise UnsupportedImageError(path, f"the constraints of {entry.image_id!r} are for "
                                f"{entry.people} people but its keypoints show {people}")
  answers = int(entry.report.get("answers", 0))
  return PhotoAnswers(
      constraints=entry.constraints, answers=(), samples=entry.samples, report=entry.report,
      source="constraints file", fetched=0, cache_key="", prompt_version=entry.prompt_version,
      model=entry.model,
      refused=bool(answers and entry.report.get("refusals", 0) == answers))


def _json_rows(samples) -> list:
  return [[[c if isinstance(c, str) else list(c) for c in row] for row in rows]
          for rows in samples]


# ----------------------------------------------------------------------------------------------
# The fit of one photo


FITTED = "fitted"
FELL_BACK = "fell back"
FAILED = "failed"
STATUSES = (FITTED, FELL_BACK, FAILED)


@dataclasses.dataclass(frozen=True)
class PhotoFit:
  """One photo's fit.

  Attributes:
    result: the ``FitResult`` (batch shape (1,)).
    initial: ``BodyParams`` (P,) the fit started from.
    fitted: ``BodyParams`` (P,) the fitted people.
    initial_vertices: (P, V, 3) metres.
    fitted_vertices: (P, V, 3) metres.
    status: ``FITTED`` or ``FELL_BACK`` (no usable answers: the config's fallback preset).
    reason: why it fell back ("" when fitted).
    keypoint_error_px: ``{"initial": ..., "fit": ...}`` mean pixel distance to the keypoints.
  """

  result: FitResult
  initial: BodyParams
  fitted: BodyParams
  initial_vertices: np.ndarray
  fitted_vertices: np.ndarray
  status: str
  reason: str
  keypoint_error_px: dict


def photo_config(people: int, max_iters: int | tuple[int, ...] | None = None) -> FitConfig:
  """The preset for ``people``: ``FitConfig.two_person()`` or ``one_person()``."""
  config = FitConfig.two_person() if people == 2 else FitConfig.one_person()
  if max_iters is None:
    return config
  return config.with_max_iters(*(max_iters if isinstance(max_iters, tuple) else (max_iters,)))


@dataclasses.dataclass(frozen=True)
class PhotoInput:
  """What the fit of one photo reads.

  Attributes:
    keypoints: (P, 25, 3) BODY_25 pixels and confidence.
    camera: the photo's camera.
    init: ``BodyParams`` (P,) initial estimate, camera frame.
    answers: the answers, or None (none given: the fallback preset).
    image_path: the photo, named in messages.
  """

  keypoints: np.ndarray
  camera: Camera
  init: BodyParams
  answers: PhotoAnswers | None
  image_path: str = "image"


def refusal_reason(answers: PhotoAnswers | None, image_path: str, on_refusal: str) -> str:
  """Why a photo is fitted without its answers ("" when they are used).

  Raises:
    LMMRefusalError: every answer was a refusal and ``on_refusal="fail"``.
  """
  if on_refusal not in ("fall_back", "fail"):
    raise InvalidInputError(f"on_refusal must be 'fall_back' or 'fail', got {on_refusal!r}")
  if answers is None:
    return "no answers given; fitted with the fallback preset"
  if not answers.refused:
    return ""
  message = (f"the model refused to answer about this image ({answers.report.get('refusals')} "
             f"of {answers.report.get('answers')} answers were refusals)")
  if on_refusal == "fail":
    raise LMMRefusalError(image_path, message + "; try another model or prompt, or give its "
                          "answers in a constraints file")
  return message + "; fitted without contact answers (the fallback preset)"


def fit_photos(model: BodyModel, photos: Sequence[PhotoInput], *,
               config: FitConfig | None = None, slots: int = 16) -> list[PhotoFit]:
  """Fits photos of the same number of people to their keypoints and the model's answers.

  The photos go through ``posejax.fit_dataset`` (continuous batching, ``slots`` at a time; each
  photo's result equals its fit alone). A photo whose answers are all refusals, or that has none,
  is fitted with the config's fallback preset, as is one whose answers are all empty.

  Args:
    model: the body model.
    photos: the photos, each with P people (the same P).
    config: the fit config; ``photo_config(P)`` when None.
    slots: photos fitted at once (at most the number of photos).

  Returns:
    One ``PhotoFit`` per photo, in order.
  """
  if not photos:
    return []
  people = {np.shape(photo.keypoints)[0] for photo in photos}
  if len(people) != 1:
    raise InvalidInputError(f"fit_photos fits photos of one people count at a time, got "
                            f"{sorted(people)}")
  (people,) = people
  config = photo_config(people) if config is None else config
  reasons = [refusal_reason(photo.answers, photo.image_path, "fall_back") for photo in photos]
  empty = Constraints.from_pairs([[]], people)
  constraints = [empty if reason else photo.answers.constraints
                 for photo, reason in zip(photos, reasons)]
  stack = lambda *leaves: np.stack([np.asarray(leaf) for leaf in leaves])
  result = fit_dataset(
      np.stack([np.asarray(photo.keypoints, np.float64) for photo in photos]), constraints,
      init=jax.tree_util.tree_map(stack, *[photo.init for photo in photos]), model=model,
      camera=stack_cameras([photo.camera for photo in photos]), config=config,
      slots=min(int(slots), len(photos)))
  fits = []
  for index, (photo, reason) in enumerate(zip(photos, reasons)):
    own = jax.tree_util.tree_map(lambda x: x[index:index + 1], result)
    fell_back = bool(np.asarray(own.fell_back)[0])
    if fell_back and not reason:
      report = photo.answers.report
      reason = (f"no usable contact in the answers ({report.get('empty_answers', 0)} of "
                f"{report.get('answers', 0)} empty, {report.get('declared_empty', 0)} said no "
                "contact); fitted with the fallback preset")
    fitted = jax.tree_util.tree_map(lambda x: jnp.asarray(x)[0], own.params)
    # The initial and fitted people in one forward pass: one compiled program per people count.
    both = jax.tree_util.tree_map(lambda a, b: jnp.stack([jnp.asarray(a, b.dtype), b]),
                                  photo.init, fitted)
    initial_vertices, fitted_vertices = np.asarray(_forward(model, both).vertices, np.float64)
    keypoints = np.asarray(photo.keypoints, np.float64)
    fits.append(PhotoFit(
        result=own, initial=photo.init, fitted=fitted, initial_vertices=initial_vertices,
        fitted_vertices=fitted_vertices, status=FELL_BACK if fell_back else FITTED, reason=reason,
        keypoint_error_px={
            "initial": keypoint_error_px(model, photo.init, keypoints, photo.camera),
            "fit": keypoint_error_px(model, fitted, keypoints, photo.camera)}))
  return fits


# ----------------------------------------------------------------------------------------------
# Files


def params_dict(params: BodyParams) -> dict[str, np.ndarray]:
  """smplx-named (P, width) float arrays of ``params``."""
  return {name: np.asarray(getattr(params, name), np.float64) for name in PARAM_FIELDS}


def camera_dict(camera: Camera) -> dict:
  """The camera as JSON-ready numbers (pixels; identity extrinsics for photos)."""
  return {"focal_length": np.asarray(camera.focal_length, np.float64).tolist(),
          "principal_point": np.asarray(camera.principal_point, np.float64).tolist(),
          "image_size": np.asarray(camera.image_size, np.float64).tolist()}


def save_photo_outputs(folder: str, model: BodyModel, photo: PhotoFit, *, image, camera: Camera,
                       keypoints, answers: PhotoAnswers | None, facts: dict) -> dict[str, str]:
  """Writes one photo's files into ``folder`` (each atomically).

  Files: ``fit.glb`` and ``fit.obj`` (one coloured mesh per person), ``params.npz`` (the fitted
  smplx-named (P, width) arrays), ``params.json`` (fitted and initial parameters, camera, status
  and ``facts``), ``overlay.png`` (initial estimate | fit | side view over the photo, with the
  keypoints), ``answers.json`` (the answers used, when there are any).

  Args:
    folder: the photo's output folder (created).
    model: the body model.
    photo: the fit.
    image: (H, W, 3) uint8 photo.
    camera: its camera.
    keypoints: (P, 25, 3) the keypoints fitted.
    answers: the answers used, or None.
    facts: JSON-ready extras for ``params.json`` (sources of the keypoints, estimate, camera).

  Returns:
    Name -> path of every file written.
  """
  from posejax.viz import export
  from posejax.viz import overlay

  os.makedirs(folder, exist_ok=True)
  faces = np.asarray(model.faces)
  paths = {
      "glb": export.export_meshes(os.path.join(folder, "fit.glb"), photo.fitted_vertices, faces),
      "obj": export.export_meshes(os.path.join(folder, "fit.obj"), photo.fitted_vertices, faces),
  }
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **params_dict(photo.fitted))
  paths["npz"] = atomic_write_bytes(os.path.join(folder, "params.npz"), buffer.getvalue())
  record = {
      "units": "axis-angle radians; transl metres; camera frame x right, y down, z forward",
      "people": int(np.shape(keypoints)[0]), "status": photo.status, "reason": photo.reason,
      "fit": _lists(params_dict(photo.fitted)), "initial": _lists(params_dict(photo.initial)),
      "camera": camera_dict(camera), "keypoint_error_px": photo.keypoint_error_px,
      "fit_summary": photo.result.summary(), **facts,
  }
  paths["json"] = atomic_write_text(os.path.join(folder, "params.json"),
                                    json.dumps(record, indent=1, default=_json_default))
  paths["overlay"] = overlay.save_overlay(
      os.path.join(folder, "overlay.png"), faces, photo.fitted_vertices,
      initial=photo.initial_vertices, camera=camera, image=image, keypoints=keypoints)
  if answers is not None:
    paths["answers"] = atomic_write_text(os.path.join(folder, "answers.json"),
                                         json.dumps(answers.to_json(), indent=1,
                                                    default=_json_default))
  return paths


def _lists(arrays: dict[str, np.ndarray]) -> dict[str, list]:
  return {name: value.tolist() for name, value in arrays.items()}


def _json_default(value: Any):
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, (np.floating, np.integer, np.bool_)):
    return value.item()
  raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def thumbnail(image: np.ndarray, width: int = 480) -> np.ndarray:
  """(h, width, 3) uint8: ``image`` shrunk to ``width`` pixels wide (never enlarged)."""
  from PIL import Image

  picture = Image.fromarray(np.asarray(image, np.uint8))
  if picture.width > width:
    picture = picture.resize((width, max(1, round(picture.height * width / picture.width))),
                             Image.Resampling.LANCZOS)
  return np.asarray(picture)


def describe(values: Sequence[float]) -> str:
  """``"a / b"`` with one decimal, for the summary table."""
  return " / ".join("-" if not np.isfinite(v) else f"{v:.1f}" for v in values)
