"""Contact metrics: PCC between two people and self-contact PCC of one person.

Positions in metres; PCC values are fractions in [0, 1].

* PCC (two people): the share of annotated region pairs whose predicted minimum distance, over a
  fixed handful of vertices per region (the reference draws 5 with numpy seed 0; posejax picks
  them deterministically), is strictly below tau = 0, 5, ..., 95 cm.
* Self-contact PCC (one person, MOYO): a region pair touches at tau when some pair of its vertices
  is closer than tau and geodesically at least 30 cm apart on the rest mesh; ground truth at 2 cm;
  PCC(tau) is the recall of the ground-truth pairs, NaN without ground-truth self-contact (the
  reference writes -1 and skips them).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from posejax.errors import InvalidInputError
from posejax.losses.proximity import safe_sqrt
from posejax.metrics.joints import LSP14_MID_HIP
from posejax.metrics.joints import mpjpe
from posejax.metrics.joints import pa_mpjpe
from posejax.metrics.joints import regress_joints
from posejax.metrics.joints import two_person_joint_errors

PCC_THRESHOLDS_M: np.ndarray = np.round(np.arange(20) * 0.05, 2)
"""tau = 0, 0.05, ..., 0.95 metres (the reference's ``np.arange(0, 1, 0.05)``)."""

SELF_CONTACT_GT_THRESHOLD_M = 0.02
"""Euclidean distance below which two far-apart vertices count as touching in the ground truth."""

GEODESIC_FAR_M = 0.30
"""Rest-mesh geodesic distance from which two vertices count as far apart (self-contact)."""

PCC_VERTICES_PER_REGION = 5
"""Vertices per region in the two-person PCC (as in the ProsePose evaluation)."""


def _region_sets(regions) -> list[np.ndarray]:
  """Sorted unique vertex ids of each region of a sequence, a mapping or a ``RegionMap``."""
  masks = getattr(regions, "masks", None)
  if masks is not None:
    sets = [np.flatnonzero(row) for row in np.asarray(masks)]
  else:
    sets = list(regions.values() if isinstance(regions, Mapping) else regions)
  if not sets:
    raise InvalidInputError("region_vertex_sets is empty")
  cleaned = []
  for index, ids in enumerate(sets):
    ids = np.unique(np.asarray(ids, dtype=np.int64).reshape(-1))
    if ids.size == 0:
      raise InvalidInputError(f"region {index} has no vertices")
    cleaned.append(ids)
  return cleaned


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
  cleaned = _region_sets(region_vertex_sets)
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
    vertices_a, vertices_b: (V, 3) vertices of body A and of body B, metres.
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
    return np.full(curves.shape[1], np.nan), float("nan")
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
    curve = np.full(np.shape(thresholds), np.nan)
    if pairs.size:
      curve = np.asarray(two_person_pcc(pred_vertices, pairs, region_vertices, errors["swapped"],
                                        thresholds))
    out["pcc"] = curve
    out["pcc_mean"] = np.asarray(np.mean(curve))
  return out


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
  """The rest mesh, (F, 3) ``faces`` over (V, 3) ``rest_vertices`` in metres, as a symmetric
  (V, V) scipy.sparse csr matrix whose edge weights are edge lengths in metres."""
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
  rows, cols = np.concatenate([edges, edges[:, ::-1]]).T
  return sparse.csr_matrix((np.concatenate([lengths, lengths]), (rows, cols)),
                           shape=(num_vertices, num_vertices))


def build_self_contact_index(faces: np.ndarray, rest_vertices: np.ndarray,
                             region_vertex_sets: Sequence[np.ndarray] | Mapping[str, np.ndarray],
                             geodesic_threshold: float = GEODESIC_FAR_M,
                             max_vertices_per_region: int | None = None,
                             chunk: int = 256) -> SelfContactIndex:
  """Precomputes the geodesic filter for self-contact maps (once per mesh topology and region set).

  Geodesic distances are shortest paths along the rest mesh's edges (a slight overestimate of
  the surface geodesic, as in the reference's precomputed table).

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
    if ids.min() < 0 or ids.max() >= rest_vertices.shape[0]:
      raise InvalidInputError(
          f"region {index} indexes outside the {rest_vertices.shape[0]} vertices")
    if max_vertices_per_region is not None and ids.size > max_vertices_per_region:
      ids = np.sort(_farthest_points(rest_vertices[ids], ids, int(max_vertices_per_region)))
    regions.append(ids)
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
