"""The designed scenes of the synthetic contact benchmark: poses, placements and true contacts.

Each ``SceneDesign`` is a rough sketch of one kind of contact (a hug, a handshake, hands on knees,
...): a body pose per person as axis-angle rotations of named SMPL-X body joints, a placement of each
person (yaw about the vertical axis and a pelvis offset) and the region pairs that touch. The sketch
only has to be close: the generator (``posejax.data.synthetic``) adds seeded variation, then moves the
joints and the second person until the named regions really touch without the bodies passing through
each other, and verifies the result. These are synthetic scenes, not captured data.

Frame and joint conventions (the SMPL-X rest frame, which the default body shares): y up, the body
faces +z, the person's left side is at +x; every joint rotation is expressed in its parent's rest-
aligned frame. In that frame, for the left side (the right side mirrors it: ``(x, y, z) ->
(x, -y, -z)`` of the axis-angle vector):

* shoulder: about ``-z`` lowers the arm from the T-pose, about ``-y`` swings it forward;
* elbow: about ``-y`` flexes it (forearm forward when the arm hangs or points sideways);
* hip: about ``-x`` lifts the thigh forward, about ``+z`` spreads it sideways, about ``+y`` turns the
  knee outwards;
* knee: about ``+x`` flexes it; spine, neck and head: about ``+x`` bend forward.

Contact pairs are resolved region names of ``posejax.body.vocabulary``: ``(region of body 0,
region of body 1)`` for two people ("Person 1" is body 0), ``(region, region)`` on one body. Their
side-free parts are in the prompt vocabulary of the scene's people count, so a simulated answer can
name them.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np
from scipy.spatial.transform import Rotation

from posejax.errors import InvalidInputError

AxisAngle = tuple[float, float, float]

BODY_JOINTS: tuple[str, ...] = (
    "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
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


def mirror_rotation(axis_angle: AxisAngle) -> AxisAngle:
  """The same joint rotation seen on the other side of the body (reflection through x = 0)."""
  x, y, z = axis_angle
  return (x, -y, -z)


def both_sides(joint: str, left: AxisAngle) -> dict[str, AxisAngle]:
  """A left-side rotation for ``"left_<joint>"`` and its mirror image for ``"right_<joint>"``."""
  return {f"left_{joint}": left, f"right_{joint}": mirror_rotation(left)}


def right_side(joint: str, left_equivalent: AxisAngle) -> dict[str, AxisAngle]:
  """The right-side joint posed as the mirror of a left-side rotation (design left, use right)."""
  return {f"right_{joint}": mirror_rotation(left_equivalent)}


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
    moving_person: two people: which person the generator may move and turn as a whole to make the
      contacts (the other stays where it was designed).
    view_yaw: radians: the camera's direction about the vertical, 0 in front of body 0, pi/2 from
      the side (the generator picks either side at random): people who face each other are best
      seen from the side.
  """

  kind: str
  people: int
  persons: tuple[PersonDesign, ...]
  contacts: tuple[tuple[str, str], ...]
  description: str
  pose_name: str = ""
  moving_person: int = 1
  view_yaw: float = 0.0


_RELAXED_ARMS = {
    **both_sides("shoulder", turn(("z", -1.25))),
    **both_sides("elbow", turn(("y", -0.25))),
}
_STAND = {**_RELAXED_ARMS}


def _pose(*parts: Mapping[str, AxisAngle]) -> dict[str, AxisAngle]:
  pose: dict[str, AxisAngle] = {}
  for part in parts:
    pose.update(part)
  return pose


def _two_person_designs() -> list[SceneDesign]:
  hug_high = _pose(
      both_sides("shoulder", turn(("z", -0.25), ("y", -1.05))),
      both_sides("elbow", turn(("y", -1.35))),
      {"spine2": turn(("x", 0.1))},
  )
  hug_low = _pose(
      both_sides("shoulder", turn(("z", -0.75), ("y", -0.85))),
      both_sides("elbow", turn(("y", -1.3))),
      {"spine2": turn(("x", 0.1)), "head": turn(("y", 0.4))},
  )
  shake = _pose(
      _RELAXED_ARMS,
      right_side("shoulder", turn(("z", -1.0), ("y", -0.6))),
      right_side("elbow", turn(("y", -0.9))),
  )
  reach_shoulder = _pose(
      _RELAXED_ARMS,
      right_side("shoulder", turn(("z", -0.25), ("y", -1.35))),
      right_side("elbow", turn(("y", -0.25))),
  )
  around_waist_p1 = _pose(
      _RELAXED_ARMS,
      right_side("shoulder", turn(("z", -0.9), ("y", 0.45))),
      right_side("elbow", turn(("y", -0.9))),
  )
  around_waist_p2 = _pose(
      _RELAXED_ARMS,
      {"left_shoulder": turn(("z", -0.9), ("y", 0.45)), "left_elbow": turn(("y", -0.9))},
  )
  back_to_back = _pose(_RELAXED_ARMS, {"head": turn(("x", -0.1))})
  high_five_p1 = _pose(
      _RELAXED_ARMS,
      right_side("shoulder", turn(("z", 0.9), ("y", -0.5))),
      right_side("elbow", turn(("y", -0.5))),
  )
  high_five_p2 = _pose(
      _RELAXED_ARMS,
      {"left_shoulder": turn(("z", 0.9), ("y", -0.5)), "left_elbow": turn(("y", -0.5))},
  )
  carrier = _pose(
      both_sides("shoulder", turn(("z", -1.2), ("y", 0.35))),
      both_sides("elbow", turn(("y", -1.2))),
      {"spine1": turn(("x", 0.2))},
  )
  rider = _pose(
      both_sides("hip", turn(("x", -1.4), ("z", 0.45))),
      both_sides("knee", turn(("x", 1.5))),
      both_sides("shoulder", turn(("z", -0.35), ("y", -1.0))),
      both_sides("elbow", turn(("y", -1.3))),
  )
  hold_hands_p1 = _pose(
      _RELAXED_ARMS,
      right_side("shoulder", turn(("z", -1.05))),
  )
  hold_hands_p2 = _pose(
      _RELAXED_ARMS,
      {"left_shoulder": turn(("z", -1.05))},
  )
  pi = float(np.pi)
  half_pi = pi / 2
  return [
      SceneDesign(
          kind="hug", people=2,
          persons=(PersonDesign(hug_high), PersonDesign(hug_low, yaw=pi, offset=(0.0, -0.02, 0.30))),
          contacts=(("left hand", "back"), ("right hand", "back"), ("waist (back)", "left hand"),
                    ("waist (back)", "right hand"), ("chest", "chest")),
          view_yaw=half_pi,
          description=("The two people are hugging. One has both arms around the other's upper back; "
                       "the other's arms are wrapped around the first one's lower back, and their "
                       "chests press together."),
      ),
      SceneDesign(
          kind="handshake", people=2,
          persons=(PersonDesign(shake), PersonDesign(shake, yaw=pi, offset=(-0.05, 0.0, 0.85))),
          contacts=(("right hand", "right hand"),),
          view_yaw=half_pi,
          description="The two people stand facing each other and shake hands.",
      ),
      SceneDesign(
          kind="hand_on_shoulder", people=2,
          persons=(PersonDesign(reach_shoulder), PersonDesign(_STAND, yaw=pi, offset=(0.0, 0.0, 0.62))),
          contacts=(("right hand", "left shoulder (front)"),),
          view_yaw=half_pi,
          description=("The two people face each other; one reaches out and rests a hand on the "
                       "other's shoulder."),
      ),
      SceneDesign(
          kind="arm_around_waist", people=2,
          persons=(PersonDesign(around_waist_p1),
                   PersonDesign(around_waist_p2, offset=(-0.40, 0.0, 0.0))),
          contacts=(("right hand", "waist (back)"), ("waist (back)", "left hand")),
          description=("The two people stand side by side, facing the camera, each with an arm "
                       "around the other's waist."),
      ),
      SceneDesign(
          kind="back_to_back", people=2,
          persons=(PersonDesign(back_to_back), PersonDesign(back_to_back, yaw=pi,
                                                            offset=(0.0, 0.0, -0.26))),
          contacts=(("back", "back"), ("butt", "butt")),
          view_yaw=half_pi,
          description="The two people stand back to back, leaning against each other.",
      ),
      SceneDesign(
          kind="high_five", people=2,
          persons=(PersonDesign(high_five_p1),
                   PersonDesign(high_five_p2, yaw=pi, offset=(0.0, 0.0, 0.75))),
          contacts=(("right hand", "left hand"),),
          view_yaw=half_pi,
          description=("The two people face each other and give a high five, their raised palms "
                       "meeting above their heads."),
      ),
      SceneDesign(
          kind="piggyback", people=2,
          persons=(PersonDesign(carrier), PersonDesign(rider, offset=(0.0, 0.32, -0.30))),
          contacts=(("back", "chest"), ("left hand", "left leg"), ("right hand", "right leg")),
          view_yaw=1.0,
          description=("One person carries the other piggyback: the rider's chest lies against the "
                       "carrier's back and the carrier holds the rider's legs."),
      ),
      SceneDesign(
          kind="holding_hands", people=2,
          persons=(PersonDesign(hold_hands_p1),
                   PersonDesign(hold_hands_p2, offset=(-0.62, 0.0, 0.0))),
          contacts=(("right hand", "left hand"),),
          description="The two people stand side by side and hold hands.",
      ),
  ]


def _one_person_designs() -> list[SceneDesign]:
  seated = _pose(
      both_sides("hip", turn(("x", -1.5))),
      both_sides("knee", turn(("x", 1.5))),
  )
  hands_on_knees = _pose(
      seated,
      both_sides("shoulder", turn(("z", -1.1), ("y", -0.75))),
      both_sides("elbow", turn(("y", -0.2))),
      {"spine1": turn(("x", 0.25))},
  )
  prayer = _pose(
      both_sides("shoulder", turn(("z", -1.25), ("y", -0.2))),
      both_sides("elbow", turn(("y", -2.0))),
      both_sides("wrist", turn(("z", 0.6))),
  )
  tree = _pose(
      prayer,
      right_side("hip", turn(("x", -0.6), ("z", 0.9), ("y", 0.4))),
      right_side("knee", turn(("x", 2.3))),
  )
  hand_on_head = _pose(
      _RELAXED_ARMS,
      right_side("shoulder", turn(("z", 0.55), ("y", -0.2))),
      right_side("elbow", turn(("y", -2.0))),
  )
  hands_on_stomach = _pose(
      both_sides("shoulder", turn(("z", -1.3), ("y", -0.25))),
      both_sides("elbow", turn(("y", -1.7))),
  )
  arms_crossed = _pose(
      {"left_shoulder": turn(("z", -1.0), ("y", -0.65)), "left_elbow": turn(("y", -2.1))},
      right_side("shoulder", turn(("z", -1.2), ("y", -0.45))),
      right_side("elbow", turn(("y", -2.1))),
  )
  hand_on_shoulder = _pose(
      _RELAXED_ARMS,
      right_side("shoulder", turn(("z", -0.9), ("y", -0.9))),
      right_side("elbow", turn(("y", -2.2))),
  )
  return [
      SceneDesign(
          kind="hands_on_knees", people=1, persons=(PersonDesign(hands_on_knees),),
          contacts=(("left hand", "left leg"), ("right hand", "right leg")),
          description="The person sits upright with each hand resting on the knee on the same side.",
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
