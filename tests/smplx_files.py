"""Synthetic SMPL-X model files for tests (no licensed data needed).

``write_synthetic_smplx`` writes a full-size file in the official format: 10,475 vertices,
20,908 faces, SMPL-X's real 55-joint kinematic tree, 300 shape + 100 expression directions,
486 pose directions, PCA hands and the face-landmark tables. The numbers are seeded random, but
shaped like a body so that geometric code has something sensible to work on: every joint owns a
closed tube of vertices along its bone (outward-facing triangles), skinning weights blend each
tube with its parent's, the regressor puts each joint at the centre of its tube's first ring,
expression directions move only the head, and smplx's hard-coded vertex joints (nose, eyes,
ears, toes, heels, finger tips) sit on the right tubes. A kid template is written alongside.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse

from posejax.body.model import SKELETON_JOINT_NAMES
from posejax.body.model import SMPLX_PARENTS
from posejax.body.model import SMPLX_VERTEX_JOINT_IDS
from posejax.body.model import VERTEX_JOINT_NAMES

NUM_VERTICES = 10475
NUM_FACES = 20908
NUM_JOINTS = 55
KID_TEMPLATE_NAME = "smplx_kid_template.npy"
"""File name of the kid template written next to the model (pass as ``kid_template_path``)."""

_RING = 8  # vertices per ring on every tube but the head's
_HEAD_RING = 5  # the head's ring size makes the vertex total come out at exactly 10,475
_HEAD_RINGS = 63  # 5 * 63 + 8 * 1270 == 10475

# Rest joint positions in metres (y up, +x the body's left, +z forward), left side only;
# the right side mirrors x.
_LEFT_JOINTS = {
    "pelvis": (0.0, 0.0, 0.0), "left_hip": (0.06, -0.09, 0.0), "spine1": (0.0, 0.11, -0.01),
    "left_knee": (0.11, -0.47, 0.0), "spine2": (0.0, 0.24, 0.01),
    "left_ankle": (0.08, -0.87, -0.04), "spine3": (0.0, 0.30, 0.01),
    "left_foot": (0.12, -0.93, 0.08), "neck": (0.0, 0.52, -0.02),
    "left_collar": (0.08, 0.43, -0.01), "head": (0.0, 0.62, 0.02),
    "left_shoulder": (0.17, 0.46, -0.02), "left_elbow": (0.43, 0.44, -0.04),
    "left_wrist": (0.68, 0.45, -0.03), "jaw": (0.0, 0.60, 0.04),
    "left_eye_smplhf": (0.03, 0.67, 0.09),
    "left_index1": (0.77, 0.45, 0.0), "left_index2": (0.805, 0.45, 0.0),
    "left_index3": (0.83, 0.45, 0.0), "left_middle1": (0.775, 0.45, -0.02),
    "left_middle2": (0.815, 0.45, -0.02), "left_middle3": (0.84, 0.45, -0.02),
    "left_pinky1": (0.75, 0.445, -0.06), "left_pinky2": (0.775, 0.445, -0.06),
    "left_pinky3": (0.79, 0.445, -0.06), "left_ring1": (0.765, 0.45, -0.04),
    "left_ring2": (0.80, 0.45, -0.04), "left_ring3": (0.82, 0.45, -0.04),
    "left_thumb1": (0.71, 0.44, 0.02), "left_thumb2": (0.74, 0.43, 0.045),
    "left_thumb3": (0.765, 0.425, 0.06),
}

# Where a leaf joint's tube ends, as an offset from the joint, metres.
_LEAF_EXTENT = {"head": (0.0, 0.2, 0.0), "jaw": (0.0, -0.02, 0.07),
                "eye": (0.0, 0.0, 0.015), "foot": (0.0, -0.03, 0.10)}


def rest_joints() -> np.ndarray:
  """(55, 3) rest joint positions of the synthetic body, metres."""
  out = np.zeros((NUM_JOINTS, 3))
  for j, name in enumerate(SKELETON_JOINT_NAMES):
    if name in _LEFT_JOINTS:
      out[j] = _LEFT_JOINTS[name]
    else:
      mirror = name.replace("right_", "left_")
      out[j] = np.asarray(_LEFT_JOINTS[mirror]) * (-1.0, 1.0, 1.0)
  return out


def _radius(name: str) -> float:
  if any(k in name for k in ("index", "middle", "ring", "pinky", "thumb")):
    return 0.008
  if "eye" in name:
    return 0.012
  if name in ("pelvis", "spine1", "spine2", "spine3"):
    return 0.13
  if "hip" in name or "knee" in name:
    return 0.065
  if "ankle" in name or "foot" in name or "wrist" in name:
    return 0.04
  if name in ("head", "neck"):
    return 0.08 if name == "head" else 0.05
  return 0.045


def _tube_ends(joints: np.ndarray) -> np.ndarray:
  """(55, 3) end point of each joint's tube: its children's mean, or a leaf extension."""
  ends = np.zeros_like(joints)
  children = {j: [c for c in range(NUM_JOINTS) if SMPLX_PARENTS[c] == j]
              for j in range(NUM_JOINTS)}
  for j, name in enumerate(SKELETON_JOINT_NAMES):
    if name == "head":
      ends[j] = joints[j] + _LEAF_EXTENT["head"]  # the face joints sit inside the head
    elif children[j]:
      ends[j] = joints[children[j]].mean(axis=0)
    elif name == "jaw":
      ends[j] = joints[j] + _LEAF_EXTENT["jaw"]
    elif "eye" in name:
      ends[j] = joints[j] + _LEAF_EXTENT["eye"]
    elif name.endswith("_foot"):
      ends[j] = joints[j] + _LEAF_EXTENT["foot"]
    else:  # finger tips continue the last bone
      parent = SMPLX_PARENTS[j]
      ends[j] = joints[j] + 0.8 * (joints[j] - joints[parent])
  return ends


def _ring_counts(joints: np.ndarray, ends: np.ndarray) -> list[int]:
  head = SKELETON_JOINT_NAMES.index("head")
  area = np.asarray([max(np.linalg.norm(ends[j] - joints[j]), 0.01) * _radius(name) ** 0.5
                     for j, name in enumerate(SKELETON_JOINT_NAMES)])
  area[head] = 0.0
  remaining = (NUM_VERTICES - _HEAD_RING * _HEAD_RINGS) // _RING
  counts = np.maximum(3, np.floor(area / area.sum() * remaining)).astype(int)
  counts[head] = 0
  while counts.sum() < remaining:
    counts[int(np.argmax(area / counts.clip(1)))] += 1
  while counts.sum() > remaining:
    counts[int(np.argmax(counts))] -= 1
  counts[head] = _HEAD_RINGS
  return [int(c) for c in counts]


def _tube(start, end, radius, rings, ring_size, first_vertex):
  """Vertices, outward faces and along-axis fraction of one closed tube."""
  axis = end - start
  length = np.linalg.norm(axis)
  direction = axis / length
  helper = np.array([0.0, 0.0, 1.0]) if abs(direction[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
  e1 = np.cross(direction, helper)
  e1 /= np.linalg.norm(e1)
  e2 = np.cross(direction, e1)
  u = np.linspace(0.0, 1.0, rings)
  theta = 2 * np.pi * np.arange(ring_size) / ring_size
  r = radius * (0.7 + 0.3 * np.sin(np.pi * u))
  verts = (start + u[:, None, None] * axis
           + r[:, None, None] * (np.cos(theta)[None, :, None] * e1
                                 + np.sin(theta)[None, :, None] * e2))
  idx = first_vertex + np.arange(rings * ring_size).reshape(rings, ring_size)
  nxt = np.roll(idx, -1, axis=1)
  a, b, c, d = idx[:-1], nxt[:-1], idx[1:], nxt[1:]
  faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3),
                          np.stack([b, d, c], -1).reshape(-1, 3)])
  fan = np.arange(1, ring_size - 1)
  start_cap = np.stack([np.full_like(fan, idx[0, 0]), idx[0, fan + 1], idx[0, fan]], -1)
  end_cap = np.stack([np.full_like(fan, idx[-1, 0]), idx[-1, fan], idx[-1, fan + 1]], -1)
  faces = np.concatenate([faces, start_cap, end_cap])
  return verts.reshape(-1, 3), faces, np.repeat(u, ring_size)


def synthetic_smplx_arrays(seed: int = 0) -> dict[str, np.ndarray]:
  """The arrays of a synthetic SMPL-X model under the official keys (float32, dense).

  Args:
    seed: random seed; the same seed gives the same arrays.

  Returns:
    Key -> array, as in an official ``SMPLX_*.npz`` file.
  """
  rng = np.random.default_rng(seed)
  joints = rest_joints()
  ends = _tube_ends(joints)
  rings = _ring_counts(joints, ends)
  head = SKELETON_JOINT_NAMES.index("head")

  verts, faces, owner, along, first_ring = [], [], [], [], []
  count = 0
  for j, name in enumerate(SKELETON_JOINT_NAMES):
    size = _HEAD_RING if j == head else _RING
    v, f, u = _tube(joints[j], ends[j], _radius(name), rings[j], size, count)
    verts.append(v)
    faces.append(f)
    owner.append(np.full(len(v), j))
    along.append(u)
    first_ring.append(count + np.arange(size))
    count += len(v)
  verts = np.concatenate(verts)
  faces = np.concatenate(faces)
  owner = np.concatenate(owner)
  along = np.concatenate(along)
  assert verts.shape[0] == NUM_VERTICES, verts.shape

  # Faces beyond the closed tubes: pairs of a face and its reverse (their normals and solid
  # angles cancel, so the surface stays closed).
  extra = (NUM_FACES - len(faces)) // 2
  picked = faces[rng.choice(len(faces), extra, replace=False)]
  faces = np.concatenate([faces, picked, picked[:, ::-1]])
  assert faces.shape[0] == NUM_FACES, faces.shape

  # Move smplx's hard-coded vertex joints onto the right tubes by swapping vertex ids.
  permutation = np.arange(NUM_VERTICES)
  taken = set()
  for target_id, joint_name in zip(SMPLX_VERTEX_JOINT_IDS, VERTEX_JOINT_NAMES):
    tube, direction = _vertex_joint_site(joint_name)
    candidates = np.flatnonzero(owner == SKELETON_JOINT_NAMES.index(tube))
    score = verts[candidates] @ np.asarray(direction, float)
    for best in candidates[np.argsort(-score)]:
      if best not in taken and best not in SMPLX_VERTEX_JOINT_IDS:
        break
    taken.add(int(best))
    permutation[[target_id, best]] = permutation[[best, target_id]]
  inverse = np.argsort(permutation)
  verts, owner, along = verts[permutation], owner[permutation], along[permutation]
  faces = inverse[faces]
  first_ring = [inverse[r] for r in first_ring]

  # Skinning: each tube's start blends with the parent's bone, a little noise on top.
  weights = np.zeros((NUM_VERTICES, NUM_JOINTS))
  rows = np.arange(NUM_VERTICES)
  parent = np.asarray([max(p, 0) for p in SMPLX_PARENTS])[owner]
  blend = np.where(owner == 0, 0.0, 0.5 * np.clip(1.0 - along / 0.35, 0.0, 1.0))
  blend = np.clip(blend + 0.05 * rng.random(NUM_VERTICES) * (owner > 0), 0.0, 0.6)
  weights[rows, owner] += 1.0 - blend
  weights[rows, parent] += blend
  weights /= weights.sum(axis=1, keepdims=True)

  # Regressor: joint = centre of its tube's first ring.
  j_regressor = np.zeros((NUM_JOINTS, NUM_VERTICES))
  for j, ring in enumerate(first_ring):
    j_regressor[j, ring] = 1.0 / len(ring)

  # Shape directions: smooth fields of position, decaying with the index (300 + 100).
  position = np.concatenate([verts, np.ones((NUM_VERTICES, 1))], axis=1)
  scale = 0.02 / np.sqrt(1.0 + np.arange(300))
  shape_maps = rng.normal(size=(300, 4, 3)) * scale[:, None, None]
  shape = np.einsum("vk,bkc->vcb", position, shape_maps)
  shape += 0.001 * rng.normal(size=shape.shape) * scale / scale[0]
  in_head = np.isin(owner, [SKELETON_JOINT_NAMES.index(n) for n in
                            ("head", "jaw", "left_eye_smplhf", "right_eye_smplhf")])
  expression = np.zeros((NUM_VERTICES, 3, 100))
  expression[in_head] = 0.004 * rng.normal(size=(int(in_head.sum()), 3, 100))
  shapedirs = np.concatenate([shape, expression], axis=2)

  # Pose correctives: each joint moves the vertices it (or its parent) skins.
  influence = weights + weights[:, np.asarray([max(p, 0) for p in SMPLX_PARENTS])]
  posedirs = 0.01 * rng.normal(size=(NUM_VERTICES, 3, NUM_JOINTS - 1, 9))
  posedirs *= influence[:, None, 1:, None]
  posedirs = posedirs.reshape(NUM_VERTICES, 3, 9 * (NUM_JOINTS - 1))

  def orthonormal():
    q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    return q

  head_faces = np.flatnonzero(np.isin(owner[faces], np.flatnonzero(
      np.asarray(SKELETON_JOINT_NAMES) == "head")).all(axis=1))
  bary = lambda n: rng.dirichlet(np.ones(3), size=n)  # noqa: E731
  kintree = np.stack([np.asarray(SMPLX_PARENTS, np.int64) % (2 ** 32),
                      np.arange(NUM_JOINTS)]).astype(np.uint32)
  return {
      "v_template": verts.astype(np.float32),
      "f": faces.astype(np.uint32),
      "shapedirs": shapedirs.astype(np.float32),
      "posedirs": posedirs.astype(np.float32),
      "J_regressor": j_regressor.astype(np.float32),
      "kintree_table": kintree,
      "weights": weights.astype(np.float32),
      "hands_componentsl": orthonormal().astype(np.float32),
      "hands_componentsr": orthonormal().astype(np.float32),
      "hands_meanl": (0.2 * rng.normal(size=45)).astype(np.float32),
      "hands_meanr": (0.2 * rng.normal(size=45)).astype(np.float32),
      "lmk_faces_idx": rng.choice(head_faces, 51).astype(np.int64),
      "lmk_bary_coords": bary(51).astype(np.float32),
      "dynamic_lmk_faces_idx": rng.choice(head_faces, (79, 17)).astype(np.int64),
      "dynamic_lmk_bary_coords": bary(79 * 17).reshape(79, 17, 3).astype(np.float32),
  }


def _vertex_joint_site(name: str) -> tuple[str, tuple[float, float, float]]:
  """(tube joint, direction to maximise) where a vertex joint should sit."""
  side = "left" if name.startswith("left") else "right"
  sign = 1.0 if side == "left" else -1.0
  if name == "nose":
    return "head", (0.0, 0.2, 1.0)
  if name in ("left_eye", "right_eye"):
    return "head", (0.5 * sign, 0.5, 1.0)
  if name in ("left_ear", "right_ear"):
    return "head", (sign, 0.1, 0.0)
  if name.endswith("big_toe"):
    return f"{side}_foot", (-0.5 * sign, -0.2, 1.0)
  if name.endswith("small_toe"):
    return f"{side}_foot", (0.5 * sign, -0.2, 1.0)
  if name.endswith("heel"):
    return f"{side}_ankle", (0.0, -1.0, -1.0)
  finger = name.split("_")[1]
  return f"{side}_{finger}3", (sign, 0.0, 0.0)


def write_synthetic_smplx(folder: str | os.PathLike, gender: str = "NEUTRAL", ext: str = "npz",
                          seed: int = 0) -> Path:
  """Writes ``SMPLX_<GENDER>.<ext>`` and the kid template into ``folder``.

  Args:
    folder: target folder (created if needed).
    gender: goes into the file name, upper-cased (smplx's folder lookup needs it).
    ext: ``'npz'`` (dense regressor) or ``'pkl'`` (latin-1 pickle, scipy-sparse
      ``J_regressor``, as the official pickles).
    seed: random seed.

  Returns:
    The model file's path; the kid template is ``folder / KID_TEMPLATE_NAME``.
  """
  folder = Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  arrays = synthetic_smplx_arrays(seed)
  path = folder / f"SMPLX_{gender.upper()}.{ext}"
  if ext == "npz":
    np.savez(path, **arrays)
  elif ext == "pkl":
    arrays["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
    with open(path, "wb") as handle:
      pickle.dump(arrays, handle, protocol=2)
  else:
    raise ValueError(f"unknown ext {ext!r}")
  kid = 0.65 * arrays["v_template"] + np.asarray([0.0, -0.3, 0.02], np.float32)
  kid = kid + 0.003 * np.random.default_rng(seed + 1).normal(size=kid.shape)
  np.save(folder / KID_TEMPLATE_NAME, kid.astype(np.float32))
  return path
