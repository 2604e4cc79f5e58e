"""Reading and writing SMPL-X model files.

``load_model`` reads the official ``.npz`` or ``.pkl`` files (chumpy is not needed);
``model_from_arrays`` builds a model from a mapping with the official keys; ``save_model`` writes
an ``.npz`` the smplx package loads to the same numbers. Options mirror ``smplx.SMPLX``'s
constructor. Bad file contents raise ``FileFormatError`` naming the file; bad options
``InvalidInputError``.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from posejax.body import compact
from posejax.body.model import CONTOUR_BINS
from posejax.body.model import HAND_FIELDS
from posejax.body.model import NUM_POSE_BASIS
from posejax.body.model import NUM_SKELETON_JOINTS
from posejax.body.model import SKELETON_JOINT_NAMES
from posejax.body.model import SMPLX_VERTEX_JOINT_IDS
from posejax.body.model import BodyModel
from posejax.body.reduce import full_tables
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError
from posejax import safe_load
from posejax.io_utils import atomic_write_bytes

REQUIRED_KEYS: tuple[str, ...] = (
    "v_template", "f", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights",
    "hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr", "lmk_faces_idx",
    "lmk_bary_coords",
)
"""Keys every SMPL-X file must hold (``posedirs`` may be replaced by ``pose_correctives``)."""

OWN_TOPOLOGY_KEYS: tuple[str, ...] = (
    "vertex_joint_ids", "num_shape_directions", "pose_correctives", "metadata",
)
"""Optional keys of posejax-written files for bodies that are not SMPL-X's mesh:
``vertex_joint_ids (21,)`` the model's own vertex ids of ``VERTEX_JOINT_NAMES`` (else
SMPL-X's), ``num_shape_directions ()`` how many ``shapedirs`` columns are shape (the rest
expression), ``pose_correctives`` the string ``'none'`` in place of ``posedirs`` for a body
without them, and ``metadata`` a JSON text (licence, credits, how it was made)."""

CONTOUR_KEYS: tuple[str, ...] = ("dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords")
"""Keys needed for ``use_face_contour=True`` (kept whenever present)."""

SHAPE_SPACE_DIM = 300
EXPRESSION_SPACE_DIM = 100
NUM_FACE_LANDMARKS = 51
NUM_CONTOUR_LANDMARKS = 17
GENDERS = ("neutral", "male", "female")
EXTENSIONS = ("npz", "pkl")
AGES = ("adult", "kid")


def load_model(
    path: str | os.PathLike,
    *,
    gender: str = "neutral",
    ext: str | None = None,
    **options: Any,
) -> BodyModel:
  """Reads an SMPL-X model file.

  Args:
    path: an ``.npz``/``.pkl`` file, or a folder holding ``SMPLX_<GENDER>.<ext>`` directly or
      in its ``smplx/`` subfolder.
    gender: ``'neutral'``, ``'male'`` or ``'female'``; picks the file in a folder.
    ext: ``'npz'`` or ``'pkl'``; picks the file in a folder (default ``'npz'``). For a file
      path the suffix decides.
    **options: as ``model_from_arrays``: ``num_betas=10``, ``num_expression_coeffs=10``,
      ``use_pca=True``, ``num_pca_comps=6``, ``flat_hand_mean=False``,
      ``use_face_contour=False``, ``dtype=np.float32``, ``age='adult'``,
      ``kid_template_path=None``.

  Returns:
    The model; ``model.source`` is the file read.

  Raises:
    FileFormatError: the file is missing, unreadable or malformed.
    InvalidInputError: an unsupported option (unknown gender or ext, too many components).
  """
  gender = _check_choice("gender", gender, GENDERS, path)
  if ext is not None:
    ext = _check_choice("ext", ext, EXTENSIONS, path)
  file_path = resolve_model_path(path, gender=gender, ext=ext or "npz")
  arrays = read_model_file(file_path)
  return model_from_arrays(arrays, source=str(file_path), gender=gender, **options)


def resolve_model_path(path: str | os.PathLike, *, gender: str = "neutral",
                       ext: str = "npz") -> Path:
  """The model file meant by ``path`` (a file, or a folder as ``load_model`` describes).

  Raises:
    FileFormatError: nothing suitable exists there.
  """
  path = Path(path).expanduser()
  if path.is_dir():
    name = f"SMPLX_{gender.upper()}.{ext}"
    for candidate in (path / name, path / "smplx" / name):
      if candidate.is_file():
        return candidate
    found = sorted(p.name for p in path.glob("SMPLX_*")) + sorted(
        f"smplx/{p.name}" for p in (path / "smplx").glob("SMPLX_*"))
    raise FileFormatError(
        path, f"folder holds no {name} (looked in it and in its smplx/ subfolder; SMPL-X files "
        f"found: {found or 'none'}). Pass the model file itself, or the gender/ext it has.")
  if not path.exists():
    raise FileFormatError(path, "no such file or folder; pass an SMPL-X .npz or .pkl file or "
                          "the folder holding it.")
  if path.suffix.lower() not in (".npz", ".pkl"):
    raise FileFormatError(path, f"unknown model file type '{path.suffix}'; SMPL-X files are "
                          ".npz or .pkl.")
  return path


def read_model_file(path: str | os.PathLike) -> dict[str, Any]:
  """The raw key -> array mapping of an ``.npz`` or ``.pkl`` model file.

  Raises:
    FileFormatError: unreadable file, a pickle that names any type but arrays (it is never run),
      or one that is not a mapping.
  """
  path = Path(path)
  if path.suffix.lower() == ".npz":
    arrays = safe_load.load_npz(path, "a model file", objects="skip")
    if compact.FORMAT_KEY in arrays:
      return compact.decode(arrays, str(path))
    return arrays
  data = safe_load.load_pickle(path, "a model file")
  if not isinstance(data, Mapping):
    raise FileFormatError(
        path, f"the pickle holds a {type(data).__name__}, not a mapping of model arrays.")
  return dict(data)


def model_from_arrays(
    arrays: Mapping[str, Any],
    *,
    source: str = "<arrays>",
    synthetic: bool = False,
    num_betas: int = 10,
    num_expression_coeffs: int = 10,
    use_pca: bool = True,
    num_pca_comps: int = 6,
    flat_hand_mean: bool = False,
    use_face_contour: bool = False,
    dtype: Any = np.float32,
    age: str = "adult",
    kid_template_path: str | os.PathLike | None = None,
    kid_template: np.ndarray | None = None,
    gender: str = "neutral",
) -> BodyModel:
  """Builds a model from arrays under the official SMPL-X keys, checking every one.

  Args:
    arrays: ``v_template (V,3)``, ``f (F,3)``, ``shapedirs (V,3,400)`` (300 shape then 100
      expression directions; a legacy ``(V,3,20)`` 10+10 layout is accepted too),
      ``posedirs (V,3,486)``, ``J_regressor (55,V)`` (dense or scipy-sparse),
      ``kintree_table (2,55)``, ``weights (V,55)``, ``hands_componentsl/r (45,45)``,
      ``hands_meanl/r (45,)``, ``lmk_faces_idx (51,)``, ``lmk_bary_coords (51,3)`` and, for the
      face contour, ``dynamic_lmk_faces_idx (79,17)``, ``dynamic_lmk_bary_coords (79,17,3)``.
    source: where the arrays came from, for messages and ``model.source``.
    synthetic: mark the model (and results computed with it) as not a licensed SMPL-X model.
    num_betas: shape coefficients to use (<= 300; the kid scale comes on top).
    num_expression_coeffs: expression coefficients to use (<= 100).
    use_pca: hand poses as PCA coefficients (else 45 axis-angle values per hand).
    num_pca_comps: PCA coefficients per hand (1..45).
    flat_hand_mean: zero mean hand pose instead of the file's mean.
    use_face_contour: add the 17 face-contour landmarks (144 output joints).
    dtype: ``np.float32`` or ``np.float64`` (the latter needs ``jax_enable_x64``).
    age: ``'adult'``, or ``'kid'`` to append the kid blend shape (needs a kid template).
    kid_template_path: ``.npy`` file with the (V, 3) kid template (smplx's
      ``kid_template_path``).
    kid_template: the (V, 3) kid template as an array, instead of a path.
    gender: recorded in the model.

  Returns:
    The model.

  Raises:
    FileFormatError: a missing, misshaped or non-finite array, or a bad kinematic tree.
    InvalidInputError: an unsupported option.
  """
  dtype = _check_dtype(dtype, source)
  gender = _check_choice("gender", gender, GENDERS, source)
  age = _check_choice("age", age, AGES, source)
  for name, value in (("use_pca", use_pca), ("flat_hand_mean", flat_hand_mean),
                      ("use_face_contour", use_face_contour), ("synthetic", synthetic)):
    if not isinstance(value, (bool, np.bool_)):
      raise InvalidInputError(f"{source}: option {name} must be True or False, got {value!r}.")
  if not isinstance(arrays, Mapping):
    raise FileFormatError(source, f"expected a mapping of model arrays, got "
                          f"{type(arrays).__name__}.")
  no_correctives = _says_no_pose_correctives(arrays, source)
  missing = [k for k in REQUIRED_KEYS if k not in arrays
             and not (k == "posedirs" and no_correctives)]
  if use_face_contour:
    missing += [k for k in CONTOUR_KEYS if k not in arrays]
  if missing:
    raise FileFormatError(
        source, f"missing key(s) {missing}; an SMPL-X model file holds {list(REQUIRED_KEYS)}"
        + (f" and, for use_face_contour=True, {list(CONTOUR_KEYS)}." if use_face_contour
           else "."))

  reader = _ArrayReader(arrays, source)
  # Arrays keep the file's float type until converted once to the model dtype; the
  # precomputed joint tables use float64 copies of what they need.
  v_template_raw = reader.floats("v_template", ("V", 3))
  v_template = v_template_raw.astype(np.float64)
  num_verts = v_template.shape[0]
  faces = reader.indices("f", (None, 3), upper=num_verts, upper_name="the vertex count")
  num_faces = faces.shape[0]
  shapedirs_all = reader.floats("shapedirs", (num_verts, 3, None))
  posedirs = None
  if not no_correctives:
    posedirs = reader.floats("posedirs", (num_verts, 3, NUM_POSE_BASIS),
                             alternative=(num_verts * 3, NUM_POSE_BASIS))
    posedirs = posedirs.reshape(num_verts, 3, NUM_POSE_BASIS)
  j_regressor = reader.floats("J_regressor", (NUM_SKELETON_JOINTS, num_verts)).astype(np.float64)
  kintree = reader.indices("kintree_table", (2, NUM_SKELETON_JOINTS), allow_negative=True)
  weights = reader.floats("weights", (num_verts, NUM_SKELETON_JOINTS))
  components = {"left_hand_pose": reader.floats("hands_componentsl", (None, 45)),
                "right_hand_pose": reader.floats("hands_componentsr", (None, 45))}
  means = {"left_hand_pose": reader.floats("hands_meanl", (45,)),
           "right_hand_pose": reader.floats("hands_meanr", (45,))}
  lmk_faces = reader.indices("lmk_faces_idx", (NUM_FACE_LANDMARKS,), upper=num_faces,
                             upper_name="the face count")
  lmk_bary = reader.floats("lmk_bary_coords", (NUM_FACE_LANDMARKS, 3))
  contour_faces = contour_bary = None
  if all(k in arrays for k in CONTOUR_KEYS):
    contour_faces = reader.indices("dynamic_lmk_faces_idx", (CONTOUR_BINS, NUM_CONTOUR_LANDMARKS),
                                   upper=num_faces, upper_name="the face count")
    contour_bary = reader.floats("dynamic_lmk_bary_coords",
                                 (CONTOUR_BINS, NUM_CONTOUR_LANDMARKS, 3))

  parents = _parents_from_kintree(kintree, source)
  if "vertex_joint_ids" in arrays:
    vertex_joint_ids = tuple(int(i) for i in reader.indices(
        "vertex_joint_ids", (len(SMPLX_VERTEX_JOINT_IDS),), upper=num_verts,
        upper_name="the vertex count"))
  elif num_verts <= max(SMPLX_VERTEX_JOINT_IDS):
    raise FileFormatError(
        source, f"v_template has {num_verts} vertices, but SMPL-X's vertex joints (nose, eyes, "
        f"ears, toes, finger tips) use vertex ids up to {max(SMPLX_VERTEX_JOINT_IDS)}; this "
        "does not look like an SMPL-X model (10,475 vertices), and the file has no "
        "'vertex_joint_ids' of its own.")
  else:
    vertex_joint_ids = SMPLX_VERTEX_JOINT_IDS
  metadata = _metadata_text(arrays, source)

  # Shape space layout, as smplx reads it unless the file says how many are shape.
  num_dirs = shapedirs_all.shape[2]
  if "num_shape_directions" in arrays:
    betas_avail = int(reader.indices("num_shape_directions", ()))
    if betas_avail > num_dirs:
      raise FileFormatError(source, f"num_shape_directions={betas_avail}, but shapedirs has "
                            f"only {num_dirs} directions.")
    expr_start, expr_avail = betas_avail, num_dirs - betas_avail
  elif num_dirs >= SHAPE_SPACE_DIM + EXPRESSION_SPACE_DIM:
    betas_avail, expr_start, expr_avail = SHAPE_SPACE_DIM, SHAPE_SPACE_DIM, EXPRESSION_SPACE_DIM
  elif 20 <= num_dirs < SHAPE_SPACE_DIM:
    betas_avail, expr_start, expr_avail = 10, 10, 10
  else:
    raise FileFormatError(
        source, f"shapedirs has {num_dirs} directions; SMPL-X files hold 400 (300 shape, then "
        "100 expression) or, in the legacy layout, 20 (10 + 10).")
  num_betas = _check_count("num_betas", num_betas, 0, betas_avail, source,
                           f"the file has {betas_avail} shape directions")
  num_expression_coeffs = _check_count(
      "num_expression_coeffs", num_expression_coeffs, 0, expr_avail, source,
      f"the file has {expr_avail} expression directions")
  if use_pca:
    available = min(components["left_hand_pose"].shape[0],
                    components["right_hand_pose"].shape[0])
    num_pca_comps = _check_count("num_pca_comps", num_pca_comps, 1, available, source,
                                 f"the file has {available} hand PCA components")
  else:
    num_pca_comps = _check_count("num_pca_comps", num_pca_comps, 0, 45, source,
                                 "a hand has 45 pose values")

  shapedirs = shapedirs_all[:, :, :num_betas].astype(np.float64)
  exprdirs = shapedirs_all[:, :, expr_start:expr_start + num_expression_coeffs].astype(np.float64)
  if age == "kid":
    kid = _kid_template(kid_template_path, kid_template, num_verts, source)
    # In the files' own precision, as smplx computes it (a float32 mean differs by ~1e-7 m).
    kid = kid - kid.mean(axis=0)
    kid_direction = (kid - v_template_raw).astype(np.float64)
    shapedirs = np.concatenate([shapedirs, kid_direction[:, :, None]], axis=2)
    num_betas += 1
  elif kid_template_path is not None or kid_template is not None:
    raise InvalidInputError(f"{source}: a kid template was given but age='adult'; pass "
                            "age='kid' to use it.")

  hand_mean_used = {n: (np.zeros(45) if flat_hand_mean else m) for n, m in means.items()}
  as_float = lambda a: jnp.asarray(a, dtype)  # noqa: E731
  contour_vertices = None if contour_faces is None else faces[contour_faces]
  tables = full_tables(
      v_template=as_float(v_template),
      lbs_weights=as_float(weights),
      posedirs=None if posedirs is None else posedirs.astype(dtype, copy=False),
      j_regressor=j_regressor,
      template64=v_template,
      shapedirs64=shapedirs,
      exprdirs64=exprdirs,
      hand_components={n: c[:num_pca_comps] for n, c in components.items()},
      hand_mean=hand_mean_used,
      landmark_vertices=faces[lmk_faces],
      landmark_bary=lmk_bary,
      contour_vertices=contour_vertices if use_face_contour else None,
      contour_bary=contour_bary if use_face_contour else None,
      joint_vertices=np.asarray(vertex_joint_ids),
      use_pca=bool(use_pca),
  )
  full_components = {n: np.zeros((45, 45)) for n in HAND_FIELDS}
  for name, comp in components.items():
    full_components[name][:comp.shape[0]] = comp[:45]
  return BodyModel(
      **tables,
      faces=jnp.asarray(faces.astype(np.int32)),
      J_regressor=as_float(j_regressor),
      hands_components_left=as_float(full_components["left_hand_pose"]),
      hands_components_right=as_float(full_components["right_hand_pose"]),
      hands_mean_left=as_float(means["left_hand_pose"]),
      hands_mean_right=as_float(means["right_hand_pose"]),
      lmk_faces_idx=jnp.asarray(lmk_faces.astype(np.int32)),
      lmk_bary_coords=as_float(lmk_bary),
      dynamic_lmk_faces_idx=(None if contour_faces is None
                             else jnp.asarray(contour_faces.astype(np.int32))),
      dynamic_lmk_bary_coords=None if contour_bary is None else as_float(contour_bary),
      parents=parents,
      joint_names=SKELETON_JOINT_NAMES,
      vertex_joint_ids=vertex_joint_ids,
      metadata=metadata,
      num_betas=num_betas,
      num_expression_coeffs=num_expression_coeffs,
      use_pca=bool(use_pca),
      num_pca_comps=num_pca_comps,
      flat_hand_mean=bool(flat_hand_mean),
      use_face_contour=bool(use_face_contour),
      gender=gender,
      age=age,
      synthetic=bool(synthetic),
      source=str(source),
  )


def save_model(model: BodyModel, path: str | os.PathLike, *, for_smplx: bool = False) -> Path:
  """Writes ``model`` as an SMPL-X ``.npz`` that ``smplx.SMPLX`` loads to the same numbers.

  Shape directions are padded with zeros to the official 300 + 100 layout (expression at index
  300). A body on its own mesh or without pose correctives (Anny) is written in posejax's
  layout instead (``OWN_TOPOLOGY_KEYS``), which ``load_model`` reads and smplx does not. The
  file's true hand means are stored whatever ``flat_hand_mean`` is, so load it with
  the same options. A kid model also writes ``<stem>_kid_template.npy`` next to the file (pass
  it as ``kid_template_path`` with ``age='kid'``). Written atomically (temporary file, rename).

  Args:
    model: a full model.
    path: target file; ``.npz`` is appended if missing. smplx's folder lookup wants the name
      ``SMPLX_<GENDER>.npz``.

  Returns:
    The path written.

  Raises:
    InvalidInputError: ``model`` is not a full ``BodyModel``.
  """
  if not isinstance(model, BodyModel):
    raise InvalidInputError(
        f"save_model: expected a full posejax.body.BodyModel, got {type(model).__name__}.")
  path = Path(path)
  if path.suffix != ".npz":
    path = path.with_name(path.name + ".npz")
  numpy = lambda a: np.asarray(jax.device_get(a))  # noqa: E731
  v_template = numpy(model.v_template)
  num_verts = v_template.shape[0]
  shapedirs = numpy(model.shapedirs)
  base_betas = model.num_betas - (1 if model.age == "kid" else 0)
  smplx_layout = for_smplx or (model.has_pose_correctives
                              and model.vertex_joint_ids == SMPLX_VERTEX_JOINT_IDS)
  if smplx_layout:
    padded = np.zeros((num_verts, 3, SHAPE_SPACE_DIM + EXPRESSION_SPACE_DIM), v_template.dtype)
    padded[:, :, :base_betas] = shapedirs[:, :, :base_betas]
    padded[:, :, SHAPE_SPACE_DIM:SHAPE_SPACE_DIM + model.num_expression_coeffs] = numpy(
        model.exprdirs)
  else:
    padded = np.concatenate([shapedirs[:, :, :base_betas], numpy(model.exprdirs)], axis=2)
  kintree = np.stack([np.asarray(model.parents, np.int64),
                      np.arange(len(model.parents), dtype=np.int64)])
  arrays = {
      "v_template": v_template,
      "f": numpy(model.faces).astype(np.uint32),
      "shapedirs": padded,
      "J_regressor": numpy(model.J_regressor),
      "kintree_table": kintree,
      "weights": numpy(model.lbs_weights),
      "hands_componentsl": numpy(model.hands_components_left),
      "hands_componentsr": numpy(model.hands_components_right),
      "hands_meanl": numpy(model.hands_mean_left),
      "hands_meanr": numpy(model.hands_mean_right),
      "lmk_faces_idx": numpy(model.lmk_faces_idx).astype(np.int64),
      "lmk_bary_coords": numpy(model.lmk_bary_coords),
  }
  if model.has_pose_correctives:
    arrays["posedirs"] = numpy(model.posedirs)
  elif for_smplx:
    arrays["posedirs"] = np.zeros((num_verts, 3, NUM_POSE_BASIS), v_template.dtype)
  else:
    arrays["pose_correctives"] = np.asarray("none")
  if not smplx_layout:
    arrays["num_shape_directions"] = np.asarray(base_betas)
  if model.vertex_joint_ids != SMPLX_VERTEX_JOINT_IDS:
    arrays["vertex_joint_ids"] = np.asarray(model.vertex_joint_ids, np.int64)
  if model.metadata:
    arrays["metadata"] = np.asarray(model.metadata)
  if model.dynamic_lmk_faces_idx is not None:
    arrays["dynamic_lmk_faces_idx"] = numpy(model.dynamic_lmk_faces_idx).astype(np.int64)
    arrays["dynamic_lmk_bary_coords"] = numpy(model.dynamic_lmk_bary_coords)
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  atomic_write_bytes(path, buffer.getvalue())
  if model.age == "kid":
    # smplx centres the kid template and subtracts the template: store template + direction,
    # which is already centred, so it comes back unchanged.
    kid = v_template + shapedirs[:, :, -1]
    kid_path = path.with_name(path.stem + "_kid_template.npy")
    buffer = io.BytesIO()
    np.save(buffer, kid)
    atomic_write_bytes(kid_path, buffer.getvalue())
  return path


class _ArrayReader:
  """Converts and checks arrays of one model source, raising ``FileFormatError``.

  Float arrays keep their dtype (integers become float64); index arrays become int64.
  """

  def __init__(self, arrays: Mapping[str, Any], source: str):
    self.arrays = arrays
    self.source = source

  def _raw(self, key: str) -> np.ndarray:
    value = self.arrays[key]
    if hasattr(value, "toarray"):  # scipy sparse
      value = value.toarray()
    try:
      array = np.asarray(value)
    except Exception as error:  # noqa: BLE001 (any conversion failure is a format problem)
      raise FileFormatError(self.source, f"key '{key}' is not an array ({error}).") from None
    if array.dtype == object:
      raise FileFormatError(self.source, f"key '{key}' holds Python objects, not numbers "
                            f"(type {type(value).__name__}).")
    return array

  def _check_shape(self, key, array, shape, alternative=None) -> None:
    def fits(expected):
      return len(expected) == array.ndim and all(
          e is None or isinstance(e, str) or e == s for e, s in zip(expected, array.shape))
    if fits(shape) or (alternative is not None and fits(alternative)):
      return
    want = "(" + ", ".join("n" if e is None else str(e) for e in shape) + ")"
    raise FileFormatError(
        self.source, f"key '{key}' has shape {array.shape}, expected {want}.")

  def floats(self, key: str, shape: tuple, alternative: tuple | None = None) -> np.ndarray:
    array = self._raw(key)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
      raise FileFormatError(self.source, f"key '{key}' has dtype {array.dtype}, expected "
                            "floating-point numbers.")
    self._check_shape(key, array, shape, alternative)
    if not np.issubdtype(array.dtype, np.floating):
      array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
      bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
      raise FileFormatError(self.source, f"key '{key}' holds {bad} non-finite value(s) "
                            "(NaN or inf).")
    return array

  def indices(self, key: str, shape: tuple, *, upper: int | None = None, upper_name: str = "",
              allow_negative: bool = False) -> np.ndarray:
    array = self._raw(key)
    if np.issubdtype(array.dtype, np.floating):
      if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
        raise FileFormatError(self.source, f"key '{key}' must hold integer indices.")
    elif not np.issubdtype(array.dtype, np.integer):
      raise FileFormatError(self.source, f"key '{key}' has dtype {array.dtype}, expected "
                            "integer indices.")
    self._check_shape(key, array, shape)
    array = array.astype(np.int64)
    if not allow_negative and array.size and array.min() < 0:
      raise FileFormatError(self.source, f"key '{key}' holds negative indices.")
    if upper is not None and array.size and array.max() >= upper:
      raise FileFormatError(self.source, f"key '{key}' holds index {array.max()}, beyond "
                            f"{upper_name} ({upper}).")
    return array


SMPLX_VERTEX_ID_NAMES: tuple[str, ...] = (
    "nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe",
    "RSmallToe", "RHeel", "lthumb", "lindex", "lmiddle", "lring", "lpinky", "rthumb", "rindex",
    "rmiddle", "rring", "rpinky",
)
"""smplx's names for ``VERTEX_JOINT_NAMES``, in the same order."""


def smplx_vertex_ids(model: BodyModel) -> dict[str, int]:
  """The ``vertex_ids`` argument of ``smplx.SMPLX`` for ``model``'s own vertex joints."""
  return dict(zip(SMPLX_VERTEX_ID_NAMES, (int(i) for i in model.vertex_joint_ids)))


def _says_no_pose_correctives(arrays: Mapping[str, Any], source: str) -> bool:
  if "pose_correctives" not in arrays:
    return False
  value = np.asarray(arrays["pose_correctives"])
  if value.shape != () or str(value) != "none":
    raise FileFormatError(source, "key 'pose_correctives' must be the string 'none' (the body "
                          "has no pose correctives); otherwise store 'posedirs'.")
  if "posedirs" in arrays:
    raise FileFormatError(source, "the file holds 'posedirs' and says pose_correctives='none'; "
                          "keep one.")
  return True


def _metadata_text(arrays: Mapping[str, Any], source: str) -> str:
  if "metadata" not in arrays:
    return ""
  value = np.asarray(arrays["metadata"])
  if value.shape != () or value.dtype.kind != "U":
    raise FileFormatError(source, "key 'metadata' must be one JSON text.")
  try:
    json.loads(str(value))
  except ValueError as error:
    raise FileFormatError(source, f"key 'metadata' is not valid JSON ({error}).") from None
  return str(value)


def _parents_from_kintree(kintree: np.ndarray, source: str) -> tuple[int, ...]:
  # The root's entry is -1 or, in the official files, 2**32 - 1; smplx ignores it.
  parents = [-1] + [int(p) for p in kintree[0, 1:]]
  for joint, parent in enumerate(parents[1:], start=1):
    if not 0 <= parent < joint:
      raise FileFormatError(
          source, f"kintree_table gives joint {joint} ({SKELETON_JOINT_NAMES[joint]}) the parent "
          f"{parent}; every parent must be an earlier joint (0 <= parent < joint).")
  return tuple(parents)


def _kid_template(path, array, num_verts: int, source: str) -> np.ndarray:
  if array is None and path is None:
    raise InvalidInputError(
        f"{source}: age='kid' needs the kid template: pass kid_template_path (the .npy file "
        "smplx uses) or kid_template.")
  if array is None:
    try:
      array = np.load(Path(path).expanduser(), allow_pickle=False)
    except (OSError, ValueError) as error:
      raise FileFormatError(path, f"cannot read the kid template ({error}).") from None
  where = path if path is not None else source
  array = np.asarray(array)
  if array.shape != (num_verts, 3) or not np.issubdtype(array.dtype, np.number):
    raise FileFormatError(where, f"kid template has shape {array.shape}, expected "
                          f"({num_verts}, 3) like v_template.")
  if not np.issubdtype(array.dtype, np.floating):
    array = array.astype(np.float64)
  if not np.all(np.isfinite(array)):
    raise FileFormatError(where, "kid template holds non-finite values.")
  return array


def _check_choice(name: str, value: Any, choices: tuple[str, ...], where: Any) -> str:
  if not isinstance(value, str) or value.lower() not in choices:
    raise InvalidInputError(f"{where}: unknown {name} {value!r}; choose one of {list(choices)}.")
  return value.lower()


def _check_count(name: str, value: Any, low: int, high: int, source: str, why: str) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise InvalidInputError(f"{source}: option {name} must be an integer, got {value!r}.")
  if not low <= value <= high:
    raise InvalidInputError(f"{source}: option {name}={value} is out of range [{low}, {high}] "
                            f"({why}).")
  return int(value)


def _check_dtype(dtype: Any, source: str) -> np.dtype:
  try:
    dtype = np.dtype(dtype)
  except TypeError:
    raise InvalidInputError(f"{source}: dtype {dtype!r} is not a numpy dtype; use "
                            "np.float32 or np.float64.") from None
  if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
    raise InvalidInputError(f"{source}: dtype must be float32 or float64, got {dtype}.")
  if dtype == np.float64 and jax.dtypes.canonicalize_dtype(np.float64) != np.float64:
    raise InvalidInputError(
        f"{source}: dtype float64 needs 64-bit JAX; set jax.config.update('jax_enable_x64', "
        "True) (or use jax.enable_x64()) first.")
  return dtype

