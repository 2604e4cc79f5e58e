"""Model files: reading .npz/.pkl files and folders, every error path, and saving for smplx."""

from __future__ import annotations

import pickle
import sys

import jax
import numpy as np
import pytest
import scipy.sparse
import smplx
import torch
from smplx_files import KID_TEMPLATE_NAME
from smplx_files import NUM_FACES
from smplx_files import NUM_VERTICES

from posejax.body import BodyModel
from posejax.body import BodyParams
from posejax.body import SMPLX_PARENTS
from posejax.body import forward
from posejax.body import load_model
from posejax.body import model_from_arrays
from posejax.body import reduce_model
from posejax.body import save_model
from posejax.body.io import read_model_file
from posejax.body.io import resolve_model_path
from posejax.body.model import SKELETON_JOINT_NAMES
from posejax.body.model import SMPLX_VERTEX_JOINT_IDS
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError


@pytest.fixture(scope="module")
def npz_path(synthetic_smplx_file):
  return synthetic_smplx_file


@pytest.fixture(scope="module")
def raw(npz_path):
  return read_model_file(npz_path)


@pytest.fixture(scope="module")
def model(raw):
  return model_from_arrays(raw, source="synthetic")


def _with(raw, **changes):
  arrays = dict(raw)
  for key, value in changes.items():
    if value is None:
      del arrays[key]
    else:
      arrays[key] = value
  return arrays


# Generated file -------------------------------------------------------------------------------


def test_generated_file_is_structurally_valid(raw):
  assert raw["v_template"].shape == (NUM_VERTICES, 3)
  assert raw["f"].shape == (NUM_FACES, 3) and raw["f"].max() == NUM_VERTICES - 1
  assert raw["shapedirs"].shape == (NUM_VERTICES, 3, 400)
  assert raw["posedirs"].shape == (NUM_VERTICES, 3, 486)
  np.testing.assert_allclose(raw["weights"].sum(axis=1), 1.0, atol=1e-6)
  np.testing.assert_allclose(raw["J_regressor"].sum(axis=1), 1.0, atol=1e-6)
  parents = raw["kintree_table"][0].astype(np.int64)
  assert list(parents[1:]) == list(SMPLX_PARENTS[1:])
  assert raw["dynamic_lmk_faces_idx"].shape == (79, 17)
  assert raw["dynamic_lmk_bary_coords"].shape == (79, 17, 3)
  # The closed tubes: every directed edge of the tube faces has its reverse exactly once.
  tube_faces = raw["f"][: NUM_FACES - 178].astype(np.int64)
  edges = np.concatenate([tube_faces[:, [0, 1]], tube_faces[:, [1, 2]], tube_faces[:, [2, 0]]])
  keys = set(map(tuple, edges))
  assert len(keys) == len(edges)
  assert all((b, a) in keys for a, b in keys)
  # smplx's vertex joints sit on their body parts: the nose on the head, above the toes.
  nose = raw["v_template"][SMPLX_VERTEX_JOINT_IDS[0]]
  big_toe = raw["v_template"][SMPLX_VERTEX_JOINT_IDS[5]]
  assert nose[1] > 0.55 and big_toe[1] < -0.85 and big_toe[0] > 0  # the left toe: +x


# Reading --------------------------------------------------------------------------------------


def test_model_metadata(model, raw):
  assert isinstance(model, BodyModel)
  assert model.num_vertices == NUM_VERTICES and model.num_joints == 55
  assert model.parents == SMPLX_PARENTS and model.joint_names == SKELETON_JOINT_NAMES
  assert model.faces.dtype == np.int32 and model.faces.shape == (NUM_FACES, 3)
  assert model.shapedirs.shape == (NUM_VERTICES, 3, 10)
  assert model.exprdirs.shape == (NUM_VERTICES, 3, 10)
  assert model.J_regressor.shape == (55, NUM_VERTICES)
  assert model.lbs_weights.shape == (NUM_VERTICES, 55)
  assert not model.use_face_contour and model.source == "synthetic"
  assert not model.synthetic
  np.testing.assert_array_equal(np.asarray(model.posedirs), raw["posedirs"])
  np.testing.assert_array_equal(np.asarray(model.exprdirs), raw["shapedirs"][:, :, 300:310])


def test_folder_lookup(npz_path, tmp_path):
  folder = npz_path.parent
  assert resolve_model_path(folder) == npz_path
  assert resolve_model_path(npz_path) == npz_path
  nested = tmp_path / "models" / "smplx"
  nested.mkdir(parents=True)
  (nested / "SMPLX_FEMALE.npz").symlink_to(npz_path)
  assert resolve_model_path(tmp_path / "models", gender="female") == nested / "SMPLX_FEMALE.npz"
  with pytest.raises(FileFormatError, match="SMPLX_NEUTRAL.npz.*smplx/SMPLX_FEMALE.npz"):
    resolve_model_path(tmp_path / "models")
  with pytest.raises(FileFormatError, match="no SMPLX_NEUTRAL.pkl"):
    resolve_model_path(folder, ext="pkl")


def test_load_model_from_a_folder_with_options(npz_path, raw):
  model = load_model(npz_path.parent, gender="NEUTRAL", num_betas=20, num_expression_coeffs=5,
                     use_pca=False, flat_hand_mean=True, use_face_contour=True)
  assert model.source == str(npz_path) and model.gender == "neutral"
  assert model.shapedirs.shape[2] == 20 and model.exprdirs.shape[2] == 5
  assert model.use_face_contour and model.hand_components == {}
  np.testing.assert_array_equal(np.asarray(model.hands_mean_left), raw["hands_meanl"])
  np.testing.assert_array_equal(np.asarray(model.hand_mean["left_hand_pose"]), 0.0)
  assert BodyParams.zeros(model).left_hand_pose.shape == (45,)


def test_pkl_with_sparse_regressor_matches_npz(raw, model, tmp_path):
  arrays = dict(raw)
  arrays["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
  path = tmp_path / "SMPLX_MALE.pkl"
  with open(path, "wb") as handle:
    pickle.dump(arrays, handle, protocol=2)
  from_pkl = load_model(tmp_path, gender="male", ext="pkl")
  assert from_pkl.source == str(path)
  for name in ("v_template", "faces", "J_regressor", "shapedirs", "lbs_weights"):
    np.testing.assert_array_equal(np.asarray(getattr(from_pkl, name)),
                                  np.asarray(getattr(model, name)))


def test_legacy_twenty_direction_shape_space(raw):
  arrays = _with(raw, shapedirs=raw["shapedirs"][:, :, :20])
  model = model_from_arrays(arrays, num_betas=10, num_expression_coeffs=10)
  np.testing.assert_array_equal(np.asarray(model.exprdirs), raw["shapedirs"][:, :, 10:20])
  with pytest.raises(InvalidInputError, match="num_betas=11.*10 shape directions"):
    model_from_arrays(arrays, num_betas=11)


# Errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["posedirs", "kintree_table", "lmk_bary_coords"])
def test_missing_key(raw, key):
  with pytest.raises(FileFormatError, match=f"my.npz: missing key.*'{key}'"):
    model_from_arrays(_with(raw, **{key: None}), source="my.npz")


def test_missing_contour_keys_only_matter_with_the_contour(raw):
  arrays = _with(raw, dynamic_lmk_faces_idx=None, dynamic_lmk_bary_coords=None)
  assert model_from_arrays(arrays).dynamic_lmk_faces_idx is None
  with pytest.raises(FileFormatError, match="dynamic_lmk_faces_idx.*use_face_contour"):
    model_from_arrays(arrays, use_face_contour=True)


@pytest.mark.parametrize("key, value, message", [
    ("v_template", np.zeros((NUM_VERTICES, 2)), r"'v_template' has shape \(10475, 2\)"),
    ("posedirs", np.zeros((NUM_VERTICES, 3, 207)), r"'posedirs' has shape"),
    ("J_regressor", np.zeros((24, NUM_VERTICES)), r"'J_regressor' has shape \(24, 10475\)"),
    ("weights", np.zeros((NUM_VERTICES, 54)), r"'weights' has shape"),
    ("hands_meanl", np.zeros(44), r"'hands_meanl' has shape"),
    ("f", np.full((NUM_FACES, 3), NUM_VERTICES), r"'f' holds index 10475, beyond the vertex"),
    ("f", np.zeros((NUM_FACES, 3)) + 0.5, "'f' must hold integer indices"),
    ("lmk_faces_idx", np.zeros(50, np.int64), r"'lmk_faces_idx' has shape \(50,\)"),
    ("shapedirs", np.zeros((NUM_VERTICES, 3, 10)), "shapedirs has 10 directions"),
    ("v_template", np.array([[object()] * 3] * NUM_VERTICES), "Python objects"),
    ("v_template", np.zeros((9000, 3)), r"'f' holds index 10474, beyond the vertex count \(9000"),
])
def test_misshaped_keys(raw, key, value, message):
  with pytest.raises(FileFormatError, match=message) as info:
    model_from_arrays(_with(raw, **{key: value}), source="bad.npz")
  assert info.value.path == "bad.npz"


def test_too_few_vertices_for_smplx_vertex_joints(raw):
  small = {k: raw[k] for k in raw}
  small["v_template"] = raw["v_template"][:9000]
  small["shapedirs"] = raw["shapedirs"][:9000]
  small["posedirs"] = raw["posedirs"][:9000]
  small["J_regressor"] = raw["J_regressor"][:, :9000]
  small["weights"] = raw["weights"][:9000]
  small["f"] = raw["f"] % 9000
  with pytest.raises(FileFormatError, match="vertex ids up to 9929"):
    model_from_arrays(small)


def test_non_finite_values(raw):
  shapedirs = raw["shapedirs"].copy()
  shapedirs[5, 1, 3] = np.nan
  shapedirs[6, 0, 0] = np.inf
  with pytest.raises(FileFormatError, match="'shapedirs' holds 2 non-finite"):
    model_from_arrays(_with(raw, shapedirs=shapedirs))


def test_parents_must_precede_children(raw):
  kintree = raw["kintree_table"].astype(np.int64)
  kintree[0, 5] = 30
  with pytest.raises(FileFormatError, match=r"joint 5 \(right_knee\) the parent 30"):
    model_from_arrays(_with(raw, kintree_table=kintree))


@pytest.mark.parametrize("options, message", [
    (dict(num_pca_comps=46), r"num_pca_comps=46 is out of range \[1, 45\]"),
    (dict(num_pca_comps=0), "num_pca_comps=0"),
    (dict(num_betas=301), r"num_betas=301 .*300 shape directions"),
    (dict(num_expression_coeffs=101), "num_expression_coeffs=101"),
    (dict(num_betas=2.5), "num_betas must be an integer"),
    (dict(gender="robot"), "unknown gender 'robot'"),
    (dict(age="teen"), "unknown age 'teen'"),
    (dict(age="kid"), "kid_template_path"),
    (dict(kid_template=np.zeros((NUM_VERTICES, 3))), "age='adult'"),
    (dict(dtype=np.int32), "float32 or float64"),
    (dict(dtype=np.float64), "jax_enable_x64"),
    (dict(use_pca="yes"), "use_pca must be True or False"),
])
def test_unsupported_options(raw, options, message):
  with pytest.raises(InvalidInputError, match=message):
    model_from_arrays(raw, source="opts.npz", **options)


def test_kid_template_errors(raw, tmp_path):
  bad = tmp_path / "kid.npy"
  np.save(bad, np.zeros((100, 3)))
  with pytest.raises(FileFormatError, match=r"kid.npy: kid template has shape \(100, 3\)"):
    model_from_arrays(raw, age="kid", kid_template_path=bad)
  with pytest.raises(FileFormatError, match="cannot read the kid template"):
    model_from_arrays(raw, age="kid", kid_template_path=tmp_path / "missing.npy")


def test_file_errors(tmp_path, npz_path):
  with pytest.raises(FileFormatError, match="no such file or folder"):
    load_model(tmp_path / "nothing.npz")
  with pytest.raises(FileFormatError, match="no SMPLX_NEUTRAL.npz.*found: none"):
    load_model(tmp_path)
  text = tmp_path / "model.obj"
  text.write_text("v 0 0 0\n")
  with pytest.raises(FileFormatError, match="unknown model file type '.obj'"):
    load_model(text)
  with pytest.raises(InvalidInputError, match="unknown ext 'obj'"):
    load_model(npz_path.parent, ext="obj")
  broken = tmp_path / "SMPLX_MALE.npz"
  broken.write_bytes(b"not a zip file at all")
  with pytest.raises(FileFormatError, match="SMPLX_MALE.npz: cannot read this .npz"):
    load_model(tmp_path, gender="male")
  listed = tmp_path / "SMPLX_FEMALE.pkl"
  listed.write_bytes(pickle.dumps([1, 2, 3]))
  with pytest.raises(FileFormatError, match="holds a list, not a mapping"):
    load_model(listed)
  # A chumpy-era pickle: its arrays come out as numpy without chumpy installed.
  old = tmp_path / "old.pkl"
  shapedirs = np.arange(24.0).reshape(2, 3, 4)
  old.write_bytes(_chumpy_era_pickle({"shapedirs": shapedirs, "f": np.zeros((1, 3), np.uint32)}))
  assert "chumpy" not in sys.modules
  arrays = read_model_file(old)
  np.testing.assert_array_equal(arrays["shapedirs"], shapedirs)
  assert "chumpy" not in sys.modules
  truncated = tmp_path / "cut.pkl"
  truncated.write_bytes(pickle.dumps({"v_template": np.zeros(3)})[:20])
  with pytest.raises(FileFormatError, match="cut.pkl: cannot read a model file: not a readable pickle"):
    load_model(truncated)


# Saving ---------------------------------------------------------------------------------------


def test_saved_file_loads_in_smplx_with_the_same_numbers(raw, tmp_path):
  options = dict(num_betas=8, num_expression_coeffs=12, num_pca_comps=9,
                 flat_hand_mean=True, use_face_contour=True)
  model = model_from_arrays(raw, **options)
  path = save_model(model, tmp_path / "SMPLX_NEUTRAL")
  assert path == tmp_path / "SMPLX_NEUTRAL.npz"
  assert sorted(p.name for p in tmp_path.iterdir()) == ["SMPLX_NEUTRAL.npz"]  # no temp files
  saved = dict(np.load(path))
  assert saved["shapedirs"].shape == (NUM_VERTICES, 3, 400)
  np.testing.assert_array_equal(saved["shapedirs"][:, :, 8:300], 0.0)
  np.testing.assert_array_equal(saved["shapedirs"][:, :, 300:312], raw["shapedirs"][:, :, 300:312])
  np.testing.assert_array_equal(saved["hands_meanl"], raw["hands_meanl"])  # true mean kept

  batch = 2
  ref = smplx.SMPLX(str(path), batch_size=batch, **options)
  rng = np.random.default_rng(0)
  values = {name: rng.normal(scale=0.3, size=(batch, ref_param.shape[1])).astype(np.float32)
            for name, ref_param in ref.named_parameters()}
  with torch.no_grad():
    expected = ref(**{k: torch.from_numpy(v) for k, v in values.items()})
  reloaded = load_model(path, **options)
  out = jax.jit(forward)(reloaded, BodyParams.create(reloaded, **values))
  np.testing.assert_allclose(np.asarray(out.vertices), expected.vertices.numpy(), atol=1e-5)
  np.testing.assert_allclose(np.asarray(out.joints), expected.joints.numpy(), atol=1e-5)
  for name in ("v_template", "shapedirs", "exprdirs", "J_regressor", "lbs_weights"):
    np.testing.assert_array_equal(np.asarray(getattr(reloaded, name)),
                                  np.asarray(getattr(model, name)))


def test_saved_kid_model_keeps_its_kid_direction(raw, npz_path, tmp_path):
  kid_file = npz_path.parent / KID_TEMPLATE_NAME
  model = model_from_arrays(raw, age="kid", kid_template_path=kid_file)
  assert model.num_betas == 11 and model.age == "kid"
  path = save_model(model, tmp_path / "SMPLX_NEUTRAL.npz")
  kid_copy = tmp_path / "SMPLX_NEUTRAL_kid_template.npy"
  assert kid_copy.is_file()
  reloaded = load_model(path, age="kid", kid_template_path=kid_copy)
  np.testing.assert_allclose(np.asarray(reloaded.shapedirs), np.asarray(model.shapedirs),
                             atol=1e-6)


def test_save_model_needs_a_full_model(model, tmp_path):
  with pytest.raises(InvalidInputError, match="full"):
    save_model(reduce_model(model, [0, 1]), tmp_path / "x.npz")


def _chumpy_era_pickle(arrays: dict) -> bytes:
  """A protocol-2 pickle in which every array is a ``chumpy.ch.Ch`` holding it as ``x``, as the
  released SMPL / SMPL-X pickles store them (written with a stand-in module, no chumpy needed)."""
  import types
  module = types.ModuleType("chumpy.ch")

  class Ch:
    def __init__(self, x):
      self.x = x

  Ch.__module__ = "chumpy.ch"
  Ch.__qualname__ = "Ch"
  module.Ch = Ch
  package = types.ModuleType("chumpy")
  package.ch = module
  sys.modules.update({"chumpy": package, "chumpy.ch": module})
  try:
    return pickle.dumps({k: Ch(v) for k, v in arrays.items()}, protocol=2)
  finally:
    del sys.modules["chumpy"], sys.modules["chumpy.ch"]
