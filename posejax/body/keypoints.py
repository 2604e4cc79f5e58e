"""2D keypoint layouts: SMPL-X joint output to OpenPose BODY_25 and COCO-17, and ViTPose to BODY_25.

The keypoint loss compares projected model joints with detected keypoints in OpenPose BODY_25
order. The model side is a fixed gather from the SMPL-X joint output (the 55 skeleton joints
followed by the vertex joints the smplx package appends: nose, eyes, ears, big and small toes,
heels, finger tips, then face landmarks). The detector side is ViTPose, which speaks COCO-17 (body)
or COCO-WholeBody-133 (body, 6 foot points, face, hands); ``coco_to_body25`` rearranges it.

Keypoints are rows ``(x, y, confidence)`` in pixels; a point that is not there has confidence 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from posejax.body.model import NUM_SKELETON_JOINTS
from posejax.errors import InvalidInputError

COCO_WHOLEBODY_FOOT_NAMES: tuple[str, ...] = (
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")
"""The 6 foot points of COCO-WholeBody, at indices 17..22 right after the 17 body points."""

BODY_25_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
) + COCO_WHOLEBODY_FOOT_NAMES
"""OpenPose BODY_25 keypoint names, in OpenPose's order (left/right are the person's own sides)."""

NUM_BODY_25 = len(BODY_25_NAMES)
"""25 OpenPose BODY_25 keypoints."""

COCO_17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle")
"""COCO-17 body keypoint names, in COCO's (and ViTPose's) order."""


NUM_COCO_WHOLEBODY = 133
"""COCO-WholeBody size: 17 body + 6 foot + 68 face + 21 left hand + 21 right hand."""

FIRST_VERTEX_JOINT = NUM_SKELETON_JOINTS
"""Joint-output index of the first vertex joint (the nose); the vertex joints are
``posejax.body.model.VERTEX_JOINT_NAMES`` on ``SMPLX_VERTEX_JOINT_IDS``."""

SMPLX_TO_BODY_25 = np.array(
    [55, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65],
    dtype=np.int32)
"""``joints[SMPLX_TO_BODY_25]`` is BODY_25 of the SMPL-X joint output; MidHip is the pelvis."""

# Where each COCO-17 body point lands in BODY_25.
_COCO_17_TO_BODY_25 = np.array([BODY_25_NAMES.index(n) for n in COCO_17_NAMES], dtype=np.int32)
_FOOT_TO_BODY_25 = np.array([BODY_25_NAMES.index(n) for n in COCO_WHOLEBODY_FOOT_NAMES], np.int32)
_NECK = BODY_25_NAMES.index("neck")
_MID_HIP = BODY_25_NAMES.index("mid_hip")
_COCO_SHOULDERS = (COCO_17_NAMES.index("left_shoulder"), COCO_17_NAMES.index("right_shoulder"))
_COCO_HIPS = (COCO_17_NAMES.index("left_hip"), COCO_17_NAMES.index("right_hip"))

MIN_VERTEX_JOINTS = FIRST_VERTEX_JOINT + len(COCO_WHOLEBODY_FOOT_NAMES) + 5
"""Fewest joint-output rows the BODY_25 and COCO maps need (skeleton, face, foot vertex joints)."""


def _check_joints(joints: jax.Array, what: str) -> None:
  shape = jnp.shape(joints)
  if len(shape) < 2 or shape[-1] != 3 or shape[-2] < MIN_VERTEX_JOINTS:
    raise InvalidInputError(
        f"{what}: joints must have shape (..., J, 3) with J >= {MIN_VERTEX_JOINTS} in the smplx "
        "joint-output order (55 skeleton joints, then nose, eyes, ears, toes, heels); got "
        f"{shape}. Pass BodyOutput.joints from posejax.body.forward.")


def smplx_to_body25(joints: jax.Array) -> jax.Array:
  """Selects the OpenPose BODY_25 points from the SMPL-X joint output.

  Args:
    joints: (..., J, 3) SMPL-X joint output (J = 127 from ``posejax.body.forward``), metres.

  Returns:
    (..., 25, 3) the same points in BODY_25 order (``BODY_25_NAMES``), metres.

  Raises:
    InvalidInputError: when ``joints`` is not (..., J >= 66, 3).
  """
  _check_joints(joints, "smplx_to_body25")
  return jnp.take(jnp.asarray(joints), SMPLX_TO_BODY_25, axis=-2)


def _midpoint(keypoints: jax.Array, pair: tuple[int, int], min_confidence: float) -> jax.Array:
  """(..., 3) midpoint of two keypoints, confidence the lower; zero unless both are confident."""
  a, b = keypoints[..., pair[0], :], keypoints[..., pair[1], :]
  both = (a[..., 2] > min_confidence) & (b[..., 2] > min_confidence)
  mid = jnp.concatenate([0.5 * (a[..., :2] + b[..., :2]), jnp.minimum(a[..., 2:], b[..., 2:])],
                        axis=-1)
  return jnp.where(both[..., None], mid, jnp.zeros_like(mid))


def coco_to_body25(
    keypoints: jax.Array,
    *,
    derive_neck_and_mid_hip: bool = True,
    min_confidence: float = 0.2,
) -> jax.Array:
  """Rearranges ViTPose COCO keypoints into OpenPose BODY_25 order.

  COCO has no neck and no mid-hip. With ``derive_neck_and_mid_hip`` the neck is the midpoint of
  the shoulders and the mid-hip the midpoint of the hips, each only when both parents have
  confidence above ``min_confidence`` (its confidence is then the lower of the two). The
  reference implementation leaves both empty; pass ``False`` to match it. COCO-17 input has no
  foot points, so toes and heels get confidence 0; COCO-WholeBody input (133 points) supplies them.
  Face and hand points of WholeBody are not part of BODY_25 and are ignored.

  Args:
    keypoints: (..., 17, 3) COCO-17 or (..., 133, 3) COCO-WholeBody rows (x px, y px, confidence).
    derive_neck_and_mid_hip: fill BODY_25's neck and mid-hip from shoulder and hip midpoints.
    min_confidence: a parent at or below this confidence counts as missing for the midpoints.

  Returns:
    (..., 25, 3) BODY_25 rows (x px, y px, confidence); points the input lacks are all zero.

  Raises:
    InvalidInputError: when ``keypoints`` is not (..., 17, 3) or (..., 133, 3).
  """
  shape = jnp.shape(keypoints)
  if len(shape) < 2 or shape[-1] != 3 or shape[-2] not in (len(COCO_17_NAMES), NUM_COCO_WHOLEBODY):
    raise InvalidInputError(
        "coco_to_body25: keypoints must have shape (..., 17, 3) (COCO-17) or (..., 133, 3) "
        f"(COCO-WholeBody), rows (x, y, confidence); got {shape}.")
  keypoints = jnp.asarray(keypoints)
  if not jnp.issubdtype(keypoints.dtype, jnp.floating):
    keypoints = keypoints.astype(jnp.float32)
  out = jnp.zeros(shape[:-2] + (len(BODY_25_NAMES), 3), keypoints.dtype)
  out = out.at[..., _COCO_17_TO_BODY_25, :].set(keypoints[..., : len(COCO_17_NAMES), :])
  if shape[-2] == NUM_COCO_WHOLEBODY:
    first = len(COCO_17_NAMES)
    feet = keypoints[..., first : first + len(COCO_WHOLEBODY_FOOT_NAMES), :]
    out = out.at[..., _FOOT_TO_BODY_25, :].set(feet)
  if derive_neck_and_mid_hip:
    out = out.at[..., _NECK, :].set(_midpoint(keypoints, _COCO_SHOULDERS, min_confidence))
    out = out.at[..., _MID_HIP, :].set(_midpoint(keypoints, _COCO_HIPS, min_confidence))
  return out
