"""Evaluation metrics: PA-MPJPE, MPJPE, PCC for two people and self-contact PCC for one person.

Units: every function takes positions in metres. Joint errors come back in millimetres (the unit
of the published tables); PCC values are fractions in [0, 1] (the tables print percentages).

Two families live here:

* Per-step metrics in pure ``jax.numpy`` (Procrustes, MPJPE, PA-MPJPE, region-pair distances), each
  written for ONE unbatched item; ``jax.vmap`` gives any batch axis.
* Evaluation-only metrics in numpy/scipy (the self-contact PCC with its geodesic filter), which need
  a one-off precomputation per mesh and region set (:func:`build_self_contact_index`).

What follows the reference evaluation (BUDDI / ProsePose code, read for this module):

* Joints: 14 LSP joints regressed from the mesh vertices by a (14, V) regressor
  (``SMPLX_to_J14.pkl``, a pickled numpy array applied as ``regressor @ vertices``).
* Joint PA-MPJPE: both people's 14 joints stacked into 28, ONE similarity Procrustes over all 28,
  mean Euclidean error. posejax also tries the other ground-truth person order and keeps the lower.
* PCC (two people): for every annotated region pair, the minimum distance between the two predicted
  regions over a fixed handful of vertices per region (the reference draws 5 per region with numpy
  seed 0; posejax picks them deterministically, see :func:`fixed_region_vertices`); PCC(tau) is the
  share of annotated pairs with distance strictly below tau, tau = 0, 5, ..., 95 cm.
* Self-contact PCC (one person, MOYO): a region pair is in contact at tau when some pair of its
  vertices is closer than tau AND geodesically at least 30 cm apart on the rest mesh; ground
  truth at 2 cm; PCC(tau) = recall of the ground-truth pairs. Images without ground-truth
  self-contact have no PCC (NaN here; the reference writes -1 and skips them).

Where posejax differs on purpose: the per-person MPJPE of the reference aligns joint 0 of the LSP
order (the right ankle, by its default ``RootAlignment``); posejax aligns the mid-hip by default and
says so (``root=`` chooses). The reference picks 5 random vertices per region; posejax is
deterministic.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from posejax import safe_load
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError
from posejax.losses.proximity import safe_sqrt

LSP14_FROM_SMPLX_JOINTS: tuple[int, ...] = (8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12)
"""SMPL-X skeleton joint index of the first 13 LSP joints (head top has no skeleton joint).

The LSP order, which every regressor row and joint array here uses: right ankle, knee, hip; left
hip, knee, ankle; right wrist, elbow, shoulder; left shoulder, elbow, wrist; neck; head top."""

LSP14_MID_HIP: tuple[int, ...] = (2, 3)
"""LSP indices whose mean is the pelvis stand-in used as the MPJPE root."""

SMPLX_HEAD_JOINT = 15

PCC_THRESHOLDS_M: np.ndarray = np.round(np.arange(20) * 0.05, 2)
"""tau = 0, 0.05, ..., 0.95 metres (the reference's ``np.arange(0, 1, 0.05)``)."""

SELF_CONTACT_GT_THRESHOLD_M = 0.02
"""Euclidean distance below which two far-apart vertices count as touching in the ground truth."""

GEODESIC_FAR_M = 0.30
"""Rest-mesh geodesic distance from which two vertices count as far apart (self-contact)."""

PCC_VERTICES_PER_REGION = 5
"""Vertices per region in the two-person PCC (as in the ProsePose evaluation)."""


# --------------------------------------------------------------------------------------------
# Joints


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

  Rows 0..12 are the body's skeleton-joint rows (``LSP14_FROM_SMPLX_JOINTS``: ankles, knees, hips,
  wrists, elbows, shoulders, neck); row 13 (head top, which no skeleton joint marks) is one-hot on
  the landmark vertex highest along ``up_axis`` in the rest pose among the head's vertices.
  Applied to posed vertices, the joint rows give the posed joints up to the usual
  regressor-on-posed-mesh approximation, the same one every published J14 regressor makes.

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
  joint_regressor = np.asarray(_model_field(model, ("J_regressor", "joint_regressor")))
  template = np.asarray(_model_field(model, ("v_template", "template", "vertices_template")))
  weights = _model_field(model, ("lbs_weights", "weights", "skinning_weights"), required=False)
  head_mask = None
  if weights is not None:
    weights = np.asarray(weights)
    if weights.ndim == 2 and weights.shape[0] == template.shape[0] and weights.shape[1] > 15:
      head_mask = np.argmax(weights, axis=1) == SMPLX_HEAD_JOINT
      if not head_mask.any():
        head_mask = None
  if weights is not None and np.asarray(joint_regressor).min() < 0:
    # A regressor with negative weights (exact in the model's shape space, like the exported
    # Anny body's) is not meant for posed meshes: regress from each joint's skinning band.
    joint_regressor = skinning_band_regressor(template, np.asarray(weights),
                                              np.asarray(joint_regressor) @ template,
                                              _model_field(model, ("parents",)))
  return lsp14_regressor(joint_regressor, template, head_mask)


def skinning_band_regressor(rest_vertices: np.ndarray, weights: np.ndarray, rest_joints: np.ndarray,
                            parents: Sequence[int], *, min_weight: float = 0.1,
                            max_vertices: int = 128) -> np.ndarray:
  """(J, V) a local, non-negative joint regressor: each joint from the vertices that blend it
  with its parent, weighted to hit the rest joint.

  On a posed mesh these vertices move with both bones around the joint, so their weighted
  mean follows the joint (the standard regressor-on-posed-mesh approximation). Weights are a
  non-negative least-squares solution (sum one, rest joint reproduced) over the band's
  ``max_vertices`` vertices nearest the joint; a joint without a band (the root) uses its own
  most-weighted vertices.

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


def _model_field(model, names: Sequence[str], required: bool = True):
  for name in names:
    value = getattr(model, name, None)
    if value is not None:
      return value
  if required:
    raise InvalidInputError(
        f"body model {type(model).__name__} has none of the fields {tuple(names)}")
  return None


# --------------------------------------------------------------------------------------------
# Procrustes and joint errors (jnp, one item; vmap for batches)


def similarity_procrustes(source: jax.Array, target: jax.Array
                          ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """The similarity transform that best maps ``source`` onto ``target`` in least squares.

  Finds scale s > 0, rotation R (det +1) and translation t minimising
  ``sum_i ||s R source_i + t - target_i||^2`` (Umeyama's closed form, with the reflection fix).

  Args:
    source: (N, 3) points in metres.
    target: (N, 3) points in metres.

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
  """``source`` moved by its best similarity transform onto ``target``.

  Args:
    source: (N, 3) metres.
    target: (N, 3) metres.

  Returns:
    (N, 3) aligned source, metres.
  """
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
  """Procrustes-aligned MPJPE of one person (similarity transform per person), in millimetres.

  Args:
    pred_joints: (J, 3) metres.
    gt_joints: (J, 3) metres.

  Returns:
    Scalar error in mm.
  """
  return _mean_error_mm(procrustes_align(pred_joints, gt_joints), gt_joints)


def _stacked_pa_mpjpe(pred_people: jax.Array, gt_people: jax.Array) -> jax.Array:
  num_people, num_joints = pred_people.shape[0], pred_people.shape[1]
  pred = pred_people.reshape(num_people * num_joints, 3)
  gt = gt_people.reshape(num_people * num_joints, 3)
  return _mean_error_mm(procrustes_align(pred, gt), gt)


def joint_pa_mpjpe(pred_people: jax.Array, gt_people: jax.Array
                   ) -> tuple[jax.Array, jax.Array]:
  """Joint PA-MPJPE of two people: one similarity Procrustes over both skeletons together.

  Both people's joints are stacked (2 x 14 = 28 for LSP-14) and aligned with a single similarity
  transform, so errors in the people's relative placement count. The ground truth is tried in
  both person orders and the lower error kept.

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


# --------------------------------------------------------------------------------------------
# Two-person PCC


def _region_sets(regions) -> list[np.ndarray]:
  """Vertex-id arrays of a region set given as a sequence, a mapping or a ``RegionMap``."""
  masks = getattr(regions, "masks", None)
  if masks is not None:  # posejax.body.regions.RegionMap: (R, V) boolean masks
    return [np.flatnonzero(row) for row in np.asarray(masks)]
  if isinstance(regions, Mapping):
    return [np.asarray(ids) for ids in regions.values()]
  return [np.asarray(ids) for ids in regions]


def fixed_region_vertices(region_vertex_sets: Sequence[np.ndarray] | Mapping[str, np.ndarray],
                          count: int | None = PCC_VERTICES_PER_REGION,
                          rest_vertices: np.ndarray | None = None) -> np.ndarray:
  """A fixed, deterministic choice of vertices per region, as one padded index table.

  With ``rest_vertices`` the choice is farthest-point sampling on the rest mesh, starting from the
  vertex nearest the region's centroid, so the few points spread over the region; without it,
  evenly spaced entries of the sorted vertex ids. Regions smaller than ``count`` repeat their
  vertices cyclically, and ``count=None`` keeps every vertex (padding every region to the largest
  by repetition). Repeats never change a minimum distance, so no mask is needed.

  Args:
    region_vertex_sets: R vertex-id arrays, a name -> ids mapping (in its order) or a
      ``posejax.body.RegionMap`` (its masks).
    count: vertices per region, or None for all.
    rest_vertices: (V, 3) rest-pose vertices in metres, for farthest-point sampling.

  Returns:
    (R, M) int32 vertex ids.
  """
  sets = _region_sets(region_vertex_sets)
  if not sets:
    raise InvalidInputError("region_vertex_sets is empty")
  cleaned = []
  for index, ids in enumerate(sets):
    ids = np.unique(np.asarray(ids, dtype=np.int64).reshape(-1))
    if ids.size == 0:
      raise InvalidInputError(f"region {index} has no vertices")
    cleaned.append(ids)
  width = max(ids.size for ids in cleaned) if count is None else int(count)
  if width < 1:
    raise InvalidInputError(f"count must be positive, got {count}")
  table = np.empty((len(cleaned), width), dtype=np.int32)
  for row, ids in enumerate(cleaned):
    if count is not None and ids.size > width:
      if rest_vertices is not None:
        ids = _farthest_points(np.asarray(rest_vertices, dtype=np.float64)[ids], ids, width)
      else:
        ids = ids[np.round(np.linspace(0, ids.size - 1, width)).astype(np.int64)]
    table[row] = np.resize(ids, width)
  return table


def _farthest_points(points: np.ndarray, ids: np.ndarray, count: int) -> np.ndarray:
  centroid = points.mean(axis=0, keepdims=True)
  chosen = [int(np.argmin(np.sum((points - centroid)**2, axis=1)))]
  nearest = np.sum((points - points[chosen[0]][None, :])**2, axis=1)
  while len(chosen) < count:
    pick = int(np.argmax(nearest))
    chosen.append(pick)
    nearest = np.minimum(nearest, np.sum((points - points[pick][None, :])**2, axis=1))
  return ids[np.asarray(chosen)]


def region_pair_distances(vertices_a: jax.Array, vertices_b: jax.Array,
                          region_vertices: jax.Array | np.ndarray,
                          pairs: jax.Array | np.ndarray) -> jax.Array:
  """Minimum distance between region ``pairs[k, 0]`` of body A and ``pairs[k, 1]`` of body B.

  Args:
    vertices_a: (V, 3) body A vertices, metres.
    vertices_b: (V, 3) body B vertices, metres.
    region_vertices: (R, M) vertex ids per region (see :func:`fixed_region_vertices`).
    pairs: (K, 2) int region indices, column 0 on A and column 1 on B.

  Returns:
    (K,) distances in metres.
  """
  region_vertices = jnp.asarray(region_vertices)
  pairs = jnp.asarray(pairs)
  points_a = vertices_a[region_vertices[pairs[:, 0]]]  # (K, M, 3)
  points_b = vertices_b[region_vertices[pairs[:, 1]]]
  squared = jnp.sum((points_a[:, :, None, :] - points_b[:, None, :, :])**2, axis=-1)
  nearest = jnp.min(squared, axis=(1, 2))
  # Touching regions must not poison a gradient with NaN.
  return safe_sqrt(nearest)


def pcc_curve(distances: jax.Array | np.ndarray,
              thresholds: jax.Array | np.ndarray = PCC_THRESHOLDS_M) -> jax.Array:
  """PCC(tau): share of annotated contact pairs whose predicted distance is strictly below tau.

  Args:
    distances: (K,) per-pair distances in metres (:func:`region_pair_distances`).
    thresholds: (T,) tau values in metres.

  Returns:
    (T,) fractions in [0, 1]; NaN when K == 0 (an image without annotated contact has no PCC).
  """
  distances = jnp.asarray(distances)
  thresholds = jnp.asarray(thresholds, dtype=distances.dtype)
  hits = distances[None, :] < thresholds[:, None]
  return jnp.mean(hits.astype(distances.dtype), axis=1)


def two_person_pcc(pred_vertices: jax.Array, pairs: jax.Array | np.ndarray,
                   region_vertices: jax.Array | np.ndarray, swapped: jax.Array | bool = False,
                   thresholds: jax.Array | np.ndarray = PCC_THRESHOLDS_M) -> jax.Array:
  """PCC curve of one two-person prediction against its annotated contact pairs.

  Args:
    pred_vertices: (2, V, 3) predicted meshes, metres.
    pairs: (K, 2) annotated region pairs, column 0 on ground-truth person 0, column 1 on person 1.
    region_vertices: (R, M) fixed vertices per region.
    swapped: True when predicted person 0 is ground-truth person 1 (from :func:`joint_pa_mpjpe`).
    thresholds: (T,) tau values in metres.

  Returns:
    (T,) PCC fractions.
  """
  first = jnp.where(swapped, pred_vertices[1], pred_vertices[0])
  second = jnp.where(swapped, pred_vertices[0], pred_vertices[1])
  return pcc_curve(region_pair_distances(first, second, region_vertices, pairs), thresholds)


def summarize_pcc(curves: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
  """Averages per-image PCC curves the way the papers report them.

  Args:
    curves: (N, T) per-image PCC curves; rows with NaN (no annotated contact) are skipped.

  Returns:
    ``(per_tau, mean)``: (T,) mean over images per tau, and their mean over tau (fractions).
  """
  curves = np.asarray(curves, dtype=np.float64)
  if curves.ndim != 2:
    raise InvalidInputError(f"curves must be (N, T), got shape {curves.shape}")
  valid = ~np.isnan(curves).any(axis=1)
  if not valid.any():
    nan_curve = np.full(curves.shape[1], np.nan)
    return nan_curve, float("nan")
  per_tau = curves[valid].mean(axis=0)
  return per_tau, float(per_tau.mean())


def evaluate_two_person(pred_vertices: np.ndarray, gt_vertices: np.ndarray,
                        regressor: np.ndarray, contact_pairs: np.ndarray | None = None,
                        region_vertices: np.ndarray | None = None,
                        thresholds: np.ndarray = PCC_THRESHOLDS_M,
                        root: Sequence[int] | None = LSP14_MID_HIP) -> dict[str, np.ndarray]:
  """Every two-person metric of one scene from meshes: joints regressed, person order matched.

  Args:
    pred_vertices: (2, V, 3) predicted meshes, metres.
    gt_vertices: (2, V, 3) ground-truth meshes, metres.
    regressor: (14, V) LSP-14 regressor (:func:`load_joint_regressor`, :func:`lsp14_regressor_for`).
    contact_pairs: (K, 2) annotated region pairs (ground-truth person 0, person 1), or None.
    region_vertices: (R, M) fixed vertices per region (:func:`fixed_region_vertices`); needed
      with ``contact_pairs``.
    thresholds: (T,) PCC tau values, metres.
    root: MPJPE root joints.

  Returns:
    numpy values: ``joint_pa_mpjpe`` (mm), ``pa_mpjpe`` (2,) and ``mpjpe`` (2,) per predicted
    person (mm), ``swapped`` (bool), and with contacts ``pcc`` (T,) fractions and ``pcc_mean``.
  """
  pred_vertices = jnp.asarray(pred_vertices)
  gt_vertices = jnp.asarray(gt_vertices, dtype=pred_vertices.dtype)
  if pred_vertices.ndim != 3 or pred_vertices.shape[0] != 2 or pred_vertices.shape[2] != 3:
    raise InvalidInputError(f"pred_vertices must be (2, V, 3), got {pred_vertices.shape}")
  if gt_vertices.shape != pred_vertices.shape:
    raise InvalidInputError(f"gt_vertices {gt_vertices.shape} must match pred_vertices "
                            f"{pred_vertices.shape}")
  errors = two_person_joint_errors(regress_joints(regressor, pred_vertices),
                                   regress_joints(regressor, gt_vertices), root)
  out = {name: np.asarray(value) for name, value in errors.items()}
  if contact_pairs is not None:
    if region_vertices is None:
      raise InvalidInputError("contact_pairs need region_vertices (fixed vertices per region)")
    pairs = np.asarray(contact_pairs, dtype=np.int32).reshape(-1, 2)
    curve = np.asarray(two_person_pcc(pred_vertices, pairs, region_vertices, errors["swapped"],
                                      thresholds)) if pairs.size else \
        np.full(np.shape(thresholds), np.nan)
    out["pcc"] = curve
    out["pcc_mean"] = np.asarray(np.mean(curve))
  return out


# --------------------------------------------------------------------------------------------
# One-person self-contact PCC (numpy, evaluation only)


@dataclasses.dataclass(frozen=True)
class SelfContactIndex:
  """Precomputed tables for self-contact maps over one mesh topology and one region set.

  Attributes:
    vertex_ids: (W,) ids of the mesh vertices that belong to any region (sorted).
    near: (W, W) bool, True where two of those vertices are geodesically closer than
      ``geodesic_threshold`` on the rest mesh (such pairs never count as contact).
    slot_vertex: (U,) position in ``vertex_ids`` of each (region, vertex) slot, grouped by region.
    region_starts: (R,) first slot of each region (regions are contiguous in the slot order).
    num_regions: R.
    geodesic_threshold: metres; vertex pairs closer than this on the surface are never contact.
  """

  vertex_ids: np.ndarray
  near: np.ndarray
  slot_vertex: np.ndarray
  region_starts: np.ndarray
  num_regions: int
  geodesic_threshold: float


def mesh_graph(faces: np.ndarray, rest_vertices: np.ndarray):
  """The rest mesh as a sparse graph whose edge weights are edge lengths in metres.

  Args:
    faces: (F, 3) triangle vertex ids.
    rest_vertices: (V, 3) rest-pose vertices, metres.

  Returns:
    scipy.sparse csr matrix (V, V), symmetric.
  """
  from scipy import sparse  # evaluation-only dependency

  faces = np.asarray(faces, dtype=np.int64)
  rest_vertices = np.asarray(rest_vertices, dtype=np.float64)
  if faces.ndim != 2 or faces.shape[1] != 3:
    raise InvalidInputError(f"faces must be (F, 3), got {faces.shape}")
  num_vertices = rest_vertices.shape[0]
  if faces.size and (faces.min() < 0 or faces.max() >= num_vertices):
    raise InvalidInputError(f"faces index outside the {num_vertices} vertices")
  edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], axis=0)
  edges = np.unique(np.sort(edges, axis=1), axis=0)
  lengths = np.linalg.norm(rest_vertices[edges[:, 0]] - rest_vertices[edges[:, 1]], axis=1)
  # A zero-length edge would vanish from a sparse matrix; keep it as a tiny positive weight.
  lengths = np.maximum(lengths, 1e-12)
  rows = np.concatenate([edges[:, 0], edges[:, 1]])
  cols = np.concatenate([edges[:, 1], edges[:, 0]])
  weights = np.concatenate([lengths, lengths])
  return sparse.csr_matrix((weights, (rows, cols)), shape=(num_vertices, num_vertices))


def build_self_contact_index(faces: np.ndarray, rest_vertices: np.ndarray,
                             region_vertex_sets: Sequence[np.ndarray] | Mapping[str, np.ndarray],
                             geodesic_threshold: float = GEODESIC_FAR_M,
                             max_vertices_per_region: int | None = None,
                             chunk: int = 256) -> SelfContactIndex:
  """Precomputes the geodesic filter for self-contact maps (once per mesh topology and region set).

  Geodesic distances are shortest paths along the rest mesh's edges (scipy Dijkstra, cut off at
  the threshold), a slight overestimate of the true surface geodesic, as in the reference's
  precomputed table.

  Args:
    faces: (F, 3) triangle vertex ids.
    rest_vertices: (V, 3) rest-pose vertices, metres.
    region_vertex_sets: R vertex-id arrays, a mapping (in its order) or a ``RegionMap``.
      Regions may overlap.
    geodesic_threshold: metres; vertex pairs at least this far apart on the surface may touch.
    max_vertices_per_region: subsample each region to this many vertices (farthest-point, on the
      rest mesh) for speed; None keeps every vertex (exact, as the reference).
    chunk: Dijkstra sources per batch (bounds memory).

  Returns:
    The :class:`SelfContactIndex`.
  """
  from scipy.sparse import csgraph  # evaluation-only dependency

  rest_vertices = np.asarray(rest_vertices, dtype=np.float64)
  regions = []
  for index, ids in enumerate(_region_sets(region_vertex_sets)):
    ids = np.unique(np.asarray(ids, dtype=np.int64).reshape(-1))
    if ids.size == 0:
      raise InvalidInputError(f"region {index} has no vertices")
    if ids.min() < 0 or ids.max() >= rest_vertices.shape[0]:
      raise InvalidInputError(
          f"region {index} indexes outside the {rest_vertices.shape[0]} vertices")
    if max_vertices_per_region is not None and ids.size > max_vertices_per_region:
      ids = np.sort(_farthest_points(rest_vertices[ids], ids, int(max_vertices_per_region)))
    regions.append(ids)
  if not regions:
    raise InvalidInputError("region_vertex_sets is empty")
  vertex_ids = np.unique(np.concatenate(regions))
  slot_vertex = np.concatenate([np.searchsorted(vertex_ids, ids) for ids in regions])
  region_starts = np.cumsum([0] + [ids.size for ids in regions[:-1]])

  graph = mesh_graph(faces, rest_vertices)
  near = np.empty((vertex_ids.size, vertex_ids.size), dtype=bool)
  for start in range(0, vertex_ids.size, chunk):
    sources = vertex_ids[start:start + chunk]
    geodesic = csgraph.dijkstra(graph, directed=False, indices=sources, limit=geodesic_threshold)
    near[start:start + sources.size] = geodesic[:, vertex_ids] < geodesic_threshold
  return SelfContactIndex(vertex_ids=vertex_ids, near=near, slot_vertex=slot_vertex,
                          region_starts=region_starts.astype(np.int64),
                          num_regions=len(regions), geodesic_threshold=float(geodesic_threshold))


def self_contact_distances(vertices: np.ndarray, index: SelfContactIndex,
                           chunk: int = 1024) -> np.ndarray:
  """Per region pair, the smallest distance between geodesically far vertices of the two regions.

  Args:
    vertices: (V, 3) one posed mesh, metres.
    index: from :func:`build_self_contact_index` (same topology and regions).
    chunk: vertex rows per block (bounds memory at chunk x W floats).

  Returns:
    (R, R) symmetric distances in metres; ``inf`` on the diagonal and where a pair has no far
    vertex pair at all.
  """
  vertices = np.asarray(vertices, dtype=np.float64)
  points = vertices[index.vertex_ids]
  num_points = points.shape[0]
  squared_norms = np.sum(points**2, axis=1)
  # Regions that partition the vertices in id order need no gather (the common case).
  identity_slots = index.slot_vertex.size == num_points and \
      np.array_equal(index.slot_vertex, np.arange(num_points))
  vertex_to_region = np.empty((num_points, index.num_regions))
  for start in range(0, num_points, chunk):
    block = points[start:start + chunk]
    squared = squared_norms[start:start + chunk, None] + squared_norms[None, :]
    squared -= 2.0 * (block @ points.T)
    np.maximum(squared, 0.0, out=squared)
    squared[index.near[start:start + chunk]] = np.inf
    by_slot = squared if identity_slots else squared[:, index.slot_vertex]
    vertex_to_region[start:start + chunk] = np.minimum.reduceat(by_slot, index.region_starts,
                                                                axis=1)
  region_to_region = np.minimum.reduceat(vertex_to_region[index.slot_vertex], index.region_starts,
                                         axis=0)
  region_to_region = np.minimum(region_to_region, region_to_region.T)
  np.fill_diagonal(region_to_region, np.inf)
  return np.sqrt(region_to_region)


def self_contact_pcc(pred_vertices: np.ndarray, gt_vertices: np.ndarray, index: SelfContactIndex,
                     thresholds: np.ndarray = PCC_THRESHOLDS_M,
                     gt_threshold: float = SELF_CONTACT_GT_THRESHOLD_M) -> np.ndarray:
  """Self-contact PCC(tau) of one person: recall of the ground-truth contact region pairs.

  The ground-truth map holds the region pairs with a geodesically far vertex pair closer than
  ``gt_threshold``; the predicted map at tau those closer than tau. PCC(tau) is the share of
  ground-truth pairs that the predicted map contains.

  Args:
    pred_vertices: (V, 3) predicted mesh, metres.
    gt_vertices: (V, 3) ground-truth mesh, metres.
    index: precomputed :class:`SelfContactIndex`.
    thresholds: (T,) tau in metres.
    gt_threshold: metres (2 cm as in the reference).

  Returns:
    (T,) fractions; all NaN when the ground truth has no self-contact (no PCC for that image).
  """
  thresholds = np.asarray(thresholds, dtype=np.float64)
  gt_map = self_contact_distances(gt_vertices, index) < gt_threshold
  num_gt = int(gt_map.sum())
  if num_gt == 0:
    return np.full(thresholds.shape, np.nan)
  pred = self_contact_distances(pred_vertices, index)
  hits = pred[None, :, :] < thresholds[:, None, None]
  return (hits & gt_map[None, :, :]).sum(axis=(1, 2)) / num_gt


def evaluate_one_person(pred_vertices: np.ndarray, gt_vertices: np.ndarray,
                        regressor: np.ndarray, self_contact: SelfContactIndex | None = None,
                        thresholds: np.ndarray = PCC_THRESHOLDS_M,
                        root: Sequence[int] | None = LSP14_MID_HIP) -> dict[str, np.ndarray]:
  """Every one-person metric of one image from meshes.

  Args:
    pred_vertices: (V, 3) predicted mesh, metres.
    gt_vertices: (V, 3) ground-truth mesh, metres.
    regressor: (14, V) LSP-14 regressor.
    self_contact: precomputed index for the self-contact PCC, or None to skip it.
    thresholds: (T,) tau values, metres.
    root: MPJPE root joints.

  Returns:
    numpy values: ``pa_mpjpe`` and ``mpjpe`` (mm) and, with ``self_contact``, ``pcc`` (T,)
    fractions (NaN without ground-truth self-contact) and ``pcc_mean``.
  """
  pred_vertices = np.asarray(pred_vertices, dtype=np.float64)
  gt_vertices = np.asarray(gt_vertices, dtype=np.float64)
  if pred_vertices.ndim != 2 or pred_vertices.shape[1] != 3 \
      or gt_vertices.shape != pred_vertices.shape:
    raise InvalidInputError(f"pred_vertices and gt_vertices must both be (V, 3), got "
                            f"{pred_vertices.shape} and {gt_vertices.shape}")
  pred_joints = regress_joints(regressor, jnp.asarray(pred_vertices))
  gt_joints = regress_joints(regressor, jnp.asarray(gt_vertices, dtype=pred_joints.dtype))
  out = {"pa_mpjpe": np.asarray(pa_mpjpe(pred_joints, gt_joints)),
         "mpjpe": np.asarray(mpjpe(pred_joints, gt_joints, root))}
  if self_contact is not None:
    curve = self_contact_pcc(pred_vertices, gt_vertices, self_contact, thresholds)
    out["pcc"] = curve
    out["pcc_mean"] = np.asarray(np.mean(curve))
  return out
