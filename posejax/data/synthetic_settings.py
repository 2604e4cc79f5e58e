"""Settings of the synthetic generator (``SyntheticSettings``) and its ``PROFILES``: presets named
after the datasets they stand in for, each value with its published figure or stated assumption.
"""

from __future__ import annotations

import dataclasses

from posejax.data import synthetic_geometry as geometry
from posejax.data.synthetic_answers import AnswerSettings
from posejax.errors import InvalidInputError


_TUPLE_FIELDS = ("image_size", "visible_confidence", "occluded_confidence", "misplaced_confidence",
                 "missed_confidence", "kinds")
"""Tuple fields of ``SyntheticSettings`` (lists in JSON)."""


@dataclasses.dataclass(frozen=True)
class SyntheticSettings:
  """Every knob of the synthetic generator (recorded with each scene and result).

  Attributes:
    seed: master seed; scene ``i`` draws from ``(seed, i)`` alone.
    image_size: (width, height) pixels of the virtual image.
    num_betas: shape coefficients per person.
    shape_std: standard deviation of the ground-truth betas.
    pose_jitter: radians, per-axis standard deviation added to every designed body joint.
    yaw_jitter: radians, standard deviation of the moving person's extra turn about the vertical.
    placement_jitter: metres, per-axis standard deviation of the moving person's extra offset.
    view_jitter: radians, standard deviation of the viewing direction about the design's.
    frame_fill: share of the image's width and height the scene's bounding box may fill.
    contact_tolerance: metres; a true pair touches when its full-mesh distance is below this.
    max_penetration: metres; deepest interpenetration a kept scene may have (distance from a
      vertex inside the other body to its nearest vertex: up to ~5 mm more than below the skin).
    refine: weights and schedule of the contact refinement.
    repairs: extra refinement passes for a scene whose true pairs are still apart, each from the
      last with the contact weight 4x higher and the pose anchor halved.
    keypoint_noise: pixels, per-axis noise of visible keypoints.
    occluded_keypoint_noise: pixels, per-axis noise of occluded keypoints that are kept.
    visible_confidence: (low, high) uniform range of visible keypoints' confidence.
    occluded_confidence: (low, high) uniform range of kept occluded keypoints' confidence.
    occluded_drop_rate: probability that an occluded keypoint is missing (confidence 0).
    init_pose_noise: radians, per-axis noise of body joints whose keypoints are visible.
    init_occluded_pose_noise: radians, per-axis noise of body joints whose keypoints are hidden.
    init_orient_noise: radians, per-axis noise of each person's root rotation.
    init_shape_noise: standard deviation of the noise added to the betas.
    init_depth_noise: relative standard deviation of each person's distance from the camera
      (along the pelvis's viewing ray).
    init_relative_noise: metres, per-axis standard deviation of an extra offset of each person.
    answers: the simulated answers' error model.
    kinds: scene kinds ``generate_benchmark`` cycles through by default (empty: every kind).
    profile: name of the ``PROFILES`` preset these settings started from ("" for none).
    swap_rate, swap_radius: ``synthetic_failures.swap_people``'s rate and radius (share of the
      person's projected height).
    flip_rate: ``synthetic_failures.flip_limbs``' rate per person and limb pair.
    misplace_rate, misplaced_confidence: ``synthetic_failures.misplace_hidden``'s rate per hidden
      keypoint (a misplaced one is not dropped) and (low, high) confidence.
    part_miss_rate, missed_confidence: ``synthetic_failures.miss_limbs``' rate per person and part
      and (low, high) confidence.
    focal_error: standard deviation of the log of the true focal length over the one the fitter is
      given (the reference's 60 degree field of view); the initial estimate's distance is scaled
      by given / true, as a regressor assuming the given camera would place it.
    init_target_pa_mpjpe: millimetres; when > 0 the initial estimate is calibrated
      (``synthetic_initial.calibrated_degrade``): the pose noise is scaled until the scene's
      joint PA-MPJPE (LSP-14) equals a per-scene target of this mean. The ``init_*_noise``
      values then only set ratios between joints; ``init_relative_noise`` is replaced by
      ``init_target_relative``; ``init_depth_noise`` moves both people together.
    init_target_relative: millimetres (two people, calibrated mode): the error of the vector from
      one person's pelvis to the other's, scaled per scene like the PA-MPJPE target, in a random
      direction with twice the standard deviation in depth (what one image leaves most uncertain).
    init_target_spread: ``s`` above: log standard deviation of the per-scene targets.
  """

  seed: int = 0
  image_size: tuple[int, int] = (640, 480)
  num_betas: int = 10
  shape_std: float = 0.6
  pose_jitter: float = 0.06
  yaw_jitter: float = 0.1
  placement_jitter: float = 0.02
  view_jitter: float = 0.3
  frame_fill: float = 0.75
  contact_tolerance: float = 0.01
  max_penetration: float = 0.03
  refine: geometry.RefineWeights = geometry.RefineWeights()
  repairs: int = 2
  keypoint_noise: float = 2.0
  occluded_keypoint_noise: float = 8.0
  visible_confidence: tuple[float, float] = (0.65, 0.95)
  occluded_confidence: tuple[float, float] = (0.05, 0.35)
  occluded_drop_rate: float = 0.5
  init_pose_noise: float = 0.08
  init_occluded_pose_noise: float = 0.25
  init_orient_noise: float = 0.08
  init_shape_noise: float = 0.5
  init_depth_noise: float = 0.1
  init_relative_noise: float = 0.08
  answers: AnswerSettings = AnswerSettings()
  kinds: tuple[str, ...] = ()
  profile: str = ""
  swap_rate: float = 0.0
  swap_radius: float = 0.1
  flip_rate: float = 0.0
  misplace_rate: float = 0.0
  misplaced_confidence: tuple[float, float] = (0.5, 0.9)
  part_miss_rate: float = 0.0
  missed_confidence: tuple[float, float] = (0.0, 0.1)
  focal_error: float = 0.0
  init_target_pa_mpjpe: float = 0.0
  init_target_relative: float = 0.0
  init_target_spread: float = 0.25

  @classmethod
  def preset(cls, profile: str, **changes) -> SyntheticSettings:
    """The settings of a named profile (``PROFILES``), with ``changes`` on top.

    Raises:
      InvalidInputError: an unknown profile.
    """
    if profile not in PROFILES:
      raise InvalidInputError(f"unknown synthetic profile {profile!r}; profiles are "
                              f"{sorted(PROFILES)}")
    return cls(**{**PROFILES[profile].values, "profile": profile, **changes})

  def __post_init__(self):
    if len(self.image_size) != 2 or min(self.image_size) <= 0:
      raise InvalidInputError(
          f"image_size must be (width, height) > 0 pixels, got {self.image_size}")
    if not 0 < self.frame_fill <= 1:
      raise InvalidInputError(f"frame_fill must be in (0, 1], got {self.frame_fill}")
    for name in ("repairs", "num_betas"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"{name} must be an integer >= 0, got {value!r}")
    if self.contact_tolerance <= 0 or self.max_penetration < 0:
      raise InvalidInputError("contact_tolerance must be > 0 and max_penetration >= 0 metres")
    for name in ("swap_rate", "flip_rate", "misplace_rate", "part_miss_rate"):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise InvalidInputError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}")
    if min(self.focal_error, self.init_target_pa_mpjpe, self.init_target_relative,
           self.init_target_spread, self.swap_radius) < 0:
      raise InvalidInputError("focal_error, swap_radius and the init_target_* values must be >= 0")
    for name in ("visible_confidence", "occluded_confidence", "misplaced_confidence",
                 "missed_confidence"):
      low, high = getattr(self, name)
      if not 0 <= low <= high <= 1:
        raise InvalidInputError(f"{name} must be (low, high) with 0 <= low <= high <= 1")

  def to_dict(self) -> dict:
    """The settings as a JSON-ready nested dict."""
    values = dataclasses.asdict(self)
    for name in _TUPLE_FIELDS:
      values[name] = list(getattr(self, name))
    return values

  @classmethod
  def from_dict(cls, values: dict) -> SyntheticSettings:
    """Inverse of ``to_dict``.

    Raises:
      InvalidInputError: unknown keys or bad values.
    """
    values = dict(values)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise InvalidInputError(f"unknown SyntheticSettings keys {unknown}; known: {sorted(known)}")
    if "refine" in values:
      values["refine"] = geometry.RefineWeights(**values["refine"])
    if "answers" in values:
      values["answers"] = AnswerSettings.from_dict(values["answers"])
    for name in _TUPLE_FIELDS:
      if name in values:
        values[name] = tuple(values[name])
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class Profile:
  """A named preset of ``SyntheticSettings`` standing in for a published dataset.

  Attributes:
    stands_for: the dataset and the published initial estimate it is calibrated to.
    values: the ``SyntheticSettings`` fields it sets (the rest keep their defaults).
    reasons: why each value is what it is (a published figure, or a stated assumption).
    people: 2 for the two-person datasets, 1 for MOYO.
    fallback_min_empty: the paper's fallback rule for the dataset (``FitConfig``'s field of that
      name: fall back when at least this many answers are empty); None: only when all are.
  """

  stands_for: str
  values: dict
  reasons: str
  people: int = 2
  fallback_min_empty: int | None = None


_TWO_PERSON_FAILURES = dict(swap_radius=0.1, flip_rate=0.05, part_miss_rate=0.05,
                            occluded_drop_rate=0.3, answers=AnswerSettings(correlation=0.5))
_FAILURE_REASONS = (
    "Failure rates (no published per-type rates exist for people in contact; see "
    "synthetic_failures): flip_rate 0.05 per limb pair flips about 3.6% of keypoints, a small "
    "part of the ~25% of keypoints with localisation errors that Ronchi & Perona (ICCV 2017) find "
    "in COCO detectors, most of which is jitter (keypoint_noise). swap_rate applies only to "
    "keypoints whose same part on the other person is within 10% of body height; Ronchi & Perona "
    "find swaps grow with overlap, and at that distance a top-down detector's two crops share "
    "the part, so a quarter to a third of them is assumed. misplace_rate: detectors (OpenPose, "
    "ViTPose) output every keypoint, and a hidden one lands on whatever limb is in front; the "
    "assumed share grows with how much the dataset's contacts hide. part_miss_rate 0.05: an "
    "assumption. occluded_drop_rate 0.3: fewer hidden keypoints are simply absent than by "
    "default, since misplacement takes their place. Initial error: init_target_pa_mpjpe is the "
    "published initial error (METHOD.md: BEV on Hi4D 144, FlickrCI3D 106, CHI3D 96 mm; HMR2 on "
    "MOYO 84 mm). init_target_relative: no published figure splits BEV's joint error into pose "
    "and placement; it is assumed equal, in mm, to the joint PA-MPJPE target. Answers: "
    "correlation 0.5 between the samples of a scene, an assumption (no published figure; the "
    "paper's gain from N = 1 to 20 shows samples are not identical, and a model that reads one "
    "image repeats much of its reading).")

PROFILES: dict[str, Profile] = {
    "hi4d": Profile(
        stands_for="Hi4D (BEV initial estimate, joint PA-MPJPE 144 mm)",
        values=dict(_TWO_PERSON_FAILURES, kinds=(
            "hug", "arm_around_waist", "back_to_back", "piggyback", "hand_on_shoulder", "hug",
            "holding_hands", "arm_around_waist", "high_five", "handshake"),
            view_jitter=1.2, swap_rate=0.3, misplace_rate=0.3, focal_error=0.15,
            init_target_pa_mpjpe=144.0, init_target_relative=144.0),
        reasons="Hi4D: pairs hugging, posing, dancing and fighting in a multi-view dome, so "
                "whole-body contacts come twice in the mix and views come from every side "
                "(view_jitter 1.2 rad). Calibrated studio cameras whose field of view is not the "
                "assumed 60 degrees: focal_error 0.15. " + _FAILURE_REASONS),
    "flickrci3d": Profile(
        stands_for="FlickrCI3D (BEV initial estimate, joint PA-MPJPE 106 mm)",
        values=dict(_TWO_PERSON_FAILURES, kinds=(), view_jitter=0.3, swap_rate=0.25,
                    misplace_rate=0.2, focal_error=0.25, init_target_pa_mpjpe=106.0,
                    init_target_relative=106.0),
        reasons="FlickrCI3D: photographs of every kind of interaction taken by a photographer "
                "who frames both people (every kind, the designs' own views), with unknown "
                "cameras and crops: focal_error 0.25. " + _FAILURE_REASONS),
    "chi3d": Profile(
        stands_for="CHI3D (BEV initial estimate, joint PA-MPJPE 96 mm)",
        values=dict(_TWO_PERSON_FAILURES, kinds=(
            "hug", "handshake", "hand_on_shoulder", "high_five", "holding_hands",
            "arm_around_waist"), view_jitter=1.2, swap_rate=0.25, misplace_rate=0.25,
            focal_error=0.15, init_target_pa_mpjpe=96.0, init_target_relative=96.0),
        reasons="CHI3D: hugs, handshakes, pushes, posing and kicks filmed by four studio cameras "
                "around the pair (view_jitter 1.2 rad, focal_error 0.15). The paper's CHI3D "
                "rule: an image falls back to the heuristic when at least 2 of its answers are "
                "empty (METHOD.md). " + _FAILURE_REASONS,
        fallback_min_empty=2),
    "moyo": Profile(
        stands_for="MOYO (HMR2 initial estimate, PA-MPJPE 84 mm)",
        values=dict(answers=AnswerSettings(correlation=0.5), kinds=(), view_jitter=1.0,
                    flip_rate=0.08, misplace_rate=0.15,
                    part_miss_rate=0.05, occluded_drop_rate=0.3, focal_error=0.15,
                    init_target_pa_mpjpe=84.0),
        reasons="MOYO: one person in yoga poses filmed from several sides (view_jitter 1.0 rad); "
                "upside-down and twisted poses invite left/right flips (flip_rate 0.08, an "
                "assumption); no other person to swap with. " + _FAILURE_REASONS,
        people=1),
}
"""Profiles by name (``SyntheticSettings.preset(name)``): each sets the contact mix (``kinds``), the
view, keypoint failures, focal-length error and the initial estimate's calibrated error."""
