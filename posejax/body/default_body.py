"""posejax's embedded default body: a SYNTHETIC, procedurally generated, licence-free humanoid.

It is not SMPL-X and holds no SMPL-X data. It has exactly SMPL-X's structure, so every code path
of posejax and the smplx package itself accept it: 10,475 vertices, 20,908 faces, the 55 SMPL-X
joints with their names and kinematic tree, ``J_regressor``, skinning weights, 300 shape and 100
expression directions, 486 pose-corrective directions, PCA hand components and means, the face
landmark tables, and vertices placed at smplx's hard-coded vertex-joint ids (nose, eyes, ears,
toes, heels, finger tips). Use it for tests, benchmarks, demos and the synthetic benchmark;
results computed with it are marked ``synthetic``. Users with the licensed SMPL-X files load
those with ``posejax.body.load_model``.

What the arrays are (all invented here, deterministic, built in well under two seconds):

* Surface (``posejax.body._humanoid``): a T-posed, mirror-symmetric humanoid grown as tubes of
  vertex rings: one closed genus-0 body (trunk, neck, head with nose, ears, lips and eye
  sockets; arms; hands with five separate fingers each; legs; feet) and two eyeballs.
* Unused vertices. A closed triangle surface of genus g satisfies V - F/2 = 2 - 2g, summed over
  its parts; SMPL-X's counts give V - F/2 = 10475 - 10454 = 21, an odd number, so some vertices
  must belong to no face: with C closed genus-0 parts and u unused vertices, 2C + u = 21. We
  take the three natural parts (body and two eyeballs), so u = 15: fifteen vertices on the
  mirror plane inside the trunk, neck and head, along the spine, skinned to the spine, neck and
  head joints they sit by. Any extra closed part would be an artificial seam on the body.
* Skeleton: joints designed with the surface; ``J_regressor`` rows are non-negative weights,
  summing to one, over a band of vertices around each joint (a ring across the limb, a slice of
  the trunk, the eyeball), solved so that they regress the designed joint exactly.
* Skinning weights: each vertex belongs to one joint by its part and its position along the
  part's bones, blended smoothly across each joint and then diffused a little over the surface.
* Shape directions (first 300): overall size, girth, leg vs. trunk length, shoulder vs. hip
  breadth, arm length, belly, head size, neck length, limb bulk, hand and foot size, ... then
  smooth small fields, with decreasing magnitude as in a PCA basis. The first changes stature by
  about 6 cm per unit (the body is 1.70 m tall).
* Expression directions (last 100): jaw drop, smile, brow raise, pucker, ... then small smooth
  fields on the face.
* Pose correctives: small outward bulges where two joints' weights blend, growing with
  1 - cos(bend angle), to offset linear-blend-skinning's volume loss.
* Hands: orthonormal 45 x 45 PCA bases whose first components are curl, spread, thumb
  opposition, ...; the mean is a relaxed curl. Left and right mirror each other.
* Landmarks: the 51 face landmarks on brows, nose, eyes and lips; the 79 x 17 contour table on
  the jaw line's silhouette for each head yaw.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np
import scipy.sparse
from scipy.spatial import cKDTree

from posejax.body import _humanoid as hm
from posejax.body.io import model_from_arrays
from posejax.body.model import SKELETON_JOINT_NAMES
from posejax.body.model import SMPLX_PARENTS
from posejax.body.model import SMPLX_VERTEX_JOINT_IDS
from posejax.body.model import VERTEX_JOINT_NAMES
from posejax.body.model import BodyModel
from posejax.body.regions import vertex_normals

SOURCE = "posejax default body (synthetic)"
"""``BodyModel.source`` of the default body."""

NUM_VERTICES = 10475
NUM_FACES = 20908
NUM_JOINTS = 55
NUM_SHAPE_DIRECTIONS = 300
NUM_EXPRESSION_DIRECTIONS = 100
NUM_UNUSED_VERTICES = hm.UNUSED_COUNT
"""Vertices that no face uses (see the module docstring)."""

JOINT_INDEX = {name: i for i, name in enumerate(SKELETON_JOINT_NAMES)}
_FINGERS = ("index", "middle", "pinky", "ring", "thumb")
"""Finger order of SMPL-X's hand joints (three joints each)."""


def default_body_arrays() -> dict[str, np.ndarray]:
  """The default body as arrays under the official SMPL-X ``.npz`` keys (cached, read-only).

  Returns:
    ``v_template (10475, 3)`` metres, ``f (20908, 3)``, ``shapedirs (10475, 3, 400)`` (300
    shape then 100 expression directions, metres per unit), ``posedirs (10475, 3, 486)``,
    ``J_regressor (55, 10475)``, ``kintree_table (2, 55)``, ``weights (10475, 55)``,
    ``hands_componentsl/r (45, 45)``, ``hands_meanl/r (45,)`` radians, ``lmk_faces_idx (51,)``,
    ``lmk_bary_coords (51, 3)``, ``dynamic_lmk_faces_idx (79, 17)``,
    ``dynamic_lmk_bary_coords (79, 17, 3)``. Save them with ``np.savez`` as
    ``SMPLX_NEUTRAL.npz`` and the smplx package loads them. The arrays are shared and
    read-only; copy before changing them.
  """
  return _cached_arrays()


def default_model(**options: Any) -> BodyModel:
  """posejax's SYNTHETIC default body as a ``BodyModel`` (licence-free, not SMPL-X).

  A procedural humanoid with SMPL-X's exact structure (see the module docstring); the model is
  marked ``synthetic=True`` and its ``source`` says so, and so do results computed with it.

  Args:
    **options: as ``posejax.body.model_from_arrays`` (``num_betas=10``,
      ``num_expression_coeffs=10``, ``use_pca=True``, ``num_pca_comps=6``,
      ``flat_hand_mean=False``, ``use_face_contour=False``, ``dtype=np.float32``, ...).

  Returns:
    The model (the same immutable object for the same options, built once per process).
  """
  try:
    key = tuple(sorted(options.items()))
    hash(key)
  except TypeError:  # an unhashable option (a kid template array): build afresh
    return _build_model(**options)
  return _cached_model(key, bool(jax.config.jax_enable_x64))


def _build_model(**options: Any) -> BodyModel:
  return model_from_arrays(default_body_arrays(), source=SOURCE, synthetic=True, **options)


@functools.lru_cache(maxsize=8)
def _cached_model(options: tuple, x64: bool) -> BodyModel:
  del x64  # part of the key only: a model's arrays take the float width JAX had when built
  return _build_model(**dict(options))


@functools.lru_cache(maxsize=1)
def _cached_arrays() -> dict[str, np.ndarray]:
  arrays = build_default_body_arrays()
  for array in arrays.values():
    array.flags.writeable = False
  return arrays


# ----------------------------------------------------------------------------------------------
# Assembly


def build_default_body_arrays() -> dict[str, np.ndarray]:
  """Builds the default body's arrays from scratch (uncached; see ``default_body_arrays``)."""
  body = _BodyFacts.build()
  weights = _skinning_weights(body)
  regressor = _joint_regressor(body)
  skeleton = _Skeleton(body, weights)
  shapedirs = np.concatenate(
      [_shape_directions(body, skeleton), _expression_directions(body, skeleton)], axis=2)
  lmk_faces, lmk_bary = _face_landmarks(body)
  contour_faces, contour_bary = _contour_landmarks(body)
  hands_l, mean_l = _hand_pca()
  parents = np.array(SMPLX_PARENTS, dtype=np.int64)
  return {
      "v_template": body.vertices.astype(np.float64),
      "f": body.faces.astype(np.int64),
      "shapedirs": shapedirs.astype(np.float32, copy=False),
      "posedirs": _pose_correctives(body, skeleton),
      "J_regressor": regressor.astype(np.float64),
      "kintree_table": np.stack([parents, np.arange(NUM_JOINTS)]).astype(np.int64),
      "weights": weights.astype(np.float64),
      "hands_componentsl": hands_l,
      "hands_componentsr": _mirror_hand_pose(hands_l),
      "hands_meanl": mean_l,
      "hands_meanr": _mirror_hand_pose(mean_l[None])[0],
      "lmk_faces_idx": lmk_faces.astype(np.int64),
      "lmk_bary_coords": lmk_bary.astype(np.float64),
      "dynamic_lmk_faces_idx": contour_faces.astype(np.int64),
      "dynamic_lmk_bary_coords": contour_bary.astype(np.float64),
  }


def _mirror_joint_name(name: str) -> str:
  if name.startswith("left_"):
    return "right_" + name[5:]
  if name.startswith("right_"):
    return "left_" + name[6:]
  return name


class _BodyFacts:
  """The humanoid surface in SMPL-X vertex order, with what the arrays are derived from."""

  def __init__(self, vertices, faces, part, side, mirror, joints, unused, landmarks, ends):
    self.vertices = vertices  # (V, 3)
    self.faces = faces  # (F, 3)
    self.part = part  # (V,) hm.PART_*
    self.side = side  # (V,) +1 left, -1 right, 0 mirror plane
    self.mirror = mirror  # (V,)
    self.joints = joints  # (55, 3)
    self.unused = unused  # (u,)
    self.landmarks = landmarks  # name -> vertex id (both sides)
    self.ends = ends  # leaf joint index -> (3,) designed end point of its bone
    self.normals = vertex_normals(vertices, faces)

  @classmethod
  def build(cls) -> "_BodyFacts":
    shape = hm.build()
    vertices = shape.vertices
    landmarks = dict(shape.landmarks)
    # Landmarks found on the finished surface.
    trunk = shape.part == hm.PART_TRUNK
    on_plane = np.abs(vertices[:, 0]) < 1e-9
    nose_zone = trunk & on_plane & (vertices[:, 1] > 0.25) & (vertices[:, 1] < 0.30)
    landmarks["nose"] = _argbest(vertices[:, 2], nose_zone)
    ear_zone = trunk & (vertices[:, 1] > 0.26) & (vertices[:, 1] < 0.33) & (vertices[:, 2] < 0.01)
    landmarks["left_ear"] = _argbest(vertices[:, 0], ear_zone)
    leg = (shape.part == hm.PART_LEG) & (vertices[:, 0] > 0)
    toe = vertices[landmarks["left_big_toe"]]
    small_zone = leg & (vertices[:, 2] > toe[2] - 0.04)
    landmarks["left_small_toe"] = _argbest(vertices[:, 0] + 0.5 * vertices[:, 2], small_zone)
    heel_zone = leg & (vertices[:, 2] < 0.0) & (vertices[:, 1] < hm.FLOOR_Y + 0.04)
    landmarks["left_heel"] = _argbest(-vertices[:, 2] - 0.6 * (vertices[:, 1] - hm.FLOOR_Y),
                                      heel_zone)
    for name in list(landmarks):
      if name.startswith("left_"):
        landmarks["right_" + name[5:]] = int(shape.mirror[landmarks[name]])

    order = _vertex_order(landmarks, len(vertices))
    new_id = np.empty_like(order)
    new_id[order] = np.arange(len(order))
    vertices = vertices[order]
    faces = new_id[shape.faces]
    part = shape.part[order]
    mirror = new_id[shape.mirror[order]]
    side = np.sign(np.round(vertices[:, 0], 9)).astype(np.int64)
    landmarks = {k: int(new_id[v]) for k, v in landmarks.items()}
    unused = np.sort(new_id[shape.unused])
    joints, ends = _design_joints()
    return cls(vertices, faces, part, side, mirror, joints, unused, landmarks, ends)


def _argbest(score: np.ndarray, mask: np.ndarray) -> int:
  ids = np.flatnonzero(mask)
  if not len(ids):
    raise RuntimeError("default body: a landmark zone is empty")
  return int(ids[np.argmax(score[ids])])


_LANDMARK_FOR_VERTEX_JOINT = {
    "nose": "nose", "right_eye": "right_eye", "left_eye": "left_eye", "right_ear": "right_ear",
    "left_ear": "left_ear", "left_big_toe": "left_big_toe", "left_small_toe": "left_small_toe",
    "left_heel": "left_heel", "right_big_toe": "right_big_toe",
    "right_small_toe": "right_small_toe", "right_heel": "right_heel",
    "left_thumb": "left_thumb_tip", "left_index": "left_index_tip",
    "left_middle": "left_middle_tip", "left_ring": "left_ring_tip",
    "left_pinky": "left_pinky_tip", "right_thumb": "right_thumb_tip",
    "right_index": "right_index_tip", "right_middle": "right_middle_tip",
    "right_ring": "right_ring_tip", "right_pinky": "right_pinky_tip",
}


def _vertex_order(landmarks: dict[str, int], count: int) -> np.ndarray:
  """(V,) old vertex id of each new id: smplx's vertex-joint ids get the right vertices."""
  order = np.full(count, -1)
  taken = set()
  for joint_name, vertex_id in zip(VERTEX_JOINT_NAMES, SMPLX_VERTEX_JOINT_IDS):
    old = landmarks[_LANDMARK_FOR_VERTEX_JOINT[joint_name]]
    order[vertex_id] = old
    taken.add(old)
  rest = [v for v in range(count) if v not in taken]
  order[order < 0] = rest
  return order


def _design_joints() -> tuple[np.ndarray, dict[int, np.ndarray]]:
  """(55, 3) rest joints and the end points of the leaf bones, both sides."""
  left = {name: np.asarray(p, dtype=np.float64) for name, p in hm.LEFT_JOINTS.items()}
  left.update(hm.finger_joints())
  left["left_eye_smplhf"] = hm.eye_center()
  joints = np.zeros((NUM_JOINTS, 3))
  for i, name in enumerate(SKELETON_JOINT_NAMES):
    if name in left:
      joints[i] = left[name]
    else:
      joints[i] = left[_mirror_joint_name(name)] * np.array([-1.0, 1.0, 1.0])
  left_ends = {"head": np.array(hm.CROWN), "jaw": np.array([0.0, 0.205, 0.088]),
               "left_foot": np.array([0.094, -1.262, 0.196]),
               "left_thumb3": np.array(hm.THUMB_TIP)}
  for finger in hm.FINGERS:
    left_ends[f"left_{finger}3"] = hm._finger_path(finger)[3]
  ends = {}
  for name, point in left_ends.items():
    ends[JOINT_INDEX[name]] = point
    if name.startswith("left_"):
      ends[JOINT_INDEX[_mirror_joint_name(name)]] = point * np.array([-1.0, 1.0, 1.0])
  return joints, ends


def _smoother(faces: np.ndarray, count: int) -> scipy.sparse.csr_matrix:
  """(V, V) one step of neighbour averaging: half the vertex, half its neighbours' mean (rows of
  vertices that no face uses keep their value)."""
  adjacency = hm.vertex_adjacency(faces, count)
  degree = np.asarray(adjacency.sum(axis=1)).ravel()
  scale = np.where(degree > 0, 0.5 / np.maximum(degree, 1), 0.0)
  keep = np.where(degree > 0, 0.5, 1.0)
  return (scipy.sparse.diags(scale) @ adjacency + scipy.sparse.diags(keep)).tocsr()


# ----------------------------------------------------------------------------------------------
# Skinning


def _smoothstep(t: np.ndarray) -> np.ndarray:
  t = np.clip(t, 0.0, 1.0)
  return t * t * (3.0 - 2.0 * t)


def _chain_weights(position: np.ndarray, joints_along: np.ndarray, widths: np.ndarray
                   ) -> np.ndarray:
  """Weights (n, k) of k consecutive bones for positions along a chain.

  Bone i spans from joint i to joint i + 1 (positions ``joints_along``, (k,) increasing);
  crossing joint i (i >= 1) hands the weight from bone i - 1 to bone i over ``widths[i]``.
  """
  k = len(joints_along)
  ramps = [np.ones_like(position)]
  for i in range(1, k):
    ramps.append(_smoothstep((position - joints_along[i]) / widths[i] + 0.5))
  ramps.append(np.zeros_like(position))
  return np.stack([ramps[i] - ramps[i + 1] for i in range(k)], axis=1)


def _polyline_coordinate(points: np.ndarray, polyline: np.ndarray) -> np.ndarray:
  """Arc-length coordinate (n,) of each point's nearest point on a polyline (P, 3)."""
  best_dist = np.full(len(points), np.inf)
  best_s = np.zeros(len(points))
  start = 0.0
  for a, b in zip(polyline[:-1], polyline[1:]):
    seg = b - a
    length = np.linalg.norm(seg)
    t = np.clip((points - a) @ seg / (length * length), 0.0, 1.0)
    dist = np.linalg.norm(points - (a + t[:, None] * seg), axis=1)
    closer = dist < best_dist
    best_dist[closer] = dist[closer]
    best_s[closer] = start + t[closer] * length
    start += length
  return best_s


def _arc_positions(polyline: np.ndarray) -> np.ndarray:
  return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(polyline, axis=0), axis=1))])


def _skinning_weights(body: _BodyFacts) -> np.ndarray:
  v, J = body.vertices, body.joints
  count = len(v)
  weights = np.zeros((count, NUM_JOINTS))
  j = JOINT_INDEX

  def sided(name: str, side: int) -> int:
    return j[name.replace("left_", "right_")] if side < 0 else j[name]

  # Trunk, neck and head: along the spine by height; collar and jaw zones blended on top.
  trunk = np.isin(body.part, (hm.PART_TRUNK, hm.PART_UNUSED))
  ids = np.flatnonzero(trunk)
  p = v[ids]
  spine = [j["pelvis"], j["spine1"], j["spine2"], j["spine3"], j["neck"]]
  chain = _chain_weights(p[:, 1], J[spine, 1], np.array([0, 0.07, 0.07, 0.05, 0.06]))
  # The head starts at a slanted line: high at the nape, low under the jaw.
  above_line = p[:, 1] - (0.236 - 0.55 * (p[:, 2] + 0.02))
  head_share = chain[:, -1] * _smoothstep(above_line / 0.02 + 0.5)
  local = np.zeros((len(ids), NUM_JOINTS))
  local[:, spine] = chain
  local[:, j["neck"]] -= head_share
  local[:, j["head"]] += head_share
  side = np.where(p[:, 0] >= 0, 1, -1)
  collar_share = (_smoothstep((np.abs(p[:, 0]) - 0.06) / 0.07) *
                  _smoothstep((p[:, 1] - 0.03) / 0.08) * (p[:, 1] < 0.21))
  collar = np.where(side > 0, j["left_collar"], j["right_collar"])
  local *= (1.0 - collar_share)[:, None]
  local[np.arange(len(ids)), collar] += collar_share
  head_share = local[:, j["head"]]
  jaw_share = (head_share * _smoothstep((0.2415 - p[:, 1]) / 0.006 + 0.5) *
               _smoothstep((p[:, 2] + 0.035) / 0.03))
  local[:, j["head"]] -= jaw_share
  local[:, j["jaw"]] += jaw_share
  weights[ids] = local

  # Arms and palms: collar -> shoulder -> elbow -> wrist along x.
  for part, names, widths in (
      (hm.PART_ARM, ("left_collar", "left_shoulder", "left_elbow", "left_wrist"),
       (0.0, 0.05, 0.06, 0.035)),):
    ids = np.flatnonzero(body.part == part)
    p = v[ids]
    for s in (1, -1):
      sel = ids[np.sign(p[:, 0]) == s]
      joint_ids = [sided(n, s) for n in names]
      along = np.abs(v[sel, 0])
      stations = np.abs(J[joint_ids, 0])
      stations[0] = 0.0
      weights[np.ix_(sel, joint_ids)] = _chain_weights(along, stations, np.array(widths))

  # Fingers and thumbs: wrist -> 1 -> 2 -> 3 along each finger's bones.
  for finger in ("index", "middle", "ring", "pinky", "thumb"):
    part = hm.PART_THUMB if finger == "thumb" else hm.FINGER_PARTS[finger]
    for s in (1, -1):
      sel = np.flatnonzero((body.part == part) & (np.sign(v[:, 0]) == s))
      names = ["left_wrist"] + [f"left_{finger}{k}" for k in (1, 2, 3)]
      joint_ids = [sided(n, s) for n in names]
      end = body.ends[sided(f"left_{finger}3", s)]
      polyline = np.concatenate([J[joint_ids[1:]], end[None]])
      before = J[joint_ids[1]] - 0.03 * (polyline[1] - polyline[0]) / np.linalg.norm(
          polyline[1] - polyline[0])
      polyline = np.concatenate([before[None], polyline])
      coordinate = _polyline_coordinate(v[sel], polyline)
      stations = _arc_positions(polyline)[:4]
      widths = np.array([0.0, 0.012, 0.008, 0.007]) if finger == "thumb" else \
          np.array([0.0, 0.010, 0.007, 0.006])
      weights[np.ix_(sel, joint_ids)] = _chain_weights(coordinate, stations, widths)

  # Legs and feet: pelvis -> hip -> knee -> ankle -> foot along the leg's bones.
  for s in (1, -1):
    sel = np.flatnonzero((body.part == hm.PART_LEG) & (np.sign(v[:, 0]) == s))
    names = ["pelvis", "left_hip", "left_knee", "left_ankle", "left_foot"]
    joint_ids = [sided(n, s) for n in names]
    end = body.ends[sided("left_foot", s)]
    polyline = np.concatenate([J[joint_ids[1:]], end[None]])
    above = polyline[0] + np.array([0.0, 0.2, 0.0])
    polyline = np.concatenate([above[None], polyline])
    coordinate = _polyline_coordinate(v[sel], polyline)
    stations = _arc_positions(polyline)[:5]
    stations[1] -= 0.07  # the thigh starts at the crotch, below the hip joint
    weights[np.ix_(sel, joint_ids)] = _chain_weights(
        coordinate, stations, np.array([0.0, 0.08, 0.08, 0.05, 0.035]))

  # Unused vertices lie on the spine's axis: they follow the spine, neck or head joint nearest in
  # height, alone.
  unused = body.unused
  column = [j["pelvis"], j["spine1"], j["spine2"], j["spine3"], j["neck"], j["head"]]
  nearest = np.argmin(np.abs(v[unused, 1][:, None] - J[column, 1][None]), axis=1)
  weights[unused] = 0.0
  weights[unused, np.array(column)[nearest]] = 1.0

  # Eyeballs follow their eye joints only.
  for s, name in ((1, "left_eye_smplhf"), (-1, "right_eye_smplhf")):
    sel = (body.part == hm.PART_EYE) & (np.sign(v[:, 0]) == s)
    weights[sel] = 0.0
    weights[sel, j[name]] = 1.0

  # A little diffusion over the surface smooths the seams between parts (arm and trunk, leg and
  # trunk, fingers and palm); eyeballs and unused vertices keep their weights.
  adjacency = hm.vertex_adjacency(body.faces, count)
  degree = np.asarray(adjacency.sum(axis=1)).ravel()
  movable = (degree > 0) & (body.part != hm.PART_EYE)
  inverse_degree = np.where(degree > 0, 1.0 / np.maximum(degree, 1), 0.0)
  for _ in range(4):
    mean = (adjacency @ weights) * inverse_degree[:, None]
    weights[movable] = 0.5 * weights[movable] + 0.5 * mean[movable]
  weights[weights < 1e-3] = 0.0
  weights /= weights.sum(axis=1, keepdims=True)
  return weights


# ----------------------------------------------------------------------------------------------
# Joint regressor


def _regressor_candidates(body: _BodyFacts, joint: int, widen: float) -> np.ndarray:
  """Vertices around a joint whose weighted mean gives it: a band across its part, ``widen``
  times the narrowest width (bands must hold rings on both sides of the joint)."""
  v, J = body.vertices, body.joints
  name = SKELETON_JOINT_NAMES[joint]
  side = -1 if name.startswith("right_") else (1 if name.startswith("left_") else 0)
  base = name.replace("right_", "left_")
  used = np.ones(len(v), dtype=bool)
  used[body.unused] = False
  on_side = (np.sign(v[:, 0]) == side) | (side == 0)
  point = J[joint]
  part = body.part

  def band(mask, axis, half_width, radius):
    half_width = half_width * widen
    along = (v - point) @ axis
    near = np.linalg.norm(v - point, axis=1) < radius
    return np.flatnonzero(mask & used & (np.abs(along) < half_width) & near)

  y_axis = np.array([0.0, 1.0, 0.0])
  if base in ("pelvis", "spine1", "spine2", "spine3", "neck", "head", "jaw"):
    return band(part == hm.PART_TRUNK, y_axis, 0.012, 0.3)
  if base in ("left_hip", "left_collar"):
    return band((part == hm.PART_TRUNK) & (on_side | (v[:, 0] == 0)), y_axis, 0.012, 0.3)
  if base == "left_eye_smplhf":
    return np.flatnonzero((part == hm.PART_EYE) & on_side)
  if base in ("left_shoulder", "left_elbow", "left_wrist"):
    return band((part == hm.PART_ARM) & on_side, np.array([1.0, 0.0, 0.0]), 0.01, 0.12)
  if base in ("left_knee", "left_ankle"):
    return band((part == hm.PART_LEG) & on_side, y_axis, 0.012, 0.09)
  if base == "left_foot":
    return np.flatnonzero((part == hm.PART_LEG) & on_side & used &
                          (np.linalg.norm(v - point, axis=1) < 0.03 * widen))
  # Finger joints: a band across the finger (the first joint sits in the palm's end).
  finger = base[5:-1]
  finger_part = hm.PART_THUMB if finger == "thumb" else hm.FINGER_PARTS[finger]
  level = int(base[-1])
  child = JOINT_INDEX[name[:-1] + str(level + 1)] if level < 3 else None
  end = body.ends[joint] if child is None else J[child]
  axis = (end - point) / np.linalg.norm(end - point)
  mask = np.isin(part, (finger_part, hm.PART_ARM)) & on_side
  return band(mask, axis, 0.005 if level > 1 else 0.008, 0.03)


def _tilted_weights(points: np.ndarray, target: np.ndarray) -> np.ndarray:
  """Non-negative weights summing to 1 whose weighted mean of ``points`` is ``target``.

  The maximum-entropy solution w_i ~ exp(l . (p_i - target)), with l found by Newton's method;
  it exists when the target lies inside the points' convex hull.
  """
  rel = points - target
  scale = np.abs(rel).max()
  rel = rel / scale
  lam = np.zeros(3)
  for _ in range(60):
    logits = rel @ lam
    w = np.exp(logits - logits.max())
    w /= w.sum()
    mean = w @ rel
    if np.linalg.norm(mean) < 1e-12:
      break
    cov = (rel * w[:, None]).T @ rel - np.outer(mean, mean)
    step = np.linalg.solve(cov + 1e-12 * np.eye(3), mean)
    # Damped Newton on the convex log-partition function.
    lam = lam - step / max(1.0, np.linalg.norm(step) / 5.0)
  return w


def _joint_regressor(body: _BodyFacts) -> np.ndarray:
  regressor = np.zeros((NUM_JOINTS, len(body.vertices)))
  for joint in range(NUM_JOINTS):
    for widen in (1.0, 1.5, 2.0, 3.0):
      ids = _regressor_candidates(body, joint, widen)
      if len(ids) < 4:
        continue
      w = _tilted_weights(body.vertices[ids], body.joints[joint])
      error = np.linalg.norm(w @ body.vertices[ids] - body.joints[joint])
      if error < 1e-7:
        break
    if len(ids) < 4 or error > 1e-7:
      raise RuntimeError(f"default body: cannot regress joint {SKELETON_JOINT_NAMES[joint]} "
                         f"({len(ids)} vertices, error {error:.2e} m)")
    regressor[joint, ids] = w
  return regressor


# ----------------------------------------------------------------------------------------------
# Shape and expression directions


_MAIN_CHILD = {
    "pelvis": "spine1", "left_hip": "left_knee", "right_hip": "right_knee", "spine1": "spine2",
    "left_knee": "left_ankle", "right_knee": "right_ankle", "spine2": "spine3",
    "left_ankle": "left_foot", "right_ankle": "right_foot", "spine3": "neck", "neck": "head",
    "left_collar": "left_shoulder", "right_collar": "right_shoulder",
    "left_shoulder": "left_elbow", "right_shoulder": "right_elbow",
    "left_elbow": "left_wrist", "right_elbow": "right_wrist",
    "left_wrist": "left_middle1", "right_wrist": "right_middle1",
}
for _side in ("left", "right"):
  for _finger in _FINGERS:
    for _k in (1, 2):
      _MAIN_CHILD[f"{_side}_{_finger}{_k}"] = f"{_side}_{_finger}{_k + 1}"


class _Skeleton:
  """Bones of the rest skeleton, for deformations that move joints and drag vertices along."""

  def __init__(self, body: _BodyFacts, weights: np.ndarray):
    self.body = body
    self.weights = weights
    J = body.joints
    count = len(body.vertices)
    # Each joint's bone: from the joint to its main child (or its designed end point).
    self.child = np.full(NUM_JOINTS, -1)
    self.bone_end = J.copy()
    for i, name in enumerate(SKELETON_JOINT_NAMES):
      if name in _MAIN_CHILD:
        self.child[i] = JOINT_INDEX[_MAIN_CHILD[name]]
        self.bone_end[i] = J[self.child[i]]
      elif i in body.ends:
        self.bone_end[i] = body.ends[i]
    # t: where each vertex projects along each of its joints' bones, clipped to [0, 1]; only
    # the (vertex, joint) pairs with weight matter.
    bone = self.bone_end - J
    length2 = (bone * bone).sum(axis=1)
    rows, cols = np.nonzero(weights)
    rel = body.vertices[rows] - J[cols]
    t = np.where(length2[cols] > 1e-12,
                 (rel * bone[cols]).sum(axis=1) / np.maximum(length2[cols], 1e-12), 0.0)
    t = np.clip(t, 0.0, 1.0)
    w = weights[rows, cols]
    shape = (count, NUM_JOINTS)
    # Sparse: a vertex has a handful of joints (and dense matrix products thrash on small
    # shared machines).
    self.weights_sparse = scipy.sparse.csr_matrix((w, (rows, cols)), shape=shape)
    self.weights_along = scipy.sparse.csr_matrix((w * t, (rows, cols)), shape=shape)
    # Distance of each vertex from its bones, blended by the weights (a local radius, metres).
    distance = np.linalg.norm(rel - t[:, None] * bone[cols], axis=1)
    self.radius = np.bincount(rows, weights=w * distance, minlength=count)
    self.smoother = _smoother(body.faces, count)

  def stretched(self, bone_scale: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Joint and bone-end offsets (55, 3) when the named bones (ending at that joint, or for
    ``"<leaf>:end"`` the leaf's own bone) grow by the given fractions."""
    J = self.body.joints
    delta = np.zeros_like(J)
    for i in range(1, NUM_JOINTS):
      parent = SMPLX_PARENTS[i]
      scale = bone_scale.get(SKELETON_JOINT_NAMES[i], 0.0)
      delta[i] = delta[parent] + scale * (J[i] - J[parent])
    end_delta = np.zeros_like(J)
    for i in range(NUM_JOINTS):
      if self.child[i] >= 0:
        end_delta[i] = delta[self.child[i]]
      else:
        scale = bone_scale.get(SKELETON_JOINT_NAMES[i] + ":end", 0.0)
        end_delta[i] = delta[i] + scale * (self.bone_end[i] - J[i])
    return delta, end_delta

  def drag(self, delta: np.ndarray, end_delta: np.ndarray) -> np.ndarray:
    """(V, 3) vertex offsets: each vertex follows its joints' bones (blend by weights, linear
    along each bone)."""
    return self.weights_sparse @ delta + self.weights_along @ (end_delta - delta)

  def smooth(self, values: np.ndarray, rounds: int = 12) -> np.ndarray:
    """Values (V,) averaged over surface neighbourhoods (removes steps between parts)."""
    for _ in range(rounds):
      values = self.smoother @ values
    return values

  def share(self, *names: str) -> np.ndarray:
    """(V,) summed skinning weight of the named joints (both sides for ``left_`` names)."""
    ids = []
    for name in names:
      ids.append(JOINT_INDEX[name])
      if name.startswith("left_"):
        ids.append(JOINT_INDEX[_mirror_joint_name(name)])
    return self.weights[:, ids].sum(axis=1)


def _all_bones(scale: float, *, names: tuple[str, ...] | None = None) -> dict[str, float]:
  out = {}
  for name in SKELETON_JOINT_NAMES[1:]:
    base = name.replace("right_", "left_")
    if names is None or base in names:
      out[name] = scale
  return out


def _both(table: dict[str, float]) -> dict[str, float]:
  out = dict(table)
  for name, value in table.items():
    out[_mirror_joint_name(name)] = value
  return out


def _shape_directions(body: _BodyFacts, sk: "_Skeleton") -> np.ndarray:
  v, n = body.vertices, body.normals
  pelvis = body.joints[JOINT_INDEX["pelvis"]]
  r = np.minimum(sk.radius, 0.2)
  front = np.clip(n[:, 2], 0.0, 1.0)

  def bones(table):
    delta, end_delta = sk.stretched(_both(table))
    return sk.drag(delta, end_delta)

  def girth(table):
    amount = sum(sk.share(name) * value for name, value in table.items())
    return n * sk.smooth(amount * r)[:, None]

  legs = ("left_hip", "left_knee", "left_ankle", "left_foot")
  leg_bones = {"left_knee": 1.0, "left_ankle": 1.0}
  spine_bones = {"spine1": 1.0, "spine2": 1.0, "spine3": 1.0, "neck": 1.0, "head": 1.0}
  arm_bones = {"left_elbow": 1.0, "left_wrist": 1.0}
  limb_joints = ("left_shoulder", "left_elbow", "left_hip", "left_knee")
  directions = []
  # 0 stature: everything grows about the pelvis, legs a little more.
  directions.append(0.035 * (v - pelvis) + bones({k: 0.012 for k in leg_bones}))
  # 1 weight: girth everywhere, most on the belly and hips.
  belly = sk.share("pelvis", "spine1", "spine2") * front * np.exp(
      -((v[:, 1] + 0.2) / 0.15) ** 2)
  directions.append(girth({"pelvis": 0.10, "spine1": 0.11, "spine2": 0.09, "spine3": 0.06,
                           "neck": 0.06, "left_hip": 0.11, "left_knee": 0.06,
                           "left_shoulder": 0.09, "left_elbow": 0.06, "left_collar": 0.05,
                           "head": 0.02}) + n * sk.smooth(0.015 * belly)[:, None])
  # 2 legs longer, trunk shorter.
  directions.append(bones({**{k: 0.05 for k in leg_bones},
                           **{k: -0.04 for k in ("spine1", "spine2", "spine3")}}))
  # 3 broad shoulders and narrow hips (and the reverse).
  directions.append(bones({"left_collar": 0.12, "left_shoulder": 0.12, "left_hip": -0.12}) +
                    girth({"spine3": 0.05, "pelvis": -0.06, "left_hip": -0.03}))
  # 4 arm length.
  directions.append(bones({k: 0.06 for k in arm_bones}))
  # 5 belly forward, chest back.
  chest = sk.share("spine3") * front
  directions.append(n * sk.smooth(0.03 * belly - 0.008 * chest)[:, None])
  # 6 head size.
  head = sk.share("head", "jaw", "left_eye_smplhf")
  head_center = body.joints[JOINT_INDEX["head"]] + np.array([0.0, 0.05, 0.0])
  directions.append(0.05 * head[:, None] * (v - head_center) +
                    bones({"head": 0.0, "head:end": 0.0}))
  # 7 neck length.
  directions.append(bones({"neck": 0.0, "head": 0.25}))
  # 8 limb bulk.
  directions.append(girth({k: 0.10 for k in limb_joints}))
  # 9 hand and foot size.
  hand_foot = {f"left_{f}{k}": 0.06 for f in _FINGERS for k in (1, 2, 3)}
  hand_foot.update({f"left_{f}3:end": 0.06 for f in _FINGERS})
  hand_foot.update({"left_foot": 0.06, "left_foot:end": 0.06})
  directions.append(bones(hand_foot))
  # 10 trunk length.
  directions.append(bones({k: 0.05 for k in ("spine1", "spine2", "spine3", "neck")}))
  # 11 thighs vs calves.
  directions.append(girth({"left_hip": 0.08, "left_knee": -0.06}))
  # 12 upper arms vs forearms.
  directions.append(girth({"left_shoulder": 0.08, "left_elbow": -0.06}))
  # 13 chest depth.
  directions.append(n * sk.smooth(0.02 * sk.share("spine3", "spine2") * np.abs(n[:, 2]))[:, None])
  # 14 hip breadth.
  hips = sk.share("pelvis") * np.abs(n[:, 0])
  directions.append(n * sk.smooth(0.02 * hips)[:, None] + bones({"left_hip": 0.08}))
  # 15 head long vs wide.
  directions.append(head[:, None] * (v - head_center) * np.array([-0.04, 0.0, 0.05]))
  # 16 shin vs thigh length.
  directions.append(bones({"left_knee": -0.04, "left_ankle": 0.05}))
  # 17 forearm vs upper arm length.
  directions.append(bones({"left_elbow": -0.04, "left_wrist": 0.05}))
  # 18 foot breadth.
  foot = sk.share("left_ankle", "left_foot")
  directions.append(n * sk.smooth(0.006 * foot * np.abs(n[:, 0]))[:, None])
  # 19 jaw breadth.
  directions.append(n * sk.smooth(0.006 * sk.share("jaw") * np.abs(n[:, 0]))[:, None])
  structured = np.stack(directions, axis=2)

  rng = np.random.default_rng(20250405)
  fields = _smooth_fields(body, rng, NUM_SHAPE_DIRECTIONS - structured.shape[2],
                          mask=np.ones(len(v)), wavelength=(0.25, 1.2))
  all_dirs = np.concatenate([structured.astype(np.float32), fields], axis=2)
  return _scale_like_pca(all_dirs, first=0.021, ratio=0.88, floor_ratio=0.97,
                         switch=structured.shape[2], used=_used_mask(body))


def _used_mask(body: _BodyFacts) -> np.ndarray:
  used = np.ones(len(body.vertices), dtype=bool)
  used[body.unused] = False
  return used


def _smooth_fields(body: _BodyFacts, rng: np.random.Generator, count: int, mask: np.ndarray,
                   wavelength: tuple[float, float]) -> np.ndarray:
  """(V, 3, count) smooth, mirror-symmetric displacement fields along the normals."""
  v, n = body.vertices, body.normals
  # Mirror symmetry: functions of |x|; the normal's x flips with the side by itself.
  coords = np.stack([np.abs(v[:, 0]), v[:, 1], v[:, 2]], axis=1).astype(np.float32)
  directions = rng.normal(size=(count, 3))
  directions /= np.linalg.norm(directions, axis=1, keepdims=True)
  waves = 2.0 * np.pi / rng.uniform(*wavelength, size=count)
  phases = rng.uniform(0.0, 2.0 * np.pi, size=count)
  frequencies = (directions * waves[:, None]).T.astype(np.float32)
  amplitude = np.sin(coords @ frequencies + phases.astype(np.float32))
  amplitude *= mask[:, None].astype(np.float32)
  return n.astype(np.float32)[:, :, None] * amplitude[:, None, :]


def _scale_like_pca(directions: np.ndarray, first: float, ratio: float, floor_ratio: float,
                    switch: int, used: np.ndarray) -> np.ndarray:
  """Rescales directions to decreasing RMS magnitudes over the used vertices, metres: ``first``,
  then 0.6 * first falling by ``ratio`` per direction up to ``switch``, then by
  ``floor_ratio``."""
  count = directions.shape[2]
  index = np.arange(count)
  # The first direction leads; the next ones start at 60% of it and fall off geometrically.
  target = np.where(index == 0, first, 0.6 * first * ratio ** np.maximum(index - 1, 0))
  tail = index >= switch
  target[tail] = target[switch - 1] * floor_ratio ** (index[tail] - switch + 1)
  unused = np.flatnonzero(~used)
  squares = (np.einsum("vck,vck->k", directions, directions) -
             np.einsum("vck,vck->k", directions[unused], directions[unused]))
  rms = np.sqrt(np.maximum(squares, 0.0) / used.sum())
  directions *= (target / np.maximum(rms, 1e-12)).astype(directions.dtype)[None, None, :]
  return directions


def _expression_directions(body: _BodyFacts, sk: "_Skeleton") -> np.ndarray:
  v, n = body.vertices, body.normals
  face = (sk.share("head", "jaw") * np.clip(v[:, 2] / 0.04, 0.0, 1.0) *
          _smoothstep((v[:, 1] - 0.19) / 0.02) * (body.part == hm.PART_TRUNK))
  ax = np.abs(v[:, 0])
  sign_x = np.sign(v[:, 0])

  def bump(cx, cy, rx, ry):
    d2 = ((ax - cx) / rx) ** 2 + ((v[:, 1] - cy) / ry) ** 2
    return np.exp(-d2) * face

  jaw = body.joints[JOINT_INDEX["jaw"]]
  jaw_share = sk.share("jaw") * (body.part == hm.PART_TRUNK)
  directions = []
  # 0 jaw drop: the jaw turns down about its joint.
  directions.append(jaw_share[:, None] * np.cross(np.array([1.0, 0.0, 0.0]), v - jaw))
  # 1 smile: mouth corners up, back and out.
  corners = bump(0.024, 0.2385, 0.012, 0.008)
  directions.append(corners[:, None] * np.stack([sign_x * 0.4, np.ones_like(ax), -0.5 *
                                                 np.ones_like(ax)], axis=1))
  # 2 brows up.
  directions.append(bump(0.03, 0.323, 0.035, 0.008)[:, None] * np.array([0.0, 1.0, 0.0]))
  # 3 pucker: lips forward and together.
  lips = bump(0.0, 0.238, 0.022, 0.009)
  directions.append(lips[:, None] * np.stack([-sign_x * ax / 0.03, np.zeros_like(ax),
                                              np.ones_like(ax)], axis=1))
  # 4 cheeks puff.
  directions.append(n * bump(0.045, 0.255, 0.018, 0.02)[:, None])
  # 5 frown: brows down and in.
  directions.append(bump(0.02, 0.322, 0.025, 0.008)[:, None] *
                    np.stack([-sign_x * 0.5, -np.ones_like(ax), np.zeros_like(ax)], axis=1))
  # 6 wide mouth.
  directions.append(corners[:, None] * np.stack([sign_x, np.zeros_like(ax), np.zeros_like(ax)],
                                                axis=1))
  # 7 lips pressed in.
  directions.append(-n * lips[:, None])
  # 8 nose wrinkle.
  directions.append(bump(0.008, 0.29, 0.015, 0.02)[:, None] * np.array([0.0, 1.0, -0.3]))
  # 9 squint: skin under the eyes up.
  directions.append(bump(0.035, 0.292, 0.018, 0.006)[:, None] * np.array([0.0, 1.0, 0.2]))
  structured = np.stack(directions, axis=2)
  rng = np.random.default_rng(20250406)
  fields = _smooth_fields(body, rng, NUM_EXPRESSION_DIRECTIONS - structured.shape[2],
                          mask=face, wavelength=(0.03, 0.12))
  all_dirs = np.concatenate([structured.astype(np.float32), fields], axis=2)
  scaled = _scale_like_pca(all_dirs, first=0.0015, ratio=0.92, floor_ratio=0.97,
                           switch=structured.shape[2], used=_used_mask(body))
  return scaled


# ----------------------------------------------------------------------------------------------
# Pose correctives


def _pose_correctives(body: _BodyFacts, sk: "_Skeleton") -> np.ndarray:
  """(V, 3, 486): outward bulges in each joint's blend zone, proportional to 1 - cos(angle).

  The pose feature of joint k >= 1 is R_k - I (row-major); its trace is 2 cos(angle) - 2, so
  putting -c/2 on the three diagonal entries gives c * (1 - cos(angle)).
  """
  weights = sk.weights
  posedirs = np.zeros((len(body.vertices), 3, 9 * (NUM_JOINTS - 1)), dtype=np.float32)
  radius = np.minimum(sk.radius, 0.15)
  for joint in range(1, NUM_JOINTS):
    parent = SMPLX_PARENTS[joint]
    blend = np.clip(4.0 * weights[:, joint] * weights[:, parent], 0.0, 1.0)
    active = np.flatnonzero(blend > 1e-3)
    if not len(active):
      continue
    bulge = 0.12 * radius[active] * blend[active]
    offset = body.normals[active] * bulge[:, None]
    for diagonal in (0, 4, 8):
      posedirs[active, :, 9 * (joint - 1) + diagonal] = -0.5 * offset
  return posedirs


# ----------------------------------------------------------------------------------------------
# Hands


def _hand_joint_axes() -> dict[str, np.ndarray]:
  """Unit flexion and spread axes (left hand, rest pose) per finger."""
  joints, ends = _design_joints()
  axes = {}
  for finger in _FINGERS:
    first = joints[JOINT_INDEX[f"left_{finger}1"]]
    last = ends[JOINT_INDEX[f"left_{finger}3"]]
    direction = (last - first) / np.linalg.norm(last - first)
    palm_normal = np.array([0.0, -1.0, 0.0])
    flexion = np.cross(direction, palm_normal)
    flexion /= np.linalg.norm(flexion)
    spread = np.cross(flexion, direction)
    axes[finger] = np.stack([flexion, spread])
  return axes


def _hand_vector(per_joint: dict[tuple[str, int], np.ndarray]) -> np.ndarray:
  """Packs {(finger, 1..3): axis-angle (3,)} into SMPL-X's 45-vector of one hand."""
  out = np.zeros(45)
  for (finger, level), value in per_joint.items():
    slot = 3 * _FINGERS.index(finger) + (level - 1)
    out[3 * slot:3 * slot + 3] = value
  return out


def _hand_pca() -> tuple[np.ndarray, np.ndarray]:
  """Left-hand PCA components (45, 45) orthonormal rows, and the mean pose (45,)."""
  axes = _hand_joint_axes()
  fingers = ("index", "middle", "ring", "pinky")
  curl = {(f, k): axes[f][0] * (1.0, 1.0, 0.8)[k - 1] for f in fingers for k in (1, 2, 3)}
  curl.update({("thumb", k): axes["thumb"][0] * 0.5 for k in (2, 3)})
  spread_sign = {"index": 1.0, "middle": 0.2, "ring": -0.7, "pinky": -1.3}
  spread = {(f, 1): axes[f][1] * spread_sign[f] for f in fingers}
  spread[("thumb", 1)] = axes["thumb"][1] * 0.8
  thumb_axis = np.array([1.0, 0.0, 0.3]) / np.linalg.norm([1.0, 0.0, 0.3])
  opposition = {("thumb", 1): thumb_axis * 1.0 + axes["thumb"][0] * 0.5,
                ("thumb", 2): axes["thumb"][0] * 0.6, ("thumb", 3): axes["thumb"][0] * 0.4}
  point = {(f, k): axes[f][0] * (-1.0 if f == "index" else 0.6) for f in fingers
           for k in (1, 2, 3)}
  hook = {(f, k): axes[f][0] * (-0.8, 0.6, 0.9)[k - 1] for f in fingers for k in (1, 2, 3)}
  ulnar = {(f, k): axes[f][0] * {"index": -0.8, "middle": -0.3, "ring": 0.4, "pinky": 0.9}[f]
           for f in fingers for k in (1, 2, 3)}
  designed = [_hand_vector(t) for t in (curl, spread, opposition, point, hook, ulnar)]
  basis = []
  for vector in designed + list(np.eye(45)):
    for b in basis:
      vector = vector - (vector @ b) * b
    norm = np.linalg.norm(vector)
    if norm > 1e-6:
      basis.append(vector / norm)
    if len(basis) == 45:
      break
  components = np.stack(basis)
  mean_table = {(f, k): axes[f][0] * (0.22, 0.28, 0.16)[k - 1] * (1.0 + 0.15 * i)
                for i, f in enumerate(fingers) for k in (1, 2, 3)}
  mean_table.update({("thumb", 1): axes["thumb"][0] * 0.1, ("thumb", 2): axes["thumb"][0] * 0.15,
                     ("thumb", 3): axes["thumb"][0] * 0.1})
  return components, _hand_vector(mean_table)


def _mirror_hand_pose(vectors: np.ndarray) -> np.ndarray:
  """Mirrors (..., 45) axis-angle hand poses through x = 0 (left <-> right)."""
  flip = np.tile(np.array([1.0, -1.0, -1.0]), 15)
  return vectors * flip


# ----------------------------------------------------------------------------------------------
# Face landmarks


def _body_faces(body: _BodyFacts) -> np.ndarray:
  """Ids of faces on the body surface (not the eyeballs)."""
  return np.flatnonzero(body.part[body.faces[:, 0]] != hm.PART_EYE)


def _cast_forward(body: _BodyFacts, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Faces and barycentric coordinates where rays along -z at (x, y) first hit the body."""
  candidates = _body_faces(body)
  tri = body.vertices[body.faces[candidates]]
  keep = (tri[:, :, 2].max(axis=1) > 0.0) & (tri[:, :, 1].max(axis=1) > 0.18)
  candidates, tri = candidates[keep], tri[keep]
  out_faces = np.zeros(len(xy), dtype=np.int64)
  out_bary = np.zeros((len(xy), 3))
  for k, (x, y) in enumerate(xy):
    a, b, c = tri[:, 0, :2], tri[:, 1, :2], tri[:, 2, :2]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    safe = np.where(np.abs(det) > 1e-14, det, 1.0)
    l1 = ((x - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (y - a[:, 1])) / safe
    l2 = ((b[:, 0] - a[:, 0]) * (y - a[:, 1]) - (x - a[:, 0]) * (b[:, 1] - a[:, 1])) / safe
    l0 = 1.0 - l1 - l2
    hit = (np.abs(det) > 1e-14) & (l0 >= -1e-9) & (l1 >= -1e-9) & (l2 >= -1e-9)
    if not hit.any():
      raise RuntimeError(f"default body: no face under landmark ({x:.3f}, {y:.3f})")
    z = l0 * tri[:, 0, 2] + l1 * tri[:, 1, 2] + l2 * tri[:, 2, 2]
    best = np.flatnonzero(hit)[np.argmax(z[hit])]
    out_faces[k] = candidates[best]
    bary = np.clip([l0[best], l1[best], l2[best]], 0.0, None)
    out_bary[k] = bary / bary.sum()
  return out_faces, out_bary


# Static face landmarks in smplx's order (68-point layout without the jaw line), as (x, y) on
# the face in metres; x < 0 is the body's right side.
_FACE_LANDMARKS_XY = np.array([
    # right brow, outer to inner; left brow, inner to outer
    (-0.056, 0.3215), (-0.046, 0.3265), (-0.035, 0.3285), (-0.024, 0.3275), (-0.013, 0.3245),
    (0.013, 0.3245), (0.024, 0.3275), (0.035, 0.3285), (0.046, 0.3265), (0.056, 0.3215),
    # nose bridge, top to tip
    (0.0, 0.3150), (0.0, 0.3020), (0.0, 0.2890), (0.0, 0.2760),
    # nose bottom, right to left
    (-0.0135, 0.2625), (-0.0070, 0.2595), (0.0, 0.2585), (0.0070, 0.2595), (0.0135, 0.2625),
    # right eye: outer corner, upper lid, inner corner, lower lid
    (-0.0475, 0.3030), (-0.0395, 0.3080), (-0.0275, 0.3080), (-0.0190, 0.3020),
    (-0.0275, 0.2980), (-0.0395, 0.2980),
    # left eye: inner corner, upper lid, outer corner, lower lid
    (0.0190, 0.3020), (0.0275, 0.3080), (0.0395, 0.3080), (0.0475, 0.3030),
    (0.0395, 0.2980), (0.0275, 0.2980),
    # outer lip, from the right corner over the top and back along the bottom
    (-0.0240, 0.2390), (-0.0160, 0.2440), (-0.0070, 0.2470), (0.0, 0.2460), (0.0070, 0.2470),
    (0.0160, 0.2440), (0.0240, 0.2390), (0.0160, 0.2330), (0.0070, 0.2300), (0.0, 0.2290),
    (-0.0070, 0.2300), (-0.0160, 0.2330),
    # inner lip
    (-0.0200, 0.2385), (-0.0080, 0.2400), (0.0, 0.2405), (0.0080, 0.2400), (0.0200, 0.2385),
    (0.0080, 0.2370), (0.0, 0.2365), (-0.0080, 0.2370),
])


def _face_landmarks(body: _BodyFacts) -> tuple[np.ndarray, np.ndarray]:
  return _cast_forward(body, _FACE_LANDMARKS_XY)


def _nearest_faces(body: _BodyFacts, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Body faces nearest to points (n, 3), and the barycentric coordinates of the closest
  point on each."""
  candidates = _body_faces(body)
  tri = body.vertices[body.faces[candidates]]
  unique, inverse = np.unique(np.round(points, 9), axis=0, return_inverse=True)
  _, near = cKDTree(tri.mean(axis=1)).query(unique, k=12)
  a, b, c = (tri[near, k] for k in range(3))  # (n, 12, 3) each
  e1, e2, rel = b - a, c - a, unique[:, None, :] - a
  d11, d12, d22 = (e1 * e1).sum(-1), (e1 * e2).sum(-1), (e2 * e2).sum(-1)
  r1, r2 = (rel * e1).sum(-1), (rel * e2).sum(-1)
  det = d11 * d22 - d12 * d12
  l1 = (d22 * r1 - d12 * r2) / det
  l2 = (d11 * r2 - d12 * r1) / det
  bary = np.clip(np.stack([1.0 - l1 - l2, l1, l2], axis=-1), 0.0, None)
  bary /= bary.sum(axis=-1, keepdims=True)
  closest = bary[..., :1] * a + bary[..., 1:2] * b + bary[..., 2:] * c
  best = np.argmin(np.linalg.norm(closest - unique[:, None, :], axis=-1), axis=1)
  rows = np.arange(len(unique))
  faces_out = candidates[near[rows, best]]
  bary_out = bary[rows, best]
  return faces_out[inverse.ravel()], bary_out[inverse.ravel()]


def _contour_landmarks(body: _BodyFacts) -> tuple[np.ndarray, np.ndarray]:
  """The (79, 17) face-contour table: the jaw line's silhouette for each head yaw bin.

  smplx picks row ``a`` for a yaw angle of a degrees (a = 0..39) and row ``39 + |a|`` for
  a = -1..-39, where a is minus the neck chain's rotation about y. Contour point 0 is on the
  body's right (x < 0), point 8 on the chin, point 16 on the left.
  """
  heights = np.concatenate([np.linspace(0.292, 0.214, 8), [0.2045]])
  rings = hm._face_features(hm._trunk_dense(heights))
  table = []
  for row in range(79):
    angle = np.deg2rad(row if row <= 39 else 39 - row)
    # The head turned by -angle about y shows this sideways direction across the image.
    across = np.array([np.cos(angle), 0.0, -np.sin(angle)])
    points = np.zeros((17, 3))
    for k in range(8):
      ring = rings[k]
      points[k] = ring[np.argmin(ring @ across)]
      points[16 - k] = ring[np.argmax(ring @ across)]
    chin = rings[8]
    points[8] = chin[np.argmax(chin[:, 2] - 2.0 * np.abs(chin @ across))]
    table.append(points)
  found_faces, found_bary = _nearest_faces(body, np.concatenate(table))
  return found_faces.reshape(79, 17), found_bary.reshape(79, 17, 3)
