"""Interpenetration between two people: generalized winding numbers against a closed proxy mesh.

A vertex of body A is inside body B when its generalized winding number with respect to B's closed
low-resolution proxy mesh is at least 0.99 (Jacobson et al. 2013: the sum over triangles of the
signed solid angle, Van Oosterom-Strackee formula, divided by 4 pi; 1 inside a closed outward
surface, 0 outside). Each inside vertex is pushed out by ``(100 d^2)^2``, ``d`` its distance
(metres) to the nearest vertex of B (METHOD.md; BUDDI's ``GeneralContactLoss``). The inside
mask carries no gradient, so the fit may refresh it only every few steps.

Unlike the reference, each direction counts on its own (the reference penalizes only when both
bodies penetrate each other at once), the search is exact, and a point is tested only against the
closed limb parts of the proxy (``posejax.losses.proxy_parts``) whose bounding boxes hold it.

The proxy (:func:`build_proxy`) is closed, outward-oriented, about 1,000 vertices, and its
vertices are a subset of the model's, so the posed proxy is a gather. Being coarser than the body,
it bridges concave spots (armpits, between fingers): penetrations shallower than about a
centimetre are seen only in part, as in the reference. Self-penetration is not modelled: a body's
own vertices lie on its own proxy, where winding numbers are about 1/2.
"""

from __future__ import annotations

import math

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from posejax.errors import InvalidInputError
from posejax.losses import proxy_mesh
from posejax.losses import proxy_parts
from posejax.losses.proximity import check_points
from posejax.losses.proximity import map_chunks
from posejax.losses.proximity import nearest_ids
from posejax.losses.proximity import safe_sqrt

INSIDE_THRESHOLD = 0.99
"""Winding number at or above which a point counts as inside (the reference's value)."""

PENALTY_SCALE = 100.0
"""The 100 in ``(100 d^2)^2``: with d in metres, a 1 cm deep vertex costs 1e-4."""

DEFAULT_PROXY_VERTICES = 1000
DEFAULT_WINDING_CHUNK = 32
"""Query points per chunk of the winding-number sum (memory ~ chunk x triangles floats)."""
DEFAULT_NEAREST_CHUNK = 32
"""Inside points per chunk of the nearest-vertex search (memory ~ chunk x vertices floats)."""


def _winding_numbers_dense(points: jax.Array, triangles: jax.Array) -> jax.Array:
  """(C,) winding numbers of (C, 3) points against (T, 3, 3) triangles, all pairs at once."""
  # Coordinate by coordinate on (C, T) planes: on CPU several times faster than length-3 axes.
  def corner(k):
    return [triangles[None, :, k, i] - points[:, i:i + 1] for i in range(3)]

  def length(v):
    return safe_sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])

  def dot(u, v):
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]

  a, b, c = corner(0), corner(1), corner(2)
  la, lb, lc = length(a), length(b), length(c)
  triple = (a[0] * (b[1] * c[2] - b[2] * c[1]) + a[1] * (b[2] * c[0] - b[0] * c[2])
            + a[2] * (b[0] * c[1] - b[1] * c[0]))
  denominator = la * lb * lc + dot(a, b) * lc + dot(b, c) * la + dot(c, a) * lb
  # A point on a triangle's corner makes both arguments 0, where atan2's gradient is 0/0.
  defined = (triple * triple + denominator * denominator) > 0
  solid_angles = 2.0 * jnp.arctan2(jnp.where(defined, triple, 0.0),
                                   jnp.where(defined, denominator, 1.0))
  solid_angles = jnp.where(defined, solid_angles, 0.0)
  return jnp.sum(solid_angles, axis=-1) / (4.0 * math.pi)


def winding_numbers(
    points: jax.Array,
    triangles: jax.Array,
    *,
    chunk_size: int | None = DEFAULT_WINDING_CHUNK,
) -> jax.Array:
  """Generalized winding numbers of points with respect to a triangle mesh.

  ``w(p) = sum_t Omega_t(p) / (4 pi)`` with ``Omega_t`` the signed solid angle of triangle ``t``
  seen from ``p`` (Van Oosterom-Strackee). For a closed, outward-oriented surface it is 1 inside and
  0 outside (an integer for every closed surface; fractional near holes). NaN-safe: a point on a
  corner contributes 0 for that triangle and a finite gradient.

  Args:
    points: (N, 3) query points, metres.
    triangles: (T, 3, 3) triangle corners, metres, counter-clockwise seen from outside.
    chunk_size: query points per chunk (memory about ``chunk_size * T`` floats); ``None``: all
      at once.

  Returns:
    (N,) winding numbers (unitless).
  """
  check_points("points", points)
  if triangles.ndim != 3 or triangles.shape[1:] != (3, 3) or triangles.shape[0] == 0:
    raise InvalidInputError(f"triangles has shape {triangles.shape}; expected (T, 3, 3) corner "
                            "positions in metres.")
  return map_chunks(lambda p: _winding_numbers_dense(p, triangles), points, chunk_size)


def _chunked_over_selected(fn, points: jax.Array, selected: jax.Array, chunk_size: int,
                           operands=()) -> jax.Array:
  """``sum_k fn(points[i], *operands[k])`` over the groups k with ``selected[k, i]``; 0 for a
  point no group selects.

  ``selected`` is (K, N) bool; every array of ``operands`` has a leading axis K. One while loop
  over chunks of ``chunk_size`` (group, point) pairs, each within one group, so the cost follows
  the number of selected pairs. Under ``vmap`` the batch elements run one after the other
  (``sequential_vmap``), each for as many chunks as it needs, rather than all for as many as the
  busiest. Forward only: call it on values without gradient.
  """
  k, n = selected.shape
  chunk_size = max(1, min(int(chunk_size), n))
  per_group = -(-n // chunk_size)  # at most this many chunks per group
  slots = k * per_group * chunk_size
  probe = jax.eval_shape(fn, points[:1], *[operand[0] for operand in operands])

  @jax.custom_batching.sequential_vmap
  def run(points, selected, operands):
    counts = jnp.sum(selected.astype(jnp.int32), axis=1)  # (K,)
    chunks = -(-counts // chunk_size)
    first_chunk = jnp.cumsum(chunks) - chunks
    # Each group's selected points fill whole chunks of their own, in order; unused slots point
    # one past the end: gathers clip them, scatters drop them.
    rank = jnp.cumsum(selected.astype(jnp.int32), axis=1) - 1
    slot = jnp.where(selected, first_chunk[:, None] * chunk_size + rank, slots)
    point_of_slot = jnp.full((slots,), n, jnp.int32).at[slot.reshape(-1)].set(
        jnp.tile(jnp.arange(n, dtype=jnp.int32), k), mode="drop")
    group_of_chunk = jnp.minimum(
        jnp.searchsorted(jnp.cumsum(chunks), jnp.arange(k * per_group), side="right"), k - 1)
    total = jnp.sum(chunks)

    def step(state):
      chunk, out = state
      ids = jax.lax.dynamic_slice(point_of_slot, (chunk * chunk_size,), (chunk_size,))
      group = [operand[group_of_chunk[chunk]] for operand in operands]
      values = fn(jnp.take(points, ids, axis=0, mode="clip"), *group)
      return chunk + 1, out.at[ids].add(values, mode="drop")

    out = jnp.zeros((n,) + probe.shape[1:], probe.dtype)
    return jax.lax.while_loop(lambda state: state[0] < total, step,
                              (jnp.zeros((), jnp.int32), out))[1]

  return run(points, selected, tuple(operands))


@flax.struct.dataclass
class PenetrationProxy:
  """A closed low-resolution mesh over a subset of a body model's vertices (build once per model).

  Pass it to jitted code as an argument or close over it; under ``vmap`` over people sharing one
  model, give it ``in_axes=None``.
  """

  vertex_ids: jax.Array
  """(P,) int32 ids of the proxy's vertices in the vertex array it is used with: model vertex ids
  as built, subset positions after :meth:`reindexed`."""
  triangle_ids: jax.Array
  """(T, 3) int32 ids (same numbering) of each proxy triangle, counter-clockwise from outside."""
  part_triangle_ids: jax.Array | None = None
  """(B, S, 3) int32: the proxy cut into closed limb parts (``posejax.losses.proxy_parts``), in
  blocks of S triangles of one part, padded with degenerate triangles (solid angle 0). The parts'
  winding numbers add up to the proxy's. None: one part, the whole proxy."""
  block_part: jax.Array | None = None
  """(B,) int32: the part each block of ``part_triangle_ids`` belongs to."""

  def blocks(self) -> tuple[jax.Array, jax.Array]:
    """(B, S, 3) triangle ids of the closed parts' blocks and (B,) their parts; without parts,
    the whole proxy as one block of one part."""
    if self.part_triangle_ids is None:
      return self.triangle_ids[None], jnp.zeros((1,), jnp.int32)
    return self.part_triangle_ids, self.block_part

  @property
  def num_vertices(self) -> int:
    """P, the proxy's vertex count."""
    return self.vertex_ids.shape[0]

  @property
  def num_triangles(self) -> int:
    """T, the proxy's triangle count."""
    return self.triangle_ids.shape[0]

  def faces(self) -> np.ndarray:
    """(T, 3) the triangles as indices into ``vertex_ids`` (for export and inspection), numpy."""
    vertex_ids = np.asarray(self.vertex_ids)
    lookup = np.full(int(vertex_ids.max()) + 1, -1, dtype=np.int64)
    lookup[vertex_ids] = np.arange(len(vertex_ids))
    return lookup[np.asarray(self.triangle_ids)].astype(np.int32)

  def reindexed(self, subset_ids) -> PenetrationProxy:
    """The same proxy for a forward pass that computes only some of the model's vertices.

    Args:
      subset_ids: (S,) model vertex ids the forward pass computes, in its output order; must
        contain every proxy vertex.

    Returns:
      A proxy whose ids are positions in that (S, 3) output.

    Raises:
      InvalidInputError: a proxy vertex is not in ``subset_ids``.
    """
    subset_ids = np.asarray(subset_ids, dtype=np.int64).reshape(-1)
    vertex_ids = np.asarray(self.vertex_ids, dtype=np.int64)
    size = int(max(subset_ids.max(initial=-1), vertex_ids.max())) + 1
    lookup = np.full(size, -1, dtype=np.int64)
    lookup[subset_ids[::-1]] = np.arange(len(subset_ids))[::-1]  # first occurrence wins
    missing = vertex_ids[lookup[vertex_ids] < 0]
    if missing.size:
      raise InvalidInputError(f"{missing.size} proxy vertices (e.g. {missing[:5].tolist()}) are "
                              "not in subset_ids; include the proxy's vertex_ids in the subset.")
    remap = lambda ids: None if ids is None else jnp.asarray(lookup[np.asarray(ids)], jnp.int32)
    return PenetrationProxy(vertex_ids=remap(vertex_ids), triangle_ids=remap(self.triangle_ids),
                            part_triangle_ids=remap(self.part_triangle_ids),
                            block_part=self.block_part)


def proxy_triangles(proxy: PenetrationProxy, vertices: jax.Array) -> jax.Array:
  """The posed proxy's (T, 3, 3) triangle corners, a gather of (V, 3) posed ``vertices`` of one
  body (metres; the full mesh the proxy was built on)."""
  return vertices[proxy.triangle_ids]


def build_proxy(
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    target_vertices: int = DEFAULT_PROXY_VERTICES,
    vertex_labels: np.ndarray | None = None,
) -> PenetrationProxy:
  """Builds a body model's closed low-resolution proxy mesh (numpy, once per model).

  See ``posejax.losses.proxy_mesh`` for how; the result is cached per mesh in memory and on disk.

  Args:
    vertices: (V, 3) rest-pose vertices of the model, metres (e.g. the template).
    faces: (F, 3) the model's triangles (vertex ids); holes are closed, separate parts kept.
    target_vertices: about how many vertices the proxy keeps (the reference uses about 1,000);
      the count can end a little above it.
    vertex_labels: optional (V,) int part of every vertex (``proxy_parts.limb_labels``): the proxy
      is then also cut into closed parts for fast, exact inside tests (``part_triangle_ids``).

  Returns:
    The proxy: a closed, outward-oriented 2-manifold (per part) over model vertex ids.

  Raises:
    InvalidInputError: the mesh is not an oriented manifold with simple holes, or the arguments
      have the wrong shape.
  """
  vertices = np.asarray(vertices, dtype=np.float64)
  if vertices.ndim != 2 or vertices.shape[1] != 3 or not np.all(np.isfinite(vertices)):
    raise InvalidInputError(f"vertices has shape {vertices.shape} or non-finite values; expected "
                            "(V, 3) finite rest-pose positions in metres.")
  if target_vertices < 4:
    raise InvalidInputError(f"target_vertices={target_vertices}; a closed mesh needs at least 4.")
  faces = np.asarray(faces, dtype=np.int64)
  key = proxy_mesh.proxy_key(vertices, faces, target_vertices)
  if key not in _PROXY_CACHE:
    _PROXY_CACHE[key] = proxy_mesh.stored_simplified_faces(vertices, faces, int(target_vertices))
  reduced = _PROXY_CACHE[key]
  parts = block_part = None
  if vertex_labels is not None:
    vertex_labels = np.asarray(vertex_labels).reshape(-1)
    if vertex_labels.shape[0] != vertices.shape[0]:
      raise InvalidInputError(f"vertex_labels has {vertex_labels.shape[0]} entries; expected one "
                              f"per vertex ({vertices.shape[0]}).")
    split = proxy_parts.closed_parts(reduced, vertex_labels)
    if len(split) > 1:
      parts, block_part = (jnp.asarray(a, dtype=jnp.int32) for a in proxy_parts.blocks(split))
  return PenetrationProxy(vertex_ids=jnp.asarray(np.unique(reduced), dtype=jnp.int32),
                          triangle_ids=jnp.asarray(reduced, dtype=jnp.int32),
                          part_triangle_ids=parts, block_part=block_part)


_PROXY_CACHE: dict[str, np.ndarray] = {}


def build_model_proxy(model, *, target_vertices: int = DEFAULT_PROXY_VERTICES) -> PenetrationProxy:
  """:func:`build_proxy` on a body model's template mesh (``model.v_template``, ``model.faces``).

  Args:
    model: a ``posejax.body.BodyModel`` (SMPL-X file or the default body).
    target_vertices: about how many vertices the proxy keeps.

  Returns:
    The model's proxy, cut into closed limb parts; its vertex ids index the model's full vertex
    array.
  """
  labels = proxy_parts.limb_labels(model.joint_names, model.parents, model.lbs_weights)
  return build_proxy(np.asarray(model.v_template), np.asarray(model.faces),
                     target_vertices=target_vertices, vertex_labels=labels)


def inside_mask(
    points: jax.Array,
    other_vertices: jax.Array,
    other_proxy: PenetrationProxy,
    *,
    threshold: float = INSIDE_THRESHOLD,
    chunk_size: int = DEFAULT_WINDING_CHUNK,
) -> jax.Array:
  """Which points lie inside the other body (no gradient; may be refreshed only every k steps).

  A point is tested only against the closed parts of the proxy whose bounding box holds it
  (outside it a closed surface's winding number is exactly 0), so separated people cost little.

  Args:
    points: (N, 3) vertices of body A, metres (non-finite ones are never inside).
    other_vertices: (V, 3) posed vertices of body B, metres, the mesh ``other_proxy`` was built on.
    other_proxy: body B's proxy.
    threshold: winding number at or above which a point is inside (0.99).
    chunk_size: points per chunk of the winding-number sum.

  Returns:
    (N,) bool, True where the point is inside body B.
  """
  check_points("points", points)
  check_points("other_vertices", other_vertices)
  points = jax.lax.stop_gradient(points)
  other_vertices = jax.lax.stop_gradient(other_vertices)
  finite = jnp.all(jnp.isfinite(points), axis=-1)
  safe_points = jnp.where(finite[:, None], points, 0.0)
  block_ids, block_part = other_proxy.blocks()
  blocks = other_vertices[block_ids]  # (B, S, 3, 3)
  corners = blocks.reshape(blocks.shape[0], -1, 3)
  # Each part's box, from its blocks' boxes (a block's degenerate padding lies in its part).
  count = blocks.shape[0]  # parts never outnumber blocks
  low = jax.ops.segment_min(jnp.min(corners, axis=1), block_part, num_segments=count)[block_part]
  high = jax.ops.segment_max(jnp.max(corners, axis=1), block_part, num_segments=count)[block_part]
  inside_box = (points[None] >= low[:, None]) & (points[None] <= high[:, None])
  in_box = finite[None, :] & jnp.all(inside_box, axis=-1)  # (B, N)
  numbers = _chunked_over_selected(_winding_numbers_dense, safe_points, in_box, chunk_size,
                                   operands=(blocks,))
  return finite & (numbers >= threshold)


def nearest_other_vertices(
    points: jax.Array,
    other_vertices: jax.Array,
    inside: jax.Array,
    *,
    chunk_size: int = DEFAULT_NEAREST_CHUNK,
) -> jax.Array:
  """For every inside point, the index of the other body's nearest vertex (no gradient).

  Exact, run only for inside points; a fit may refresh it with :func:`inside_mask` every few
  steps.

  Args:
    points: (N, 3) vertices of body A, metres.
    other_vertices: (M, 3) vertices of body B, metres; non-finite ones are never chosen.
    inside: (N,) bool from :func:`inside_mask`.
    chunk_size: inside points per chunk of the search.

  Returns:
    (N,) int32 indices into ``other_vertices``; 0 for points that are not inside.
  """
  check_points("points", points)
  check_points("other_vertices", other_vertices)
  if inside.shape != points.shape[:1]:
    raise InvalidInputError(f"inside has shape {inside.shape}; expected ({points.shape[0]},), one "
                            "flag per point.")
  points = jax.lax.stop_gradient(points)
  finite = jnp.all(jnp.isfinite(points), axis=-1)
  selected = jax.lax.stop_gradient(inside.astype(bool)) & finite
  others_finite = jnp.all(jnp.isfinite(other_vertices), axis=-1)
  frozen_others = jax.lax.stop_gradient(
      jnp.where(others_finite[:, None], other_vertices, 0.0))

  def search(chunk, others, others_valid):
    return nearest_ids(chunk, others, others_valid=others_valid, chunk_size=chunk.shape[0])[0]

  return _chunked_over_selected(search, jnp.where(finite[:, None], points, 0.0), selected[None],
                                chunk_size, operands=(frozen_others[None], others_finite[None]))


def penetration_penalty(
    points: jax.Array,
    other_vertices: jax.Array,
    inside: jax.Array,
    *,
    nearest: jax.Array | None = None,
    scale: float = PENALTY_SCALE,
    chunk_size: int = DEFAULT_NEAREST_CHUNK,
) -> jax.Array:
  """``sum_{i inside} (scale d_i^2)^2``, ``d_i`` the distance to the other body's nearest vertex.

  The nearest vertex is found (exactly, without gradient) only for inside points; the distance is
  then differentiated on the nearest pair, which is the gradient of the minimum. NaN-safe: points
  or vertices that are not finite are ignored.

  Args:
    points: (N, 3) vertices of body A, metres.
    other_vertices: (M, 3) vertices of body B, metres (the reference: all of B's vertices).
    inside: (N,) bool from :func:`inside_mask` (treated as constant).
    nearest: optional (N,) int32 from :func:`nearest_other_vertices` on earlier vertices: skips
      the search and measures those pairs (each distance then bounds the minimum from above).
    scale: the 100 of ``(100 d^2)^2``.
    chunk_size: inside points per chunk of the nearest-vertex search.

  Returns:
    () penalty (not weighted; 1000 in stage 2 of the reference). 0 when nothing is inside.
  """
  check_points("points", points)
  check_points("other_vertices", other_vertices)
  if nearest is None:
    nearest = nearest_other_vertices(points, other_vertices, inside, chunk_size=chunk_size)
  if inside.shape != points.shape[:1] or nearest.shape != points.shape[:1]:
    raise InvalidInputError(f"inside {inside.shape} and nearest {nearest.shape} must have shape "
                            f"({points.shape[0]},), one entry per point.")
  finite = jnp.all(jnp.isfinite(points), axis=-1)
  inside = jax.lax.stop_gradient(inside.astype(bool)) & finite
  points = jnp.where(finite[:, None], points, 0.0)
  others_finite = jnp.all(jnp.isfinite(other_vertices), axis=-1)
  safe_others = jnp.where(others_finite[:, None], other_vertices, 0.0)
  difference = points - safe_others[jax.lax.stop_gradient(nearest)]
  squared = jnp.sum(difference * difference, axis=-1)
  return jnp.sum(jnp.where(inside, jnp.square(scale * squared), 0.0))
