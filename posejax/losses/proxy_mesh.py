"""The interpenetration proxy's triangles: a body mesh closed, oriented and simplified (numpy).

:func:`simplified_faces` returns a closed, consistently outward-oriented mesh over a SUBSET of the
input's vertices, so that the posed proxy is a gather of the posed vertices: (1) every hole
(SMPL-X's open mouth) is closed by a fan between its own vertices, (2) parts of negative volume are
flipped, (3) Garland-Heckbert half-edge collapses that keep each part a closed 2-manifold. Separate
closed parts (eyeballs) stay separate: winding numbers add up over parts. It takes a few seconds for
SMPL-X, so :func:`stored_simplified_faces` keeps each result on disk, and the package ships the
default body's (``posejax/assets/proxy-*.npz``).
"""

from __future__ import annotations

import hashlib
import heapq
import io
import logging
import os

import numpy as np

from posejax import io_utils
from posejax import safe_load
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError

_log = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Part of every stored proxy's key: raise it when the construction changes its result."""

SHIPPED_DIRECTORY = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets")
"""Proxies shipped with the package (read only), looked up by key before the cache folder."""


def stored_simplified_faces(vertices: np.ndarray, faces: np.ndarray, target_vertices: int,
                            directory: str | None = None) -> np.ndarray:
  """``simplified_faces``, kept in a file per mesh and target that later processes read back.

  A proxy shipped in ``SHIPPED_DIRECTORY`` under the same key is read first. The file is named by
  a digest of the inputs, written atomically; a bad or foreign file is rebuilt with a warning, and
  a folder that cannot be written only costs the time.

  Args:
    vertices, faces, target_vertices: as ``simplified_faces``.
    directory: the folder; default ``io_utils.cache_directory("proxy")`` (None: no file).

  Returns:
    (T, 3) int64 triangles, as ``simplified_faces`` returns them.
  """
  vertices = np.ascontiguousarray(vertices, dtype=np.float64)
  faces = np.ascontiguousarray(faces, dtype=np.int64)
  key = proxy_key(vertices, faces, target_vertices)
  directory = directory if directory is not None else io_utils.cache_directory("proxy")
  for folder in (SHIPPED_DIRECTORY, directory):
    path = None if folder is None else os.path.join(folder, proxy_file_name(key))
    if path is not None and os.path.exists(path):
      try:
        return _read_stored(path, key, len(vertices))
      except (FileFormatError, InvalidInputError) as error:
        _log.warning("rebuilding the interpenetration proxy: %s", error)
  reduced = simplified_faces(vertices, faces, target_vertices)
  if directory is None:
    return reduced
  try:
    write_stored(os.path.join(directory, proxy_file_name(key)), reduced, key)
  except OSError as error:
    _log.info("interpenetration proxy not stored in %s: %s", directory, error)
  return reduced


def proxy_key(vertices: np.ndarray, faces: np.ndarray, target_vertices: int) -> str:
  """The digest that names a stored proxy: the mesh, the target and ``FORMAT_VERSION``."""
  vertices = np.ascontiguousarray(vertices, dtype=np.float64)
  faces = np.ascontiguousarray(faces, dtype=np.int64)
  digest = hashlib.sha256()
  for part in (str((FORMAT_VERSION, vertices.shape, faces.shape, int(target_vertices))).encode(),
               vertices.tobytes(), faces.tobytes()):
    digest.update(part)
  return digest.hexdigest()


def proxy_file_name(key: str) -> str:
  return f"proxy-{key[:32]}.npz"


def write_stored(path: str, faces: np.ndarray, key: str) -> None:
  """Writes a proxy's (T, 3) faces with its ``proxy_key`` atomically (raises ``OSError``)."""
  buffer = io.BytesIO()
  np.savez(buffer, faces=np.asarray(faces, np.int64), key=np.frombuffer(key.encode(), np.uint8))
  io_utils.atomic_write_bytes(path, buffer.getvalue())


def _read_stored(path: str, key: str, num_vertices: int) -> np.ndarray:
  """The faces of a stored proxy, checked against its key and for a closed mesh."""
  arrays = safe_load.load_npz(path, "a stored interpenetration proxy")
  stored_key = arrays.get("key")
  stored = None if stored_key is None else bytes(np.asarray(stored_key, np.uint8))
  if stored is None or stored.decode("ascii", "replace") != key:
    raise FileFormatError(path, "this stored proxy belongs to another mesh")
  faces = arrays.get("faces")
  if (faces is None or faces.ndim != 2 or faces.shape[1] != 3 or len(faces) < 4
      or not np.issubdtype(faces.dtype, np.integer)
      or faces.min() < 0 or faces.max() >= num_vertices):
    raise FileFormatError(path, "the stored proxy's faces are not (T, 3) ids of this mesh")
  faces = faces.astype(np.int64)
  _check_closed(faces)
  return faces


def simplified_faces(vertices: np.ndarray, faces: np.ndarray, target_vertices: int) -> np.ndarray:
  """The closed, outward-oriented, simplified triangles of a mesh.

  Args:
    vertices: (V, 3) float64 rest-pose vertices, metres.
    faces: (F, 3) int64 triangles (vertex ids); holes are closed, separate parts kept.
    target_vertices: about how many vertices to keep (parts never shrink below a tetrahedron, and
      collapses that would break the surface are skipped, so the count can end a little above).

  Returns:
    (T, 3) int64 triangles over a subset of the vertex ids, each part a closed 2-manifold.

  Raises:
    InvalidInputError: the mesh is not an oriented manifold with simple holes.
  """
  closed = _orient_and_close(vertices, faces)
  reduced = _decimate(vertices, closed, target_vertices)
  _check_closed(reduced)
  return reduced


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
