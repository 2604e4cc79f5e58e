"""The shape of posejax's synthetic default body: a procedural humanoid surface in SMPL-X's pose.

Everything here is invented for posejax (no SMPL-X data): a skeleton with SMPL-X's 55 joints in a
T-pose, and a closed surface grown as tubes of vertex rings around it (see ``_mesh_builder``).
Units are metres; y up, the body faces +z, its left side is at +x, the soles at y = FLOOR_Y.

The body is built as its left half plus the mirror-plane vertices and then mirrored, so it is
exactly symmetric. Three closed surfaces: the body (one genus-0 surface: trunk, neck and head,
arms, hands with five separate fingers each, legs and feet) and two eyeballs.
"""

from __future__ import annotations

import dataclasses
import heapq

import numpy as np
import scipy.sparse
from scipy.interpolate import PchipInterpolator

from posejax.body import _mesh_builder as mb

FLOOR_Y = -1.28
"""Height of the soles in the rest pose, metres."""

# Part labels of vertices (skinning and regions start from them).
PART_TRUNK = 0
PART_ARM = 1
PART_THUMB = 2
PART_INDEX = 3
PART_MIDDLE = 4
PART_RING = 5
PART_PINKY = 6
PART_LEG = 7
PART_EYE = 8
PART_UNUSED = 9
FINGER_PARTS = {"index": PART_INDEX, "middle": PART_MIDDLE, "ring": PART_RING,
                "pinky": PART_PINKY}

# Rest-pose joints of the left side and the mirror plane (metres). Right = mirror image.
LEFT_JOINTS = {
    "pelvis": (0.0, -0.330, 0.005),
    "left_hip": (0.082, -0.405, 0.000),
    "spine1": (0.0, -0.210, -0.020),
    "left_knee": (0.095, -0.800, 0.008),
    "spine2": (0.0, -0.080, -0.025),
    "left_ankle": (0.088, -1.195, -0.035),
    "spine3": (0.0, -0.025, -0.015),
    "left_foot": (0.100, -1.255, 0.085),
    "neck": (0.0, 0.175, -0.025),
    "left_collar": (0.070, 0.095, -0.020),
    "head": (0.0, 0.255, -0.008),
    "left_shoulder": (0.185, 0.100, -0.028),
    "left_elbow": (0.435, 0.100, -0.040),
    "left_wrist": (0.690, 0.100, -0.040),
    "jaw": (0.0, 0.245, 0.020),
    "left_eye_smplhf": (0.033, 0.303, 0.071),
    "left_thumb1": (0.708, 0.092, -0.012),
    "left_thumb2": (0.750, 0.090, 0.010),
    "left_thumb3": (0.779, 0.088, 0.025),
}
"""Joints that need no computation; the eye and finger joints are refined while building."""

FINGERS = {
    # name: (z of the knuckle relative to the palm axis, x of the knuckle, phalanx lengths,
    #        base radius, sideways slope dz/dx)
    "index": (0.026, 0.781, (0.041, 0.024, 0.021), 0.0098, 0.08),
    "middle": (0.006, 0.785, (0.045, 0.028, 0.023), 0.0101, 0.01),
    "ring": (-0.014, 0.781, (0.042, 0.026, 0.022), 0.0095, -0.06),
    "pinky": (-0.032, 0.772, (0.032, 0.020, 0.019), 0.0083, -0.13),
}

THUMB_TIP = (0.801, 0.087, 0.037)
EYE_RADIUS = 0.0125

# Trunk (pelvis to crown) cross-sections: y, half width, front depth, back depth, centre z,
# front and back superellipse exponents.
TRUNK_KEYS = np.array([
    (-0.485, 0.168, 0.068, 0.088, -0.010, 2.2, 2.2),
    (-0.465, 0.173, 0.077, 0.104, -0.010, 2.3, 2.3),
    (-0.430, 0.176, 0.083, 0.113, -0.006, 2.4, 2.3),
    (-0.380, 0.174, 0.088, 0.110, -0.002, 2.4, 2.3),
    (-0.320, 0.163, 0.092, 0.097, 0.000, 2.3, 2.4),
    (-0.250, 0.147, 0.094, 0.086, 0.000, 2.2, 2.4),
    (-0.170, 0.136, 0.092, 0.080, 0.000, 2.2, 2.4),
    (-0.100, 0.140, 0.094, 0.083, 0.000, 2.3, 2.5),
    (-0.040, 0.150, 0.100, 0.088, 0.000, 2.4, 2.6),
    (0.020, 0.160, 0.104, 0.092, -0.002, 2.5, 2.7),
    (0.080, 0.164, 0.097, 0.094, -0.006, 2.6, 2.7),
    (0.110, 0.163, 0.090, 0.092, -0.009, 2.6, 2.6),
    (0.132, 0.155, 0.080, 0.086, -0.012, 2.5, 2.5),
    (0.148, 0.135, 0.068, 0.076, -0.015, 2.3, 2.3),
    (0.160, 0.108, 0.058, 0.066, -0.018, 2.2, 2.2),
    (0.172, 0.085, 0.052, 0.060, -0.021, 2.1, 2.1),
    (0.185, 0.058, 0.046, 0.054, -0.022, 2.0, 2.0),
    (0.199, 0.055, 0.050, 0.054, -0.021, 2.0, 2.0),
    (0.2035, 0.056, 0.070, 0.055, -0.020, 1.9, 2.0),
    (0.207, 0.057, 0.087, 0.056, -0.019, 1.8, 2.0),
    (0.212, 0.059, 0.098, 0.058, -0.018, 1.8, 2.0),
    (0.218, 0.061, 0.102, 0.060, -0.017, 1.85, 2.0),
    (0.226, 0.063, 0.099, 0.064, -0.016, 1.9, 2.0),
    (0.234, 0.065, 0.101, 0.069, -0.014, 2.0, 2.0),
    (0.244, 0.067, 0.101, 0.076, -0.012, 2.05, 2.0),
    (0.258, 0.070, 0.099, 0.087, -0.009, 2.1, 2.1),
    (0.275, 0.073, 0.098, 0.097, -0.007, 2.15, 2.1),
    (0.292, 0.0755, 0.096, 0.103, -0.006, 2.2, 2.1),
    (0.308, 0.0765, 0.094, 0.106, -0.006, 2.2, 2.1),
    (0.325, 0.077, 0.098, 0.107, -0.007, 2.2, 2.1),
    (0.345, 0.076, 0.097, 0.105, -0.008, 2.2, 2.1),
    (0.365, 0.072, 0.091, 0.099, -0.010, 2.15, 2.1),
    (0.385, 0.063, 0.075, 0.086, -0.012, 2.1, 2.1),
    (0.400, 0.051, 0.057, 0.069, -0.014, 2.0, 2.0),
    (0.411, 0.034, 0.037, 0.047, -0.015, 2.0, 2.0),
    (0.417, 0.016, 0.017, 0.022, -0.015, 2.0, 2.0),
])
CROWN = (0.0, 0.4195, -0.015)

# Shoulder opening on the trunk wall for the arm: y range and angular half width about the side.
ARM_HOLE_Y = (0.030, 0.140)
ARM_HOLE_HALF_ANGLE = 0.5

# Arm and hand: x, centre y, centre z, up, down, front, back extents, exponent.
ARM_KEYS = np.array([
    (0.205, 0.093, -0.028, 0.048, 0.053, 0.056, 0.058, 2.2),
    (0.240, 0.096, -0.030, 0.048, 0.049, 0.053, 0.055, 2.2),
    (0.300, 0.099, -0.033, 0.046, 0.045, 0.049, 0.048, 2.1),
    (0.370, 0.100, -0.036, 0.043, 0.043, 0.045, 0.043, 2.0),
    (0.430, 0.100, -0.039, 0.039, 0.041, 0.040, 0.044, 2.0),
    (0.480, 0.100, -0.040, 0.043, 0.040, 0.044, 0.044, 2.0),
    (0.560, 0.100, -0.040, 0.036, 0.033, 0.038, 0.038, 2.1),
    (0.640, 0.100, -0.040, 0.025, 0.022, 0.031, 0.031, 2.3),
    (0.690, 0.100, -0.040, 0.019, 0.018, 0.030, 0.029, 2.6),
    (0.715, 0.099, -0.039, 0.017, 0.015, 0.034, 0.035, 3.0),
    (0.750, 0.098, -0.038, 0.015, 0.013, 0.040, 0.040, 3.2),
    (0.785, 0.097, -0.038, 0.013, 0.012, 0.042, 0.041, 3.2),
])
THUMB_HOLE_X = (0.700, 0.742)
THUMB_HOLE_HALF_ANGLE = 0.6

# Leg: y, centre x, centre z, front, back, medial, lateral extents.
LEG_KEYS = np.array([
    (-0.495, 0.086, -0.008, 0.070, 0.084, 0.074, 0.084),
    (-0.560, 0.090, -0.004, 0.074, 0.082, 0.071, 0.085),
    (-0.650, 0.093, 0.002, 0.069, 0.072, 0.064, 0.074),
    (-0.740, 0.095, 0.006, 0.060, 0.058, 0.056, 0.060),
    (-0.800, 0.095, 0.010, 0.054, 0.047, 0.050, 0.050),
    (-0.860, 0.094, 0.006, 0.046, 0.052, 0.046, 0.046),
    (-0.930, 0.092, -0.004, 0.044, 0.068, 0.053, 0.051),
    (-1.020, 0.090, -0.016, 0.039, 0.055, 0.044, 0.042),
    (-1.110, 0.088, -0.028, 0.034, 0.040, 0.034, 0.034),
    (-1.180, 0.088, -0.033, 0.034, 0.036, 0.034, 0.032),
])
ANKLE_PIVOT_GAP = 0.012
"""How far in front of the ankle's front surface the foot's bend axis lies, metres."""

# Foot after the ankle bend: z, centre x, top y, medial, lateral extents (sole at FLOOR_Y).
FOOT_KEYS = np.array([
    (0.000, 0.088, -1.191, 0.036, 0.036),
    (0.050, 0.092, -1.205, 0.040, 0.041),
    (0.090, 0.096, -1.226, 0.043, 0.045),
    (0.130, 0.100, -1.244, 0.045, 0.046),
    (0.160, 0.102, -1.250, 0.043, 0.040),
    (0.180, 0.104, -1.252, 0.039, 0.032),
])
TOE_ROUNDING = 0.018


@dataclasses.dataclass
class Spacing:
  """Target edge lengths, metres."""
  trunk_along: float = 0.0165
  trunk_around: float = 0.019
  face_along: float = 0.0058
  head_around: float = 0.0105
  arm_along: float = 0.0135
  arm_around: float = 0.0145
  hand_along: float = 0.0062
  hand_around: float = 0.0068
  finger_along: float = 0.0056
  finger_around: float = 0.0062
  leg_along: float = 0.0165
  leg_around: float = 0.0175
  foot_along: float = 0.0125
  foot_around: float = 0.0135
  eye_rings: int = 5
  eye_around: int = 10


class RingCounter:
  """Chooses ring vertex counts from target spacing; can add vertices to chosen rings.

  The total vertex count must come out exact, so a first build records every ring whose count
  is free (``candidates``: key -> (perimeter, count)), and a second build adds the missing
  vertices one at a time to whichever free ring is coarsest at that moment (two per vertex for
  a mirror-symmetric ring: one per half).
  """

  def __init__(self, extra: dict | None = None):
    self.extra = extra or {}
    self.candidates: dict[tuple, tuple[float, int]] = {}

  def count(self, key: tuple, perimeter: float, spacing: float, *, half: bool = False,
            minimum: int = 6, free: bool = True) -> int:
    if half:
      n = max(minimum, 2 * int(round(perimeter / spacing / 2.0)))
      if free:
        self.candidates[key] = (perimeter, n)
      return n + 2 * self.extra.get(key, 0)
    n = max(minimum, int(round(perimeter / spacing)))
    if free:
      self.candidates[key] = (perimeter, n)
    return n + self.extra.get(key, 0)

  def allot(self, missing: int) -> dict:
    """Spreads ``missing`` vertices (per side) over the coarsest free rings."""
    heap = [(-perimeter / n, str(key), key, 0) for key, (perimeter, n) in
            self.candidates.items()]
    counts = {key: n for key, (_, n) in self.candidates.items()}
    heapq.heapify(heap)
    extra: dict = {}
    for _ in range(missing):
      _, name, key, added = heapq.heappop(heap)
      added += 1
      extra[key] = added
      perimeter, n = self.candidates[key]
      step = 2 if key[0] == "trunk" else 1
      heapq.heappush(heap, (-perimeter / (counts[key] + step * added), name, key, added))
    return extra


@dataclasses.dataclass
class Humanoid:
  """The built surface and what the rest of the default body needs to know about it.

  Attributes:
    vertices: (V, 3) rest positions, metres (unused vertices included).
    faces: (F, 3) vertex ids, counter-clockwise seen from outside.
    mirror: (V,) id of each vertex's mirror image through x = 0.
    part: (V,) part label (PART_*).
    unused: (u,) ids of vertices no face uses.
    landmarks: name -> vertex id of landmarks found while building, left side only
      ("left_eye" (the pupil), "left_big_toe", "left_<finger>_tip"); the rest are found on the
      finished surface by ``default_body``.
  """
  vertices: np.ndarray
  faces: np.ndarray
  mirror: np.ndarray
  part: np.ndarray
  unused: np.ndarray
  landmarks: dict[str, int]


def _pchip(keys: np.ndarray):
  if keys[0, 0] > keys[-1, 0]:
    keys = keys[::-1]
  return PchipInterpolator(keys[:, 0], keys[:, 1:], axis=0, extrapolate=True)


def _smooth_bump(t: np.ndarray) -> np.ndarray:
  """1 at 0 falling smoothly to 0 at |t| >= 1."""
  t = np.clip(np.abs(t), 0.0, 1.0)
  return (1.0 - t * t) ** 2


# ----------------------------------------------------------------------------------------------
# Trunk, neck and head


def _trunk_dense(y: np.ndarray) -> np.ndarray:
  """(Y, M, 3) dense cross-sections of the trunk at heights y, before facial features."""
  params = _pchip(TRUNK_KEYS)(y)
  half_width, front, back, center_z, exp_front, exp_back = (c[:, None] for c in params.T)
  uv = mb.superellipse(mb.DENSE_PSI[None], front, back, half_width, half_width, exp_front,
                       exp_back)
  out = np.empty((len(y), mb.DENSE_SAMPLES, 3))
  out[..., 0] = uv[..., 1]
  out[..., 1] = y[:, None]
  out[..., 2] = center_z + uv[..., 0]
  return out


def _face_features(points: np.ndarray, eye_sockets: bool = True) -> np.ndarray:
  """Adds nose, brows, eye sockets, lips, chin, cheeks and ears to dense head rings (…, 3)."""
  x, y, z = points[..., 0], points[..., 1], points[..., 2]
  ax = np.abs(x)
  front = np.clip(z / 0.05, 0.0, 1.0)  # only the front of the head carries the face
  dz = np.zeros_like(z)
  # Nose: a ridge from the brows to the tip, then back in under the tip.
  nose_y = np.array([0.335, 0.320, 0.300, 0.285, 0.275, 0.268, 0.262, 0.257])
  nose_h = np.array([0.000, 0.004, 0.009, 0.016, 0.022, 0.020, 0.008, 0.000])
  nose_w = np.array([0.008, 0.008, 0.009, 0.011, 0.013, 0.016, 0.016, 0.014])
  inside = (y > nose_y[-1]) & (y < nose_y[0])
  height = np.interp(y, nose_y[::-1], nose_h[::-1]) * inside
  width = np.interp(y, nose_y[::-1], nose_w[::-1])
  dz += height * np.exp(-(ax / width) ** 2)
  # Brow ridge.
  dz += 0.004 * _smooth_bump((y - 0.323) / 0.012) * _smooth_bump(ax / 0.058)
  # Eye sockets.
  if eye_sockets:
    dz -= 0.009 * _smooth_bump(np.hypot((ax - 0.033) / 0.019, (y - 0.303) / 0.013))
  # Lips and the groove between them.
  mouth = _smooth_bump(ax / 0.026)
  dz += 0.004 * _smooth_bump((y - 0.2455) / 0.0065) * mouth
  dz -= 0.0025 * _smooth_bump((y - 0.2385) / 0.0030) * mouth
  dz += 0.003 * _smooth_bump((y - 0.2320) / 0.0050) * mouth
  # Cheekbones.
  dz += 0.004 * _smooth_bump(np.hypot((ax - 0.048) / 0.022, (y - 0.283) / 0.016))
  out = points.copy()
  out[..., 2] = z + dz * front
  # Ears: flat bumps on the sides of the head, a little behind its middle.
  ear = _smooth_bump(np.hypot((z + 0.018) / 0.017, (y - 0.293) / 0.031)) * (ax > 0.03)
  rim = np.clip(0.6 - (z + 0.018) / 0.03, 0.3, 1.0)  # the back of the ear stands out most
  out[..., 0] = x + np.sign(x) * 0.02 * rim * ear ** 0.7
  return out


def _trunk_ring_heights(spacing: Spacing) -> np.ndarray:
  y_dense = np.linspace(TRUNK_KEYS[0, 0], TRUNK_KEYS[-1, 0], 1500)
  rings = _trunk_dense(y_dense)
  step = np.linalg.norm(np.diff(rings, axis=0), axis=2).mean(axis=1)
  y_mid = 0.5 * (y_dense[1:] + y_dense[:-1])
  face = _smooth_bump((y_mid - 0.275) / 0.085) ** 0.5
  along = spacing.trunk_along + (spacing.face_along - spacing.trunk_along) * face
  along = np.where(y_mid > 0.36, np.minimum(along, 0.011), along)
  progress = np.concatenate([[0.0], np.cumsum(step / along)])
  count = int(round(progress[-1])) + 1
  return np.interp(np.linspace(0.0, progress[-1], count), progress, y_dense)


def _head_density(points: np.ndarray) -> np.ndarray:
  """Relative vertex density along a head ring: denser on the face."""
  y = points[0, 1]
  head = np.clip((y - 0.19) / 0.03, 0.0, 1.0) * np.clip((0.37 - y) / 0.03, 0.0, 1.0)
  front = np.clip(points[:, 2] / 0.06, 0.0, 1.0)
  return 1.0 + 1.3 * head * front


def _build_trunk(surface: mb.HalfSurface, counter: RingCounter, spacing: Spacing):
  heights = _trunk_ring_heights(spacing)
  dense = _face_features(_trunk_dense(heights))
  in_hole = (heights >= ARM_HOLE_Y[0]) & (heights <= ARM_HOLE_Y[1])
  hole_rows = np.flatnonzero(in_hole)
  rings: list[mb.Ring] = []
  hole_count = None
  for i, points in enumerate(dense):
    head = heights[i] > 0.19
    around = spacing.head_around if head else spacing.trunk_around
    density = _head_density(points) if head else None
    perimeter = mb.curve_length(points)
    if density is not None:
      perimeter *= density.mean()
    if in_hole[i]:
      if hole_count is None:
        hole_count = counter.count(("trunk", i), perimeter, around, half=True, free=False)
      n = hole_count
    else:
      n = counter.count(("trunk", i), perimeter, around, half=True, minimum=8)
    rings.append(mb.make_ring(surface, PART_TRUNK, points, n, half=True, density=density))

  # Columns of the arm opening: around psi = pi / 2 (the left side).
  first = rings[hole_rows[0]]
  columns = np.flatnonzero(np.abs(first.psi[:-1] + 0.5 * np.diff(first.psi) - np.pi / 2)
                           <= ARM_HOLE_HALF_ANGLE)
  skipped = []
  for i in range(len(rings) - 1):
    if i in hole_rows and i + 1 in hole_rows:
      skipped += mb.connect_quads(surface, rings[i], rings[i + 1], skip=set(columns.tolist()))
    elif rings[i].count == rings[i + 1].count and i in hole_rows:
      mb.connect_quads(surface, rings[i], rings[i + 1])
    else:
      mb.connect(surface, rings[i], rings[i + 1])
  crown = surface.add_points(np.array([CROWN]), PART_TRUNK, midline=True)[0]
  mb.cap(surface, rings[-1], crown, at_end=True)
  arm_hole = mb.rim_of(skipped)
  return rings, arm_hole, heights


# ----------------------------------------------------------------------------------------------
# Tubes along a centre line


def _tube_rings(surface, counter, key, part, centers, frames, sections, spacing_around,
                start: mb.Ring | None, blend_length: float, start_center=None, start_frame=None,
                minimum: int = 6):
  """Makes the rings of a tube (centres (R, 3), frames (R, 3, 3), sections (R, M, 2)).

  When ``start`` is a loop, the first rings blend from the loop's shape into the sections over
  ``blend_length`` metres of centre line. Returns the rings (the loop first, if given).
  """
  rings = [start] if start is not None else []
  if start is not None:
    loop_uv, loop_w = mb.loop_shape(start, start_center, start_frame)
    travelled = np.concatenate(
        [[0.0], np.cumsum(np.linalg.norm(np.diff(centers, axis=0), axis=1))])
    travelled += np.linalg.norm(centers[0] - start_center)
  for i in range(len(centers)):
    uv = sections[i]
    axial = None
    if start is not None:
      beta = np.clip(travelled[i] / blend_length, 0.0, 1.0)
      beta = beta * beta * (3.0 - 2.0 * beta)
      uv = (1.0 - beta) * loop_uv + beta * uv
      axial = (1.0 - beta) * loop_w
    points = mb.dense_ring_points(centers[i], frames[i], uv, axial)
    # Counts follow the target section, not the blend, so that they do not depend on the loop.
    perimeter = mb.curve_length(mb.dense_ring_points(centers[i], frames[i], sections[i]))
    n = counter.count((key, i), perimeter, spacing_around, minimum=minimum)
    rings.append(mb.make_ring(surface, part, points, n))
  return rings


def _stations(length: float, spacing: float) -> np.ndarray:
  count = max(2, int(round(length / spacing)) + 1)
  return np.linspace(0.0, length, count)


def _polyline_at(points: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Positions and unit tangents at arc lengths s along a polyline (P, 3)."""
  seg = np.diff(points, axis=0)
  lengths = np.linalg.norm(seg, axis=1)
  arc = np.concatenate([[0.0], np.cumsum(lengths)])
  index = np.clip(np.searchsorted(arc, s, side="right") - 1, 0, len(seg) - 1)
  t = (s - arc[index]) / lengths[index]
  pos = points[index] + t[:, None] * seg[index]
  # Tangents blend between segments near the joints so frames turn smoothly.
  tangents = seg / lengths[:, None]
  tang = tangents[index].copy()
  for j in range(1, len(seg)):
    near = np.clip(1.0 - np.abs(s - arc[j]) / (0.35 * min(lengths[j - 1], lengths[j])), 0, 1)
    mixed = 0.5 * (tangents[j - 1] + tangents[j])
    weight = near[:, None]
    tang = np.where(weight > 0, (1 - weight) * tang + weight * mixed, tang)
  tang /= np.linalg.norm(tang, axis=1, keepdims=True)
  return pos, tang


# ----------------------------------------------------------------------------------------------
# Legs and feet


def _build_leg(surface, counter, spacing, crotch: mb.Ring):
  front, back = crotch.points[0], crotch.points[-1]
  n_bridge = max(1, int(round(np.linalg.norm(front - back) / spacing.leg_around)) - 1)
  n_bridge += 1 - n_bridge % 2  # an odd count keeps the total vertex count even
  t = np.linspace(0.0, 1.0, n_bridge + 2)[1:-1]
  bridge = front[None] + t[:, None] * (back - front)[None]
  bridge[:, 1] -= 0.012 * np.sin(np.pi * t)
  bridge[:, 0] = 0.0
  bridge_ids = surface.add_points(bridge, PART_TRUNK, midline=True)
  loop_ids = np.concatenate([crotch.ids[::-1], bridge_ids])
  positions = surface.positions()
  loop_center = positions[loop_ids].mean(axis=0)
  leg_frame0 = mb.frame_from((0.0, -1.0, 0.0), (0.0, 0.0, 1.0))
  loop = mb.loop_ring(loop_ids, positions, loop_center, leg_frame0)

  # Straight leg, keyed by height.
  leg = _pchip(LEG_KEYS)
  y_top = loop_center[1] - 0.012
  y_bottom = LEG_KEYS[-1, 0]
  ys = y_top - _stations(y_top - y_bottom, spacing.leg_along)
  params = leg(ys)
  centers = np.stack([params[:, 0], ys, params[:, 1]], axis=1)
  ramp = np.clip((y_top - ys) / 0.07, 0.0, 1.0)[:, None]
  start_line = np.stack([np.full_like(ys, loop_center[0]), ys, np.full_like(ys, loop_center[2])],
                        axis=1)
  centers = (1.0 - ramp) * start_line + ramp * centers
  frames = np.stack([leg_frame0] * len(ys))
  sections = np.stack([mb.superellipse(mb.DENSE_PSI, p[2], p[3], p[4], p[5]) for p in params])
  rings = _tube_rings(surface, counter, "leg", PART_LEG, centers, frames, sections,
                      spacing.leg_around, loop, 0.10, loop_center, leg_frame0)

  # The ankle bend: rings turn about an axis in front of the ankle until they face forward.
  last = params[-1]
  ankle_center = centers[-1]
  pivot = np.array([ankle_center[0], ankle_center[1], ankle_center[2] + last[2] + ANKLE_PIVOT_GAP])
  reach = pivot[2] - ankle_center[2]
  sole_drop = pivot[1] - reach - FLOOR_Y
  angles = np.linspace(0.0, 0.5 * np.pi, 9)[1:]
  fan_rings = []
  for k, alpha in enumerate(angles):
    rot = np.array([[1.0, 0.0, 0.0],
                    [0.0, np.cos(alpha), np.sin(alpha)],
                    [0.0, -np.sin(alpha), np.cos(alpha)]])
    # rot turns -y towards +z and +z towards +y (about the x axis).
    center = pivot + rot @ (ankle_center - pivot)
    frame = leg_frame0 @ rot.T
    share = alpha / (0.5 * np.pi)
    heel = 0.020 * np.sin(2.0 * alpha) ** 1.5
    back_extent = (1 - share) * last[3] + share * sole_drop + heel
    side = (1 - share) * np.array([last[4], last[5]]) + share * FOOT_KEYS[0, 3:5]
    uv = mb.superellipse(mb.DENSE_PSI, last[2], back_extent, side[0], side[1],
                         2.0, 2.0 + 1.2 * share)
    points = mb.dense_ring_points(center, frame, uv)
    n = counter.count(("fan", k), mb.curve_length(points), spacing.foot_around)
    fan_rings.append(mb.make_ring(surface, PART_LEG, points, n))
  foot_frame = leg_frame0 @ np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]).T

  # The foot, keyed by z; the sole stays on the floor.
  foot = _pchip(FOOT_KEYS)
  z0 = pivot[2]
  z_end = FOOT_KEYS[-1, 0]
  zs = z0 + _stations(z_end - z0, spacing.foot_along)[1:]
  foot_rings = []
  tip_offsets = np.linspace(0.0, 1.0, 5)[1:-1]
  for k, z in enumerate(np.concatenate([zs, z_end + TOE_ROUNDING * tip_offsets])):
    zk = min(z, z_end)
    cx, top, medial, lateral = foot(zk)
    rounding = 1.0
    if z > z_end:
      rounding = np.sqrt(max(1.0 - ((z - z_end) / TOE_ROUNDING) ** 2, 0.0))
    center_y = 0.5 * (top + FLOOR_Y)
    half_height = 0.5 * (top - FLOOR_Y)
    if z > z_end:
      # The big toe reaches furthest: the tip leans to the medial side and the sole lifts.
      cx -= 0.010 * (1.0 - rounding)
      center_y += 0.004 * (1.0 - rounding)
    center = np.array([cx, center_y, z])
    uv = mb.superellipse(mb.DENSE_PSI, half_height * rounding, half_height * rounding,
                         medial * rounding, lateral * rounding, 2.2, 4.0)
    points = mb.dense_ring_points(center, foot_frame, uv)
    n = counter.count(("foot", k), mb.curve_length(points), spacing.foot_around)
    foot_rings.append(mb.make_ring(surface, PART_LEG, points, n))
  all_rings = rings + fan_rings + foot_rings
  for a, b in zip(all_rings[:-1], all_rings[1:]):
    mb.connect(surface, a, b)
  last_ring = foot_rings[-1]
  tip = last_ring.points.mean(axis=0) + np.array([-0.004, -0.002, 0.006])
  big_toe = surface.add_points(tip[None], PART_LEG)[0]
  mb.cap(surface, last_ring, big_toe, at_end=True)
  return big_toe


# ----------------------------------------------------------------------------------------------
# Arms, hands and fingers


def _build_arm(surface, counter, spacing, hole: np.ndarray):
  positions = surface.positions()
  hole_center = positions[hole].mean(axis=0)
  arm_frame = mb.frame_from((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
  loop = mb.loop_ring(hole, positions, hole_center, arm_frame)
  arm = _pchip(ARM_KEYS)

  x_start = positions[hole][:, 0].max() + 0.004
  x_wrist = ARM_KEYS[8, 0]
  x_end = ARM_KEYS[-1, 0]
  xs_arm = x_start + _stations(x_wrist - 0.012 - x_start, spacing.arm_along)
  xs_hand = np.linspace(x_wrist, x_end, int(round((x_end - x_wrist) / spacing.hand_along)) + 1)
  xs = np.concatenate([xs_arm, xs_hand])
  params = arm(xs)
  centers = np.stack([xs, params[:, 0], params[:, 1]], axis=1)
  ramp = np.clip((xs - x_start) / 0.05, 0.0, 1.0)[:, None]
  start_line = np.stack([xs, np.full_like(xs, hole_center[1]), np.full_like(xs, hole_center[2])],
                        axis=1)
  centers = (1.0 - ramp) * start_line + ramp * centers
  frames = np.stack([arm_frame] * len(xs))
  sections = np.stack([mb.superellipse(mb.DENSE_PSI, p[2], p[3], p[4], p[5], p[6], p[6])
                       for p in params])
  hand = xs >= x_wrist - 1e-9
  around = np.where(hand, spacing.hand_around, spacing.arm_around)
  in_thumb = (xs >= THUMB_HOLE_X[0]) & (xs <= THUMB_HOLE_X[1])
  rings = [loop]
  quad_count = None
  loop_uv, _ = mb.loop_shape(loop, hole_center, arm_frame)
  for i in range(len(xs)):
    beta = np.clip((xs[i] - x_start) / 0.045, 0.0, 1.0)
    beta = beta * beta * (3.0 - 2.0 * beta)
    uv = (1.0 - beta) * loop_uv + beta * sections[i]
    points = mb.dense_ring_points(centers[i], frames[i], uv)
    perimeter = mb.curve_length(mb.dense_ring_points(centers[i], frames[i], sections[i]))
    if in_thumb[i]:
      if quad_count is None:
        quad_count = counter.count(("arm", i), perimeter, around[i], free=False)
      n = quad_count
    else:
      n = counter.count(("arm", i), perimeter, around[i])
    rings.append(mb.make_ring(surface, PART_ARM, points, n))

  thumb_rows = np.flatnonzero(in_thumb) + 1  # ring index in ``rings`` (loop first)
  first = rings[thumb_rows[0]]
  mid_psi = first.psi + 0.5 * np.diff(np.append(first.psi, first.psi[0] + 2 * np.pi))
  columns = set(np.flatnonzero(np.abs(mid_psi - np.pi / 2) <= THUMB_HOLE_HALF_ANGLE).tolist())
  skipped = []
  for i in range(len(rings) - 1):
    if i in thumb_rows and i + 1 in thumb_rows:
      skipped += mb.connect_quads(surface, rings[i], rings[i + 1], skip=columns)
    else:
      mb.connect(surface, rings[i], rings[i + 1])
  thumb_hole = mb.rim_of(skipped)
  tips = _build_fingers(surface, counter, spacing, rings[-1])
  tips["thumb"] = _build_thumb(surface, counter, spacing, thumb_hole)
  return tips


def _finger_path(name: str) -> np.ndarray:
  dz, x0, lengths, _, slope = FINGERS[name]
  base = np.array([x0, 0.097, ARM_KEYS[-1, 2] + dz])
  direction = np.array([1.0, -0.02, slope])
  direction /= np.linalg.norm(direction)
  points = [base]
  for length in lengths:
    points.append(points[-1] + length * direction)
  return np.array(points)


def finger_joints() -> dict[str, np.ndarray]:
  """Designed rest positions of the left finger joints 1..3, metres."""
  out = {}
  for name in FINGERS:
    path = _finger_path(name)
    for k in range(3):
      out[f"left_{name}{k + 1}"] = path[k]
  return out


def _rounded_tube(surface, counter, key, part, loop, path_points, radii, spacing_along,
                  spacing_around, tip_rounding, frame_up, blend_length=0.010,
                  top_scale=0.88, bottom_scale=1.0):
  """A finger-like tube from a loop along ``path_points`` with end radius rounding and a pole."""
  positions = surface.positions()
  loop_center = positions[loop].mean(axis=0)
  d0 = path_points[1] - loop_center
  frame0 = mb.frame_from(d0, frame_up)
  loop_ring = mb.loop_ring(loop, positions, loop_center, frame0)
  start = np.concatenate([[loop_center], path_points[1:]])
  seg = np.linalg.norm(np.diff(start, axis=0), axis=1)
  total = seg.sum()
  straight = total - tip_rounding
  s_body = _stations(straight, spacing_along)[1:]
  s_round = straight + tip_rounding * np.array([0.35, 0.62, 0.82, 0.94])
  s_all = np.concatenate([s_body, s_round])
  centers, tangents = _polyline_at(start, s_all)
  radius = np.interp(s_all / total, np.linspace(0, 1, len(radii)), radii)
  shrink = np.ones_like(s_all)
  past = s_all > straight
  shrink[past] = np.sqrt(np.clip(1.0 - ((s_all[past] - straight) / tip_rounding) ** 2, 0, 1))
  frames = np.stack([mb.frame_from(t, frame_up) for t in tangents])
  sections = np.stack([mb.superellipse(mb.DENSE_PSI, top_scale * r * f, bottom_scale * r * f,
                                       r * f, r * f) for r, f in zip(radius, shrink)])
  rings = _tube_rings(surface, counter, key, part, centers, frames, sections, spacing_around,
                      loop_ring, blend_length, loop_center, frame0)
  for a, b in zip(rings[:-1], rings[1:]):
    mb.connect(surface, a, b)
  tip = surface.add_points(start[-1][None], part)[0]
  mb.cap(surface, rings[-1], tip, at_end=True)
  return tip


def _build_fingers(surface, counter, spacing, palm_end: mb.Ring) -> dict[str, int]:
  rel = palm_end.points
  names = list(FINGERS)
  knuckle_z = np.array([ARM_KEYS[-1, 2] + FINGERS[n][0] for n in names])
  boundaries = 0.5 * (knuckle_z[:-1] + knuckle_z[1:])
  top = np.cos(palm_end.psi) > 0
  thickness = rel[top][:, 1].max() - rel[~top][:, 1].min()
  n_bridge = max(1, int(round(thickness / spacing.finger_around)) - 1)
  bridges = []
  for zb in boundaries:
    top_id = palm_end.ids[top][np.argmin(np.abs(rel[top][:, 2] - zb))]
    bottom_id = palm_end.ids[~top][np.argmin(np.abs(rel[~top][:, 2] - zb))]
    positions = surface.positions()
    a, b = positions[top_id], positions[bottom_id]
    t = np.linspace(0.0, 1.0, n_bridge + 2)[1:-1]
    chain = a[None] + t[:, None] * (b - a)[None]
    chain[:, 0] += 0.003 * np.sin(np.pi * t)
    chain_ids = surface.add_points(chain, PART_ARM)
    bridges.append((top_id, bottom_id, chain_ids))
  loops = mb.split_loop(palm_end.ids, bridges)
  positions = surface.positions()
  centers_z = np.array([positions[lp][:, 2].mean() for lp in loops])
  tips = {}
  for name, zk in zip(names, knuckle_z):
    loop = loops[int(np.argmin(np.abs(centers_z - zk)))]
    path = _finger_path(name)
    r0 = FINGERS[name][3]
    radii = np.array([1.08, 1.0, 0.93, 0.88, 0.84]) * r0
    tips[name] = _rounded_tube(surface, counter, ("finger", name),
                               FINGER_PARTS[name], loop, path, radii, spacing.finger_along,
                               spacing.finger_around, 0.85 * r0, (0.0, 1.0, 0.0))
  return tips


def _build_thumb(surface, counter, spacing, hole) -> int:
  j1 = np.array(LEFT_JOINTS["left_thumb1"])
  path = np.array([j1, LEFT_JOINTS["left_thumb2"], LEFT_JOINTS["left_thumb3"], THUMB_TIP])
  radii = np.array([1.5, 1.2, 1.05, 0.98, 0.92]) * 0.0105
  up = np.array([0.0, 1.0, 0.0])
  return _rounded_tube(surface, counter, ("thumb",), PART_THUMB, hole, path, radii,
                       spacing.finger_along, spacing.finger_around, 0.0092, up,
                       blend_length=0.018, top_scale=0.9, bottom_scale=1.0)


# ----------------------------------------------------------------------------------------------
# Eyes


def eye_center() -> np.ndarray:
  """Centre of the left eyeball: just behind the face surface (before the socket)."""
  x, y = LEFT_JOINTS["left_eye_smplhf"][:2]
  ring = _face_features(_trunk_dense(np.array([y])), eye_sockets=False)[0]
  front = ring[ring[:, 2] > 0]
  order = np.argsort(front[:, 0])
  surface_z = np.interp(x, front[order, 0], front[order, 2])
  return np.array([x, y, surface_z - 0.0025 - EYE_RADIUS])


def _build_eye(surface, spacing) -> int:
  center = eye_center()
  frame = mb.frame_from((0.0, 0.0, 1.0), (0.0, 1.0, 0.0))
  polar = np.linspace(0.0, np.pi, spacing.eye_rings + 2)[1:-1]
  rings = []
  for theta in polar:
    ring_center = center - EYE_RADIUS * np.cos(theta) * frame[2]
    r = EYE_RADIUS * np.sin(theta)
    uv = mb.superellipse(mb.DENSE_PSI, r, r, r, r)
    points = mb.dense_ring_points(ring_center, frame, uv)
    rings.append(mb.make_ring(surface, PART_EYE, points, spacing.eye_around))
  back = surface.add_points((center - EYE_RADIUS * frame[2])[None], PART_EYE)[0]
  pupil = surface.add_points((center + EYE_RADIUS * frame[2])[None], PART_EYE)[0]
  mb.cap(surface, rings[0], back, at_end=False)
  for a, b in zip(rings[:-1], rings[1:]):
    mb.connect(surface, a, b)
  mb.cap(surface, rings[-1], pupil, at_end=True)
  return pupil


# ----------------------------------------------------------------------------------------------
# Assembly


UNUSED_COUNT = 15
"""Vertices no face uses (see the module docstring of ``default_body``)."""

TARGET_VERTICES = 10475

SMOOTHING_ROUNDS = 4
"""Taubin smoothing rounds applied to the finished surface."""


def _build_half(spacing: Spacing, counter: RingCounter):
  surface = mb.HalfSurface()
  trunk_rings, arm_hole, _ = _build_trunk(surface, counter, spacing)
  big_toe = _build_leg(surface, counter, spacing, trunk_rings[0])
  finger_tips = _build_arm(surface, counter, spacing, arm_hole)
  pupil = _build_eye(surface, spacing)
  landmarks = {"left_big_toe": big_toe, "left_eye": pupil}
  for name, vid in finger_tips.items():
    landmarks[f"left_{name}_tip"] = vid
  return surface, landmarks, trunk_rings


def _compact(points, midline, part, faces, keep_ids):
  used = np.zeros(len(points), dtype=bool)
  used[faces.ravel()] = True
  new_id = np.cumsum(used) - 1
  return points[used], midline[used], part[used], new_id[faces], {
      k: int(new_id[v]) for k, v in keep_ids.items()}


def vertex_adjacency(faces: np.ndarray, count: int) -> scipy.sparse.csr_matrix:
  """(count, count) symmetric 0/1 matrix: 1 where two vertices share an edge of ``faces``."""
  rows = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2],
                         faces[:, 0]])
  cols = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1],
                         faces[:, 2]])
  matrix = scipy.sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(count, count))
  matrix = matrix.tocsr()
  matrix.data[:] = 1.0  # an edge shared by two faces was summed twice
  return matrix


def _fair(positions, faces, mirror, part, midline, rounds: int = SMOOTHING_ROUNDS):
  """Taubin smoothing (shrink-free) of the body surface: softens the seams where tubes meet and
  the slivers where ring counts change. The eyeballs stay spheres; symmetry is restored
  exactly afterwards."""
  adjacency = vertex_adjacency(faces, len(positions))
  degree = np.asarray(adjacency.sum(axis=1)).ravel()
  mean = scipy.sparse.diags(1.0 / np.maximum(degree, 1)) @ adjacency
  movable = (part != PART_EYE)[:, None]
  out = positions.copy()
  for _ in range(rounds):
    for step in (0.5, -0.53):
      out = out + step * movable * (mean @ out - out)
  # Exact symmetry: the right half copies the left; mirror-plane vertices stay on it.
  left = np.arange(len(midline))
  out[mirror[left]] = out[left] * np.array([-1.0, 1.0, 1.0])
  out[np.flatnonzero(midline), 0] = 0.0
  return out


def _unused_points() -> np.ndarray:
  ys = np.concatenate([np.linspace(-0.42, 0.10, 10), np.linspace(0.24, 0.36, 5)])
  params = _pchip(TRUNK_KEYS)(ys)
  return np.stack([np.zeros_like(ys), ys, params[:, 3]], axis=1)


def build(spacing: Spacing | None = None) -> Humanoid:
  """Builds the synthetic humanoid surface with exactly TARGET_VERTICES vertices."""
  spacing = spacing or Spacing()
  counter = RingCounter()
  half = _build_half(spacing, counter)
  surface, landmarks, _ = half
  points, midline, part, faces = surface.arrays()
  points, midline, part, faces, landmarks = _compact(points, midline, part, faces, landmarks)
  used_target = TARGET_VERTICES - UNUSED_COUNT
  side_count = int((~midline).sum())
  mid_count = int(midline.sum())
  if (used_target - mid_count) % 2:
    raise RuntimeError("mirror-plane vertex count has the wrong parity")
  deficit = (used_target - mid_count) // 2 - side_count
  if deficit < 0:
    raise RuntimeError(f"the design has {-deficit} vertices per side too many")
  if deficit:
    # The missing vertices go to the coarsest rings; ring counts do not depend on each other,
    # so one more build comes out exact.
    counter = RingCounter(counter.allot(deficit))
    surface, landmarks, _ = _build_half(spacing, counter)
    points, midline, part, faces = surface.arrays()
    points, midline, part, faces, landmarks = _compact(points, midline, part, faces, landmarks)
  positions, faces, mirror = mb.mirror_assemble(points, midline, faces)
  part = np.concatenate([part, part[~midline]])
  positions = _fair(positions, faces, mirror, part, midline)
  unused = _unused_points()
  unused_ids = np.arange(len(positions), len(positions) + len(unused))
  positions = np.concatenate([positions, unused])
  mirror = np.concatenate([mirror, unused_ids])
  part = np.concatenate([part, np.full(len(unused), PART_UNUSED)])
  if len(positions) != TARGET_VERTICES:
    raise RuntimeError(f"built {len(positions)} vertices, expected {TARGET_VERTICES}")
  return Humanoid(positions, faces, mirror, part, unused_ids, landmarks)
