"""Joint errors: LSP-14 joint regressors, similarity Procrustes, MPJPE and PA-MPJPE.

Positions in metres, errors in millimetres; the error functions are ``jax.numpy`` for one
unbatched item (``jax.vmap`` for batches). As the reference evaluation (BUDDI / ProsePose), joints
are the 14 LSP joints regressed from the mesh (``SMPLX_to_J14.pkl``). Unlike it, the per-person
MPJPE aligns the mid-hip by default, not joint 0 (the right ankle); ``root=`` chooses.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from posejax import safe_load
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError

LSP14_FROM_SMPLX_JOINTS: tuple[int, ...] = (8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12)
"""SMPL-X skeleton joint index of the first 13 LSP joints (head top has no skeleton joint).

The LSP order, which every regressor row and joint array here uses: right ankle, knee, hip; left
hip, knee, ankle; right wrist, elbow, shoulder; left shoulder, elbow, wrist; neck; head top."""

LSP14_MID_HIP: tuple[int, ...] = (2, 3)
"""LSP indices whose mean is the pelvis stand-in used as the MPJPE root."""

SMPLX_HEAD_JOINT = 15


def regress_joints(regressor: jax.Array | np.ndarray, vertices: jax.Array) -> jax.Array:
  """Regresses joints from mesh vertices.

  Args:
    regressor: (J, V) weights; each row a mixture over vertices (rows of LSP regressors sum to 1).
    vertices: (..., V, 3) vertex positions in metres.

  Returns:
    (..., J, 3) joint positions in metres.
  """
  regressor = jnp.asarray(regressor, dtype=jnp.result_type(vertices))
  return jnp.einsum("jv,...vc->...jc", regressor, vertices)


def _as_regressor_array(obj, path: str) -> np.ndarray:
  """Turns whatever a regressor file held into a dense float array, or raises naming the file."""
  if isinstance(obj, Mapping):
    for key in ("J14_regressor", "j14_regressor", "regressor", "J_regressor", "matrix"):
      if key in obj:
        return _as_regressor_array(obj[key], path)
    arrays = [k for k, v in obj.items() if hasattr(v, "toarray") or np.ndim(v) == 2]
    if len(arrays) == 1:
      return _as_regressor_array(obj[arrays[0]], path)
    raise FileFormatError(
        path, f"holds a dict with keys {sorted(map(str, obj))}; expected a (14, V) array or one "
        "of the keys 'J14_regressor', 'regressor', 'J_regressor'")
  if hasattr(obj, "toarray"):  # scipy.sparse matrices
    obj = obj.toarray()
  if hasattr(obj, "detach"):  # torch tensors
    obj = obj.detach().cpu().numpy()
  try:
    return np.asarray(obj, dtype=np.float64)
  except (TypeError, ValueError) as err:
    raise FileFormatError(path, f"does not hold a numeric array ({err})") from err


def load_joint_regressor(path: str | os.PathLike,
                         num_vertices: int | None = None,
                         num_joints: int = 14) -> np.ndarray:
  """Loads a vertex-to-joint regressor such as ``SMPLX_to_J14.pkl`` (BUDDI / ProsePose essentials).

  Accepted files: ``.pkl`` (a pickled array, as BUDDI ships it, read with latin-1 encoding; also a
  scipy sparse matrix, a torch tensor or a dict holding one), ``.npy``, ``.npz`` (key
  ``J14_regressor``/``regressor``/``J_regressor`` or a single array).

  Args:
    path: the regressor file.
    num_vertices: the vertex count of the body it is for (10475 for SMPL-X); checked when given.
    num_joints: expected number of rows.

  Returns:
    (num_joints, V) float64 array.

  Raises:
    FileFormatError: the file is missing, unreadable or has the wrong shape.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileFormatError(path, "joint regressor file not found")
  suffix = os.path.splitext(path)[1].lower()
  what = "a joint regressor"
  if suffix == ".npz":
    obj = safe_load.load_npz(path, what)
  elif suffix == ".npy":
    try:
      obj = np.load(path, allow_pickle=False)
    except Exception as err:  # a pickled object array, a truncated or foreign file
      raise FileFormatError(path, f"cannot read {what} as a plain .npy array "
                            f"({type(err).__name__}: {err})") from None
  else:
    obj = safe_load.load_pickle(path, what, allow_torch=True)
  regressor = _as_regressor_array(obj, path)
  if regressor.ndim != 2 or regressor.shape[0] != num_joints:
    raise FileFormatError(
        path, f"joint regressor has shape {regressor.shape}; expected ({num_joints}, V)")
  if num_vertices is not None and regressor.shape[1] != num_vertices:
    raise FileFormatError(
        path, f"joint regressor is for {regressor.shape[1]} vertices, the body has {num_vertices}")
  if not np.all(np.isfinite(regressor)):
    raise FileFormatError(path, "joint regressor holds NaN or infinite weights")
  return regressor


def lsp14_regressor(joint_regressor: np.ndarray, rest_vertices: np.ndarray,
                    head_vertex_mask: np.ndarray | None = None,
                    up_axis: int = 1) -> np.ndarray:
  """Derives an LSP-14 vertex regressor from a body's own joint regressor.

  Rows 0..12 are the body's skeleton-joint rows (``LSP14_FROM_SMPLX_JOINTS``); row 13 (head top)
  is one-hot on the head vertex highest along ``up_axis`` in the rest pose.

  Args:
    joint_regressor: (>=22, V) SMPL-X-ordered skeleton regressor (``J_regressor``).
    rest_vertices: (V, 3) rest-pose vertices in metres (template, y up).
    head_vertex_mask: (V,) bool, the vertices that belong to the head; all vertices when None.
    up_axis: the rest pose's up axis (SMPL-X: 1, y).

  Returns:
    (14, V) float64 regressor.
  """
  joint_regressor = np.asarray(joint_regressor, dtype=np.float64)
  rest_vertices = np.asarray(rest_vertices, dtype=np.float64)
  if joint_regressor.ndim != 2 or joint_regressor.shape[0] <= max(LSP14_FROM_SMPLX_JOINTS):
    raise InvalidInputError(
        f"joint_regressor must be (>=22, V) in SMPL-X joint order, got {joint_regressor.shape}")
  num_vertices = joint_regressor.shape[1]
  if rest_vertices.shape != (num_vertices, 3):
    raise InvalidInputError(
        f"rest_vertices must be ({num_vertices}, 3), got {rest_vertices.shape}")
  height = rest_vertices[:, up_axis].copy()
  if head_vertex_mask is not None:
    head_vertex_mask = np.asarray(head_vertex_mask, dtype=bool)
    if head_vertex_mask.shape != (num_vertices,) or not head_vertex_mask.any():
      raise InvalidInputError("head_vertex_mask must be a non-empty (V,) boolean mask")
    height = np.where(head_vertex_mask, height, -np.inf)
  rows = np.zeros((14, num_vertices))
  rows[:13] = joint_regressor[list(LSP14_FROM_SMPLX_JOINTS)]
  rows[13, int(np.argmax(height))] = 1.0
  return rows


def lsp14_regressor_for(model) -> np.ndarray:
  """The LSP-14 regressor of a posejax body model (its own joints, see :func:`lsp14_regressor`).

  Uses the model's skeleton regressor, its rest template and, to find the head top, the vertices
  whose strongest skinning weight is the head joint.

  Args:
    model: a ``posejax.body.BodyModel``.

  Returns:
    (14, V) float64 regressor.
  """
  joint_regressor = np.asarray(model.J_regressor)
  template = np.asarray(model.v_template)
  weights = np.asarray(model.lbs_weights)
  head_mask = None
  if weights.ndim == 2 and weights.shape[0] == template.shape[0] and weights.shape[1] > 15:
    head_mask = np.argmax(weights, axis=1) == SMPLX_HEAD_JOINT
    if not head_mask.any():
      head_mask = None
  if joint_regressor.min() < 0:
    # A regressor with negative weights (exact in the model's shape space, like the exported
    # Anny body's) is not meant for posed meshes: regress from each joint's skinning band.
    joint_regressor = skinning_band_regressor(template, weights, joint_regressor @ template,
                                              model.parents)
  return lsp14_regressor(joint_regressor, template, head_mask)


def skinning_band_regressor(rest_vertices: np.ndarray, weights: np.ndarray, rest_joints: np.ndarray,
                            parents: Sequence[int], *, min_weight: float = 0.1,
                            max_vertices: int = 128) -> np.ndarray:
  """(J, V) a local, non-negative joint regressor: each joint from the vertices that blend it
  with its parent, weighted to hit the rest joint.

  Band vertices move with both bones around the joint, so their weighted mean follows it on a
  posed mesh. Weights are a non-negative least-squares fit (sum one, rest joint reproduced) over
  the band's ``max_vertices`` vertices nearest the joint; a joint without a band (the root) uses
  its own most-weighted vertices.

  Args:
    rest_vertices: (V, 3) rest vertices, metres.
    weights: (V, J) skinning weights.
    rest_joints: (J, 3) rest joints, metres.
    parents: (J,) parent joint of each joint, -1 for the root.
    min_weight: a band vertex carries at least this weight of the joint and of its parent.
  """
  from scipy.optimize import nnls

  out = np.zeros((len(parents), len(rest_vertices)))
  for joint, parent in enumerate(parents):
    band = np.zeros(len(rest_vertices), bool)
    if parent >= 0:
      band = (weights[:, joint] > min_weight) & (weights[:, parent] > min_weight)
    if band.sum() < 4:
      band = weights[:, joint] >= np.sort(weights[:, joint])[-64]
    ids = np.flatnonzero(band)
    ids = ids[np.argsort(np.linalg.norm(rest_vertices[ids] - rest_joints[joint], axis=1))
              [:max_vertices]]
    # Rows: the three coordinates relative to the joint (centimetres), and the sum.
    a = np.concatenate([(rest_vertices[ids] - rest_joints[joint]).T * 100.0,
                        np.ones((1, len(ids)))])
    b = np.concatenate([np.zeros(3), [1.0]])
    w, _ = nnls(a, b, maxiter=50 * len(ids))
    if w.sum() <= 0:
      w = np.ones(len(ids))
    out[joint, ids] = w / w.sum()
  return out


def similarity_procrustes(source: jax.Array, target: jax.Array
                          ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """The similarity transform that best maps ``source`` onto ``target`` in least squares.

  Finds scale s > 0, rotation R (det +1) and translation t minimising
  ``sum_i ||s R source_i + t - target_i||^2`` (Umeyama's closed form, with the reflection fix).

  Args:
    source, target: (N, 3) points in metres.

  Returns:
    ``(scale, rotation, translation)``: scalar, (3, 3), (3,) metres.
  """
  source_mean = jnp.mean(source, axis=0, keepdims=True)
  target_mean = jnp.mean(target, axis=0, keepdims=True)
  centred_source = source - source_mean
  centred_target = target - target_mean
  cross = centred_target.T @ centred_source  # (3, 3)
  u, singular, vt = jnp.linalg.svd(cross)
  reflection = jnp.where(jnp.linalg.det(u @ vt) < 0, -1.0, 1.0).astype(source.dtype)
  signs = jnp.stack([jnp.ones_like(reflection), jnp.ones_like(reflection), reflection])
  rotation = (u * signs[None, :]) @ vt
  source_variance = jnp.sum(centred_source**2)
  # A degenerate source (all points equal) has no defined scale; 0/eps keeps it finite.
  scale = jnp.sum(singular * signs) / jnp.maximum(source_variance, jnp.finfo(source.dtype).tiny)
  translation = target_mean[0] - scale * (rotation @ source_mean[0])
  return scale, rotation, translation


def procrustes_align(source: jax.Array, target: jax.Array) -> jax.Array:
  """(N, 3) ``source`` moved by its best similarity transform onto (N, 3) ``target``, metres."""
  scale, rotation, translation = similarity_procrustes(source, target)
  return scale * (source @ rotation.T) + translation[None, :]


def _mean_error_mm(pred: jax.Array, gt: jax.Array) -> jax.Array:
  return 1000.0 * jnp.mean(jnp.linalg.norm(pred - gt, axis=-1))


def mpjpe(pred_joints: jax.Array, gt_joints: jax.Array,
          root: Sequence[int] | None = LSP14_MID_HIP) -> jax.Array:
  """Mean per-joint position error of one person, in millimetres.

  Args:
    pred_joints: (J, 3) predicted joints, metres.
    gt_joints: (J, 3) ground-truth joints, metres.
    root: joint indices whose mean is subtracted from each skeleton first (mid-hip of LSP-14 by
      default); ``None`` compares the joints where they are.

  Returns:
    Scalar error in mm.
  """
  if root is not None:
    root = np.asarray(root, dtype=np.int32)
    pred_joints = pred_joints - jnp.mean(pred_joints[root], axis=0, keepdims=True)
    gt_joints = gt_joints - jnp.mean(gt_joints[root], axis=0, keepdims=True)
  return _mean_error_mm(pred_joints, gt_joints)


def pa_mpjpe(pred_joints: jax.Array, gt_joints: jax.Array) -> jax.Array:
  """Procrustes-aligned MPJPE of one person (similarity transform per person), in millimetres,
  of (J, 3) joints in metres."""
  return _mean_error_mm(procrustes_align(pred_joints, gt_joints), gt_joints)


def _stacked_pa_mpjpe(pred_people: jax.Array, gt_people: jax.Array) -> jax.Array:
  pred = pred_people.reshape(-1, 3)
  gt = gt_people.reshape(-1, 3)
  return _mean_error_mm(procrustes_align(pred, gt), gt)


def joint_pa_mpjpe(pred_people: jax.Array, gt_people: jax.Array
                   ) -> tuple[jax.Array, jax.Array]:
  """Joint PA-MPJPE of two people: one similarity Procrustes over both skeletons together.

  Both people's joints are stacked and aligned with a single similarity transform, so errors in
  their relative placement count. The ground truth is tried in both person orders, the lower kept.

  Args:
    pred_people: (2, J, 3) predicted joints, metres.
    gt_people: (2, J, 3) ground-truth joints, metres.

  Returns:
    ``(error_mm, swapped)``: the scalar error in mm, and a bool scalar that is True when the
    ground truth matched in the order (1, 0), i.e. predicted person i is ground-truth person 1 - i.
  """
  straight = _stacked_pa_mpjpe(pred_people, gt_people)
  swapped = _stacked_pa_mpjpe(pred_people, gt_people[::-1])
  return jnp.minimum(straight, swapped), swapped < straight


def two_person_joint_errors(pred_people: jax.Array, gt_people: jax.Array,
                            root: Sequence[int] | None = LSP14_MID_HIP) -> dict[str, jax.Array]:
  """Every joint metric of a two-person scene, in the ground-truth order that fits best.

  Args:
    pred_people: (2, J, 3) predicted joints, metres.
    gt_people: (2, J, 3) ground-truth joints, metres.
    root: MPJPE root joints (see :func:`mpjpe`).

  Returns:
    Dict of scalars: ``joint_pa_mpjpe`` (mm), ``pa_mpjpe`` (2,) per predicted person (mm),
    ``mpjpe`` (2,) per predicted person (mm), ``swapped`` (bool, see :func:`joint_pa_mpjpe`).
  """
  joint_error, swapped = joint_pa_mpjpe(pred_people, gt_people)
  gt_matched = jnp.where(swapped, gt_people[::-1], gt_people)
  per_person_pa = jnp.stack([pa_mpjpe(pred_people[i], gt_matched[i]) for i in range(2)])
  per_person = jnp.stack([mpjpe(pred_people[i], gt_matched[i], root) for i in range(2)])
  return {"joint_pa_mpjpe": joint_error, "pa_mpjpe": per_person_pa, "mpjpe": per_person,
          "swapped": swapped}
