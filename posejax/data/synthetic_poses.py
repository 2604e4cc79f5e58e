"""The designed scenes of the synthetic contact benchmark: poses, placements and true contacts.

Each ``SceneDesign`` sketches one kind of contact (a hug, a handshake, ...): per person a pose of
named SMPL-X body joints and a placement, and the region pairs that touch. The sketch only has to
be close: ``posejax.data.synthetic`` varies it, makes the contacts true and checks them.

Frame and joint conventions (the SMPL-X rest frame, which the default body shares): y up, the body
faces +z, the person's left side is at +x; every joint rotation is expressed in its parent's rest-
aligned frame. In that frame, for the left side (the right side mirrors it: ``(x, y, z) ->
(x, -y, -z)`` of the axis-angle vector):

* shoulder: about ``-z`` lowers the arm from the T-pose, about ``-y`` swings it forward;
* elbow: about ``-y`` flexes it (forearm forward when the arm hangs or points sideways);
* hip: about ``-x`` lifts the thigh forward, about ``+z`` spreads it sideways, about ``+y`` turns
  the knee outwards;
* knee: about ``+x`` flexes it; spine, neck and head: about ``+x`` bend forward.

Contact pairs are resolved region names (``posejax.body.vocabulary``): ``(body 0's, body 1's)``
for two people ("Person 1" is body 0), ``(region, region)`` on one body, with side-free parts in
the prompt vocabulary so that a simulated answer can name them.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np
from scipy.spatial.transform import Rotation

from posejax.body.rotations import shortest_arc
from posejax.errors import InvalidInputError

AxisAngle = tuple[float, float, float]

BODY_JOINTS: tuple[str, ...] = (
    "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar",
    "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist",
)
"""The 21 SMPL-X body joints that ``body_pose`` rotates, in ``body_pose`` order (smplx's names)."""


def turn(*steps: tuple[str, float]) -> AxisAngle:
  """Axis-angle (radians) of rotations about the parent frame's axes, applied in the order given.

  ``turn(("z", -1.2), ("y", -0.5))`` first lowers a left arm by 1.2 rad, then swings it forward.
  """
  rotation = Rotation.identity()
  for axis, angle in steps:
    rotation = Rotation.from_euler(axis, angle) * rotation
  return tuple(float(v) for v in rotation.as_rotvec())


@dataclasses.dataclass(frozen=True)
class PersonDesign:
  """One person of a designed scene.

  Attributes:
    pose: body joint name (``BODY_JOINTS``) -> axis-angle rotation, radians; unnamed joints stay at
      zero.
    yaw: rotation of the whole body about the vertical axis, radians (pi faces -z).
    offset: pelvis position in the scene frame, metres (y up).
    pitch: forward lean of the whole body about the x axis, radians (applied before ``yaw``).
  """

  pose: Mapping[str, AxisAngle]
  yaw: float = 0.0
  offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
  pitch: float = 0.0

  def body_pose(self) -> np.ndarray:
    """(21, 3) axis-angle body pose, radians, in ``BODY_JOINTS`` order."""
    pose = np.zeros((len(BODY_JOINTS), 3))
    for name, value in self.pose.items():
      if name not in BODY_JOINTS:
        raise InvalidInputError(f"unknown body joint {name!r}; body joints are {BODY_JOINTS}")
      pose[BODY_JOINTS.index(name)] = value
    return pose

  def global_orient(self) -> np.ndarray:
    """(3,) axis-angle of the whole body in the scene frame (pitch, then yaw), radians."""
    rotation = Rotation.from_euler("y", self.yaw) * Rotation.from_euler("x", self.pitch)
    return rotation.as_rotvec()


@dataclasses.dataclass(frozen=True)
class SceneDesign:
  """A designed kind of contact scene.

  Attributes:
    kind: short identifier, e.g. ``"hug"``.
    people: 1 (self-contact) or 2.
    persons: one ``PersonDesign`` per person; the first is body 0 ("Person 1").
    contacts: the region pairs that touch (see the module docstring).
    description: one or two sentences about the scene, for simulated answers' reasoning.
    pose_name: one person: the pose's name as an answer would give it.
    moving_person: two people: the person the generator may move and turn as a whole.
    view_yaw: radians: the camera's direction about the vertical, 0 in front of body 0, pi/2 from
      either side (people who face each other are best seen from the side).
  """

  kind: str
  people: int
  persons: tuple[PersonDesign, ...]
  contacts: tuple[tuple[str, str], ...]
  description: str
  pose_name: str = ""
  moving_person: int = 1
  view_yaw: float = 0.0


Vector = tuple[float, float, float]

_BODY_PARENTS: dict[str, str | None] = {
    "left_hip": None, "right_hip": None, "spine1": None, "left_knee": "left_hip",
    "right_knee": "right_hip", "spine2": "spine1", "left_ankle": "left_knee",
    "right_ankle": "right_knee", "spine3": "spine2", "left_foot": "left_ankle",
    "right_foot": "right_ankle", "neck": "spine3", "left_collar": "spine3",
    "right_collar": "spine3", "head": "neck", "left_shoulder": "left_collar",
    "right_shoulder": "right_collar", "left_elbow": "left_shoulder",
    "right_elbow": "right_shoulder", "left_wrist": "left_elbow", "right_wrist": "right_elbow",
}
"""Parent of each body joint in SMPL-X's tree (None: the pelvis, whose rotation is the person's)."""

_REST_BONES: dict[str, Vector] = {
    "spine1": (0.0, 1.0, 0.0), "spine2": (0.0, 1.0, 0.0), "spine3": (0.0, 1.0, 0.0),
    "neck": (0.0, 1.0, 0.0), "head": (0.0, 1.0, 0.0),
}
for _side, _sign in (("left", 1.0), ("right", -1.0)):
  _REST_BONES.update({
      f"{_side}_hip": (0.0, -1.0, 0.0), f"{_side}_knee": (0.0, -1.0, 0.0),
      f"{_side}_ankle": (0.0, -0.45, 0.89), f"{_side}_foot": (0.0, 0.0, 1.0),
      f"{_side}_collar": (_sign, 0.0, 0.0), f"{_side}_shoulder": (_sign, 0.0, 0.0),
      f"{_side}_elbow": (_sign, 0.0, 0.0), f"{_side}_wrist": (_sign, 0.0, 0.0),
  })
del _side, _sign
"""Direction, in the rest pose, of the bone each joint turns (towards its child): arms along +-x
(T-pose), legs down, spine up, feet forward."""


def aimed(directions: Mapping[str, Vector], *, twists: Mapping[str, float] | None = None,
          base: Mapping[str, AxisAngle] | None = None) -> dict[str, AxisAngle]:
  """A body pose that points bones in given directions of the person's own frame.

  Parents first, a joint in ``directions`` gets the local rotation that turns its bone
  (``_REST_BONES``) from where its parent chain leaves it to the direction by the smallest world
  rotation, then ``twists[joint]`` about the new bone (e.g. to turn a palm).

  Args:
    directions: joint name -> (x, y, z) direction in the person's frame (y up, facing +z, left +x).
    twists: joint name -> twist about the aimed bone, radians.
    base: joint name -> axis-angle for joints that are not aimed.

  Returns:
    Joint name -> axis-angle rotation (radians), for ``PersonDesign.pose``.
  """
  twists = dict(twists or {})
  base = dict(base or {})
  unknown = sorted((set(directions) | set(twists) | set(base)) - set(BODY_JOINTS))
  if unknown:
    raise InvalidInputError(f"unknown body joints {unknown}; body joints are {BODY_JOINTS}")
  world: dict[str, Rotation] = {}
  pose: dict[str, AxisAngle] = {}
  for joint in BODY_JOINTS:
    parent = _BODY_PARENTS[joint]
    parent_world = world[parent] if parent else Rotation.identity()
    if joint in directions:
      rest = np.asarray(_REST_BONES[joint])
      target = np.asarray(directions[joint], np.float64)
      current = parent_world.apply(rest)
      swing = shortest_arc(current, target) * parent_world
      twist = Rotation.from_rotvec(twists.get(joint, 0.0) * target / np.linalg.norm(target))
      local = parent_world.inv() * (twist * swing)
    else:
      local = Rotation.from_rotvec(np.asarray(base.get(joint, (0.0, 0.0, 0.0)), np.float64))
    world[joint] = parent_world * local
    rotvec = local.as_rotvec()
    if np.linalg.norm(rotvec) > 0:
      pose[joint] = tuple(float(v) for v in rotvec)
  return pose


def sides(joint: str, left: Vector) -> dict[str, Vector]:
  """``left_<joint>`` aimed at ``left`` and ``right_<joint>`` at its mirror image (x -> -x)."""
  return {f"left_{joint}": left, f"right_{joint}": (-left[0], left[1], left[2])}


_HANGING_ARMS = {**sides("shoulder", (0.35, -1.0, 0.0)), **sides("elbow", (0.2, -1.0, 0.15))}
"""Arms relaxed at the sides, elbows a little bent."""


def _two_person_designs() -> list[SceneDesign]:
  pi = float(np.pi)
  half_pi = pi / 2
  heads_aside = {"head": turn(("y", 0.55), ("z", 0.12))}
  hug_high = aimed({
      **sides("shoulder", (0.15, -0.07, 0.18)), **sides("elbow", (-0.21, -0.01, 0.25)),
      **sides("wrist", (-0.7, -0.3, 0.3))}, base={"spine3": turn(("x", 0.05)), **heads_aside})
  hug_low = aimed({
      **sides("shoulder", (0.12, -0.23, 0.15)), **sides("elbow", (-0.13, -0.12, 0.24)),
      **sides("wrist", (-0.7, -0.2, 0.3))}, base=heads_aside)
  shake = aimed({
      **_HANGING_ARMS, "right_shoulder": (0.015, -0.28, 0.11), "right_elbow": (0.16, -0.07, 0.22),
      "right_wrist": (0.05, 0.0, 1.0)}, twists={"right_wrist": half_pi})
  reach_shoulder = aimed({
      **_HANGING_ARMS, "right_shoulder": (0.0, 0.01, 1.0), "right_elbow": (0.0, 0.03, 1.0),
      "right_wrist": (0.0, -0.3, 1.0)})
  stand = aimed(_HANGING_ARMS)
  around_p1 = aimed({
      **_HANGING_ARMS, "right_shoulder": (-0.09, -0.08, -0.12),
      "right_elbow": (-0.2, -0.02, 0.05), "right_wrist": (-1.0, 0.0, 0.3)})
  around_p2 = aimed({
      **_HANGING_ARMS, "left_shoulder": (0.1, -0.2, -0.12), "left_elbow": (0.205, -0.175, -0.01),
      "left_wrist": (1.0, 0.05, 0.3)})
  high_five_p1 = aimed({
      **_HANGING_ARMS, "right_shoulder": (-0.115, 0.15, 0.15), "right_elbow": (0.05, 0.22, 0.2),
      "right_wrist": (0.0, 1.0, 0.1)}, twists={"right_wrist": half_pi})
  high_five_p2 = aimed({
      **_HANGING_ARMS, "left_shoulder": (0.115, 0.15, 0.15), "left_elbow": (-0.05, 0.22, 0.2),
      "left_wrist": (0.0, 1.0, 0.1)}, twists={"left_wrist": -half_pi})
  carrier = aimed({
      **sides("shoulder", (0.1, -0.21, -0.09)), **sides("elbow", (-0.02, -0.14, 0.0)),
      **sides("wrist", (0.1, 0.1, 1.0))}, base={"spine1": turn(("x", 0.15))})
  rider = aimed({
      **sides("hip", (0.17, -0.075, 0.33)), **sides("knee", (0.0, -1.0, -0.1)),
      **sides("shoulder", (0.05, -0.5, 1.0)), **sides("elbow", (-0.2, -0.8, 0.6))},
      base=heads_aside)
  hold_p1 = aimed({
      **_HANGING_ARMS, "right_shoulder": (-0.055, -0.25, 0.03),
      "right_elbow": (-0.015, -0.24, 0.05), "right_wrist": (0.0, -1.0, 0.1)},
      twists={"right_wrist": half_pi})
  hold_p2 = aimed({
      **_HANGING_ARMS, "left_shoulder": (0.055, -0.25, 0.03), "left_elbow": (0.015, -0.24, 0.05),
      "left_wrist": (0.0, -1.0, 0.1)}, twists={"left_wrist": -half_pi})
  relaxed = aimed(_HANGING_ARMS, base={"head": turn(("x", -0.1))})
  return [
      SceneDesign(
          kind="hug", people=2,
          persons=(PersonDesign(hug_high), PersonDesign(hug_low, yaw=pi, offset=(0.0, 0.0, 0.24))),
          contacts=(("left hand", "back"), ("right hand", "back"), ("waist (back)", "left hand"),
                    ("waist (back)", "right hand"), ("chest", "chest")),
          view_yaw=half_pi,
          description=("The two people are hugging. One has both arms around the other's upper "
                       "back; the other's arms are wrapped around the first one's lower back, and "
                       "their chests press together."),
      ),
      SceneDesign(
          kind="handshake", people=2,
          persons=(PersonDesign(shake), PersonDesign(shake, yaw=pi, offset=(0.0, 0.0, 0.75))),
          contacts=(("right hand", "right hand"),),
          view_yaw=half_pi,
          description="The two people stand facing each other and shake hands.",
      ),
      SceneDesign(
          kind="hand_on_shoulder", people=2,
          persons=(PersonDesign(reach_shoulder),
                   PersonDesign(stand, yaw=pi, offset=(0.0, 0.0, 0.6))),
          contacts=(("right hand", "left shoulder (front)"),),
          view_yaw=half_pi,
          description=("The two people face each other; one reaches out and rests a hand on the "
                       "other's shoulder."),
      ),
      SceneDesign(
          kind="arm_around_waist", people=2,
          persons=(PersonDesign(around_p1), PersonDesign(around_p2, offset=(-0.52, 0.0, 0.0))),
          contacts=(("right hand", "back"), ("waist (back)", "left hand")),
          description=("The two people stand side by side, facing the camera, each with an arm "
                       "around the other: one hand on the other's back, the other's hand on the "
                       "first one's waist."),
      ),
      SceneDesign(
          kind="back_to_back", people=2,
          persons=(PersonDesign(relaxed), PersonDesign(relaxed, yaw=pi, offset=(0.0, 0.0, -0.24))),
          contacts=(("back", "back"), ("butt", "butt")),
          view_yaw=half_pi,
          description="The two people stand back to back, leaning against each other.",
      ),
      SceneDesign(
          kind="high_five", people=2,
          persons=(PersonDesign(high_five_p1),
                   PersonDesign(high_five_p2, yaw=pi, offset=(0.0, 0.0, 0.70))),
          contacts=(("right hand", "left hand"),),
          view_yaw=half_pi,
          description=("The two people face each other and give a high five, their raised palms "
                       "meeting above their heads."),
      ),
      SceneDesign(
          kind="piggyback", people=2,
          persons=(PersonDesign(carrier), PersonDesign(rider, offset=(0.0, 0.26, -0.21),
                                                       pitch=0.15)),
          contacts=(("back", "chest"), ("left hand", "left leg"), ("right hand", "right leg")),
          view_yaw=1.0,
          description=("One person carries the other piggyback: the rider's chest lies against the "
                       "carrier's back and the carrier holds the rider's legs."),
      ),
      SceneDesign(
          kind="holding_hands", people=2,
          persons=(PersonDesign(hold_p1), PersonDesign(hold_p2, offset=(-0.6, 0.0, 0.0))),
          contacts=(("right hand", "left hand"),),
          description="The two people stand side by side and hold hands.",
      ),
  ]


def _one_person_designs() -> list[SceneDesign]:
  half_pi = float(np.pi) / 2
  seated = {**sides("hip", (0.0, 0.0, 1.0)), **sides("knee", (0.0, -1.0, 0.0))}
  hands_on_knees = aimed({
      **seated, **sides("shoulder", (0.015, -0.26, 0.11)), **sides("elbow", (-0.1, -0.15, 0.19)),
      **sides("wrist", (0.0, -0.3, 1.0))}, base={"spine1": turn(("x", 0.15))})
  prayer_arms = {**sides("shoulder", (0.035, -0.25, 0.11)), **sides("elbow", (-0.18, 0.04, 0.16)),
                 **sides("wrist", (-0.05, 1.0, 0.1))}
  prayer_twists = {"left_wrist": -half_pi, "right_wrist": half_pi}
  prayer = aimed(prayer_arms, twists=prayer_twists)
  tree = aimed({**prayer_arms, "right_hip": (-0.32, -0.175, 0.1), "right_knee": (0.40, -0.15, -0.1),
                "right_ankle": (0.0, -1.0, 0.0)}, twists=prayer_twists)
  hand_on_head = aimed({
      **_HANGING_ARMS, "right_shoulder": (-0.175, 0.19, 0.03), "right_elbow": (0.24, 0.16, 0.02),
      "right_wrist": (1.0, 0.1, 0.0)})
  hands_on_stomach = aimed({
      **sides("shoulder", (0.055, -0.25, 0.03)), **sides("elbow", (-0.168, -0.068, 0.121)),
      **sides("wrist", (-1.0, 0.0, 0.05))})
  # The left forearm crosses in front of and above the right one; each hand holds the other
  # upper arm from the front.
  arms_crossed = aimed({
      "left_shoulder": (0.015, -0.18, 0.2), "left_elbow": (-0.249, 0.027, 0.054),
      "left_wrist": (-1.0, -0.05, -0.5), "right_shoulder": (-0.005, -0.23, 0.16),
      "right_elbow": (0.249, -0.015, 0.047), "right_wrist": (1.0, 0.7, -0.3)})
  hand_on_shoulder = aimed({
      **_HANGING_ARMS, "right_shoulder": (0.085, -0.23, 0.21), "right_elbow": (0.19, 0.2, -0.06),
      "right_wrist": (0.6, 0.3, -0.5)})
  return [
      SceneDesign(
          kind="hands_on_knees", people=1, persons=(PersonDesign(hands_on_knees),),
          contacts=(("left hand", "left leg"), ("right hand", "right leg")),
          description=("The person sits upright with each hand resting on the knee on the same "
                       "side."),
          pose_name="a seated pose with hands on the knees",
      ),
      SceneDesign(
          kind="hands_together", people=1, persons=(PersonDesign(prayer),),
          contacts=(("left hand", "right hand"),),
          description="The person stands with the palms pressed together in front of the chest.",
          pose_name="prayer pose (Anjali Mudra)",
      ),
      SceneDesign(
          kind="foot_on_thigh", people=1, persons=(PersonDesign(tree),),
          contacts=(("right foot", "left leg"), ("left hand", "right hand")),
          description=("The person balances on one leg with the sole of the other foot against the "
                       "inner thigh and the palms together in front of the chest."),
          pose_name="tree pose (Vrksasana)",
      ),
      SceneDesign(
          kind="hand_on_head", people=1, persons=(PersonDesign(hand_on_head),),
          contacts=(("right hand", "head"),),
          description="The person stands with one hand resting on top of the head.",
          pose_name="a standing pose with a hand on the head",
      ),
      SceneDesign(
          kind="hands_on_stomach", people=1, persons=(PersonDesign(hands_on_stomach),),
          contacts=(("left hand", "stomach"), ("right hand", "stomach")),
          description="The person stands with both hands resting on the belly.",
          pose_name="a standing pose with hands on the stomach",
      ),
      SceneDesign(
          kind="arms_crossed", people=1, persons=(PersonDesign(arms_crossed),),
          contacts=(("left hand", "right arm"), ("right hand", "left arm")),
          description="The person stands with the arms folded across the chest.",
          pose_name="a standing pose with crossed arms",
      ),
      SceneDesign(
          kind="hand_on_shoulder_self", people=1, persons=(PersonDesign(hand_on_shoulder),),
          contacts=(("right hand", "left shoulder"),),
          description="The person reaches across the chest and holds the opposite shoulder.",
          pose_name="a standing pose with one hand on the other shoulder",
      ),
  ]


SCENE_DESIGNS: dict[str, SceneDesign] = {
    d.kind: d for d in _two_person_designs() + _one_person_designs()}
"""Every designed scene kind, by name."""

TWO_PERSON_KINDS: tuple[str, ...] = tuple(k for k, d in SCENE_DESIGNS.items() if d.people == 2)
"""The two-person scene kinds, in a fixed order."""

ONE_PERSON_KINDS: tuple[str, ...] = tuple(k for k, d in SCENE_DESIGNS.items() if d.people == 1)
"""The one-person (self-contact) scene kinds, in a fixed order."""


def scene_design(kind: str) -> SceneDesign:
  """The design of a scene kind.

  Raises:
    InvalidInputError: for an unknown kind (the message lists the known ones).
  """
  if kind not in SCENE_DESIGNS:
    raise InvalidInputError(f"unknown synthetic scene kind {kind!r}; known kinds are "
                            f"{tuple(SCENE_DESIGNS)}")
  return SCENE_DESIGNS[kind]
