"""Metrics against hand-computed cases: Procrustes invariance, person order, MPJPE offsets, PCC,
the geodesic self-contact filter on a long tube, and regressor files."""

from __future__ import annotations

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posejax import metrics
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError


def _rotation(axis, angle):
  axis = np.asarray(axis, dtype=np.float64)
  axis = axis / np.linalg.norm(axis)
  skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
  return np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew


@pytest.fixture(scope="module")
def skeletons():
  rng = np.random.default_rng(0)
  return rng.normal(size=(2, 14, 3)) * 0.3


def test_similarity_transform_is_recovered(x64, skeletons):
  source = skeletons[0]
  rotation = _rotation([0.3, -1.0, 0.5], 1.1)
  target = 1.7 * source @ rotation.T + np.array([0.4, -2.0, 5.0])
  scale, found_rotation, translation = metrics.similarity_procrustes(jnp.asarray(source),
                                                                     jnp.asarray(target))
  np.testing.assert_allclose(scale, 1.7, rtol=1e-10)
  np.testing.assert_allclose(found_rotation, rotation, atol=1e-10)
  np.testing.assert_allclose(translation, [0.4, -2.0, 5.0], atol=1e-10)
  assert float(metrics.pa_mpjpe(jnp.asarray(source), jnp.asarray(target))) < 1e-9


def test_reflection_is_not_a_rotation(x64, skeletons):
  mirrored = skeletons[0] * np.array([-1.0, 1.0, 1.0])
  # The best proper rotation cannot undo a mirror image: the error must stay well above zero.
  assert float(metrics.pa_mpjpe(jnp.asarray(mirrored), jnp.asarray(skeletons[0]))) > 10.0


def test_joint_pa_mpjpe_zero_under_similarity_and_finds_person_order(x64, skeletons):
  rotation = _rotation([1.0, 2.0, 0.0], -0.7)
  moved = 0.8 * skeletons.reshape(28, 3) @ rotation.T + np.array([1.0, 0.0, 3.0])
  moved = moved.reshape(2, 14, 3)
  error, swapped = metrics.joint_pa_mpjpe(jnp.asarray(moved), jnp.asarray(skeletons))
  assert float(error) < 1e-9 and not bool(swapped)
  error, swapped = metrics.joint_pa_mpjpe(jnp.asarray(moved[::-1]), jnp.asarray(skeletons))
  assert float(error) < 1e-9 and bool(swapped)


def _scipy_pa_error_mm(pred, gt):
  """Independent similarity Procrustes: scipy's orthogonal Procrustes on centred points."""
  from scipy.linalg import orthogonal_procrustes
  pred_c = pred - pred.mean(axis=0)
  gt_c = gt - gt.mean(axis=0)
  rotation, singular_sum = orthogonal_procrustes(pred_c, gt_c)
  assert np.linalg.det(rotation) > 0  # no reflection needed for these cases
  scale = singular_sum / np.sum(pred_c**2)
  aligned = scale * pred_c @ rotation + gt.mean(axis=0)
  return 1000.0 * np.mean(np.linalg.norm(aligned - gt, axis=1))


def test_joint_pa_mpjpe_counts_relative_placement(x64, skeletons):
  # Each person is perfect on their own, but person 1 sits 0.5 m off: the per-person PA errors
  # vanish, the joint metric does not, and it equals an independent Procrustes over 28 joints.
  shifted = skeletons.copy()
  shifted[1] += np.array([0.5, 0.0, 0.0])
  errors = metrics.two_person_joint_errors(jnp.asarray(shifted), jnp.asarray(skeletons))
  np.testing.assert_allclose(errors["pa_mpjpe"], [0.0, 0.0], atol=1e-8)
  expected = _scipy_pa_error_mm(shifted.reshape(28, 3), skeletons.reshape(28, 3))
  assert expected > 50.0
  np.testing.assert_allclose(errors["joint_pa_mpjpe"], expected, rtol=1e-9)


def test_pa_mpjpe_matches_independent_procrustes(x64):
  rng = np.random.default_rng(5)
  gt = rng.normal(size=(14, 3))
  pred = gt + 0.2 * rng.normal(size=(14, 3))
  np.testing.assert_allclose(metrics.pa_mpjpe(jnp.asarray(pred), jnp.asarray(gt)),
                             _scipy_pa_error_mm(pred, gt), rtol=1e-9)


def test_mpjpe_known_offsets(x64, skeletons):
  gt = skeletons[0]
  offsets = np.zeros((14, 3))
  offsets[:, 2] = np.linspace(0.0, 0.13, 14)  # 0 .. 130 mm along z
  pred = gt + offsets
  no_root = metrics.mpjpe(jnp.asarray(pred), jnp.asarray(gt), root=None)
  np.testing.assert_allclose(no_root, 65.0, rtol=1e-10)
  # Mid-hip root (joints 2, 3 moved by 20 and 30 mm): every offset drops by 25 mm.
  rooted = metrics.mpjpe(jnp.asarray(pred), jnp.asarray(gt))
  expected = np.mean(np.abs(np.linspace(0.0, 130.0, 14) - 25.0))
  np.testing.assert_allclose(rooted, expected, rtol=1e-10)


def test_two_person_errors_use_matched_order(x64, skeletons):
  pred = skeletons[::-1].copy()
  pred[0] += np.array([0.0, 0.01, 0.0])  # pred person 0 = gt person 1, 10 mm off everywhere
  errors = metrics.two_person_joint_errors(jnp.asarray(pred), jnp.asarray(skeletons), root=None)
  assert bool(errors["swapped"])
  np.testing.assert_allclose(errors["mpjpe"], [10.0, 0.0], atol=1e-8)


def test_joint_metrics_vmap_over_scenes(skeletons):
  batch = jnp.asarray(np.stack([skeletons, skeletons[::-1]]), dtype=jnp.float32)
  gt = jnp.asarray(np.stack([skeletons, skeletons]), dtype=jnp.float32)
  errors, swapped = jax.vmap(metrics.joint_pa_mpjpe)(batch, gt)
  assert errors.shape == (2,) and np.all(np.asarray(errors) < 1e-2)
  np.testing.assert_array_equal(np.asarray(swapped), [False, True])


def test_regress_joints_and_lsp14_regressor():
  rng = np.random.default_rng(1)
  vertices = rng.normal(size=(30, 3))
  joint_regressor = np.zeros((22, 30))
  for joint in range(22):
    joint_regressor[joint, joint] = 0.5
    joint_regressor[joint, joint + 1] = 0.5
  rest = vertices.copy()
  rest[25, 1] = 10.0  # the head top
  regressor = metrics.lsp14_regressor(joint_regressor, rest)
  np.testing.assert_allclose(regressor.sum(axis=1), 1.0)
  joints = np.asarray(metrics.regress_joints(regressor, jnp.asarray(vertices)))
  right_ankle = 0.5 * (vertices[8] + vertices[9])
  np.testing.assert_allclose(joints[0], right_ankle, rtol=1e-6)
  np.testing.assert_allclose(joints[13], vertices[25], rtol=1e-6)
  head_only = np.zeros(30, dtype=bool)
  head_only[3] = True
  regressor = metrics.lsp14_regressor(joint_regressor, rest, head_vertex_mask=head_only)
  assert regressor[13, 3] == 1.0


@pytest.mark.parametrize("suffix", [".pkl", ".npy", ".npz"])
def test_load_joint_regressor_formats(tmp_path, suffix):
  regressor = np.random.default_rng(2).random((14, 40))
  path = tmp_path / f"SMPLX_to_J14{suffix}"
  if suffix == ".pkl":
    with open(path, "wb") as f:
      pickle.dump(regressor, f, protocol=2)
  elif suffix == ".npy":
    np.save(path, regressor)
  else:
    np.savez(path, J14_regressor=regressor)
  np.testing.assert_allclose(metrics.load_joint_regressor(path, num_vertices=40), regressor)


def test_load_joint_regressor_errors_name_the_file(tmp_path):
  with pytest.raises(FileFormatError, match="not found"):
    metrics.load_joint_regressor(tmp_path / "missing.pkl")
  wrong = tmp_path / "wrong.npy"
  np.save(wrong, np.zeros((17, 40)))
  with pytest.raises(FileFormatError, match=r"wrong\.npy.*\(17, 40\)"):
    metrics.load_joint_regressor(wrong)
  with pytest.raises(FileFormatError, match="is for 40 vertices"):
    np.save(wrong, np.zeros((14, 40)))
    metrics.load_joint_regressor(wrong, num_vertices=10475)
  garbage = tmp_path / "garbage.pkl"
  garbage.write_bytes(b"not a pickle")
  with pytest.raises(FileFormatError, match="garbage.pkl"):
    metrics.load_joint_regressor(garbage)


# ---------------------------------------------------------------------------------------------
# Two-person PCC


def test_pcc_of_exactly_placed_regions():
  rng = np.random.default_rng(3)
  vertices = rng.normal(size=(20, 3))
  regions = [np.array([0, 1, 2]), np.array([5, 6]), np.array([10, 11, 12, 13])]
  table = metrics.fixed_region_vertices(regions, count=3)
  pairs = np.array([[0, 0], [1, 1], [2, 2]])
  # Body B is body A: every region touches itself exactly (distance 0).
  distances = metrics.region_pair_distances(jnp.asarray(vertices), jnp.asarray(vertices), table,
                                            pairs)
  np.testing.assert_allclose(distances, 0.0)
  curve = np.asarray(metrics.pcc_curve(distances))
  assert curve.shape == (20,)
  assert curve[0] == 0.0  # strict "<": nothing is closer than 0
  np.testing.assert_allclose(curve[1:], 1.0)


def test_pcc_counts_share_of_pairs_below_each_tau():
  distances = np.array([0.01, 0.07, 0.30, 2.0])
  curve = np.asarray(metrics.pcc_curve(jnp.asarray(distances)))
  expected = [np.mean(distances < tau) for tau in metrics.PCC_THRESHOLDS_M]
  np.testing.assert_allclose(curve, expected)
  np.testing.assert_allclose(curve[[0, 1, 2, 7]], [0.0, 0.25, 0.5, 0.75])


def test_region_pair_distance_hand_value_and_swap():
  body_a = np.zeros((4, 3))
  body_b = np.zeros((4, 3))
  body_a[:, 0] = [0.0, 1.0, 2.0, 3.0]
  body_b[:, 0] = [10.0, 10.5, 11.0, 11.5]
  table = np.array([[0, 1], [2, 3]])
  pairs = np.array([[1, 0]])  # A's region 1 (x = 2, 3) vs B's region 0 (x = 10, 10.5): 7 m
  distances = metrics.region_pair_distances(jnp.asarray(body_a), jnp.asarray(body_b), table, pairs)
  np.testing.assert_allclose(distances, [7.0])
  people = jnp.asarray(np.stack([body_b, body_a]))  # predicted order reversed
  curve = metrics.two_person_pcc(people, pairs, table, swapped=True,
                                 thresholds=np.array([6.9, 7.1]))
  np.testing.assert_allclose(curve, [0.0, 1.0])


def test_fixed_region_vertices_deterministic_and_padded():
  rest = np.stack([np.linspace(0, 1, 50), np.zeros(50), np.zeros(50)], axis=1)
  regions = {"long": np.arange(50), "short": np.array([7, 3])}
  table = metrics.fixed_region_vertices(regions, count=5, rest_vertices=rest)
  assert table.shape == (2, 5)
  assert set(table[1]) == {3, 7}
  # Farthest-point sampling on a line from its middle reaches both ends.
  assert {0, 49} <= set(table[0])
  np.testing.assert_array_equal(table, metrics.fixed_region_vertices(regions, 5, rest))
  everything = metrics.fixed_region_vertices(regions, count=None)
  assert everything.shape == (2, 50)


def test_summarize_pcc_skips_images_without_contact():
  curves = np.array([[0.0, 0.5, 1.0], [np.nan, np.nan, np.nan], [0.0, 1.0, 1.0]])
  per_tau, mean = metrics.summarize_pcc(curves)
  np.testing.assert_allclose(per_tau, [0.0, 0.75, 1.0])
  assert mean == pytest.approx(1.75 / 3)


# ---------------------------------------------------------------------------------------------
# Self-contact PCC on a long tube


def _tube(length=1.0, radius=0.05, rings=41, around=12):
  """A closed-side open-ended tube along x: rings of vertices, quads split into triangles."""
  xs = np.linspace(0.0, length, rings)
  angles = np.linspace(0, 2 * np.pi, around, endpoint=False)
  vertices = np.array([[x, radius * np.cos(a), radius * np.sin(a)] for x in xs for a in angles])
  faces = []
  for ring in range(rings - 1):
    for k in range(around):
      a = ring * around + k
      b = ring * around + (k + 1) % around
      c = a + around
      d = b + around
      faces += [[a, b, c], [b, d, c]]
  return vertices, np.array(faces), xs, around


@pytest.fixture(scope="module")
def tube_index():
  vertices, faces, xs, around = _tube()
  ring_of = np.repeat(np.arange(xs.size), around)
  regions = [np.flatnonzero(ring_of < 4),                      # end A: x in [0, 0.075]
             np.flatnonzero((ring_of >= 18) & (ring_of < 22)),  # middle
             np.flatnonzero(ring_of >= 37)]                     # end B: x in [0.925, 1]
  index = metrics.build_self_contact_index(faces, vertices, regions, geodesic_threshold=0.3)
  return vertices, faces, ring_of, regions, index


def test_geodesic_filter_on_a_tube(tube_index):
  vertices, _, _, regions, index = tube_index
  # Rest tube: end A and the middle are 0.375 m apart along the surface and in space.
  rest = metrics.self_contact_distances(vertices, index)
  assert np.isinf(np.diag(rest)).all()
  np.testing.assert_allclose(rest[0, 1], 0.45 - 0.075, atol=1e-9)
  np.testing.assert_allclose(rest, rest.T)
  # Adjacent vertices are geodesically near, so no region is ever in contact with itself, and
  # close-by vertices within one region never register.
  middle = regions[1]
  assert index.near[np.searchsorted(index.vertex_ids, middle[0]),
                    np.searchsorted(index.vertex_ids, middle[1])]


def _bent_tube(vertices, ring_of, gap):
  """Folds the tube in a U so that end B comes back next to end A, ``gap`` metres apart."""
  bent = vertices.copy()
  x = vertices[:, 0]
  half = 0.5
  # Second half is mirrored back along x and lifted by the tube diameter plus the gap.
  second = x > half
  bent[second, 0] = 2 * half - x[second]
  bent[second, 1] = vertices[second, 1] + 0.1 + gap
  return bent


def test_self_contact_pcc_of_a_folded_tube(tube_index):
  vertices, _, ring_of, _, index = tube_index
  touching = _bent_tube(vertices, ring_of, gap=0.0)
  distances = metrics.self_contact_distances(touching, index)
  # The two ends now lie on top of each other, far apart along the surface: in contact.
  assert distances[0, 2] < 0.01
  curve = metrics.self_contact_pcc(touching, touching, index)
  assert curve[0] == 0.0 and np.all(curve[1:] == 1.0)
  # A prediction 12 cm apart recovers the contact only from tau = 15 cm on.
  apart = _bent_tube(vertices, ring_of, gap=0.12)
  curve = metrics.self_contact_pcc(apart, touching, index)
  taus = metrics.PCC_THRESHOLDS_M
  expected = (taus > metrics.self_contact_distances(apart, index)[0, 2]).astype(float)
  np.testing.assert_allclose(curve, expected)
  assert curve[2] == 0.0 and curve[3] == 1.0
  # Straight tube ground truth: no self-contact, no PCC.
  assert np.isnan(metrics.self_contact_pcc(touching, vertices, index)).all()


def test_self_contact_subsampled_index_agrees_on_a_clear_contact(tube_index):
  vertices, faces, ring_of, regions, _ = tube_index
  small = metrics.build_self_contact_index(faces, vertices, regions, max_vertices_per_region=8)
  assert small.vertex_ids.size == 24
  touching = _bent_tube(vertices, ring_of, gap=0.0)
  assert metrics.self_contact_distances(touching, small)[0, 2] < 0.03


def test_lsp14_regressor_for_a_model_uses_its_head_vertices():
  class TinyModel:  # the BodyModel fields the derivation reads
    pass

  rng = np.random.default_rng(9)
  model = TinyModel()
  model.v_template = rng.normal(size=(60, 3))
  model.J_regressor = np.eye(55, 60)
  model.lbs_weights = np.full((60, 55), 0.01)
  head_vertices = [40, 41, 42]
  model.lbs_weights[head_vertices, metrics.SMPLX_HEAD_JOINT] = 1.0
  model.v_template[5, 1] = 9.0  # tallest vertex overall, but not on the head
  model.v_template[41, 1] = 3.0  # tallest head vertex
  regressor = metrics.lsp14_regressor_for(model)
  assert regressor[13, 41] == 1.0 and regressor[13].sum() == 1.0
  np.testing.assert_array_equal(np.argmax(regressor[:13], axis=1),
                                metrics.LSP14_FROM_SMPLX_JOINTS)


# ---------------------------------------------------------------------------------------------
# One-call evaluation


def test_evaluate_two_person_matches_parts(x64, skeletons):
  # Vertices are the joints themselves (identity regressor), regions are single vertices.
  rng = np.random.default_rng(10)
  gt = skeletons
  pred = gt[::-1] + 0.01 * rng.normal(size=gt.shape)
  regressor = np.eye(14)
  table = np.arange(14)[:, None]
  pairs = np.array([[0, 13], [6, 6]])
  out = metrics.evaluate_two_person(pred, gt, regressor, pairs, table)
  assert bool(out["swapped"])
  errors = metrics.two_person_joint_errors(jnp.asarray(pred), jnp.asarray(gt))
  np.testing.assert_allclose(out["joint_pa_mpjpe"], errors["joint_pa_mpjpe"])
  # PCC in the matched order: pred person 1 plays gt person 0.
  expected = [np.linalg.norm(pred[1, 0] - pred[0, 13]), np.linalg.norm(pred[1, 6] - pred[0, 6])]
  curve = np.mean(np.asarray(expected)[None, :] < metrics.PCC_THRESHOLDS_M[:, None], axis=1)
  np.testing.assert_allclose(out["pcc"], curve)
  assert out["pcc_mean"] == pytest.approx(curve.mean())
  with pytest.raises(InvalidInputError, match="region_vertices"):
    metrics.evaluate_two_person(pred, gt, regressor, pairs)


def test_evaluate_one_person_on_a_tube(tube_index):
  vertices, _, ring_of, _, index = tube_index
  regressor = np.zeros((14, vertices.shape[0]))
  regressor[np.arange(14), np.arange(14) * 30] = 1.0
  folded = _bent_tube(vertices, ring_of, gap=0.0)
  out = metrics.evaluate_one_person(folded, folded, regressor, index)
  assert float(out["pa_mpjpe"]) < 1e-3 and float(out["mpjpe"]) < 1e-3  # mm, float32
  assert out["pcc"][1] == 1.0


def test_pcc_vmaps_over_scenes():
  rng = np.random.default_rng(11)
  scenes = jnp.asarray(rng.normal(size=(3, 2, 12, 3)), dtype=jnp.float32)
  table = np.arange(12).reshape(6, 2)
  pairs = np.array([[0, 1], [2, 5]])
  swapped = jnp.asarray([False, True, False])
  batched = jax.vmap(lambda v, s: metrics.two_person_pcc(v, pairs, table, s))(scenes, swapped)
  assert batched.shape == (3, 20)
  for i in range(3):
    np.testing.assert_allclose(batched[i], metrics.two_person_pcc(scenes[i], pairs, table,
                                                                  bool(swapped[i])))


def test_default_body_lsp14_regressor_tracks_posed_joints():
  from posejax import body

  model = body.default_model()
  regressor = metrics.lsp14_regressor_for(model)
  assert regressor.shape == (14, model.num_vertices)
  np.testing.assert_allclose(regressor.sum(axis=1), 1.0, rtol=1e-5)
  rng = np.random.default_rng(12)
  params = body.BodyParams.create(model, body_pose=0.3 * rng.normal(size=(2, 63)),
                                  global_orient=rng.normal(size=(2, 3)),
                                  transl=rng.normal(size=(2, 3)))
  posed = body.forward(model, params)
  joints = np.asarray(metrics.regress_joints(regressor, posed.vertices))
  skeleton = np.asarray(posed.joints)[:, list(metrics.LSP14_FROM_SMPLX_JOINTS)]
  # Regressing posed vertices approximates the kinematic joints (the standard J14 practice):
  # within a few millimetres at the limbs' hinges, a couple of centimetres at hips and
  # shoulders, whose skin moves most with the pose.
  gaps = np.linalg.norm(joints[:, :13] - skeleton, axis=-1)
  assert gaps.mean() < 0.01 and gaps.max() < 0.025
  # The head top rides rigidly with the head, well above the head joint.
  head = np.asarray(posed.joints)[:, metrics.SMPLX_HEAD_JOINT]
  above = np.linalg.norm(joints[:, 13] - head, axis=-1)
  assert np.all(above > 0.08) and np.ptp(above) < 1e-4
