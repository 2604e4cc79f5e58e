"""Contact regions: the 23 coarse body regions of the vocabulary as vertex sets of a body model.

Two sources give the same ``RegionMap``: ``derive_regions(model)`` from the skinning weights of
any SMPL-X-structured ``BodyModel``, and ``load_contact_regions(path, model)`` from the CI3D
``contact_regions.json`` of the licensed mesh. Derivation runs once on the host in numpy.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from posejax.body import vocabulary
from posejax.body.model import NUM_SKELETON_JOINTS
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError
from posejax.safe_load import load_json

DEFAULT_SAMPLES_PER_REGION = 32
"""Default number K of subsampled vertices per region. The contact search costs K^2 per region
pair; on the synthetic benchmark K = 32 matched K = 64 in joint error and PCC."""

_FRONT_NORMAL_Z = 1e-6

_PELVIS, _SPINE1, _SPINE2, _SPINE3 = 0, 3, 6, 9
_NECK, _HEAD, _JAW, _LEFT_EYE, _RIGHT_EYE = 12, 15, 22, 23, 24
_TORSO_JOINTS = (_PELVIS, _SPINE1, _SPINE2, _SPINE3)
_HEAD_JOINTS = (_HEAD, _JAW, _LEFT_EYE, _RIGHT_EYE)


@dataclasses.dataclass(frozen=True)
class _Limbs:
  """The joints of one side of the body."""

  hip: int
  knee: int
  ankle: int
  foot: int
  collar: int
  shoulder: int
  elbow: int
  wrist: int
  fingers: tuple[int, ...]


_SIDE_JOINTS = {
    vocabulary.LEFT: _Limbs(1, 4, 7, 10, 13, 16, 18, 20, tuple(range(25, 40))),
    vocabulary.RIGHT: _Limbs(2, 5, 8, 11, 14, 17, 19, 21, tuple(range(40, 55))),
}


@dataclasses.dataclass(frozen=True)
class RegionRules:
  """Thresholds of the skinning-weight region rules.

  Torso heights are fractions ``h`` of the rest-pose span from the pelvis joint (h = 0) up to the
  neck joint (h = 1), measured along y (SMPL-X rest pose: y up, facing +z, left at +x). The
  defaults place the published regions on an adult body: the navel near h = 0.15, the lower end
  of the sternum near h = 0.55, the top of the sacrum near the pelvis joint.
  """

  chest_from: float = 0.55
  """Front torso at or above this height is chest; below it, down to ``stomach_from``, stomach."""
  stomach_from: float = 0.0
  """Lowest front-torso height that is stomach (the belly ends at the pelvis joint)."""
  waist_front_below: float = 0.2
  """Front torso below this height is waist (front): lower belly and front of the pelvis."""
  butt_below: float = 0.0
  """Back torso below this height is butt; at or above it, back."""
  lower_back_below: float = 0.3
  """Back torso from ``butt_below`` up to this height is waist (back), the lower back."""
  shoulder_cap: float = 0.25
  """Upper-arm vertices nearer the shoulder joint than this fraction of the upper arm's length
  (measured along the shoulder-elbow axis) are the shoulder cap, part of shoulder, not arm."""

  def __post_init__(self):
    if not (self.stomach_from <= self.waist_front_below <= self.chest_from):
      raise InvalidInputError(
          "RegionRules need stomach_from <= waist_front_below <= chest_from so that every "
          f"front torso vertex has a region; got {self}")
    if not self.butt_below <= self.lower_back_below:
      raise InvalidInputError(f"RegionRules need butt_below <= lower_back_below; got {self}")
    if not 0.0 <= self.shoulder_cap < 1.0:
      raise InvalidInputError(
          f"RegionRules.shoulder_cap must be in [0, 1); got {self.shoulder_cap}")


@struct.dataclass
class RegionMap:
  """The 23 coarse regions of a body model as vertex masks, with a fixed subsample per region.

  Region ``i`` is ``names[i]`` (always ``vocabulary.RESOLVED_REGIONS``). Regions overlap where the
  vocabulary says so (waist and stomach, back and the back of the shoulders and neck).
  """

  masks: np.ndarray
  """(R, V) bool, ``masks[r, v]`` when vertex v belongs to region r."""
  sample_ids: np.ndarray
  """(R, K) int32 vertex ids subsampled from each region (farthest-point on the rest pose);
  padding repeats a valid id of the same region."""
  sample_valid: np.ndarray
  """(R, K) bool, False on padding (regions with fewer than K vertices)."""
  names: tuple[str, ...] = struct.field(pytree_node=False, default=vocabulary.RESOLVED_REGIONS)
  """Region names, ``vocabulary.RESOLVED_REGIONS``."""
  source: str = struct.field(pytree_node=False, default="skinning weights")
  """Where the regions came from: ``"skinning weights"`` or the region file's path."""

  @property
  def num_regions(self) -> int:
    """R, the number of regions (23)."""
    return len(self.names)

  @property
  def samples_per_region(self) -> int:
    """K, the subsample size per region."""
    return int(self.sample_ids.shape[-1])

  def index(self, name: str) -> int:
    """Row of region ``name`` in every table."""
    try:
      return self.names.index(name)
    except ValueError:
      raise InvalidInputError(
          f"unknown region {name!r}; regions are {', '.join(self.names)}") from None

  def vertex_ids(self, name: str) -> np.ndarray:
    """(n,) int vertex ids of region ``name`` (host-side; not inside jit)."""
    return np.flatnonzero(np.asarray(self.masks[self.index(name)]))


def _as_model_arrays(model: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """(v_template, faces, lbs_weights, J_regressor) of ``model`` as checked numpy arrays."""
  try:
    v_template = np.asarray(model.v_template, dtype=np.float64)
    faces = np.asarray(model.faces)
    weights = np.asarray(model.lbs_weights, dtype=np.float64)
    regressor = np.asarray(model.J_regressor, dtype=np.float64)
  except AttributeError as error:
    raise InvalidInputError("regions need a BodyModel (v_template, faces, lbs_weights, "
                            f"J_regressor); {error}") from None
  if v_template.ndim != 2 or v_template.shape[1] != 3:
    raise InvalidInputError(f"model.v_template must be (V, 3), got {v_template.shape}")
  num_vertices = v_template.shape[0]
  _check_faces(faces, num_vertices)
  if weights.shape != (num_vertices, NUM_SKELETON_JOINTS):
    raise InvalidInputError(
        f"model.lbs_weights must be (V, 55) = ({num_vertices}, 55) for an SMPL-X-structured "
        f"body, got {weights.shape}")
  if regressor.shape != (NUM_SKELETON_JOINTS, num_vertices):
    raise InvalidInputError(
        f"model.J_regressor must be (55, V) = (55, {num_vertices}), got {regressor.shape}")
  return v_template, faces.astype(np.int64), weights, regressor


def _check_faces(faces: np.ndarray, num_vertices: int) -> None:
  if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
    raise InvalidInputError(f"faces must be (F, 3) integers, got {faces.shape} {faces.dtype}")
  if faces.size and (faces.min() < 0 or faces.max() >= num_vertices):
    raise InvalidInputError(f"faces index vertices outside [0, {num_vertices})")


def vertex_normals(vertices: np.ndarray, faces: np.ndarray, *,
                   orient_outward: bool = True) -> np.ndarray:
  """Area-weighted unit vertex normals of a mesh, pointing outward.

  With ``orient_outward``, faces that wind inward (negative enclosed volume) have their normals
  flipped, so that they point out of the body regardless. A vertex in no face gets a zero normal.

  Args:
    vertices: (V, 3) positions, metres.
    faces: (F, 3) vertex ids.
    orient_outward: fix the orientation from the enclosed volume, which only a closed mesh has;
      ``False`` trusts the winding (counter-clockwise seen from outside), as for open meshes.

  Returns:
    (V, 3) unit normals (zero rows for unused vertices).
  """
  vertices = np.asarray(vertices, dtype=np.float64)
  faces = np.asarray(faces, dtype=np.int64)
  a, b, c = (vertices[faces[:, i]] for i in range(3))
  face_normals = np.cross(b - a, c - a)  # length = twice the area: area weighting for free
  normals = np.zeros_like(vertices)
  for i in range(3):
    np.add.at(normals, faces[:, i], face_normals)
  if orient_outward and np.einsum("ij,ij->", a, np.cross(b, c)) < 0:  # 6 x the signed volume
    normals = -normals
  length = np.linalg.norm(normals, axis=1, keepdims=True)
  return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def derive_region_masks(
    v_template: np.ndarray,
    faces: np.ndarray,
    lbs_weights: np.ndarray,
    rest_joints: np.ndarray,
    rules: RegionRules = RegionRules(),
) -> np.ndarray:
  """The 23 coarse regions of an SMPL-X-structured body from its skinning weights.

  Each vertex belongs to its dominant joint (largest skinning weight; ties go to the lower joint
  index). Front means the rest-pose vertex normal has z > 1e-6 (the body faces +z); ``h`` is the
  torso height fraction of ``RegionRules``. Per side (left = the body's own left, +x):

  * hand: wrist and the 15 finger joints.
  * arm: shoulder joint (upper arm) and elbow joint (forearm), without the shoulder cap.
  * shoulder: collar joint plus the shoulder cap (the upper-arm vertices nearest the shoulder
    joint); shoulder (front) / (back) split it by the normal.
  * leg: hip (thigh) and knee (shin) joints.  foot: ankle and foot (toe) joints.

  Central regions; torso means pelvis and the three spine joints:

  * head: head, jaw and both eye joints.  neck: neck joint, front and back.
  * chest: front torso, h >= chest_from.
  * stomach: front torso, stomach_from <= h < chest_from (upper and lower belly).
  * waist (front): front torso, h < waist_front_below (lower belly, front of the pelvis); it
    overlaps stomach on the lower belly.
  * waist (back): back torso, butt_below <= h < lower_back_below (the lower back).
  * waist: waist (front) and waist (back).
  * butt: back torso, h < butt_below.
  * back: back torso with h >= butt_below (lower, middle and upper back), the back of both
    shoulders and the back of the neck.

  Every vertex is in at least one region by construction.

  Args:
    v_template: (V, 3) rest-pose vertices, metres.
    faces: (F, 3) vertex ids, consistently oriented.
    lbs_weights: (V, 55) skinning weights in SMPL-X joint order.
    rest_joints: (55, 3) rest-pose joint positions, metres.
    rules: thresholds.

  Returns:
    (23, V) bool masks in ``vocabulary.RESOLVED_REGIONS`` order.
  """
  v_template = np.asarray(v_template, dtype=np.float64)
  rest_joints = np.asarray(rest_joints, dtype=np.float64)
  dominant = np.argmax(np.asarray(lbs_weights), axis=1)
  # Side-facing vertices (normal z within rounding of 0) go to the back on both sides of the
  # body alike, so that a symmetric body gets symmetric regions.
  front = vertex_normals(v_template, faces)[:, 2] > _FRONT_NORMAL_Z
  back = ~front

  def owned_by(*joints: int) -> np.ndarray:
    return np.isin(dominant, joints)

  span = rest_joints[_NECK, 1] - rest_joints[_PELVIS, 1]
  if not span > 0:
    raise InvalidInputError(
        "the rest-pose neck joint must lie above the pelvis joint (SMPL-X rest pose, y up); "
        f"got pelvis y = {rest_joints[_PELVIS, 1]:.3f}, neck y = {rest_joints[_NECK, 1]:.3f}")
  height = (v_template[:, 1] - rest_joints[_PELVIS, 1]) / span
  torso = owned_by(*_TORSO_JOINTS)
  neck = owned_by(_NECK)

  masks: dict[str, np.ndarray] = {}
  back_of_shoulders = np.zeros_like(torso)
  for side, limb in _SIDE_JOINTS.items():
    upper_arm = owned_by(limb.shoulder)
    axis = rest_joints[limb.elbow] - rest_joints[limb.shoulder]
    along = (v_template - rest_joints[limb.shoulder]) @ axis / max(float(axis @ axis), 1e-12)
    cap = upper_arm & (along < rules.shoulder_cap)
    shoulder = owned_by(limb.collar) | cap
    masks[vocabulary.sided("hand", side)] = owned_by(limb.wrist, *limb.fingers)
    masks[vocabulary.sided("arm", side)] = owned_by(limb.shoulder, limb.elbow) & ~cap
    masks[vocabulary.sided("foot", side)] = owned_by(limb.ankle, limb.foot)
    masks[vocabulary.sided("leg", side)] = owned_by(limb.hip, limb.knee)
    masks[vocabulary.sided("shoulder", side)] = shoulder
    masks[vocabulary.sided("shoulder (front)", side)] = shoulder & front
    masks[vocabulary.sided("shoulder (back)", side)] = shoulder & back
    back_of_shoulders |= shoulder & back

  front_torso, back_torso = torso & front, torso & back
  masks["head"] = owned_by(*_HEAD_JOINTS)
  masks["neck"] = neck
  masks["chest"] = front_torso & (height >= rules.chest_from)
  masks["stomach"] = front_torso & (height >= rules.stomach_from) & (height < rules.chest_from)
  masks["waist (front)"] = front_torso & (height < rules.waist_front_below)
  masks["waist (back)"] = (back_torso & (height >= rules.butt_below)
                           & (height < rules.lower_back_below))
  masks["waist"] = masks["waist (front)"] | masks["waist (back)"]
  masks["butt"] = back_torso & (height < rules.butt_below)
  masks["back"] = (back_torso & (height >= rules.butt_below)) | back_of_shoulders | (neck & back)
  return np.stack([masks[name] for name in vocabulary.RESOLVED_REGIONS])


def farthest_point_sample(points: np.ndarray, count: int) -> np.ndarray:
  """Deterministic farthest-point sampling of ``count`` of the (N, 3) ``points``.

  Starts at the point farthest from the centroid (lowest index on ties), then repeatedly adds the
  point farthest from everything chosen so far, which spreads the samples evenly over the set.
  Returns (min(count, N),) int indices into ``points`` in the order chosen (all when count >= N).
  """
  points = np.asarray(points, dtype=np.float64)
  n = points.shape[0]
  if count >= n:
    return np.arange(n)
  centroid = points.mean(axis=0)
  chosen = np.empty(count, dtype=np.int64)
  chosen[0] = int(np.argmax(np.sum((points - centroid) ** 2, axis=1)))
  nearest = np.sum((points - points[chosen[0]]) ** 2, axis=1)
  for i in range(1, count):
    chosen[i] = int(np.argmax(nearest))
    nearest = np.minimum(nearest, np.sum((points - points[chosen[i]]) ** 2, axis=1))
  return chosen


def region_map_from_masks(
    masks: np.ndarray,
    rest_vertices: np.ndarray,
    samples_per_region: int = DEFAULT_SAMPLES_PER_REGION,
    source: str = "skinning weights",
) -> RegionMap:
  """Wraps (23, V) region masks into a ``RegionMap``, subsampling each region.

  Args:
    masks: (23, V) bool in ``vocabulary.RESOLVED_REGIONS`` order; every region non-empty.
    rest_vertices: (V, 3) rest-pose vertices the subsample is spread over, metres.
    samples_per_region: K, vertices kept per region (>= 1).
    source: provenance recorded in ``RegionMap.source``.

  Raises:
    InvalidInputError: on wrong shapes, K < 1 or an empty region.
  """
  masks = np.asarray(masks, dtype=bool)
  rest_vertices = np.asarray(rest_vertices, dtype=np.float64)
  num_regions = len(vocabulary.RESOLVED_REGIONS)
  if masks.ndim != 2 or masks.shape[0] != num_regions:
    raise InvalidInputError(f"region masks must be ({num_regions}, V), got {masks.shape}")
  if rest_vertices.shape != (masks.shape[1], 3):
    raise InvalidInputError(
        f"rest vertices must be (V, 3) = ({masks.shape[1]}, 3), got {rest_vertices.shape}")
  count = int(samples_per_region)
  if count < 1:
    raise InvalidInputError(f"samples_per_region must be >= 1, got {samples_per_region}")
  sample_ids = np.zeros((num_regions, count), dtype=np.int32)
  sample_valid = np.zeros((num_regions, count), dtype=bool)
  for r, name in enumerate(vocabulary.RESOLVED_REGIONS):
    ids = np.flatnonzero(masks[r])
    if ids.size == 0:
      raise InvalidInputError(f"region {name!r} has no vertices ({source})")
    picked = ids[farthest_point_sample(rest_vertices[ids], count)]
    sample_ids[r, : picked.size] = picked
    sample_ids[r, picked.size :] = picked[0]
    sample_valid[r, : picked.size] = True
  return RegionMap(masks=masks, sample_ids=sample_ids, sample_valid=sample_valid, source=source)


def derive_regions(
    model: Any,
    samples_per_region: int = DEFAULT_SAMPLES_PER_REGION,
    rules: RegionRules = RegionRules(),
) -> RegionMap:
  """The coarse regions of any SMPL-X-structured body model, from its own skinning weights.

  See ``derive_region_masks`` for the rules. Build it once per model and reuse it; the
  ``RegionMap``'s source is ``"skinning weights"``.

  Args:
    model: a ``posejax.body.BodyModel`` (uses v_template, faces, lbs_weights, J_regressor).
    samples_per_region: K, subsampled vertices per region.
    rules: thresholds of the torso and shoulder rules.

  Raises:
    InvalidInputError: when the model's arrays have the wrong shapes or a region comes out empty.
  """
  v_template, faces, weights, regressor = _as_model_arrays(model)
  rest_joints = regressor @ v_template
  masks = derive_region_masks(v_template, faces, weights, rest_joints, rules)
  return region_map_from_masks(masks, v_template, samples_per_region, "skinning weights")


def sample_points(region_map: RegionMap, vertices: jax.Array) -> jax.Array:
  """(..., V, 3) posed vertices, metres -> (..., R, K, 3) the ``region_map.sample_ids`` vertices.

  Use ``region_map.sample_valid`` (R, K) to ignore padding.
  """
  vertices = jnp.asarray(vertices)
  if vertices.ndim < 2 or vertices.shape[-1] != 3:
    raise InvalidInputError(f"vertices must be (..., V, 3), got {vertices.shape}")
  ids = jnp.asarray(region_map.sample_ids)
  flat = jnp.take(vertices, ids.reshape(-1), axis=-2)
  return flat.reshape(vertices.shape[:-2] + ids.shape + (3,))


NUM_CI3D_REGIONS = 75
"""FlickrCI3D / CHI3D contact regions on the SMPL-X mesh (region ids 0..74 in the datasets)."""
CI3D_FACE_KEY = "rid_to_smplx_fids"
"""Key of the 75 SMPL-X face-id lists in ``contact_regions.json``."""

COARSE_TO_CI3D_REGIONS: dict[str, tuple[int, ...]] = {
    "left hand": (3, 33, 72),  # fingers and palm
    "right hand": (23, 26, 27, 40),  # palm, fingers, back of the hand
    "left arm": (5, 11, 17, 34, 49, 57, 69),  # upper arm, elbow, forearm, wrist, front and back
    "right arm": (6, 8, 24, 32, 37, 44),  # upper arm, elbow, forearm, front and back
    "left foot": (1, 67),
    "right foot": (42, 65),
    "left leg": (15, 20, 21, 25, 30, 45, 53, 56, 60, 64),  # thigh, knee, shin, calf
    "right leg": (12, 16, 18, 19, 22, 28, 36, 46, 55, 62),
    "left shoulder (front)": (73,),
    "left shoulder (back)": (2,),
    "left shoulder": (2, 73),
    "right shoulder (front)": (31,),
    "right shoulder (back)": (29,),
    "right shoulder": (29, 31),
    "head": (39, 51, 52, 66),  # the four quarters of the skull
    "neck": (14, 43, 47, 54),  # the four quarters of the neck
    "chest": (7, 58, 59, 61),  # upper and lower chest
    "stomach": (0, 4, 68, 74),  # upper belly and lower belly
    "waist": (10, 48, 50, 68, 74),  # lower back, front of the pelvis, lower belly
    "waist (front)": (50, 68, 74),
    "waist (back)": (10, 48),
    # middle and upper back, back of both shoulders, lower back, back of the neck
    "back": (13, 35, 38, 41, 63, 70, 2, 29, 10, 48, 14, 43),
    "butt": (9, 71),
}
"""Coarse region -> the CI3D region numbers it unites (the reference's mapping)."""


def read_contact_regions(path: str | os.PathLike, num_faces: int | None = None) -> list[np.ndarray]:
  """Reads the face ids of the 75 regions from a CI3D ``contact_regions.json``.

  Only the ``"rid_to_smplx_fids"`` entry (75 lists of SMPL-X face ids) is read.

  Args:
    path: the file.
    num_faces: if given, every face id must be below it.

  Returns:
    75 int64 arrays of face ids, indexed by region number.

  Raises:
    FileFormatError: when the file is missing, is not JSON, or does not hold 75 lists of valid
      face ids.
  """
  content = load_json(
      path, "contact region file",
      hint="it is info/contact_regions.json of the CI3D dataset tools (imar_vision_datasets_tools)")
  if not isinstance(content, dict) or CI3D_FACE_KEY not in content:
    keys = sorted(content) if isinstance(content, dict) else type(content).__name__
    raise FileFormatError(path, f"expected a JSON object with key {CI3D_FACE_KEY!r}; found {keys}")
  regions = content[CI3D_FACE_KEY]
  if not isinstance(regions, list) or len(regions) != NUM_CI3D_REGIONS:
    count = len(regions) if isinstance(regions, list) else type(regions).__name__
    raise FileFormatError(
        path, f"{CI3D_FACE_KEY!r} must be a list of {NUM_CI3D_REGIONS} face-id lists, got {count}")
  faces_per_region = []
  for number, face_ids in enumerate(regions):
    if not isinstance(face_ids, list) or not all(
        isinstance(f, int) and not isinstance(f, bool) for f in face_ids
    ):
      raise FileFormatError(path, f"region {number} is not a list of integer face ids")
    if any(abs(f) >= 2**62 for f in face_ids):
      raise FileFormatError(path, f"region {number} has a face id too large for any mesh")
    ids = np.asarray(face_ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or (num_faces is not None and ids.max() >= num_faces)):
      raise FileFormatError(path, f"region {number} has face ids outside [0, {num_faces}); the "
                            "file must match the SMPL-X mesh of the model")
    faces_per_region.append(ids)
  return faces_per_region


def load_contact_regions(
    path: str | os.PathLike,
    model: Any,
    samples_per_region: int = DEFAULT_SAMPLES_PER_REGION,
) -> RegionMap:
  """The coarse regions from a CI3D ``contact_regions.json``, for the licensed SMPL-X mesh.

  A region's vertices are the corners of its faces; each coarse region unites the CI3D regions
  of ``COARSE_TO_CI3D_REGIONS``. The file indexes the faces of the real SMPL-X mesh, so it refuses
  a synthetic model (use ``derive_regions`` there). Unlike ``derive_regions``, a vertex may be in
  no region (the file need not cover the whole surface).

  Args:
    path: the region file (recorded as the ``RegionMap``'s source).
    model: a ``BodyModel`` with the SMPL-X topology (uses faces, v_template, synthetic).
    samples_per_region: K, subsampled vertices per region.

  Raises:
    FileFormatError: when the file is missing or malformed, or a coarse region has no vertices.
    InvalidInputError: when the model is synthetic or malformed.
  """
  if getattr(model, "synthetic", False):
    raise InvalidInputError(
        "contact_regions.json indexes the faces of the licensed SMPL-X mesh; the synthetic "
        "default body has its own faces. Use posejax.body.derive_regions(model) instead."
    )
  v_template = np.asarray(model.v_template, dtype=np.float64)
  faces = np.asarray(model.faces)
  _check_faces(faces, v_template.shape[0])
  fine_faces = read_contact_regions(path, num_faces=faces.shape[0])
  fine_vertices = [np.unique(faces[ids].reshape(-1)) for ids in fine_faces]
  masks = np.zeros((len(vocabulary.RESOLVED_REGIONS), v_template.shape[0]), dtype=bool)
  for r, name in enumerate(vocabulary.RESOLVED_REGIONS):
    for number in COARSE_TO_CI3D_REGIONS[name]:
      masks[r, fine_vertices[number]] = True
    if not masks[r].any():
      raise FileFormatError(
          path, f"coarse region {name!r} (CI3D regions {COARSE_TO_CI3D_REGIONS[name]}) is empty")
  return region_map_from_masks(masks, v_template, samples_per_region, os.fspath(path))
