"""How 2D keypoint detectors fail on people in close contact (simulated; synthetic benchmark only).

Each function takes BODY_25 observations ``keypoints`` (P, 25, 3) (x, y pixels and confidence)
and a random generator ``rng`` (consumed), and returns a changed copy and a mask of what changed;
``synthetic.observe`` applies them in the order misplace, swap, flip, miss, each from its own
seeded stream.

The kinds follow the localisation-error taxonomy of Ronchi & Perona, "Benchmarking and Error
Diagnosis in Multi-Instance Pose Estimation" (ICCV 2017): *swap* (the same part of another
person), *inversion* (the mirror part: a left/right flip), *miss* (here: a hidden keypoint put on
a wrong limb) and undetected parts. They find localisation errors in about a quarter of the
keypoints of the 2016 COCO winners, mostly jitter (``observe``'s pixel noise), growing with
overlap between people and with hidden keypoints, as in close contact; with no per-type rates
for people in contact, each rate in ``synthetic_settings.PROFILES`` states its own reason.
"""

from __future__ import annotations

import numpy as np

from posejax.body.keypoints import BODY_25_NAMES
from posejax.errors import InvalidInputError

_INDEX = {name: i for i, name in enumerate(BODY_25_NAMES)}

LIMBS: dict[str, tuple[str, ...]] = {
    "head": ("nose", "left_eye", "right_eye", "left_ear", "right_ear"),
    "torso": ("neck", "mid_hip"),
    "left_arm": ("left_shoulder", "left_elbow", "left_wrist"),
    "right_arm": ("right_shoulder", "right_elbow", "right_wrist"),
    "left_leg": ("left_hip", "left_knee", "left_ankle", "left_big_toe", "left_small_toe",
                 "left_heel"),
    "right_leg": ("right_hip", "right_knee", "right_ankle", "right_big_toe", "right_small_toe",
                  "right_heel"),
}
"""BODY_25 keypoints grouped by the limb (or head, torso) they lie on."""

LIMB_OF = np.zeros(len(BODY_25_NAMES), np.int64)
for _limb, (_name, _members) in enumerate(LIMBS.items()):
  LIMB_OF[[_INDEX[m] for m in _members]] = _limb
del _limb, _name, _members

FLIP_GROUPS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    part: (np.array([_INDEX[n] for n in LIMBS[f"left_{part}"]]),
           np.array([_INDEX[n] for n in LIMBS[f"right_{part}"]]))
    for part in ("arm", "leg")}
"""Per limb pair, the left keypoints and their mirror keypoints on the right, in matching order."""

MISSABLE_LIMBS: tuple[str, ...] = ("head", "left_arm", "right_arm", "left_leg", "right_leg")
"""Parts a detector can miss as a whole (the torso anchors the detection and is always found)."""


def _check(keypoints: np.ndarray) -> np.ndarray:
  keypoints = np.array(keypoints, np.float64)
  if keypoints.ndim != 3 or keypoints.shape[1:] != (len(BODY_25_NAMES), 3):
    raise InvalidInputError(f"keypoints must be (P, 25, 3), got {keypoints.shape}")
  return keypoints


def swap_people(keypoints: np.ndarray, exact_pixels: np.ndarray, rng: np.random.Generator,
                rate: float, radius: float) -> tuple[np.ndarray, np.ndarray]:
  """Keypoints taken from the other person where the two people's same parts are close.

  A keypoint of person ``p`` is at risk when the other person's same keypoint projects within
  ``radius`` times ``p``'s projected height of it; with probability ``rate`` it reports the other
  person's observation (position and confidence). Swaps read the unswapped observations, so two
  people can exchange a keypoint.

  Args:
    keypoints: (P, 25, 3) observations; nothing changes unless P == 2.
    exact_pixels: (P, 25, 2) the true projections, pixels (decide who is at risk).
    radius: share of the person's projected height (top to bottom of its true keypoints).

  Returns:
    ``(keypoints, swapped)``: the new (P, 25, 3) array and the (P, 25) bool mask of swaps.
  """
  keypoints = _check(keypoints)
  swapped = np.zeros(keypoints.shape[:2], bool)
  draws = rng.random(keypoints.shape[:2])
  if keypoints.shape[0] != 2:
    return keypoints, swapped
  height = np.ptp(exact_pixels[..., 1], axis=1)  # (2,)
  apart = np.linalg.norm(exact_pixels[0] - exact_pixels[1], axis=-1)  # (25,)
  at_risk = apart[None, :] < radius * height[:, None]
  swapped = at_risk & (draws < rate)
  out = keypoints.copy()
  out[swapped] = keypoints[::-1][swapped]
  return out, swapped


def flip_limbs(keypoints: np.ndarray, rng: np.random.Generator, rate: float
               ) -> tuple[np.ndarray, np.ndarray]:
  """Left/right flips: a person's two arms (or two legs) exchange their keypoints.

  Per person and limb pair (arms, legs), with probability ``rate`` the left and right keypoints
  exchange rows, as when a detector reads a person seen from behind as facing the camera.

  Returns:
    ``(keypoints, flipped)``: the new array and (P, 2) bool, columns ``("arm", "leg")``.
  """
  keypoints = _check(keypoints)
  flipped = rng.random((keypoints.shape[0], len(FLIP_GROUPS))) < rate
  out = keypoints.copy()
  for g, (left, right) in enumerate(FLIP_GROUPS.values()):
    for p in np.flatnonzero(flipped[:, g]):
      out[p, left], out[p, right] = keypoints[p, right], keypoints[p, left]
  return out, flipped


def misplace_hidden(keypoints: np.ndarray, occluded: np.ndarray, rng: np.random.Generator,
                    rate: float, confidence: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
  """Hidden keypoints placed confidently on a wrong limb.

  With probability ``rate`` a hidden keypoint takes the position of the nearest visible keypoint
  on another limb (``LIMBS``) or another person, with a confidence uniform in ``confidence``: a
  detector that cannot see a wrist puts it, sure of itself, on the limb in front of it.

  Args:
    occluded: (P, 25) bool, keypoints the camera does not see.
    confidence: (low, high) confidence of a misplaced keypoint.

  Returns:
    ``(keypoints, misplaced)``: the new array and the (P, 25) bool mask of moved keypoints (a
    hidden keypoint with no visible keypoint on another limb stays where it was).
  """
  keypoints = _check(keypoints)
  occluded = np.asarray(occluded, bool)
  people = keypoints.shape[0]
  draws = rng.random(occluded.shape)
  levels = rng.uniform(*confidence, occluded.shape)
  chosen = occluded & (draws < rate)
  out = keypoints.copy()
  misplaced = np.zeros(occluded.shape, bool)
  person = np.repeat(np.arange(people), len(BODY_25_NAMES))
  limb = np.tile(LIMB_OF, people)
  flat = keypoints.reshape(-1, 3)
  seen = ~occluded.reshape(-1)
  for p, k in zip(*np.nonzero(chosen)):
    allowed = seen & ((person != p) | (limb != LIMB_OF[k]))
    if not allowed.any():
      continue
    candidates = np.flatnonzero(allowed)
    nearest = candidates[np.argmin(np.linalg.norm(flat[candidates, :2] - keypoints[p, k, :2],
                                                  axis=-1))]
    out[p, k, :2] = flat[nearest, :2]
    out[p, k, 2] = levels[p, k]
    misplaced[p, k] = True
  return out, misplaced


def miss_limbs(keypoints: np.ndarray, rng: np.random.Generator, rate: float,
               confidence: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
  """Whole parts the detector does not find: their keypoints keep a position but low confidence.

  Per person and part of ``MISSABLE_LIMBS``, with probability ``rate`` every keypoint of the part
  gets a confidence uniform in ``confidence`` (low, high).

  Returns:
    ``(keypoints, missed)``: the new array and the (P, 25) bool mask of missed keypoints.
  """
  keypoints = _check(keypoints)
  people = keypoints.shape[0]
  parts = rng.random((people, len(MISSABLE_LIMBS))) < rate
  levels = rng.uniform(*confidence, (people, len(BODY_25_NAMES)))
  missed = np.zeros((people, len(BODY_25_NAMES)), bool)
  for j, name in enumerate(MISSABLE_LIMBS):
    ids = [_INDEX[n] for n in LIMBS[name]]
    missed[np.ix_(parts[:, j], ids)] = True
  out = keypoints.copy()
  out[..., 2] = np.where(missed, levels, keypoints[..., 2])
  return out, missed
