"""Reduced models: the forward tables for chosen vertices, with fixed parameters folded in.

A fit evaluates a few thousand of SMPL-X's 10,475 vertices and never optimises hands, jaw, eyes
or expression. ``reduce_model`` gives a ``BodyModel`` that ``forward`` evaluates exactly as the
full model at the chosen vertices: per-vertex tables keep the chosen rows (plus those the landmark
joints need), folded coefficients and pose correctives are added to the template once, and rest
joints come from the precomputed joint tables. ``full_tables`` builds a full model's tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from posejax.body.forward import pose_field_axis_angle
from posejax.body.model import BLEND_GROUPS
from posejax.body.model import PARAM_FIELDS
from posejax.body.model import POSE_FIELDS
from posejax.body.model import SHAPE_FIELDS
from posejax.body.model import BodyModel
from posejax.body.model import BodyParams
from posejax.body.model import blend_width
from posejax.body.model import field_width
from posejax.body.rotations import axis_angle_to_matrix
from posejax.errors import InvalidInputError

DEFAULT_FROZEN_FIELDS: tuple[str, ...] = (
    "expression", "jaw_pose", "leye_pose", "reye_pose", "left_hand_pose", "right_hand_pose",
)
"""What a ProsePose fit never optimises (global_orient is fixed too but costs nothing to keep)."""


def full_tables(
    *,
    v_template: jax.Array,
    lbs_weights: jax.Array,
    posedirs: np.ndarray | None,
    j_regressor: np.ndarray,
    template64: np.ndarray,
    shapedirs64: np.ndarray,
    exprdirs64: np.ndarray,
    hand_components: dict[str, np.ndarray],
    hand_mean: dict[str, np.ndarray],
    landmark_vertices: np.ndarray,
    landmark_bary: np.ndarray,
    contour_vertices: np.ndarray | None,
    contour_bary: np.ndarray | None,
    joint_vertices: np.ndarray,
    use_pca: bool,
) -> dict:
  """The forward tables of a full model (every vertex, nothing folded): ``BodyModel`` fields.

  Device arrays passed in (``v_template``, ``lbs_weights``) are used as they are, not copied.
  The joint tables are computed in float64 from the ``*64`` copies. Vertex index tables here are
  model vertex ids. Without ``posedirs`` (a body with no pose correctives) and for fields with no
  columns, the blend groups leave those fields out.
  """
  dtype = v_template.dtype
  as_float = lambda a: jnp.asarray(a, dtype)  # noqa: E731
  as_index = lambda a: jnp.asarray(np.asarray(a, np.int32))  # noqa: E731
  # The directions' axis stays minor (the file's (V, 3, 486) layout for the correctives): with
  # it leading, XLA copied all 61 MB of correctives into this layout on every gradient call.
  columns = {"betas": shapedirs64, "expression": exprdirs64}
  if posedirs is not None:
    for name, first, count in POSE_FIELDS[1:]:
      columns[name] = posedirs[:, :, 9 * (first - 1):9 * (first - 1 + count)]
  blend_groups = tuple(
      kept for kept in (tuple(n for n in members if n in columns and columns[n].shape[2])
                        for members in BLEND_GROUPS) if kept)
  blend_dirs = tuple(
      as_float(np.concatenate([np.asarray(columns[name], dtype) for name in members], axis=2))
      for members in blend_groups)
  return dict(
      template=v_template,
      blend_dirs=blend_dirs,
      blend_groups=blend_groups,
      lbs_weights=lbs_weights,
      joint_template=as_float(j_regressor @ template64),
      joint_shapedirs=as_float(np.einsum("jv,vcb->jcb", j_regressor, shapedirs64)),
      joint_exprdirs=as_float(np.einsum("jv,vcb->jcb", j_regressor, exprdirs64)),
      frozen_rotations={},
      frozen_transl=jnp.zeros(3, dtype),
      hand_components=({n: as_float(c) for n, c in hand_components.items()} if use_pca else {}),
      hand_mean={n: as_float(m) for n, m in hand_mean.items()},
      landmark_vertices=as_index(landmark_vertices),
      landmark_bary=as_float(landmark_bary),
      contour_vertices=None if contour_vertices is None else as_index(contour_vertices),
      contour_bary=None if contour_bary is None else as_float(contour_bary),
      joint_vertices=as_index(joint_vertices),
      vertex_ids=as_index(np.arange(v_template.shape[0])),
      num_vertices=int(v_template.shape[0]),
      free_fields=PARAM_FIELDS,
  )


def reduce_model(
    model: BodyModel,
    vertex_ids: Sequence[int] | np.ndarray | None = None,
    frozen: BodyParams | None = None,
    frozen_fields: Sequence[str] = DEFAULT_FROZEN_FIELDS,
) -> BodyModel:
  """A model that evaluates only ``vertex_ids`` and holds ``frozen_fields`` fixed.

  ``forward(reduced, params)`` returns the vertices at ``vertex_ids`` (in that order) and the
  complete joint output, equal to the full forward pass with the folded fields set to their
  ``frozen`` values (up to float rounding). Its ``params`` fields in ``frozen_fields`` are
  ignored.

  Traceable in ``frozen``: per-scene folded values work with
  ``jax.vmap(lambda f: reduce_model(model, ids, f))(frozen_batch)``, and the batched reduced
  model then goes through ``jax.vmap(forward)`` together with the batched parameters. The
  model and ``vertex_ids`` must be concrete.

  Args:
    model: the full model.
    vertex_ids: (n,) model vertex ids to output (repeats allowed); None keeps all vertices.
    frozen: unbatched parameters holding the folded values (only ``frozen_fields`` are read);
      None folds zeros (the template pose with hands at the model's mean hand pose).
    frozen_fields: ``BodyParams`` field names to fold.

  Returns:
    The reduced model.

  Raises:
    InvalidInputError: a bad vertex id, an unknown field name, or a misshaped frozen value.
  """
  if not isinstance(model, BodyModel) or model.reduced:
    raise InvalidInputError(
        f"reduce_model: model must be a full posejax.body.BodyModel (from load_model), got "
        f"{'a reduced one' if isinstance(model, BodyModel) else type(model).__name__}; reduce "
        "the full model again rather than a reduced one.")
  frozen_fields = _check_fields(frozen_fields)
  out_ids = _check_vertex_ids(vertex_ids, model.num_vertices)
  values = _frozen_values(model, frozen, frozen_fields)

  # Model vertex ids the joint output reads: landmark faces, vertex joints, contour faces.
  needed = [np.asarray(model.landmark_vertices).ravel(), np.asarray(model.joint_vertices)]
  if model.use_face_contour:
    needed.append(np.asarray(model.contour_vertices).ravel())
  needed = np.unique(np.concatenate(needed))
  everything = vertex_ids is None
  if everything:
    rows = out_ids
  else:
    rows = np.concatenate([out_ids, np.setdiff1d(needed, out_ids)])
  row_of = np.full(model.num_vertices, -1, np.int64)
  row_of[rows[::-1]] = np.arange(len(rows))[::-1]  # first occurrence wins
  take = (lambda a, axis: a) if everything else (  # noqa: E731
      lambda a, axis: jnp.take(a, jnp.asarray(rows.astype(np.int32)), axis=axis))

  joint_template = model.joint_template
  joint_dirs = {"betas": model.joint_shapedirs, "expression": model.joint_exprdirs}
  for name in SHAPE_FIELDS:
    if name in values:
      joint_template = joint_template + jnp.einsum("jcb,b->jc", joint_dirs[name], values[name])
      joint_dirs[name] = joint_dirs[name][..., :0]

  frozen_rotations = {}
  for name, _, _ in POSE_FIELDS:
    if name in values:
      frozen_rotations[name] = axis_angle_to_matrix(
          pose_field_axis_angle(model, name, values[name]))
  # Folded members of each blend group add their offset to the template once; the others keep
  # their columns.
  template = take(model.template, 0)
  eye = jnp.eye(3, dtype=model.dtype)[None]
  blend_dirs, blend_groups = [], []
  for members, dirs in zip(model.blend_groups, model.blend_dirs):
    dirs = take(dirs, 0)
    kept_members, kept_columns, start = [], [], 0
    for name in members:
      columns = np.arange(start, start + blend_width(model, name))
      start += len(columns)
      if name in values:
        if name in SHAPE_FIELDS:
          coefficients = values[name]
        else:
          coefficients = (frozen_rotations[name] - eye).reshape(-1)
        template = template + jnp.einsum("vck,k->vc", dirs[:, :, columns], coefficients)
      else:
        kept_members.append(name)
        kept_columns.append(columns)
    if len(kept_members) == len(members):
      blend_dirs.append(dirs)
    elif kept_members:
      blend_dirs.append(dirs[:, :, np.concatenate(kept_columns)])
    if kept_members:
      blend_groups.append(tuple(kept_members))

  remap = lambda a: None if a is None else jnp.asarray(  # noqa: E731
      row_of[np.asarray(a)].astype(np.int32))
  return model.replace(
      template=template,
      blend_dirs=tuple(blend_dirs),
      blend_groups=tuple(blend_groups),
      lbs_weights=take(model.lbs_weights, 0),
      joint_template=joint_template,
      joint_shapedirs=joint_dirs["betas"],
      joint_exprdirs=joint_dirs["expression"],
      frozen_rotations=frozen_rotations,
      frozen_transl=values.get("transl", model.frozen_transl),
      hand_components={n: c for n, c in model.hand_components.items() if n not in values},
      hand_mean={n: m for n, m in model.hand_mean.items() if n not in values},
      landmark_vertices=remap(model.landmark_vertices),
      contour_vertices=remap(model.contour_vertices),
      joint_vertices=remap(model.joint_vertices),
      vertex_ids=jnp.asarray(out_ids.astype(np.int32)),
      num_vertices=int(len(out_ids)),
      free_fields=tuple(n for n in PARAM_FIELDS if n not in values),
      faces=None, J_regressor=None, hands_components_left=None, hands_components_right=None,
      hands_mean_left=None, hands_mean_right=None, lmk_faces_idx=None, lmk_bary_coords=None,
      dynamic_lmk_faces_idx=None, dynamic_lmk_bary_coords=None,
  )


def _check_fields(frozen_fields: Sequence[str]) -> tuple[str, ...]:
  if isinstance(frozen_fields, str):
    frozen_fields = (frozen_fields,)
  fields = tuple(frozen_fields)
  unknown = [f for f in fields if f not in PARAM_FIELDS]
  if unknown:
    raise InvalidInputError(
        f"reduce_model: unknown frozen field(s) {unknown}; choose from {list(PARAM_FIELDS)}.")
  return tuple(f for f in PARAM_FIELDS if f in fields)


def _check_vertex_ids(vertex_ids, num_vertices: int) -> np.ndarray:
  if vertex_ids is None:
    return np.arange(num_vertices)
  try:
    ids = np.asarray(vertex_ids)
  except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
    raise InvalidInputError(
        "reduce_model: vertex_ids must be concrete (numpy or a list), not traced; they fix "
        "array shapes. Choose them outside jit/vmap.") from None
  if ids.ndim != 1 or not (np.issubdtype(ids.dtype, np.integer) or ids.size == 0):
    raise InvalidInputError(
        f"reduce_model: vertex_ids must be a 1-D sequence of integer vertex ids, got shape "
        f"{ids.shape} and dtype {ids.dtype}.")
  if ids.size and (ids.min() < 0 or ids.max() >= num_vertices):
    raise InvalidInputError(
        f"reduce_model: vertex_ids must lie in [0, {num_vertices}), got values from "
        f"{ids.min()} to {ids.max()}.")
  return ids.astype(np.int64)


def _frozen_values(model: BodyModel, frozen: BodyParams | None,
                   fields: tuple[str, ...]) -> dict[str, jax.Array]:
  if frozen is not None and not isinstance(frozen, BodyParams):
    raise InvalidInputError(
        f"reduce_model: frozen must be a BodyParams or None, got {type(frozen).__name__}.")
  values = {}
  for name in fields:
    width = field_width(model, name)
    if frozen is None:
      values[name] = jnp.zeros(width, model.dtype)
      continue
    value = getattr(frozen, name)
    if tuple(value.shape) != (width,):
      hint = (" Fold per-scene values by vmapping reduce_model over them."
              if value.ndim > 1 else "")
      raise InvalidInputError(
          f"reduce_model: frozen.{name} has shape {tuple(value.shape)}, expected ({width},) "
          f"(one unbatched body).{hint}")
    values[name] = jnp.asarray(value, model.dtype)
  return values

