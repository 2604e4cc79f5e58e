"""The SMPL-X forward pass: shape and pose blend shapes, kinematic chain, skinning, landmarks.

``forward(model, params)`` serves full and reduced models alike, written for one body and mapped
over any batch shape with ``jax.vmap``. It follows ``smplx.SMPLX.forward`` up to rounding: the
Rodrigues formula is exact (smplx perturbs the angle by 1e-8), and rest joints come from the
regressor applied to template and shape directions separately (precomputed in float64).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from posejax.body.model import HAND_FIELDS
from posejax.body.model import NECK_JOINT
from posejax.body.model import POSE_FIELDS
from posejax.body.model import POSE_SLICES
from posejax.body.model import SHAPE_FIELDS
from posejax.body.model import BodyModel
from posejax.body.model import BodyOutput
from posejax.body.model import BodyParams
from posejax.body.model import field_width
from posejax.body.rotations import axis_angle_to_matrix
from posejax.errors import InvalidInputError


def forward(model: BodyModel, params: BodyParams) -> BodyOutput:
  """Poses the body: vertices, joints (smplx order) and world joint frames.

  Pure and differentiable; fields of ``params`` may carry any common (broadcastable) leading
  batch shape ``(...)``. With a reduced model, folded fields of ``params`` are ignored (their
  folded values are used) and only the reduced model's output vertices are returned.

  Args:
    model: a ``BodyModel``, full or from ``reduce_model``.
    params: the parameters (``BodyParams.create(model, ...)`` checks their shapes).

  Returns:
    BodyOutput with ``vertices`` (..., V, 3), ``joints`` (..., 127 or 144, 3) and
    ``joint_transforms`` (..., 55, 4, 4), metres, ``transl`` included.

  Raises:
    InvalidInputError: ``model`` or ``params`` has the wrong type, or a field the wrong width.
  """
  if not isinstance(model, BodyModel):
    raise InvalidInputError(
        f"forward: model must be a posejax.body.BodyModel, got {type(model).__name__}; load one "
        "with posejax.body.load_model(path).")
  if not isinstance(params, BodyParams):
    raise InvalidInputError(
        f"forward: params must be a posejax.body.BodyParams, got {type(params).__name__}; "
        "build one with BodyParams.create(model, body_pose=..., ...).")
  for name in model.free_fields:
    width = field_width(model, name)
    shape = getattr(params, name).shape
    if len(shape) == 0 or shape[-1] != width:
      raise InvalidInputError(
          f"forward: params.{name} has shape {tuple(shape)}, expected (..., {width}) for this "
          "model; build params with BodyParams.create(model, ...).")
  try:
    batch_shape = tuple(np.broadcast_shapes(
        *(getattr(params, name).shape[:-1] for name in model.free_fields)))
  except ValueError:
    shapes = {n: tuple(getattr(params, n).shape) for n in model.free_fields}
    raise InvalidInputError(
        f"forward: the parameters' batch shapes do not broadcast: {shapes}.") from None
  count = int(np.prod(batch_shape, dtype=np.int64))
  flat = {}
  for name in model.free_fields:
    value = jnp.asarray(getattr(params, name), model.dtype)
    value = jnp.broadcast_to(value, batch_shape + value.shape[-1:])
    flat[name] = value.reshape((count,) + value.shape[-1:])
  vertices, joints, transforms = jax.vmap(functools.partial(_forward_one, model),
                                          axis_size=count)(flat)
  unflatten = lambda x: x.reshape(batch_shape + x.shape[1:])  # noqa: E731
  return BodyOutput(vertices=unflatten(vertices), joints=unflatten(joints),
                    joint_transforms=unflatten(transforms), synthetic=model.synthetic)


def rest_root(model: BodyModel, betas) -> np.ndarray:
  """The root joint (pelvis) of shape ``betas`` in the rest pose, before translation (host numpy).

  The root turns about itself, so this is also where every pose puts it: the posed root is
  ``rest_root(model, betas) + transl`` for any ``global_orient`` and ``body_pose`` (expression
  at zero).

  Args:
    model: the ``BodyModel``.
    betas: (..., B) shape coefficients; columns beyond the model's shape directions are ignored,
      missing ones count as zero (a model with folded betas has none).

  Returns:
    (..., 3) float64, metres.
  """
  directions = np.asarray(model.joint_shapedirs[0], np.float64)  # (3, K)
  betas = np.asarray(betas, np.float64)
  width = min(directions.shape[-1], betas.shape[-1])
  return (np.asarray(model.joint_template[0], np.float64)
          + betas[..., :width] @ directions[:, :width].T)


def joint_rotations(model: BodyModel, params: dict[str, jax.Array]) -> jax.Array:
  """Local rotation matrices of the 55 skeleton joints for one body.

  Args:
    model: the (reduced) model.
    params: free field name -> unbatched value, as in ``BodyParams``.

  Returns:
    (55, 3, 3) rotations relative to each parent (the root's relative to the world).
  """
  return jnp.concatenate([
      model.frozen_rotations[name] if name in model.frozen_rotations
      else axis_angle_to_matrix(pose_field_axis_angle(model, name, params[name]))
      for name, _, _ in POSE_FIELDS], axis=0)


def pose_field_axis_angle(model: BodyModel, name: str, value: jax.Array) -> jax.Array:
  """(k, 3) axis-angle of a pose field's joints, hands mapped through PCA and mean."""
  if name in HAND_FIELDS:
    if model.use_pca:
      value = value @ model.hand_components[name]
    value = value + model.hand_mean[name]
  return value.reshape(-1, 3)


def blend_coefficients(name: str, value: jax.Array | None, rotations: jax.Array) -> jax.Array:
  """Coefficients of field ``name`` for its blend directions.

  Args:
    name: a field of ``BLEND_GROUPS``.
    value: the field's unbatched value (betas or expression); ignored for pose fields.
    rotations: (55, 3, 3) local joint rotations.

  Returns:
    (K,) the shape coefficients, or ``R - I`` of the field's joints flattened row-major.
  """
  if name in SHAPE_FIELDS:
    return value
  eye = jnp.eye(3, dtype=rotations.dtype)[None]
  return (rotations[POSE_SLICES[name]] - eye).reshape(-1)


@functools.lru_cache(maxsize=None)
def chain_levels(parents: tuple[int, ...]) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
  """Splits a kinematic tree into depth levels (root level first).

  Args:
    parents: parent of each joint, -1 for the root; parents precede children.

  Returns:
    Per level ``(joints, parent_slots)``: the level's joint ids and, for levels after the
    first, the position of each joint's parent within the previous level's ``joints``. Int32
    always: a cached int64 index reused after toggling ``jax_enable_x64`` breaks JAX's gather.
  """
  depth = []
  for parent in parents:
    depth.append(0 if parent < 0 else depth[parent] + 1)
  depth = np.asarray(depth)
  levels = []
  previous = None
  for level in range(int(depth.max()) + 1):
    joints = np.flatnonzero(depth == level).astype(np.int32)
    if previous is None:
      slots = np.zeros(0, np.int32)
    else:
      slot_of = {int(j): i for i, j in enumerate(previous)}
      slots = np.asarray([slot_of[parents[j]] for j in joints], np.int32)
    levels.append((joints, slots))
    previous = joints
  return tuple(levels)


def posed_frames(rotations: jax.Array, rest_joints: jax.Array,
                 parents: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
  """World rotations and positions of the joint frames, walking the tree level by level.

  Args:
    rotations: (J, 3, 3) local rotations.
    rest_joints: (J, 3) rest-pose joint positions, metres.
    parents: static parent table.

  Returns:
    ``(world_rotations (J, 3, 3), world_positions (J, 3))``, before translation.
  """
  levels = chain_levels(parents)
  parent_index = np.asarray([max(p, 0) for p in parents], np.int32)
  offsets = rest_joints - rest_joints[parent_index] * (np.asarray(parents) >= 0)[:, None]
  level_rot, level_pos = [], []
  prev_rot = prev_pos = None
  for joints, slots in levels:
    local_rot, local_off = rotations[joints], offsets[joints]
    if prev_rot is None:
      rot, pos = local_rot, local_off
    else:
      parent_rot, parent_pos = prev_rot[slots], prev_pos[slots]
      rot = matmul3(parent_rot, local_rot)
      pos = matvec3(parent_rot, local_off) + parent_pos
    level_rot.append(rot)
    level_pos.append(pos)
    prev_rot, prev_pos = rot, pos
  order = np.concatenate([joints for joints, _ in levels])
  inverse = np.argsort(order).astype(np.int32)
  return jnp.concatenate(level_rot)[inverse], jnp.concatenate(level_pos)[inverse]


def matmul3(a: jax.Array, b: jax.Array) -> jax.Array:
  """(..., 3, 3) @ (..., 3, 3), written elementwise.

  Tiny XLA dots become slow loops of 3x3 kernels (and met CPU layout bugs under nested vmap).
  """
  return jnp.sum(a[..., :, :, None] * b[..., None, :, :], axis=-2)


def matvec3(a: jax.Array, v: jax.Array) -> jax.Array:
  """(..., 3, 3) @ (..., 3), written elementwise (see ``matmul3``)."""
  return jnp.sum(a * v[..., None, :], axis=-1)


def skin(lbs_weights: jax.Array, joint_affine: jax.Array, vertices: jax.Array) -> jax.Array:
  """Linear blend skinning of rest-pose vertices.

  Args:
    lbs_weights: (N, J) skinning weights.
    joint_affine: (J, 12) per joint the row-major 3x3 rotation then the translation of the
      map from rest pose to posed.
    vertices: (N, 3) rest-pose vertices (shape and pose offsets applied), metres.

  Returns:
    (N, 3) posed vertices, metres.
  """
  # Blended transforms as 12 planes (12, N), applied component by component: several times
  # faster under vmap than (N, 3, 3) blocks and a reduction.
  blended = jnp.einsum("jk,vj->kv", joint_affine, lbs_weights)
  return jnp.stack([blended[3 * r] * vertices[:, 0] + blended[3 * r + 1] * vertices[:, 1]
                    + blended[3 * r + 2] * vertices[:, 2] + blended[9 + r] for r in range(3)],
                   axis=-1)


def _barycentric(corners: jax.Array, bary: jax.Array) -> jax.Array:
  """(L, 3 corners, 3) points and (L, 3) weights -> (L, 3) interpolated points."""
  return jnp.sum(corners * bary[..., None], axis=-2)


def contour_bin(neck_world_rotation: jax.Array) -> jax.Array:
  """Row of the face-contour table for a head yaw, as smplx computes it.

  The yaw is the rotation about the vertical axis of the neck's accumulated rotation, in
  degrees, rounded and clipped; rows 0..39 hold yaw 0..39 and rows 40..78 yaw -1..-39.

  Args:
    neck_world_rotation: (3, 3) world rotation of the neck joint's frame.

  Returns:
    () int32 row index in [0, 78].
  """
  r = jax.lax.stop_gradient(neck_world_rotation)  # an index: no gradient to give
  angle = jnp.arctan2(-r[2, 0], jnp.sqrt(r[0, 0] * r[0, 0] + r[1, 0] * r[1, 0]))
  yaw = jnp.round(jnp.minimum(-angle * (180.0 / np.pi), 39.0)).astype(jnp.int32)
  negative_row = jnp.where(yaw < -39, 78, 39 - yaw)
  return jnp.where(yaw < 0, negative_row, yaw)


def _forward_one(model: BodyModel, params: dict[str, jax.Array]
                 ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """One body: (vertices (V, 3), joints (J_out, 3), transforms (55, 4, 4))."""
  dtype = model.dtype
  rotations = joint_rotations(model, params)

  rest_joints = model.joint_template
  for name, joint_dirs in (("betas", model.joint_shapedirs),
                           ("expression", model.joint_exprdirs)):
    if name in model.free_fields and joint_dirs.shape[-1] > 0:
      rest_joints = rest_joints + jnp.einsum("jcb,b->jc", joint_dirs, params[name])

  # Shape, expression and pose blend shapes, one matrix product per group.
  vertices = model.template
  for members, dirs in zip(model.blend_groups, model.blend_dirs):
    coefficients = jnp.concatenate([blend_coefficients(name, params.get(name), rotations)
                                    for name in members])
    # Coefficients first: under vmap the product comes out batch-major, with no transpose.
    vertices = vertices + jnp.einsum("k,vck->vc", coefficients, dirs)

  world_rot, world_pos = posed_frames(rotations, rest_joints, model.parents)
  # Skinning transforms map rest-pose points: x -> R x + (p - R j_rest).
  skin_shift = world_pos - matvec3(world_rot, rest_joints)
  joint_affine = jnp.concatenate([world_rot.reshape(-1, 9), skin_shift], axis=1)
  posed = skin(model.lbs_weights, joint_affine, vertices)

  transl = (params["transl"] if "transl" in model.free_fields else model.frozen_transl)[None]
  pieces = [world_pos, posed[model.joint_vertices],
            _barycentric(posed[model.landmark_vertices], model.landmark_bary)]
  if model.use_face_contour:
    row = contour_bin(world_rot[NECK_JOINT])
    pieces.append(_barycentric(posed[model.contour_vertices[row]], model.contour_bary[row]))
  joints = jnp.concatenate(pieces, axis=0) + transl
  out_vertices = posed[:model.num_vertices] + transl

  top = jnp.concatenate([world_rot, (world_pos + transl)[:, :, None]], axis=2)
  bottom = jnp.broadcast_to(jnp.asarray([0, 0, 0, 1], dtype), (top.shape[0], 1, 4))
  transforms = jnp.concatenate([top, bottom], axis=1)
  return out_vertices, joints, transforms

