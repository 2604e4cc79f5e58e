"""Interpenetration between two people: generalized winding numbers against a closed proxy mesh.

A vertex of body A is inside body B when its generalized winding number with respect to B's closed
low-resolution proxy mesh is at least 0.99 (Jacobson et al. 2013: the sum over triangles of the
signed solid angle, Van Oosterom-Strackee formula, divided by 4 pi; 1 inside a closed outward
surface, 0 outside). Each inside vertex is pushed out by ``(100 d^2)^2``, ``d`` its distance
(metres) to the nearest vertex of B (METHOD.md; BUDDI's ``GeneralContactLoss``). The inside
mask carries no gradient, so the fit may refresh it only every few steps: :func:`inside_mask`
computes it and :func:`penetration_penalty` applies it, once per direction.

posejax differs from the reference on purpose: each direction counts on its own (the reference
applies the penalty only when both bodies penetrate each other at once), the search is exact and
deterministic, and a point is tested only against the parts of the proxy that can hold it: the
proxy is also cut into closed limb parts (``posejax.losses.proxy_parts``), whose winding numbers
add up to the proxy's and are 0 outside their bounding boxes.

The proxy is coarser than the body. On the default body (1,000 proxy vertices), 99.6% of points
1 cm inside the true surface count as inside and 2.6% of points 1 cm outside do too, where the
proxy bridges concave spots (armpits, between fingers); penetrations shallower than about a
centimetre are therefore seen only in part, as in the reference.

The proxy (:func:`build_proxy`, once per model) is a closed, consistently outward-oriented mesh of
about 1,000 vertices whose vertices are a SUBSET of the model's vertices, so that the posed proxy is
a gather of the posed vertices. It is made by (1) closing every hole of the model's mesh (SMPL-X's
open mouth) with a fan of triangles between the hole's own vertices, (2) flipping any part whose
volume is negative, and (3) quadric-error half-edge collapses (Garland-Heckbert quadrics; a vertex
merges into a neighbour, so no new vertex is made) that keep each part a closed 2-manifold (link
condition, no flipped triangles). Separate closed parts (SMPL-X's eyeballs, the default body's
eyes) stay separate closed parts: winding numbers add up over parts, so a point inside any part,
or inside two overlapping parts, still counts as inside.

Self-penetration of one person is not modelled: a body's own vertices lie on its own proxy, where
winding numbers are about 1/2 and meaningless, and parts that legitimately touch (upper and lower
arm at a bent elbow) cannot be told from intersecting ones without a segmentation into separately
closed parts. The term is for two people, as in the reference.
"""

from __future__ import annotations

import hashlib
import heapq
import math

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from posejax.errors import InvalidInputError
from posejax.losses import proxy_parts
from posejax.losses.proximity import _check_points
from posejax.losses.proximity import _map_chunks
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


# ----------------------------------------------------------------------------------------------
# Winding numbers
# ----------------------------------------------------------------------------------------------


def _winding_numbers_dense(points: jax.Array, triangles: jax.Array) -> jax.Array:
  """(C,) winding numbers of (C, 3) points against (T, 3, 3) triangles, all pairs at once."""
  # Written coordinate by coordinate on (C, T) planes: XLA on CPU runs this several times faster
  # than length-3 vector axes (jnp.cross and friends), and atan2 is then the main cost.
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


def _check_triangles(triangles: jax.Array) -> None:
  if triangles.ndim != 3 or triangles.shape[1:] != (3, 3) or triangles.shape[0] == 0:
    raise InvalidInputError(f"triangles has shape {triangles.shape}; expected (T, 3, 3) corner "
                            "positions in metres.")


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
    chunk_size: query points per chunk (``lax.map`` over chunks); XLA fuses the pair terms, so
      memory is about ``chunk_size * T`` floats (2 MiB for 256 x 2,000); ``None``: all at once.

  Returns:
    (N,) winding numbers (unitless).
  """
  _check_points("points", points)
  _check_triangles(triangles)
  return _map_chunks(lambda p: _winding_numbers_dense(p, triangles), points, chunk_size)


def _chunked_over_selected(fn, points: jax.Array, selected: jax.Array, chunk_size: int,
                           operands=()) -> jax.Array:
  """``sum_k fn(points[i], *operands[k])`` over the groups k with ``selected[k, i]``; 0 for a
  point no group selects.

  ``selected`` is (K, N) bool; every array of ``operands`` has a leading axis K (group k's
  arguments: a block of triangles, the other body's vertices, ...). One while loop over chunks of
  ``chunk_size`` (group, point) pairs, each chunk within one group, so the cost follows the number
  of selected pairs (none: nothing is computed) and memory stays at one chunk. Under ``vmap`` the
  batch elements run one after the other (``jax.custom_batching.sequential_vmap``), each for as
  many chunks as it needs: a vmapped while loop would run every element for as many chunks as the
  busiest one (on the fit benchmark, scenes have 37% of their points in the other body's box on
  average, and the busiest 96%). Forward only: call it on values without gradient.
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


# ----------------------------------------------------------------------------------------------
# The proxy mesh
# ----------------------------------------------------------------------------------------------


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
  """(B, S, 3) int32: the proxy cut into closed limb parts (``posejax.losses.proxy_parts``), each
  part's triangles and the caps that close it, in blocks of S triangles of one part (the last
  block of a part padded with degenerate triangles: one vertex three times, solid angle 0). The
  parts' winding numbers add up to the proxy's, and each is 0 outside its own bounding box, so
  :func:`inside_mask` tests a point against the parts whose box holds it. None: one part, the
  whole proxy."""
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
  """The posed proxy's triangles: a gather of the body's posed vertices.

  Args:
    proxy: the model's proxy.
    vertices: (V, 3) posed vertices of one body, metres (the full mesh the proxy was built on).

  Returns:
    (T, 3, 3) triangle corners, metres.
  """
  return vertices[proxy.triangle_ids]


def _orient_and_close(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
  """Faces with every hole capped by a fan and every part oriented outwards (numpy, once)."""
  faces = np.asarray(faces, dtype=np.int64)
  if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
    raise InvalidInputError(f"faces has shape {faces.shape}; expected (F, 3) vertex ids.")
  if faces.min() < 0 or faces.max() >= len(vertices):
    raise InvalidInputError(f"faces index vertices 0..{faces.max()} but there are "
                            f"{len(vertices)} vertices.")
  faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2])
                & (faces[:, 2] != faces[:, 0])]
  _, first = np.unique(np.sort(faces, axis=1), axis=0, return_index=True)
  faces = faces[np.sort(first)]

  half_edges: dict[tuple[int, int], int] = {}
  for f, (i, j, k) in enumerate(faces.tolist()):
    for edge in ((i, j), (j, k), (k, i)):
      if edge in half_edges:
        raise InvalidInputError(
            f"the mesh is not an oriented 2-manifold: edge {edge} is used twice in the same "
            "direction (inconsistent winding or a non-manifold edge); repair it first.")
      half_edges[edge] = f
  undirected = {tuple(sorted(e)) for e in half_edges}

  # Each boundary half-edge (a, b) has no twin (b, a); following them traces the holes.
  next_on_boundary: dict[int, int] = {}
  for a, b in half_edges:
    if (b, a) not in half_edges:
      if a in next_on_boundary:
        raise InvalidInputError(f"vertex {a} lies on two holes at once (a non-manifold vertex); "
                                "the mesh cannot be closed automatically.")
      next_on_boundary[a] = b
  caps = []
  while next_on_boundary:
    start = next(iter(next_on_boundary))
    loop = [start]
    while True:
      following = next_on_boundary.pop(loop[-1], None)
      if following is None:
        raise InvalidInputError(f"a hole's boundary through vertex {loop[-1]} does not close into "
                                "a loop; the mesh cannot be closed automatically.")
      if following == start:
        break
      loop.append(following)
    caps.extend(_fan_cap(loop, undirected))
  if caps:
    faces = np.concatenate([faces, np.asarray(caps, dtype=np.int64)])

  # Outward orientation, part by part: a closed part's signed volume is positive when outward.
  labels = _connected_parts(len(vertices), faces)
  corners = vertices[faces]
  signed = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])) / 6.0
  volume = np.zeros(labels.max() + 1)
  np.add.at(volume, labels[faces[:, 0]], signed)
  inverted = volume[labels[faces[:, 0]]] < 0
  faces[inverted] = faces[inverted][:, ::-1]
  return faces


def _fan_cap(loop: list[int], existing_edges: set) -> list[tuple[int, int, int]]:
  """Triangles closing one hole, fanned from one of its own vertices (no vertex added)."""
  n = len(loop)
  if n < 3:
    raise InvalidInputError(f"a hole with {n} vertices cannot be closed.")
  for shift in range(n):
    ring = loop[shift:] + loop[:shift]
    apex = ring[0]
    # A fan edge that already exists elsewhere would make that edge non-manifold.
    if all(tuple(sorted((apex, ring[i]))) not in existing_edges for i in range(2, n - 1)):
      return [(apex, ring[i + 1], ring[i]) for i in range(1, n - 1)]
  raise InvalidInputError(f"cannot close a hole of {n} vertices with a fan without duplicating "
                          "an edge; repair the mesh first.")


def _connected_parts(num_vertices: int, faces: np.ndarray) -> np.ndarray:
  """(V,) part label of every vertex (unused vertices get their own labels)."""
  parent = np.arange(num_vertices)

  def root(i):
    while parent[i] != i:
      parent[i] = parent[parent[i]]
      i = parent[i]
    return i

  for i, j, k in faces.tolist():
    ri, rj, rk = root(i), root(j), root(k)
    parent[rj] = ri
    parent[root(rk)] = ri
  roots = np.array([root(i) for i in range(num_vertices)])
  _, labels = np.unique(roots, return_inverse=True)
  return labels


def _face_quadrics(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
  """(F, 4, 4) area-weighted plane quadrics (Garland-Heckbert)."""
  corners = vertices[faces]
  normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
  double_area = np.linalg.norm(normals, axis=-1)
  unit = normals / np.maximum(double_area, 1e-30)[:, None]
  planes = np.concatenate([unit, -np.einsum("ij,ij->i", unit, corners[:, 0])[:, None]], axis=-1)
  return 0.5 * double_area[:, None, None] * planes[:, :, None] * planes[:, None, :]


def _decimate(vertices: np.ndarray, faces: np.ndarray, target: int) -> np.ndarray:
  """Half-edge collapses down to about ``target`` vertices; returns the surviving faces."""
  num_vertices = len(vertices)
  face_list = [list(f) for f in faces.tolist()]
  face_alive = [True] * len(face_list)
  vertex_faces: list[set[int]] = [set() for _ in range(num_vertices)]
  for f, corners in enumerate(face_list):
    for v in corners:
      vertex_faces[v].add(f)
  used = np.array([bool(s) for s in vertex_faces])
  quadrics = np.zeros((num_vertices, 4, 4))
  np.add.at(quadrics, faces.reshape(-1), np.repeat(_face_quadrics(vertices, faces), 3, axis=0))
  homogeneous = np.concatenate([vertices, np.ones((num_vertices, 1))], axis=-1)

  labels = _connected_parts(num_vertices, faces).tolist()
  part_sizes = np.bincount(np.asarray(labels)[used], minlength=max(labels) + 1)
  total = int(used.sum())
  # Every part keeps at least a tetrahedron and about half its fair share, so small closed parts
  # (eyeballs, fingers of the default body) are simplified but never erased.
  part_floor = np.maximum(4, np.floor(0.5 * target * part_sizes / max(total, 1))).astype(int)
  part_floor = part_floor.tolist()
  part_count = part_sizes.tolist()
  # Plain Python ints: heap entries compare faster than with numpy scalars in them.
  version = [0] * num_vertices
  alive_count = total

  def ring(v):
    return {w for f in vertex_faces[v] for w in face_list[f]} - {v}

  def normals(corners):
    e1 = corners[:, 1] - corners[:, 0]
    e2 = corners[:, 2] - corners[:, 0]
    return np.stack([e1[:, 1] * e2[:, 2] - e1[:, 2] * e2[:, 1],
                     e1[:, 2] * e2[:, 0] - e1[:, 0] * e2[:, 2],
                     e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]], axis=-1)

  def can_collapse(u, v):
    if part_count[labels[u]] <= part_floor[labels[u]]:
      return False
    shared_faces = vertex_faces[u] & vertex_faces[v]
    if len(shared_faces) != 2:
      return False
    opposite = {w for f in shared_faces for w in face_list[f]} - {u, v}
    if ring(u) & ring(v) != opposite:
      return False
    moved = [f for f in vertex_faces[u] if f not in shared_faces]
    if not moved:
      return False
    old_corners = [face_list[f] for f in moved]
    new_corners = [[v if w == u else w for w in corners] for corners in old_corners]
    old_n = normals(vertices[old_corners])
    new_n = normals(vertices[new_corners])
    agreement = np.sum(old_n * new_n, axis=-1)
    scale = np.sqrt(np.sum(old_n * old_n, axis=-1) * np.sum(new_n * new_n, axis=-1))
    # Reject flipped or nearly degenerate triangles (normals turning by more than ~87 degrees).
    return bool(np.all(agreement > 0.05 * scale) and np.all(scale > 0))

  def collapse(u, v):
    nonlocal alive_count
    for f in list(vertex_faces[u]):
      corners = face_list[f]
      if v in corners:
        face_alive[f] = False
        for w in corners:
          vertex_faces[w].discard(f)
      else:
        corners[corners.index(u)] = v
        vertex_faces[v].add(f)
    vertex_faces[u] = set()
    quadrics[v] += quadrics[u]
    version[u] += 1
    version[v] += 1
    part_count[labels[u]] -= 1
    alive_count -= 1

  def costs(sources, targets):
    """Quadric error of moving each source vertex onto its target (half-edge collapse)."""
    p = homogeneous[targets]
    return np.einsum("ki,kij,kj->k", p, quadrics[sources] + quadrics[targets], p).tolist()

  def all_candidates():
    sources, targets = [], []
    for u in range(num_vertices):
      if vertex_faces[u]:
        for w in ring(u):
          sources.append(u)
          targets.append(w)
    return [(c, u, w, version[u], version[w])
            for c, u, w in zip(costs(sources, targets), sources, targets)]

  def candidates_around(v):
    around = list(ring(v))
    here = [v] * len(around)
    entries = [(c, v, w, version[v], version[w]) for c, w in zip(costs(here, around), around)]
    entries += [(c, w, v, version[w], version[v]) for c, w in zip(costs(around, here), around)]
    return entries

  while alive_count > target:
    heap = all_candidates()
    heapq.heapify(heap)
    collapsed_any = False
    while heap and alive_count > target:
      _, u, v, version_u, version_v = heapq.heappop(heap)
      if version[u] != version_u or version[v] != version_v or not vertex_faces[u]:
        continue
      if not can_collapse(u, v):
        continue
      collapse(u, v)
      collapsed_any = True
      for entry in candidates_around(v):
        heapq.heappush(heap, entry)
    if not collapsed_any:
      break
  return np.array([corners for f, corners in enumerate(face_list) if face_alive[f]],
                  dtype=np.int64)


def _check_closed(faces: np.ndarray) -> None:
  directed = {}
  for i, j, k in faces.tolist():
    for edge in ((i, j), (j, k), (k, i)):
      directed[edge] = directed.get(edge, 0) + 1
  for (a, b), count in directed.items():
    if count != 1 or directed.get((b, a), 0) != 1:
      raise InvalidInputError(f"proxy construction failed: edge ({a}, {b}) is not shared by "
                              "exactly two consistently oriented triangles.")


def build_proxy(
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    target_vertices: int = DEFAULT_PROXY_VERTICES,
    vertex_labels: np.ndarray | None = None,
) -> PenetrationProxy:
  """Builds a body model's closed low-resolution proxy mesh (numpy, once per model).

  See the module docstring for how. Pure Python/numpy, a few seconds for SMPL-X's 10,475 vertices;
  the result is cached per mesh for the life of the process.

  Args:
    vertices: (V, 3) rest-pose vertices of the model, metres (e.g. the template).
    faces: (F, 3) the model's triangles (vertex ids); holes are closed, separate parts kept.
    target_vertices: about how many vertices the proxy keeps (the reference uses about 1,000).
      Parts never shrink below a tetrahedron, and collapses that would break the surface are
      skipped, so the count can end a little above the target.
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
  shapes = str((vertices.shape, faces.shape, int(target_vertices))).encode()
  key = hashlib.sha1(vertices.tobytes() + faces.tobytes() + shapes).hexdigest()
  if key not in _PROXY_CACHE:
    closed = _orient_and_close(vertices, faces)
    reduced = _decimate(vertices, closed, int(target_vertices))
    _check_closed(reduced)
    _PROXY_CACHE[key] = reduced
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


# Proxies by mesh digest: the fit, benchmarks and tests ask for the same model's proxy repeatedly.
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


# ----------------------------------------------------------------------------------------------
# The penalty
# ----------------------------------------------------------------------------------------------


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
  (outside it a closed surface's winding number is exactly 0; ``PenetrationProxy.parts``), a
  chunk at a time: separated people cost next to nothing, and a point near one limb tests that
  limb.

  Args:
    points: (N, 3) vertices of body A, metres (non-finite ones are never inside).
    other_vertices: (V, 3) posed vertices of body B, metres, the mesh ``other_proxy`` was built on.
    other_proxy: body B's proxy.
    threshold: winding number at or above which a point is inside (0.99).
    chunk_size: points per chunk of the winding-number sum.

  Returns:
    (N,) bool, True where the point is inside body B.
  """
  _check_points("points", points)
  _check_points("other_vertices", other_vertices)
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

  The search of :func:`penetration_penalty`, exact, run only for inside points; a fit may run it
  with :func:`inside_mask` every few steps and pass both to the penalty in between.

  Args:
    points: (N, 3) vertices of body A, metres.
    other_vertices: (M, 3) vertices of body B, metres; non-finite ones are never chosen.
    inside: (N,) bool from :func:`inside_mask`.
    chunk_size: inside points per chunk of the search.

  Returns:
    (N,) int32 indices into ``other_vertices``; 0 for points that are not inside.
  """
  _check_points("points", points)
  _check_points("other_vertices", other_vertices)
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
  _check_points("points", points)
  _check_points("other_vertices", other_vertices)
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
