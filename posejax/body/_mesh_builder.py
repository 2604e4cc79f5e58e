"""Building blocks for closed, mirror-symmetric triangle surfaces made of tubes of vertex rings.

The default body is built as its left half (x >= 0) plus the vertices on the mirror plane; the
right half is the mirror image. Surfaces are tubes: rings of vertices around a centre line, each
ring sampled evenly by arc length from a dense cross-section curve, consecutive rings stitched by
a triangle strip (rings may differ in vertex count), ends closed by a pole vertex. Branches come
from two operations that keep every surface closed and of genus 0:

* splitting an open tube end into several loops with chains of "bridge" vertices across it
  (legs from the crotch, fingers from the knuckles);
* cutting a patch of quads out of a tube wall and growing a new tube from the hole's rim
  (arms from the shoulders, the thumb from the palm).

Orientation convention: a ring's vertices run counter-clockwise about the tube's direction d
(right-hand rule). A cross-section frame is (e1, e2, d) with e1 x e2 = d; the angle psi runs
from e1 towards e2. Strips between a ring and the next ring along d then face outwards.
"""

from __future__ import annotations

import dataclasses

import numpy as np

DENSE_SAMPLES = 160
"""Samples of the dense cross-section curve that rings are resampled from."""

DENSE_PSI = np.linspace(0.0, 2.0 * np.pi, DENSE_SAMPLES, endpoint=False)
"""(M,) angles, radians, of the dense cross-section samples."""


class HalfSurface:
  """Accumulates vertices and faces of the left half of a mirror-symmetric surface.

  Vertices flagged ``midline`` lie on the mirror plane x = 0 and are shared by both halves.
  ``part`` is a small integer naming the body part a vertex was made for (used for skinning).
  """

  def __init__(self):
    self._points: list[np.ndarray] = []
    self._midline: list[np.ndarray] = []
    self._part: list[np.ndarray] = []
    self._faces: list[np.ndarray] = []
    self.count = 0

  def add_points(self, points: np.ndarray, part: int, midline: bool | np.ndarray = False
                 ) -> np.ndarray:
    """Adds (n, 3) points; returns their (n,) vertex ids."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    ids = np.arange(self.count, self.count + len(points))
    self._points.append(points)
    self._midline.append(np.broadcast_to(np.asarray(midline, dtype=bool), (len(points),)))
    self._part.append(np.full(len(points), part, dtype=np.int64))
    self.count += len(points)
    return ids

  def add_faces(self, faces) -> None:
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(faces):
      self._faces.append(faces)

  def positions(self) -> np.ndarray:
    return np.concatenate(self._points)

  def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Returns (points (n, 3), midline (n,) bool, part (n,) int, faces (f, 3))."""
    faces = np.concatenate(self._faces) if self._faces else np.zeros((0, 3), np.int64)
    return (np.concatenate(self._points), np.concatenate(self._midline),
            np.concatenate(self._part), faces)


@dataclasses.dataclass
class Ring:
  """A ring of vertices, counter-clockwise about its tube's direction.

  Attributes:
    ids: (n,) vertex ids. For a half ring on the mirror plane only the left half is stored:
      ids[0] and ids[-1] are the mirror-plane vertices.
    psi: (n,) angles of the vertices in the ring's frame, radians, increasing.
    points: (n, 3) positions.
    half: whether only the left half (psi in [0, pi]) is stored.
  """
  ids: np.ndarray
  psi: np.ndarray
  points: np.ndarray
  half: bool = False

  @property
  def count(self) -> int:
    return len(self.ids)


def frame_from(direction, up) -> np.ndarray:
  """(3, 3) rows (e1, e2, d): d along ``direction``, e1 the part of ``up`` orthogonal to d."""
  d = np.asarray(direction, dtype=np.float64)
  d = d / np.linalg.norm(d)
  e1 = np.asarray(up, dtype=np.float64)
  e1 = e1 - d * (e1 @ d)
  e1 = e1 / np.linalg.norm(e1)
  e2 = np.cross(d, e1)
  return np.stack([e1, e2, d])


def superellipse(psi: np.ndarray, e1_pos: float, e1_neg: float, e2_pos: float, e2_neg: float,
                 exponent_pos: float = 2.0, exponent_neg: float = 2.0) -> np.ndarray:
  """Cross-section curve made of four superellipse quarters.

  Args:
    psi: (M,) angles, radians.
    e1_pos, e1_neg: extents along +e1 and -e1, metres.
    e2_pos, e2_neg: extents along +e2 and -e2, metres.
    exponent_pos, exponent_neg: superellipse exponents of the +e1 and -e1 halves (2 = ellipse,
      larger = boxier).

  Returns:
    (M, 2) points (u along e1, v along e2), metres.
  """
  cos, sin = np.cos(psi), np.sin(psi)
  exponent = np.where(cos >= 0, exponent_pos, exponent_neg)
  u = np.where(cos >= 0, e1_pos, e1_neg) * np.sign(cos) * np.abs(cos) ** (2.0 / exponent)
  v = np.where(sin >= 0, e2_pos, e2_neg) * np.sign(sin) * np.abs(sin) ** (2.0 / exponent)
  return np.stack([u, v], axis=-1)


def resample_closed(points: np.ndarray, psi: np.ndarray, count: int,
                    density: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Resamples a closed dense curve at ``count`` points evenly spaced by arc length.

  The first output point is the first input point (psi = psi[0]).

  Args:
    points: (M, 3) dense curve, in order, closed implicitly.
    psi: (M,) increasing angles of the dense samples.
    count: number of output points.
    density: (M,) relative sample density along the curve (1 = even spacing); None for even.

  Returns:
    ((count, 3) points, (count,) angles).
  """
  closed = np.concatenate([points, points[:1]])
  closed_psi = np.concatenate([psi, psi[:1] + 2.0 * np.pi])
  seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
  if density is not None:
    seg = seg * 0.5 * (density + np.roll(density, -1))
  arc = np.concatenate([[0.0], np.cumsum(seg)])
  targets = np.arange(count) * (arc[-1] / count)
  out = np.stack([np.interp(targets, arc, closed[:, k]) for k in range(3)], axis=1)
  return out, np.interp(targets, arc, closed_psi)


def curve_length(points: np.ndarray) -> float:
  """Length of a closed polyline (M, 3), metres."""
  return float(np.linalg.norm(np.roll(points, -1, axis=0) - points, axis=1).sum())


def dense_ring_points(center, frame, uv: np.ndarray, axial: np.ndarray | None = None
                      ) -> np.ndarray:
  """World points (M, 3) of a dense cross-section (M, 2) placed in ``frame`` at ``center``."""
  points = np.asarray(center)[None] + uv[:, :1] * frame[0] + uv[:, 1:2] * frame[1]
  if axial is not None:
    points = points + axial[:, None] * frame[2]
  return points


def make_ring(surface: HalfSurface, part: int, dense_points: np.ndarray, count: int,
              half: bool = False, density: np.ndarray | None = None) -> Ring:
  """Adds a ring of ``count`` vertices resampled from a dense closed curve (M, 3) at DENSE_PSI.

  With ``half`` the curve must be mirror symmetric with psi = 0 and pi on the mirror plane and
  ``count`` even; only vertices 0..count/2 are added, the two ends flagged as midline.
  ``density`` (M,) makes vertices denser where it is larger.
  """
  points, psi = resample_closed(dense_points, DENSE_PSI, count, density)
  if half:
    if count % 2:
      raise ValueError("a mirror-symmetric ring needs an even vertex count")
    points, psi = points[: count // 2 + 1].copy(), psi[: count // 2 + 1]
    points[[0, -1], 0] = 0.0
    midline = np.zeros(len(points), dtype=bool)
    midline[[0, -1]] = True
    ids = surface.add_points(points, part, midline)
  else:
    ids = surface.add_points(points, part)
  return Ring(ids, psi, points, half)


def loop_ring(ids: np.ndarray, positions: np.ndarray, center, frame) -> Ring:
  """Wraps existing vertices (a loop, counter-clockwise about frame's d) as a Ring."""
  points = positions[ids]
  rel = (points - np.asarray(center)) @ frame.T
  psi = np.unwrap(np.arctan2(rel[:, 1], rel[:, 0]))
  if psi[-1] < psi[0]:
    raise ValueError("loop is not counter-clockwise about the frame's direction")
  return Ring(np.asarray(ids), psi, points)


def loop_shape(ring: Ring, center, frame) -> tuple[np.ndarray, np.ndarray]:
  """A loop's shape in a frame: ((M, 2) cross-section uv, (M,) axial offset) at DENSE_PSI."""
  rel = (ring.points - np.asarray(center)) @ frame.T
  psi = np.mod(np.arctan2(rel[:, 1], rel[:, 0]), 2.0 * np.pi)
  order = np.argsort(psi)
  psi, rel = psi[order], rel[order]
  radius = np.hypot(rel[:, 0], rel[:, 1])
  dense_r = np.interp(DENSE_PSI, psi, radius, period=2.0 * np.pi)
  dense_w = np.interp(DENSE_PSI, psi, rel[:, 2], period=2.0 * np.pi)
  uv = np.stack([dense_r * np.cos(DENSE_PSI), dense_r * np.sin(DENSE_PSI)], axis=1)
  return uv, dense_w


def _start_index(psi: np.ndarray) -> int:
  return int(np.argmin(np.mod(psi, 2.0 * np.pi)))


def connect(surface: HalfSurface, behind: Ring, ahead: Ring) -> None:
  """Stitches two consecutive rings (``ahead`` further along the tube) with a triangle strip.

  Vertices are matched by angle (a merge of the two angle sequences), so the rings may differ
  in vertex count. Half rings are stitched over their stored half only.
  """
  if behind.half != ahead.half:
    raise ValueError("cannot stitch a half ring to a full ring")
  if behind.half:
    a_ids, a_psi, b_ids, b_psi = behind.ids, behind.psi, ahead.ids, ahead.psi
    steps_a, steps_b = len(a_ids) - 1, len(b_ids) - 1
  else:
    sa, sb = _start_index(behind.psi), _start_index(ahead.psi)
    a_ids, b_ids = np.roll(behind.ids, -sa), np.roll(ahead.ids, -sb)
    a_psi = np.mod(np.roll(behind.psi, -sa), 2.0 * np.pi)
    b_psi = np.mod(np.roll(ahead.psi, -sb), 2.0 * np.pi)
    a_psi = np.concatenate([[a_psi[0]], a_psi[0] + np.mod(a_psi[1:] - a_psi[0], 2 * np.pi)])
    b_psi = np.concatenate([[b_psi[0]], b_psi[0] + np.mod(b_psi[1:] - b_psi[0], 2 * np.pi)])
    a_ids, b_ids = np.append(a_ids, a_ids[0]), np.append(b_ids, b_ids[0])
    a_psi, b_psi = np.append(a_psi, a_psi[0] + 2 * np.pi), np.append(b_psi, b_psi[0] + 2 * np.pi)
    steps_a, steps_b = len(a_ids) - 1, len(b_ids) - 1
  faces = []
  i = j = 0
  while i < steps_a or j < steps_b:
    advance_a = j >= steps_b or (i < steps_a and a_psi[i + 1] <= b_psi[j + 1])
    if advance_a:
      faces.append((a_ids[i], a_ids[i + 1], b_ids[j]))
      i += 1
    else:
      faces.append((a_ids[i], b_ids[j + 1], b_ids[j]))
      j += 1
  surface.add_faces(faces)


def connect_quads(surface: HalfSurface, behind: Ring, ahead: Ring, skip: set[int] = frozenset()
                  ) -> list[tuple[int, int, int]]:
  """Stitches two rings of equal count with quads (two triangles each), column by column.

  Args:
    skip: quad columns left out (a hole); column k joins vertices k and k + 1.

  Returns:
    the triangles of the skipped quads (as they would have been), for finding the hole's rim.
  """
  if behind.count != ahead.count:
    raise ValueError("quad strips need rings of equal vertex count")
  n = behind.count
  columns = n - 1 if behind.half else n
  faces, skipped = [], []
  for k in range(columns):
    a0, a1 = behind.ids[k], behind.ids[(k + 1) % n]
    b0, b1 = ahead.ids[k], ahead.ids[(k + 1) % n]
    quad = [(a0, a1, b1), (a0, b1, b0)]
    (skipped if k in skip else faces).extend(quad)
  surface.add_faces(faces)
  return skipped


def cap(surface: HalfSurface, ring: Ring, pole_id: int, at_end: bool) -> None:
  """Closes a tube with a fan of triangles to one pole vertex (beyond the last ring if
  ``at_end``, before the first ring otherwise)."""
  ids = ring.ids
  pairs = list(zip(ids[:-1], ids[1:]))
  if not ring.half:
    pairs.append((ids[-1], ids[0]))
  if at_end:
    surface.add_faces([(a, b, pole_id) for a, b in pairs])
  else:
    surface.add_faces([(pole_id, b, a) for a, b in pairs])


def rim_of(triangles) -> np.ndarray:
  """The boundary of a patch of triangles as one vertex loop, following the triangles' own edge
  direction (counter-clockwise about their outward normal).

  Raises:
    ValueError: if the boundary is not a single loop.
  """
  edges = set()
  for a, b, c in triangles:
    edges.update([(a, b), (b, c), (c, a)])
  border = {a: b for a, b in edges if (b, a) not in edges}
  if not border:
    raise ValueError("patch has no boundary")
  start = min(border)
  loop = [start]
  while True:
    nxt = border[loop[-1]]
    if nxt == start:
      break
    loop.append(nxt)
    if len(loop) > len(border):
      raise ValueError("patch boundary is not a simple loop")
  if len(loop) != len(border):
    raise ValueError("patch boundary has more than one loop")
  return np.asarray(loop)


def split_loop(loop: np.ndarray, bridges: list[tuple[int, int, np.ndarray]]) -> list[np.ndarray]:
  """Splits a loop of vertex ids into several loops with chains of bridge vertices.

  Args:
    loop: (n,) vertex ids, counter-clockwise about the direction the new tubes will grow.
    bridges: (a, b, chain): vertex ids a and b on the current loops, and the (k,) ids of new
      vertices that run from a to b. Bridges must not cross.

  Returns:
    the loops, each counter-clockwise about the same direction as ``loop``.
  """
  loops = [list(loop)]
  for a, b, chain in bridges:
    chain = list(chain)
    for index, current in enumerate(loops):
      if a in current and b in current:
        break
    else:
      raise ValueError(f"bridge ends {a}, {b} are not on one loop")
    start = current.index(a)
    rotated = current[start:] + current[:start]
    middle = rotated.index(b)
    first = rotated[: middle + 1] + chain[::-1]
    second = rotated[middle:] + [a] + chain
    loops[index: index + 1] = [first, second]
  return [np.asarray(lp) for lp in loops]


def mirror_assemble(points: np.ndarray, midline: np.ndarray, faces: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Builds the whole surface from its left half.

  Args:
    points: (n, 3) left-half and mirror-plane points.
    midline: (n,) bool, True for mirror-plane vertices (shared by both halves).
    faces: (f, 3) left-half faces.

  Returns:
    (positions (V, 3), faces (2f, 3), mirror (V,) id of each vertex's mirror image). The left
    vertices keep their ids; the right copies follow in the same order.
  """
  n = len(points)
  side = np.flatnonzero(~midline)
  mirror = np.arange(n + len(side))
  mirror[side] = n + np.arange(len(side))
  mirror[n:] = side
  right = points[side] * np.array([-1.0, 1.0, 1.0])
  positions = np.concatenate([points, right])
  mirrored_faces = mirror[faces][:, ::-1]
  return positions, np.concatenate([faces, mirrored_faces]), mirror
