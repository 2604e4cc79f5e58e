"""The synthetic contact benchmark: posed scenes with true contacts, keypoints, initial estimates,
answers.

The real benchmarks (Hi4D, FlickrCI3D, CHI3D, MOYO) are licensed downloads; this one runs anywhere.
Scenes are posed on a body model (by default posejax's default body, Anny, not SMPL-X), so ground
truth is exact and contacts are geometric facts. Its numbers say whether the method works as
designed, not how it does on photographs.

A scene is made in six seeded steps:

1. Design: a kind from ``synthetic_poses`` (hug, handshake, ...) with Gaussian variation of every
   body joint, the moving person's yaw and position, and each person's shape.
2. Contact: ``ContactRefiner`` moves joints and the moving person until the true region pairs
   touch, pushing out interpenetration for two people.
3. Check: on the full meshes every true pair must be closer than ``contact_tolerance`` and the
   deepest interpenetration shallower than ``max_penetration``; failures are reported and dropped
   (``generate_benchmark``), never silently kept.
4. Camera: a viewing direction typical of the kind, in the camera convention of ``posejax.camera``
   (x right, y down, z forward), at the distance where the scene fills ``frame_fill`` of the image.
5. Observations: BODY_25 keypoints projected (with a focal length that may differ from the
   fitter's, ``focal_error``) with pixel noise; occluded keypoints get lower confidence, more
   noise, or none; then the detector failures of ``synthetic_failures``.
6. Initial estimate and answers: the ground truth degraded as a monocular regressor degrades
   (``synthetic_initial``, fixed noise or calibrated to a target PA-MPJPE), and simulated
   language-model answers (``synthetic_answers``).

``SyntheticSettings.preset`` names profiles after the datasets they stand in for (``hi4d``,
``flickrci3d``, ``chi3d``, ``moyo``). The same settings and scene index give the same scene,
whatever else is generated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import zlib
from typing import Any, Iterable, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from posejax import safe_load
from posejax.body import keypoints as body_keypoints
from posejax.body import vocabulary
from posejax.body.default_body import default_model
from posejax.body.model import PARAM_FIELDS
from posejax.data import synthetic_geometry as geometry
from posejax.data import synthetic_initial as initial
from posejax.data import synthetic_poses as poses
from posejax.data.synthetic_settings import SyntheticSettings
from posejax.data.synthetic_answers import prompt_parts
from posejax.data.synthetic_answers import simulate_answers
from posejax.errors import FileFormatError
from posejax.io_utils import atomic_write_bytes
from posejax.io_utils import check_format_header
from posejax.io_utils import atomic_write_text
from posejax.errors import InvalidInputError

FORMAT = "posejax.synthetic_benchmark"
FORMAT_VERSION = 1

BUNDLED_NAME = "synthetic_demo"
"""Stem of the small scene set shipped in ``posejax/assets/`` (``.npz`` + ``.json``)."""

_SAVED_FIELDS = ("betas", "global_orient", "body_pose", "transl")
"""``BodyParams`` fields the generator sets; the others are zero and stored too for completeness."""

_CAMERA_FLIP = np.diag([1.0, -1.0, -1.0])
"""Half a turn about x: the body frame (y up, facing +z) into camera space (y down, z forward),
so a person facing +z faces the camera."""


@dataclasses.dataclass(frozen=True)
class SyntheticScene:
  """One synthetic scene with its ground truth and observations (numpy; camera space).

  Parameters are dicts of every ``BodyParams`` field, ``(P, width)`` float arrays in camera space
  (x right, y down, z forward, metres); ``gt_params(model)`` / ``init_params(model)`` give
  ``BodyParams``.

  Attributes:
    scene_id: unique name, e.g. ``"synthetic-hug-0003"``.
    kind: the scene kind (``synthetic_poses.SCENE_DESIGNS``).
    people: 1 or 2.
    gt: ground-truth parameters.
    init: the degraded initial estimate.
    keypoints: (P, 25, 3) BODY_25 keypoints: x, y pixels and confidence in [0, 1].
    occluded: (P, 25) bool: keypoints the camera does not see.
    contact_pairs: the true contacts as resolved region names, ``(body 0 region, body 1 region)``
      (two people; body 0 is "Person 1") or ``(region, region)`` on one body.
    also_touching: other region pairs closer than the tolerance (not annotated, never hallucinated).
    contact_distances: (C,) metres: each true pair's full-mesh distance (all below the tolerance).
    penetration_depth: metres: deepest interpenetration found.
    focal_length: (2,) pixels: the camera the fitter is given.
    principal_point: (2,) pixels.
    image_size: (width, height) pixels.
    answers: simulated language-model answers (Markdown tables).
    description: the scene in words (used in the answers' reasoning).
    settings: ``SyntheticSettings.to_dict()`` of the generator.
    index: the scene's index in the seeded sequence.
    model_source: the body model the scene was posed on.
    model_fingerprint: ``model_fingerprint(model)``: the contacts are facts only on that mesh.
    true_focal_length: (2,) pixels: the camera that took the keypoints (``focal_error``; None:
      ``focal_length``).
    synthetic: always True.
  """

  scene_id: str
  kind: str
  people: int
  gt: dict[str, np.ndarray]
  init: dict[str, np.ndarray]
  keypoints: np.ndarray
  occluded: np.ndarray
  contact_pairs: tuple[tuple[str, str], ...]
  also_touching: tuple[tuple[str, str], ...]
  contact_distances: np.ndarray
  penetration_depth: float
  focal_length: np.ndarray
  principal_point: np.ndarray
  image_size: tuple[int, int]
  answers: tuple[str, ...]
  description: str
  settings: dict
  index: int
  model_source: str
  model_fingerprint: str = ""
  true_focal_length: np.ndarray | None = None
  synthetic: bool = True

  def camera(self):
    """The scene's ``posejax.camera.Camera``."""
    from posejax.camera import Camera
    return Camera.from_intrinsics(self.focal_length, self.principal_point, self.image_size)

  def gt_params(self, model):
    """Ground truth as ``BodyParams`` with batch shape ``(people,)`` for ``model``."""
    return geometry.body_params(model, self.gt)

  def init_params(self, model):
    """The initial estimate as ``BodyParams`` with batch shape ``(people,)`` for ``model``."""
    return geometry.body_params(model, self.init)

  def to_dict(self) -> dict:
    """The JSON-ready metadata (everything but the arrays)."""
    return {
        "scene_id": self.scene_id, "kind": self.kind, "people": self.people,
        "contact_pairs": [list(p) for p in self.contact_pairs],
        "also_touching": [list(p) for p in self.also_touching],
        "contact_distances": [float(d) for d in self.contact_distances],
        "penetration_depth": float(self.penetration_depth),
        "focal_length": [float(f) for f in self.focal_length],
        "principal_point": [float(c) for c in self.principal_point],
        "image_size": list(self.image_size), "answers": list(self.answers),
        "description": self.description, "settings": self.settings, "index": self.index,
        "model_source": self.model_source, "model_fingerprint": self.model_fingerprint,
        "true_focal_length": [float(f) for f in (
            self.focal_length if self.true_focal_length is None else self.true_focal_length)],
        "synthetic": True,
    }


@dataclasses.dataclass(frozen=True)
class SyntheticFailure:
  """A generated scene that failed the check and was dropped: kind, index, and what failed."""

  kind: str
  index: int
  reason: str


@dataclasses.dataclass(frozen=True)
class SyntheticBenchmark:
  """Kept scenes, the ``SyntheticSettings.to_dict()`` that made them, and the dropped ones."""

  scenes: tuple[SyntheticScene, ...]
  settings: dict
  failures: tuple[SyntheticFailure, ...] = ()

  def __len__(self) -> int:
    return len(self.scenes)

  def __iter__(self):
    return iter(self.scenes)

  def __getitem__(self, i: int) -> SyntheticScene:
    return self.scenes[i]


class SceneCheckFailed(InvalidInputError):
  """A generated scene did not pass the contact or interpenetration check."""


class _Workshop:
  """Region map, proxy, refiner and static tables of one model (cached per model object)."""

  def __init__(self, model):
    from posejax.body import regions
    from posejax.losses import penetration
    self.model = model
    self.region_map = regions.derive_regions(model, samples_per_region=256)
    self.proxy = penetration.build_proxy(np.asarray(model.v_template), np.asarray(model.faces))
    self.refiner = geometry.ContactRefiner(model, self.region_map, self.proxy)
    self.vertex_joint = np.argmax(np.asarray(model.lbs_weights), axis=1)
    self.owners = geometry.keypoint_owner_joints(model.joint_names)
    self.faces = np.asarray(model.faces)
    self._rest: dict[int, np.ndarray] = {}

  def rest_distances(self, people: int) -> np.ndarray:
    if people not in self._rest:
      names = _answerable_regions(people)
      rest = np.asarray(self.model.v_template, np.float64)
      self._rest[people] = geometry.region_distance_table(
          rest, rest, np.asarray(self.region_map.masks), names, names)
    return self._rest[people]


_WORKSHOPS: dict[int, tuple[Any, _Workshop]] = {}


def _workshop(model) -> _Workshop:
  entry = _WORKSHOPS.get(id(model))
  if entry is None or entry[0] is not model:
    entry = (model, _Workshop(model))
    _WORKSHOPS[id(model)] = entry
  return entry[1]


def model_fingerprint(model) -> str:
  """16 hex digits hashing a model's template, faces, shape directions and joint regressor at
  0.1 mm; scenes record it so that a changed body model is noticed."""
  digest = hashlib.sha256()
  for array in (model.v_template, model.faces, model.shapedirs, model.J_regressor):
    # Rounded to 0.1 mm (and 1e-4 of a regressor weight): a body rebuilt by another numerical
    # library version differs in its last float bits, which must not read as another body.
    values = np.ascontiguousarray(np.round(np.asarray(array, np.float64), 4).astype(np.float32))
    digest.update(str(values.shape).encode())
    digest.update(values.tobytes())
  return digest.hexdigest()[:16]


def _answerable_regions(people: int) -> list[str]:
  parts = [p for p in prompt_parts(people) if p != vocabulary.GROUND]
  return [n for n in vocabulary.RESOLVED_REGIONS if vocabulary.split_side(n)[1] in parts]


def _rng(settings: SyntheticSettings, index: int, stream: str) -> np.random.Generator:
  # Each step draws from its own stream, so changing e.g. the answer settings leaves poses alone.
  return np.random.default_rng([settings.seed, index, zlib.crc32(stream.encode())])


def design_params(model, design: poses.SceneDesign, settings: SyntheticSettings,
                  index: int) -> dict[str, np.ndarray]:
  """The designed scene with seeded variation, in the scene frame (y up), before contact refinement.

  Returns:
    numpy ``betas (P, B), global_orient (P, 3), body_pose (P, 63), transl (P, 3)``.
  """
  rng = _rng(settings, index, "design")
  people = design.people
  betas = rng.normal(0.0, settings.shape_std, (people, model.num_betas))
  betas[:, settings.num_betas:] = 0.0
  body_pose = np.stack([p.body_pose() for p in design.persons])
  body_pose = body_pose + rng.normal(0.0, settings.pose_jitter, body_pose.shape)
  orient, pelvis = np.zeros((people, 3)), np.zeros((people, 3))
  for i, person in enumerate(design.persons):
    yaw, offset = person.yaw, np.asarray(person.offset, np.float64)
    if people == 2 and i == design.moving_person:
      yaw += rng.normal(0.0, settings.yaw_jitter)
      offset = offset + rng.normal(0.0, settings.placement_jitter, 3)
    orient[i] = (Rotation.from_euler("y", yaw) * Rotation.from_euler("x", person.pitch)).as_rotvec()
    pelvis[i] = offset
  transl = pelvis - geometry.pelvis_rest_position(model, betas)
  return {"betas": betas, "global_orient": orient, "body_pose": body_pose.reshape(people, -1),
          "transl": transl}


def _full_params(model, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  people = params["body_pose"].shape[0]
  zeros = geometry.body_params(model, {"body_pose": np.zeros((people, 63))})
  out = {name: np.zeros(np.shape(getattr(zeros, name)), np.float64) for name in PARAM_FIELDS}
  out.update({k: np.asarray(v, np.float64) for k, v in params.items()})
  return out


def _place_camera(model, params, design, settings, index, focal):
  """New params: the scene turned to its view, flipped into camera space and framed."""
  rng = _rng(settings, index, "camera")
  vertices, _ = geometry.posed(model, params)
  centre = vertices.reshape(-1, 3).mean(axis=0)
  view = design.view_yaw * (1.0 if rng.random() < 0.5 else -1.0)
  view += rng.normal(0.0, settings.view_jitter)
  rotation = _CAMERA_FLIP @ Rotation.from_euler("y", view).as_matrix()
  turned = (vertices.reshape(-1, 3) - centre) @ rotation.T
  width, height = settings.image_size
  low, high = turned.min(axis=0), turned.max(axis=0)
  mid = 0.5 * (low + high)
  half_w, half_h = 0.5 * settings.frame_fill * width, 0.5 * settings.frame_fill * height
  # Smallest camera distance at which every vertex projects inside the framed part of the image.
  depth = max(np.max(focal * np.abs(turned[:, 0] - mid[0]) / half_w - turned[:, 2]),
              np.max(focal * np.abs(turned[:, 1] - mid[1]) / half_h - turned[:, 2]))
  translation = np.array([-mid[0], -mid[1], depth]) - rotation @ centre
  return geometry.move_rigidly(model, params, rotation, translation)


def _focal(settings: SyntheticSettings) -> float:
  from posejax.camera import reference_focal_length
  return reference_focal_length(*settings.image_size)


def true_focal(settings: SyntheticSettings, index: int) -> float:
  """Pixels: the focal length that takes scene ``index``'s keypoints: the reference's (the
  fitter's) times ``exp(focal_error z)``, z standard normal from the scene's own stream."""
  z = _rng(settings, index, "focal").normal()  # its own stream: no other draw moves
  return _focal(settings) * float(np.exp(settings.focal_error * z))


def _project(points: np.ndarray, settings: SyntheticSettings, focal: float | None = None
             ) -> np.ndarray:
  width, height = settings.image_size
  focal = _focal(settings) if focal is None else focal
  return np.array([width / 2.0, height / 2.0]) + focal * points[..., :2] / points[..., 2:]


def observe(model, params: dict[str, np.ndarray], settings: SyntheticSettings, index: int,
            focal: float | None = None, *, details: dict | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
  """Noisy BODY_25 keypoints of posed people and which of them are hidden.

  Pixel noise and confidence by visibility, hidden keypoints dropped at ``occluded_drop_rate``,
  then the detector failures of ``synthetic_failures`` (each from its own random stream, so a
  rate of 0 changes nothing). Keypoints outside the image get confidence 0.

  Args:
    params: the posed people's parameters, camera space.
    index: the scene's index (seeds the draws).
    focal: pixels, the camera's focal length (None: the reference's).
    details: optional dict that receives the failure masks (``"misplaced"``, ``"swapped"``,
      ``"missed"`` (P, 25) and ``"flipped"`` (P, 2)).

  Returns:
    ``(keypoints (P, 25, 3) x, y pixels and confidence; occluded (P, 25) bool)``.
  """
  from posejax.data import synthetic_failures as failures
  shop = _workshop(model)
  rng = _rng(settings, index, "keypoints")
  vertices, joints = geometry.posed(model, params)
  body25 = np.asarray(body_keypoints.smplx_to_body25(joints), np.float64)
  pixels = _project(body25, settings, focal)
  visible = geometry.visible_keypoints(body25, pixels, vertices,
                                       _project(vertices, settings, focal),
                                       shop.vertex_joint, shop.faces, shop.owners,
                                       settings.image_size)
  occluded = ~visible
  noise = np.where(occluded, settings.occluded_keypoint_noise, settings.keypoint_noise)
  noisy = pixels + rng.normal(0.0, 1.0, pixels.shape) * noise[..., None]
  confidence = np.where(occluded, rng.uniform(*settings.occluded_confidence, occluded.shape),
                        rng.uniform(*settings.visible_confidence, occluded.shape))
  dropped = occluded & (rng.random(occluded.shape) < settings.occluded_drop_rate)
  confidence = np.where(dropped, 0.0, confidence)
  keypoints = np.concatenate([noisy, confidence[..., None]], axis=-1)
  masks = {}
  if settings.misplace_rate > 0:
    keypoints, masks["misplaced"] = failures.misplace_hidden(
        keypoints, occluded, _rng(settings, index, "misplace"), settings.misplace_rate,
        settings.misplaced_confidence)
  if settings.swap_rate > 0:
    keypoints, masks["swapped"] = failures.swap_people(
        keypoints, pixels, _rng(settings, index, "swap"), settings.swap_rate,
        settings.swap_radius)
  if settings.flip_rate > 0:
    keypoints, masks["flipped"] = failures.flip_limbs(keypoints, _rng(settings, index, "flip"),
                                                      settings.flip_rate)
  if settings.part_miss_rate > 0:
    keypoints, masks["missed"] = failures.miss_limbs(
        keypoints, _rng(settings, index, "miss"), settings.part_miss_rate,
        settings.missed_confidence)
  if details is not None:
    details.update(masks)
  width, height = settings.image_size
  outside = ((keypoints[..., 0] < 0) | (keypoints[..., 0] >= width) | (keypoints[..., 1] < 0)
             | (keypoints[..., 1] >= height))
  keypoints[..., 2] = np.where(outside, 0.0, keypoints[..., 2])
  return keypoints, occluded


def generate_scene(kind: str, index: int = 0, settings: SyntheticSettings = SyntheticSettings(),
                   model=None, *, check: bool = True) -> SyntheticScene:
  """One synthetic scene.

  Args:
    kind: a scene kind (``synthetic_poses.SCENE_DESIGNS``).
    index: the scene's index in the seeded sequence (decides all its random draws).
    model: the body model; None uses ``posejax.body.default_model()`` (synthetic).
    check: raise ``SceneCheckFailed`` when the contacts or interpenetration fail the check.

  Raises:
    InvalidInputError: an unknown kind.
    SceneCheckFailed: (with ``check``) a true pair farther than ``contact_tolerance`` or an
      interpenetration deeper than ``max_penetration``.
  """
  design = poses.scene_design(kind)
  model = default_model() if model is None else model
  shop = _workshop(model)
  params = design_params(model, design, settings, index)
  moving = design.moving_person if design.people == 2 else None
  answerable = _answerable_regions(design.people)
  rest = None if design.people == 2 else shop.rest_distances(1)
  weights = settings.refine
  for repair in range(settings.repairs + 1):
    params, _ = shop.refiner.refine(params, design.contacts, moving, weights)
    vertices, _ = geometry.posed(model, params)
    measured = geometry.measure_scene(
        model, shop.region_map, shop.proxy, vertices, design.contacts, answerable,
        settings.contact_tolerance, rest)
    if np.all(measured.contact_distances <= settings.contact_tolerance):
      break
    weights = dataclasses.replace(weights, contact=4 * weights.contact,
                                  pose_anchor=weights.pose_anchor / 2)
  if check:
    problems = [f"{a} | {b} {100 * d:.1f} cm apart"
                for (a, b), d in zip(design.contacts, measured.contact_distances)
                if d > settings.contact_tolerance]
    if measured.penetration_depth > settings.max_penetration:
      problems.append(f"interpenetration {100 * measured.penetration_depth:.1f} cm deep")
    if problems:
      raise SceneCheckFailed(f"synthetic scene {kind!r} #{index}: " + "; ".join(problems)
                             + f" (tolerance {100 * settings.contact_tolerance:.1f} cm, "
                             f"max penetration {100 * settings.max_penetration:.1f} cm, "
                             f"after {repair} repair pass(es))")

  focal = true_focal(settings, index)
  params = _place_camera(model, params, design, settings, index, focal)
  keypoints, occluded = observe(model, params, settings, index, focal)
  gt = _full_params(model, params)
  degrade = initial.calibrated_degrade if settings.init_target_pa_mpjpe > 0 else initial.degrade
  init = degrade(model, gt, occluded, settings, _rng(settings, index, "init"))
  if focal != _focal(settings):
    # A regressor that assumes the given camera puts the people at given / true of the distance.
    init = initial.rescale_distance(model, init, _focal(settings) / focal)
  answers = simulate_answers(
      design.contacts, design.people, settings.answers,
      seed=(settings.seed, index, zlib.crc32(b"answers")), description=design.description,
      pose_name=design.pose_name, also_touching=measured.also_touching)
  width, height = settings.image_size
  return SyntheticScene(
      scene_id=f"synthetic-{kind}-{index:04d}", kind=kind, people=design.people, gt=gt,
      init=init, keypoints=keypoints, occluded=occluded, contact_pairs=tuple(design.contacts),
      also_touching=measured.also_touching, contact_distances=measured.contact_distances,
      penetration_depth=measured.penetration_depth,
      focal_length=np.full(2, _focal(settings)), principal_point=np.array([width / 2, height / 2]),
      true_focal_length=np.full(2, focal),
      image_size=(int(width), int(height)), answers=tuple(answers),
      description=design.description, settings=settings.to_dict(), index=int(index),
      model_source=str(getattr(model, "source", "")), model_fingerprint=model_fingerprint(model))


def default_kinds(people: int, settings: SyntheticSettings) -> tuple[str, ...]:
  """The kinds a benchmark cycles through: ``settings.kinds`` if set, else every ``people`` kind."""
  if settings.kinds:
    return tuple(settings.kinds)
  return poses.TWO_PERSON_KINDS if people == 2 else poses.ONE_PERSON_KINDS


def generate_benchmark(num_scenes: int, people: int = 2,
                       settings: SyntheticSettings = SyntheticSettings(), model=None, *,
                       kinds: Sequence[str] | None = None, max_attempts: int | None = None,
                       tries_per_scene: int | None = None, resume: SyntheticBenchmark | None = None,
                       progress=None) -> SyntheticBenchmark:
  """A set of ``num_scenes`` checked scenes, cycling through the scene kinds.

  Kept scene ``k`` has kind ``kinds[k % len(kinds)]``, so a kind that is hard to pose is never
  replaced by an easier one. Each try takes the next index of the seeded sequence; a failed try
  is recorded in ``failures`` and the same kind is tried again with the next index.

  Args:
    people: 1 or 2 (selects the default kinds).
    model: the body model; None uses the default body.
    kinds: scene kinds to cycle through (default: ``default_kinds(people, settings)``).
    max_attempts: give up after this many generated scenes (default ``3 * num_scenes + 10``).
    tries_per_scene: tries of one kind before its slot is skipped (None: never skip, so the kinds
      stay balanced; a kind that never passes ends in the ``max_attempts`` error).
    resume: an interrupted run with the same settings and kinds (e.g. ``load_benchmark`` of a
      file saved from ``progress``); the sequence continues exactly where it stopped.
    progress: optional callable ``progress(done, attempted, scene_or_failure)``.

  Raises:
    InvalidInputError: bad ``people`` or kinds; fewer than ``num_scenes`` passed within
      ``max_attempts`` (the message lists the failures).
  """
  if people not in (1, 2):
    raise InvalidInputError(f"people must be 1 or 2, got {people!r}")
  kinds = default_kinds(people, settings) if not kinds else tuple(kinds)
  for kind in kinds:
    if poses.scene_design(kind).people != people:
      raise InvalidInputError(f"scene kind {kind!r} is not a {people}-person kind")
  model = default_model() if model is None else model
  max_attempts = 3 * num_scenes + 10 if max_attempts is None else max_attempts
  scenes, failures = [], []
  index = slot = tries = 0

  def advance(slot: int, tries: int, kept: bool) -> tuple[int, int]:
    # The next kind is due after a kept scene, or after tries_per_scene failures of this one.
    tries = 0 if kept else tries + 1
    if kept or (tries_per_scene is not None and tries >= tries_per_scene):
      return slot + 1, 0
    return slot, tries

  if resume is not None:
    if resume.settings and resume.settings != json.loads(json.dumps(settings.to_dict())):
      raise InvalidInputError("resume holds scenes made with other generator settings")
    scenes, failures = list(resume.scenes), list(resume.failures)
    # Replaying the history restores which kind is due and how often it has been tried.
    history = sorted([(s.index, True) for s in scenes] + [(f.index, False) for f in failures])
    for _, kept in history:
      slot, tries = advance(slot, tries, kept)
    index = history[-1][0] + 1 if history else 0
  while len(scenes) < num_scenes and index < max_attempts:
    kind = kinds[slot % len(kinds)]
    try:
      item = generate_scene(kind, index, settings, model)
      scenes.append(item)
    except SceneCheckFailed as error:
      item = SyntheticFailure(kind=kind, index=index, reason=str(error))
      failures.append(item)
    slot, tries = advance(slot, tries, isinstance(item, SyntheticScene))
    index += 1
    if progress is not None:
      progress(len(scenes), index, item)
  if len(scenes) < num_scenes:
    reasons = "\n".join(f.reason for f in failures[-10:])
    raise InvalidInputError(f"only {len(scenes)} of {num_scenes} synthetic scenes passed the check "
                            f"in {index} attempts; last failures:\n{reasons}")
  return SyntheticBenchmark(scenes=tuple(scenes), settings=settings.to_dict(),
                            failures=tuple(failures))


def benchmark_paths(path: str | os.PathLike) -> tuple[str, str]:
  """The ``.npz`` and ``.json`` files of a saved benchmark's stem (or of either file)."""
  stem = os.fspath(path)
  for suffix in (".npz", ".json"):
    if stem.endswith(suffix):
      stem = stem[: -len(suffix)]
  return stem + ".npz", stem + ".json"


def save_benchmark(benchmark: SyntheticBenchmark | Iterable[SyntheticScene],
                   path: str | os.PathLike) -> tuple[str, str]:
  """Writes a ``SyntheticBenchmark`` or any iterable of scenes to ``<path>.npz`` (arrays) and
  ``<path>.json`` (everything else), atomically (a ``.npz``/``.json`` suffix of ``path`` is
  ignored), and returns the two paths."""
  if not isinstance(benchmark, SyntheticBenchmark):
    scenes = tuple(benchmark)
    benchmark = SyntheticBenchmark(scenes=scenes, settings=scenes[0].settings if scenes else {})
  npz_path, json_path = benchmark_paths(path)
  arrays = {}
  for i, scene in enumerate(benchmark.scenes):
    for group in ("gt", "init"):
      for name, value in getattr(scene, group).items():
        arrays[f"{i}/{group}/{name}"] = np.asarray(value, np.float64)
    arrays[f"{i}/keypoints"] = np.asarray(scene.keypoints, np.float64)
    arrays[f"{i}/occluded"] = np.asarray(scene.occluded, bool)
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **arrays)
  meta = {"format": FORMAT, "version": FORMAT_VERSION, "synthetic": True,
          "settings": benchmark.settings,
          "failures": [dataclasses.asdict(f) for f in benchmark.failures],
          "scenes": [s.to_dict() for s in benchmark.scenes]}
  atomic_write_bytes(npz_path, buffer.getvalue())
  atomic_write_text(json_path, json.dumps(meta, indent=1))
  return npz_path, json_path


def load_benchmark(path: str | os.PathLike) -> SyntheticBenchmark:
  """Reads scenes written by ``save_benchmark`` (``path``: the file stem, or either file).

  Raises:
    FileFormatError: a file is missing, unreadable, of another format or version, or lacks a
      field (the message names the file and the field).
  """
  npz_path, json_path = benchmark_paths(path)
  for p in (npz_path, json_path):
    if not os.path.isfile(p):
      raise FileFormatError(p, "synthetic benchmark file not found; write one with "
                               "posejax.data.save_benchmark (both .npz and .json are needed)")
  meta = safe_load.load_json(json_path, "a synthetic benchmark file")
  check_format_header(json_path, meta, FORMAT, FORMAT_VERSION, "a synthetic benchmark file")
  arrays = safe_load.load_npz(npz_path, "a synthetic benchmark file")

  def array(i: int, key: str) -> np.ndarray:
    name = f"{i}/{key}"
    if name not in arrays:
      raise FileFormatError(npz_path, f"scene {i} has no array {name!r}")
    return arrays[name]

  scenes = []
  for i, entry in enumerate(meta.get("scenes", [])):
    try:
      gt, init = ({n: arrays[f"{i}/{group}/{n}"] for n in PARAM_FIELDS
                   if f"{i}/{group}/{n}" in arrays} for group in ("gt", "init"))
      for group, values in (("gt", gt), ("init", init)):
        missing = [n for n in _SAVED_FIELDS if n not in values]
        if missing:
          raise FileFormatError(npz_path, f"scene {i} lacks {group} fields {missing}")
      scenes.append(SyntheticScene(
          scene_id=entry["scene_id"], kind=entry["kind"], people=int(entry["people"]), gt=gt,
          init=init, keypoints=array(i, "keypoints"), occluded=array(i, "occluded").astype(bool),
          contact_pairs=tuple(tuple(p) for p in entry["contact_pairs"]),
          also_touching=tuple(tuple(p) for p in entry["also_touching"]),
          contact_distances=np.asarray(entry["contact_distances"], np.float64),
          penetration_depth=float(entry["penetration_depth"]),
          focal_length=np.asarray(entry["focal_length"], np.float64),
          principal_point=np.asarray(entry["principal_point"], np.float64),
          image_size=tuple(int(v) for v in entry["image_size"]), answers=tuple(entry["answers"]),
          description=entry["description"], settings=entry["settings"], index=int(entry["index"]),
          model_source=entry.get("model_source", ""),
          model_fingerprint=entry.get("model_fingerprint", ""),
          true_focal_length=np.asarray(entry.get("true_focal_length", entry["focal_length"]),
                                       np.float64)))
    except (KeyError, TypeError, ValueError) as error:
      raise FileFormatError(json_path, f"scene {i} is malformed ({error!r}); regenerate the file")
  failures = tuple(SyntheticFailure(**f) for f in meta.get("failures", []))
  return SyntheticBenchmark(scenes=tuple(scenes), settings=meta.get("settings", {}),
                            failures=failures)


def bundled_path() -> str:
  """Path stem of the small synthetic scene set shipped with posejax (``posejax/assets/``)."""
  return os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", BUNDLED_NAME)


def load_bundled() -> SyntheticBenchmark:
  """The synthetic scene set shipped with posejax (one two-person scene with cached answers).

  Raises:
    FileFormatError: when the files are missing (rebuild them with
      ``experiments/make_synthetic_assets.py``).
  """
  return load_benchmark(bundled_path())
