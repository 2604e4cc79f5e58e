"""The SMPL-X forward pass: parity with the smplx package, properties, and reduced models.

Parity runs the reference ``smplx.SMPLX`` (PyTorch) on the same generated full-size model file,
for random parameters with every field non-zero, over the option combinations the loader
supports. Each combination costs one model load and one compilation, so combinations are packed
into a few cases that together cover every option value.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import smplx
import smplx.lbs
import torch
from smplx_files import KID_TEMPLATE_NAME
from smplx_files import write_synthetic_smplx

from posejax.body import BodyModel
from posejax.body import BodyParams
from posejax.body import JOINT_NAMES
from posejax.body import forward
from posejax.body import load_model
from posejax.body import reduce_model
from posejax.body.forward import contour_bin
from posejax.body.io import model_from_arrays
from posejax.body.io import read_model_file
from posejax.body.model import PARAM_FIELDS
from posejax.body.model import field_width
from posejax.errors import InvalidInputError

BATCH = 4
HAND_JOINTS = np.arange(25, 55)
# One jitted forward for the whole file: models with equal options and parameter shapes share
# its compilations (the model is an argument, not a constant).
FWD = jax.jit(forward)


def _energy(model, params, vertex_weights):
  """A scalar of every output, vertices weighted per vertex; params of batch shape (2,)."""
  out = forward(model, params)
  return (jnp.sum(vertex_weights[None, :, None] * out.vertices ** 2)
          + jnp.sum(out.joints ** 2) + 0.1 * jnp.sum(out.joint_transforms))


GRAD = jax.jit(jax.grad(_energy, argnums=1))


@pytest.fixture(scope="module")
def model_dir(synthetic_smplx_file):
  return synthetic_smplx_file.parent


@pytest.fixture(scope="module")
def pkl_dir(tmp_path_factory):
  return write_synthetic_smplx(tmp_path_factory.mktemp("smplx_pkl"), ext="pkl").parent


@pytest.fixture(scope="module")
def raw_arrays(synthetic_smplx_file):
  return read_model_file(synthetic_smplx_file)


@pytest.fixture(scope="module")
def flat_model(raw_arrays):
  return model_from_arrays(raw_arrays, flat_hand_mean=True, use_pca=False,
                           use_face_contour=True)


@pytest.fixture(scope="module")
def model(raw_arrays):
  return model_from_arrays(raw_arrays, source="synthetic", num_betas=10,
                           num_expression_coeffs=10, use_face_contour=True)


def random_params(model, seed: int, batch_shape=(BATCH,), scale: float = 0.3,
                  dtype=np.float32) -> dict[str, np.ndarray]:
  """Random values for every field, all non-zero."""
  rng = np.random.default_rng(seed)
  out = {}
  for name in PARAM_FIELDS:
    width = field_width(model, name)
    if name in ("betas", "expression"):
      value = rng.normal(size=batch_shape + (width,))
    elif name == "transl":
      value = rng.normal(scale=0.5, size=batch_shape + (width,))
    else:
      value = rng.normal(scale=scale, size=batch_shape + (width,))
    out[name] = value.astype(dtype)
  return out


def exact_batch_rodrigues(rot_vecs, epsilon=1e-8):
  """smplx's batch_rodrigues without its 1e-8 angle offset (exact Rodrigues, float64 checks)."""
  del epsilon
  angle_sq = (rot_vecs * rot_vecs).sum(dim=1, keepdim=True)
  small = angle_sq < 1e-4
  angle = torch.sqrt(torch.where(small, torch.ones_like(angle_sq), angle_sq))
  a = torch.where(small, 1 - angle_sq / 6 + angle_sq ** 2 / 120, torch.sin(angle) / angle)
  half_sinc = torch.sin(angle / 2) / (angle / 2)
  b = torch.where(small, 0.5 - angle_sq / 24 + angle_sq ** 2 / 720, 0.5 * half_sinc ** 2)
  rx, ry, rz = rot_vecs[:, 0], rot_vecs[:, 1], rot_vecs[:, 2]
  zero = torch.zeros_like(rx)
  k = torch.stack([zero, -rz, ry, rz, zero, -rx, -ry, rx, zero], dim=1).view(-1, 3, 3)
  eye = torch.eye(3, dtype=rot_vecs.dtype).expand_as(k)
  return eye + a[:, :, None] * k + b[:, :, None] * torch.bmm(k, k)


PARITY_CASES = {
    # name: (ext, options)
    "defaults-npz": ("npz", dict()),
    "contour-fullhands-flat-pkl": ("pkl", dict(num_betas=300, num_expression_coeffs=100,
                                               use_pca=False, flat_hand_mean=True,
                                               use_face_contour=True)),
    "pca45-contour": ("npz", dict(num_betas=16, num_expression_coeffs=50, use_pca=True,
                                  num_pca_comps=45, use_face_contour=True)),
    "kid-pca3-flat": ("npz", dict(age="kid", num_betas=7, num_expression_coeffs=3,
                                  num_pca_comps=3, flat_hand_mean=True)),
}


def _reference(folder, ext, options, batch, torch_dtype):
  options = dict(options)
  if options.get("age") == "kid":
    options["kid_template_path"] = str(folder / KID_TEMPLATE_NAME)
  return smplx.SMPLX(str(folder), ext=ext, batch_size=batch, dtype=torch_dtype, **options)


def _compare(folder, ext, options, dtype, seed, tolerance):
  ref = _reference(folder, ext, options, BATCH, torch.float64 if dtype == np.float64
                   else torch.float32)
  load_options = dict(options)
  if load_options.get("age") == "kid":
    load_options["kid_template_path"] = folder / KID_TEMPLATE_NAME
  model = load_model(folder, ext=ext, dtype=dtype, **load_options)
  assert model.num_betas == ref.num_betas
  values = random_params(model, seed, dtype=dtype)
  out = FWD(model, BodyParams.create(model, **values))
  with torch.no_grad():
    expected = ref(**{k: torch.from_numpy(v) for k, v in values.items()})
  num_joints = 144 if options.get("use_face_contour") else 127
  assert out.joints.shape == (BATCH, num_joints, 3) == tuple(expected.joints.shape)
  assert out.vertices.shape == (BATCH, 10475, 3)
  vertex_error = np.abs(np.asarray(out.vertices) - expected.vertices.numpy()).max()
  joint_error = np.abs(np.asarray(out.joints) - expected.joints.numpy()).max()
  assert vertex_error < tolerance, vertex_error
  assert joint_error < tolerance, joint_error
  # The comparison means something: the parameters move the body far from the template.
  assert np.abs(np.asarray(out.vertices) - np.asarray(model.v_template)).max() > 0.1
  return out, model


@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_parity_float32(case, model_dir, pkl_dir):
  ext, options = PARITY_CASES[case]
  folder = pkl_dir if ext == "pkl" else model_dir
  _compare(folder, ext, options, np.float32, seed=list(PARITY_CASES).index(case), tolerance=1e-5)


@pytest.mark.parametrize("case", ["contour-fullhands-flat-pkl", "kid-pca3-flat"])
def test_parity_float64(case, model_dir, pkl_dir, x64, monkeypatch):
  """float64 parity within 1e-9 m.

  smplx's ``batch_rodrigues`` computes the angle as ``norm(v + 1e-8)``, a 1e-8 relative
  perturbation that alone moves vertices by ~1e-8 m; posejax uses the exact formula. This test
  therefore patches smplx's Rodrigues with the exact formula (the float32 test compares with
  unpatched smplx).
  """
  monkeypatch.setattr(smplx.lbs, "batch_rodrigues", exact_batch_rodrigues)
  ext, options = PARITY_CASES[case]
  folder = pkl_dir if ext == "pkl" else model_dir
  _compare(folder, ext, options, np.float64, seed=7, tolerance=1e-9)


def test_contour_landmarks_follow_head_yaw(model, raw_arrays):
  # Turning the body by -20, 0, +20 degrees about the vertical picks contour rows 20, 0, 59
  # (smplx's table: rows 0..39 for yaw 0..39, rows 40..78 for yaw -1..-39, yaw = -angle).
  assert JOINT_NAMES[127 + 8] == "contour_middle"
  turn = np.zeros((3, 3), np.float32)
  turn[:, 1] = np.deg2rad([-20.0, 0.0, 20.0])
  out = FWD(model, BodyParams.create(model, global_orient=turn))
  rows = [int(contour_bin(t[12, :3, :3])) for t in out.joint_transforms]
  assert rows == [20, 0, 59]
  faces = raw_arrays["f"].astype(np.int64)
  for body, row in enumerate(rows):
    corners = np.asarray(out.vertices[body])[faces[raw_arrays["dynamic_lmk_faces_idx"][row]]]
    expected = np.einsum("lka,lk->la", corners, raw_arrays["dynamic_lmk_bary_coords"][row])
    np.testing.assert_allclose(np.asarray(out.joints[body, 127:]), expected, atol=1e-6)


def test_zero_params_give_the_template_when_hands_are_flat(flat_model):
  flat = flat_model
  out = FWD(flat, BodyParams.zeros(flat))
  np.testing.assert_allclose(np.asarray(out.vertices), np.asarray(flat.v_template), atol=1e-6)
  rest_joints = np.asarray(flat.J_regressor, np.float64) @ np.asarray(flat.v_template,
                                                                       np.float64)
  np.testing.assert_allclose(np.asarray(out.joints[:55]), rest_joints, atol=1e-6)
  transforms = np.asarray(out.joint_transforms)
  np.testing.assert_allclose(transforms[:, :3, :3], np.broadcast_to(np.eye(3), (55, 3, 3)),
                             atol=1e-7)
  np.testing.assert_allclose(transforms[:, :3, 3], rest_joints, atol=1e-6)


def test_zero_params_pose_the_hands_at_their_mean(raw_arrays, model, flat_model):
  """Not flat: zero parameters still rotate the fingers to the file's mean hand pose.

  Exactly the vertices that no hand joint skins and no hand pose corrective moves stay at the
  template; the rest equal a flat-hand model posed with the mean as explicit hand pose.
  """
  out = FWD(model, BodyParams.zeros(model))
  weights = raw_arrays["weights"]
  hand_rows = np.arange(9 * 24, 9 * 54)  # pose-basis rows of joints 25..54
  untouched = ((weights[:, HAND_JOINTS].sum(axis=1) == 0)
               & np.all(raw_arrays["posedirs"][:, :, hand_rows] == 0, axis=(1, 2)))
  assert 1000 < untouched.sum() < 10475 - 500
  vertices = np.asarray(out.vertices)
  template = np.asarray(model.v_template)
  np.testing.assert_allclose(vertices[untouched], template[untouched], atol=1e-6)
  assert np.abs(vertices[~untouched] - template[~untouched]).max() > 1e-3
  flat = flat_model
  posed = FWD(flat, BodyParams.create(flat, left_hand_pose=raw_arrays["hands_meanl"],
                                          right_hand_pose=raw_arrays["hands_meanr"]))
  np.testing.assert_allclose(vertices, np.asarray(posed.vertices), atol=1e-6)
  np.testing.assert_allclose(np.asarray(out.joints), np.asarray(posed.joints), atol=1e-6)


def test_global_orient_rotates_about_the_pelvis(model):
  values = random_params(model, 3, batch_shape=())
  rotation_vector = np.array([0.4, -1.1, 0.7], np.float32)
  base = BodyParams.create(model, **{**values, "global_orient": np.zeros(3, np.float32),
                                     "transl": np.zeros(3, np.float32)})
  turned = base.replace(global_orient=jnp.asarray(rotation_vector))
  fwd = FWD
  out0, out1 = fwd(model, base), fwd(model, turned)
  from scipy.spatial.transform import Rotation
  rot = Rotation.from_rotvec(rotation_vector.astype(np.float64)).as_matrix()
  pelvis = np.asarray(out0.joints[0], np.float64)
  # The face-contour landmarks (joints 127..143) are left out: their choice follows the yaw.
  for field, count in (("vertices", 10475), ("joints", 127)):
    before = np.asarray(getattr(out0, field), np.float64)[:count]
    after = np.asarray(getattr(out1, field), np.float64)[:count]
    np.testing.assert_allclose(after, (before - pelvis) @ rot.T + pelvis, atol=1e-5)
  np.testing.assert_allclose(np.asarray(out1.joints[0]), pelvis, atol=1e-6)


def test_batch_elements_are_independent_and_any_batch_shape_works(model):
  values = random_params(model, 4, batch_shape=(2, 3))
  fwd = FWD
  batched = fwd(model, BodyParams.create(model, **values))
  assert batched.vertices.shape == (2, 3, 10475, 3)
  assert batched.joint_transforms.shape == (2, 3, 55, 4, 4)
  single = fwd(model, BodyParams.create(model, **{k: v[1, 2] for k, v in values.items()}))
  np.testing.assert_allclose(np.asarray(batched.vertices[1, 2]), np.asarray(single.vertices),
                             atol=1e-6)
  np.testing.assert_allclose(np.asarray(batched.joints[1, 2]), np.asarray(single.joints),
                             atol=1e-6)
  changed = {k: v.copy() for k, v in values.items()}
  changed["body_pose"][0, 0] += 0.5
  changed["betas"][0, 0] += 1.0
  other = fwd(model, BodyParams.create(model, **changed))
  np.testing.assert_array_equal(np.asarray(other.vertices[1]), np.asarray(batched.vertices[1]))
  assert np.abs(np.asarray(other.vertices[0, 0] - batched.vertices[0, 0])).max() > 1e-3


def test_shared_betas_broadcast(model):
  values = random_params(model, 5)
  shared = values["betas"][0]
  params = BodyParams.create(model, **{**values, "betas": shared})
  assert params.betas.shape == (BATCH, 10)
  out = FWD(model, params)
  assert out.synthetic is False  # a model from a file
  explicit = FWD(model, BodyParams.create(
      model, **{**values, "betas": np.broadcast_to(shared, (BATCH, 10))}))
  np.testing.assert_array_equal(np.asarray(out.vertices), np.asarray(explicit.vertices))


def test_joint_transforms_are_world_frames(model):
  values = random_params(model, 6, batch_shape=())
  out = FWD(model, BodyParams.create(model, **values))
  transforms = np.asarray(out.joint_transforms, np.float64)
  np.testing.assert_allclose(transforms[:, 3], np.broadcast_to([0, 0, 0, 1], (55, 4)), atol=0)
  np.testing.assert_allclose(transforms[:, :3, 3], np.asarray(out.joints[:55]), atol=1e-6)
  rot = transforms[:, :3, :3]
  np.testing.assert_allclose(rot @ np.swapaxes(rot, 1, 2), np.broadcast_to(np.eye(3),
                                                                           rot.shape), atol=1e-5)
  # A child's frame is its parent's frame times its own local rotation.
  from posejax.body.rotations import axis_angle_to_matrix
  local = np.asarray(axis_angle_to_matrix(jnp.asarray(values["body_pose"].reshape(21, 3))),
                     np.float64)
  for joint in (4, 18, 21):  # left knee, left elbow, right wrist
    parent = model.parents[joint]
    np.testing.assert_allclose(rot[joint], rot[parent] @ local[joint - 1], atol=1e-5)


def test_gradients_are_finite_at_the_zero_pose(model):
  grads = GRAD(model, BodyParams.zeros(model, (2,)), jnp.ones(10475))
  for name in PARAM_FIELDS:
    value = np.asarray(getattr(grads, name))
    assert np.all(np.isfinite(value)), name
  assert np.abs(np.asarray(grads.body_pose)).max() > 0


def test_gradient_matches_finite_differences_through_zero_rotations(model, x64):
  # float64, on a small reduced model: every rotation starts exactly at zero.
  reduced = jax.tree_util.tree_map(
      lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a,
      reduce_model(model, _vertex_subset(4, 40), frozen_fields=()))
  params = BodyParams.zeros(reduced, (2,))
  weights = jnp.ones(40)
  value_and_grad = jax.jit(jax.value_and_grad(_energy, argnums=1))
  _, grads = value_and_grad(reduced, params, weights)
  rng = np.random.default_rng(0)
  direction = jax.tree_util.tree_map(lambda a: jnp.asarray(rng.normal(size=a.shape)), params)
  step = 1e-6
  plus = jax.tree_util.tree_map(lambda p, d: p + step * d, params, direction)
  minus = jax.tree_util.tree_map(lambda p, d: p - step * d, params, direction)
  numeric = (value_and_grad(reduced, plus, weights)[0]
             - value_and_grad(reduced, minus, weights)[0]) / (2 * step)
  analytic = sum(jnp.sum(g * d) for g, d in zip(jax.tree_util.tree_leaves(grads),
                                                 jax.tree_util.tree_leaves(direction)))
  np.testing.assert_allclose(float(analytic), float(numeric), rtol=1e-7)


def test_output_records_synthetic_models(model):
  assert not model.synthetic
  made = model.replace(synthetic=True, source="procedural")
  reduced = reduce_model(made, [0, 1])
  assert reduced.synthetic and reduced.source == "procedural"
  assert FWD(reduced, BodyParams.zeros(made)).synthetic is True


def test_params_create_checks_shapes(model):
  with pytest.raises(InvalidInputError, match="body_pose"):
    BodyParams.create(model, body_pose=np.zeros((2, 60)))
  with pytest.raises(InvalidInputError, match="left_hand_pose.*num_pca_comps=6"):
    BodyParams.create(model, left_hand_pose=np.zeros(45))
  with pytest.raises(InvalidInputError, match="unknown field"):
    BodyParams.create(model, pose=np.zeros(3))
  with pytest.raises(InvalidInputError, match="do not broadcast"):
    BodyParams.create(model, betas=np.zeros((2, 10)), transl=np.zeros((3, 3)))
  with pytest.raises(InvalidInputError, match="transl"):
    BodyParams.create(model, batch_shape=(), transl=np.zeros((4, 3)))
  params = BodyParams.create(model, batch_shape=(5,), transl=np.ones(3))
  assert params.transl.shape == (5, 3) and params.betas.shape == (5, 10)
  assert params.left_hand_pose.shape == (5, 6) and params.betas.dtype == jnp.float32
  assert BodyParams.zeros(model, (2, 3)).body_pose.shape == (2, 3, 63)


def test_forward_rejects_wrong_inputs(model):
  with pytest.raises(InvalidInputError, match="BodyParams"):
    forward(model, {"body_pose": np.zeros(63)})
  with pytest.raises(InvalidInputError, match="BodyModel"):
    forward("model.npz", BodyParams.zeros(model))
  bad = BodyParams.zeros(model).replace(body_pose=jnp.zeros(60))
  with pytest.raises(InvalidInputError, match="body_pose"):
    forward(model, bad)


# Reduced models -----------------------------------------------------------------------------


def _vertex_subset(seed=0, count=300):
  return np.random.default_rng(seed).choice(10475, count, replace=False)


def test_reduced_forward_matches_full_at_chosen_vertices(model):
  ids = np.concatenate([_vertex_subset(), [17, 17, 9120]])  # repeats and a landmark vertex
  values = random_params(model, 8)
  frozen = BodyParams.create(model, **{k: v[0] for k, v in values.items()})
  reduced = reduce_model(model, ids, frozen)
  assert isinstance(reduced, BodyModel) and reduced.reduced and reduced.num_vertices == len(ids)
  assert reduced.free_fields == ("betas", "global_orient", "body_pose", "transl")
  # Folded fields drop their blend directions: one product of betas and body correctives left.
  assert reduced.blend_groups == (("betas", "body_pose"),)
  assert reduced.blend_dirs[0].shape == (reduced.template.shape[0], 3, 10 + 189)
  assert reduced.template.shape[0] < 1500  # output rows plus landmark rows, not 10,475
  # Full forward with the folded values for every body in the batch.
  full_values = dict(values)
  for name in ("expression", "jaw_pose", "leye_pose", "reye_pose", "left_hand_pose",
               "right_hand_pose"):
    full_values[name] = np.broadcast_to(values[name][0], values[name].shape)
  fwd = FWD
  full = fwd(model, BodyParams.create(model, **full_values))
  # Folded fields in params are ignored.
  part = fwd(reduced, BodyParams.create(reduced, **values))
  assert part.vertices.shape == (BATCH, len(ids), 3) and part.joints.shape == (BATCH, 144, 3)
  np.testing.assert_allclose(np.asarray(part.vertices), np.asarray(full.vertices)[:, ids],
                             atol=2e-6)
  np.testing.assert_allclose(np.asarray(part.joints), np.asarray(full.joints), atol=2e-6)
  np.testing.assert_allclose(np.asarray(part.joint_transforms),
                             np.asarray(full.joint_transforms), atol=2e-6)


def test_a_reduced_model_is_a_body_model_without_the_files_arrays(model):
  reduced = reduce_model(model, _vertex_subset())
  assert not model.reduced and reduced.faces is None and reduced.J_regressor is None
  # The full model reads its file layout back from the forward tables.
  assert model.shapedirs.shape == (10475, 3, 10) and model.exprdirs.shape == (10475, 3, 10)
  assert model.posedirs.shape == (10475, 3, 486)
  np.testing.assert_array_equal(np.asarray(model.v_template), np.asarray(model.template))
  for name in ("v_template", "shapedirs", "posedirs"):
    with pytest.raises(InvalidInputError, match=f"BodyModel.{name}: this is a reduced model"):
      getattr(reduced, name)
  with pytest.raises(InvalidInputError, match="reduce the full model again"):
    reduce_model(reduced, _vertex_subset())


def test_reduced_model_with_everything_frozen_and_all_vertices(model):
  values = random_params(model, 9, batch_shape=())
  frozen = BodyParams.create(model, **values)
  reduced = reduce_model(model, None, frozen, frozen_fields=PARAM_FIELDS)
  assert reduced.free_fields == () and reduced.blend_dirs == () and reduced.blend_groups == ()
  out = FWD(reduced, BodyParams.zeros(model))
  full = FWD(model, frozen)
  np.testing.assert_allclose(np.asarray(out.vertices), np.asarray(full.vertices), atol=2e-6)
  np.testing.assert_allclose(np.asarray(out.joints), np.asarray(full.joints), atol=2e-6)


def test_reduced_models_vmap_over_per_scene_frozen_values(model):
  scenes = 2
  ids = _vertex_subset(1, 200)
  values = random_params(model, 10, batch_shape=(scenes, 3))  # 2 scenes of 3 people
  frozen = BodyParams.create(model, **{k: v[:, 0] for k, v in values.items()})
  reduced = jax.vmap(lambda f: reduce_model(model, ids, f))(frozen)
  assert reduced.template.shape[0] == scenes
  params = BodyParams.create(model, **values)
  out = jax.jit(jax.vmap(forward))(reduced, params)
  assert out.vertices.shape == (scenes, 3, len(ids), 3)
  full_values = dict(values)
  for name in ("expression", "jaw_pose", "leye_pose", "reye_pose", "left_hand_pose",
               "right_hand_pose"):
    full_values[name] = np.broadcast_to(values[name][:, :1], values[name].shape)
  full = FWD(model, BodyParams.create(model, **full_values))
  np.testing.assert_allclose(np.asarray(out.vertices), np.asarray(full.vertices)[:, :, ids],
                             atol=2e-6)
  np.testing.assert_allclose(np.asarray(out.joints), np.asarray(full.joints), atol=2e-6)


def test_reduced_models_share_one_compilation(model):
  ids = _vertex_subset(2, 100)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def posed_vertices(reduced, params):
    return forward(reduced, params).vertices

  params = BodyParams.zeros(model, (2,))
  for seed in range(3):  # different folded values, same structure: no retrace
    values = random_params(model, seed, batch_shape=())
    reduced = reduce_model(model, ids, BodyParams.create(model, **values))
    posed_vertices(reduced, params).block_until_ready()


def test_reduced_gradients_match_full(model):
  ids = _vertex_subset(3, 150)
  values = random_params(model, 11, batch_shape=(2,))
  free = {k: values[k] for k in ("body_pose", "betas", "transl", "global_orient")}
  reduced = reduce_model(model, ids)  # zeros folded: hands at their mean
  indicator = np.zeros(10475, np.float32)
  np.add.at(indicator, ids, 1.0)
  full_grad = GRAD(model, BodyParams.create(model, **free), jnp.asarray(indicator))
  part_grad = GRAD(reduced, BodyParams.create(reduced, **free), jnp.ones(len(ids)))
  for name in free:
    np.testing.assert_allclose(np.asarray(getattr(part_grad, name)),
                               np.asarray(getattr(full_grad, name)), rtol=1e-4, atol=1e-4)


def test_reduce_model_rejects_bad_input(model):
  with pytest.raises(InvalidInputError, match=r"\[0, 10475\)"):
    reduce_model(model, [0, 10475])
  with pytest.raises(InvalidInputError, match="1-D"):
    reduce_model(model, np.zeros((2, 2), int))
  with pytest.raises(InvalidInputError, match="unknown frozen field"):
    reduce_model(model, None, frozen_fields=("hands",))
  with pytest.raises(InvalidInputError, match="unbatched"):
    reduce_model(model, None, BodyParams.zeros(model, (2,)))
  with pytest.raises(InvalidInputError, match="full"):
    reduce_model(reduce_model(model, [1, 2]), [1])


def test_partly_folded_pose_group(model):
  # Fold one hand and the left eye only: the shared face-and-hands group keeps the other joints.
  ids = _vertex_subset(5, 120)
  values = random_params(model, 12, batch_shape=(2,))
  frozen = BodyParams.create(model, **{k: v[0] for k, v in values.items()})
  reduced = reduce_model(model, ids, frozen, frozen_fields=("left_hand_pose", "leye_pose"))
  assert reduced.blend_groups == (("betas", "body_pose"),
                                  ("expression", "jaw_pose", "reye_pose", "right_hand_pose"))
  assert reduced.blend_dirs[1].shape[2] == 10 + 9 * 17
  full_values = dict(values)
  for name in ("left_hand_pose", "leye_pose"):
    full_values[name] = np.broadcast_to(values[name][0], values[name].shape)
  full = FWD(model, BodyParams.create(model, **full_values))
  part = FWD(reduced, BodyParams.create(model, **values))
  np.testing.assert_allclose(np.asarray(part.vertices), np.asarray(full.vertices)[:, ids],
                             atol=2e-6)
  np.testing.assert_allclose(np.asarray(part.joints), np.asarray(full.joints), atol=2e-6)


def test_rest_root_is_the_posed_root_before_translation(x64):
  from posejax.body import default_model
  from posejax.body import rest_root

  model = default_model(dtype=np.float64)
  rng = np.random.default_rng(7)
  betas = rng.normal(size=(3, model.num_betas))
  params = BodyParams.create(model, betas=betas, global_orient=rng.normal(size=(3, 3)),
                             body_pose=0.3 * rng.normal(size=(3, 63)),
                             transl=rng.normal(size=(3, 3)))
  root = np.asarray(forward(model, params).joints)[:, 0]
  np.testing.assert_allclose(rest_root(model, betas) + np.asarray(params.transl), root, atol=1e-12)
  # Extra columns are ignored and missing ones count as zero.
  wide = np.concatenate([betas, np.ones((3, 2))], axis=1)
  np.testing.assert_array_equal(rest_root(model, wide), rest_root(model, betas))
  narrow = betas[:, :2]
  padded = np.concatenate([narrow, np.zeros((3, model.num_betas - 2))], axis=1)
  np.testing.assert_allclose(rest_root(model, narrow), rest_root(model, padded), atol=1e-15)
