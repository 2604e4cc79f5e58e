"""The synthetic default body: counts, closed parts, landmarks, skinning, shapes, smplx parity."""

import time

import numpy as np
import pytest
import trimesh

import posejax.body as pb
from posejax.body import default_body as db
from posejax.body.model import SKELETON_JOINT_NAMES
from posejax.body.model import SMPLX_PARENTS
from posejax.body.model import SMPLX_VERTEX_JOINT_IDS
from posejax.body.model import VERTEX_JOINT_NAMES

J = {name: i for i, name in enumerate(SKELETON_JOINT_NAMES)}
VJ = dict(zip(VERTEX_JOINT_NAMES, SMPLX_VERTEX_JOINT_IDS))


@pytest.fixture(scope="module")
def arrays():
  return db.default_body_arrays()


@pytest.fixture(scope="module")
def rest(arrays):
  """Rest vertices and rest joints (regressed)."""
  v = arrays["v_template"]
  return v, arrays["J_regressor"] @ v


@pytest.fixture(scope="module")
def model():
  return pb.default_model()


def test_counts_and_tables(arrays):
  shapes = {
      "v_template": (10475, 3), "f": (20908, 3), "shapedirs": (10475, 3, 400),
      "posedirs": (10475, 3, 486), "J_regressor": (55, 10475), "kintree_table": (2, 55),
      "weights": (10475, 55), "hands_componentsl": (45, 45), "hands_componentsr": (45, 45),
      "hands_meanl": (45,), "hands_meanr": (45,), "lmk_faces_idx": (51,),
      "lmk_bary_coords": (51, 3), "dynamic_lmk_faces_idx": (79, 17),
      "dynamic_lmk_bary_coords": (79, 17, 3),
  }
  assert {k: arrays[k].shape for k in shapes} == shapes
  assert tuple(arrays["kintree_table"][0, 1:]) == SMPLX_PARENTS[1:]
  assert np.array_equal(arrays["kintree_table"][1], np.arange(55))
  for key in ("J_regressor", "weights"):
    table = arrays[key]
    assert table.min() >= 0.0
    np.testing.assert_allclose(table.sum(axis=-1), 1.0, atol=1e-9)
  for key in ("lmk_bary_coords", "dynamic_lmk_bary_coords"):
    assert arrays[key].min() >= 0.0
    np.testing.assert_allclose(arrays[key].sum(axis=-1), 1.0, atol=1e-9)
  assert arrays["f"].min() == 0 and arrays["f"].max() < 10475
  for array in arrays.values():
    assert np.all(np.isfinite(array))


def test_closed_parts_with_outward_normals(arrays):
  mesh = trimesh.Trimesh(arrays["v_template"], arrays["f"], process=False)
  parts = sorted(mesh.split(only_watertight=False), key=lambda m: -len(m.faces))
  assert len(parts) == 3  # the body and two eyeballs
  for part in parts:
    assert part.is_watertight
    assert part.is_winding_consistent
    assert part.volume > 0
  # A human-sized body: about 60 litres.
  assert 0.045 < parts[0].volume < 0.09
  # V - F/2 = 2 * parts - 2 * genus + unused: three genus-0 parts leave 15 unused vertices.
  used = np.unique(arrays["f"])
  assert 10475 - len(used) == db.NUM_UNUSED_VERTICES == 15


def test_unused_vertices_sit_inside_the_trunk(arrays):
  v, faces = arrays["v_template"], arrays["f"]
  unused = np.setdiff1d(np.arange(len(v)), np.unique(faces))
  assert len(unused) == 15
  assert np.all(v[unused, 0] == 0.0)
  body = max(trimesh.Trimesh(v, faces, process=False).split(only_watertight=False),
             key=lambda m: len(m.faces))
  np.testing.assert_allclose(_winding_numbers(v[unused], body.vertices[body.faces]), 1.0,
                             atol=1e-6)
  # Skinned to the trunk, neck and head joints only.
  trunk = [J[n] for n in ("pelvis", "spine1", "spine2", "spine3", "neck", "head")]
  assert np.isin(arrays["weights"][unused].argmax(axis=1), trunk).all()


def _winding_numbers(points, triangles):
  """Generalised winding numbers (solid angle / 4 pi) of points (n, 3) for triangles (F, 3, 3)."""
  rel = triangles[None] - points[:, None, None, :]
  a, b, c = rel[:, :, 0], rel[:, :, 1], rel[:, :, 2]
  la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
  numerator = np.einsum("nfc,nfc->nf", a, np.cross(b, c))
  denominator = (la * lb * lc + np.einsum("nfc,nfc->nf", a, b) * lc +
                 np.einsum("nfc,nfc->nf", b, c) * la + np.einsum("nfc,nfc->nf", c, a) * lb)
  return 2.0 * np.arctan2(numerator, denominator).sum(axis=1) / (4.0 * np.pi)


def test_rest_pose_like_smplx(rest):
  v, joints = rest
  height = v[:, 1].max() - v[:, 1].min()
  assert 1.6 < height < 1.8
  assert -1.35 < v[:, 1].min() < -1.1
  assert np.linalg.norm(joints[J["pelvis"]]) < 0.4
  # Facing +z, left side at +x, arms out in a T.
  assert joints[J["left_wrist"], 0] > 0.6 and joints[J["right_wrist"], 0] < -0.6
  assert v[VJ["nose"], 2] > joints[J["head"], 2] + 0.08
  assert joints[J["head"], 1] > joints[J["neck"], 1] > joints[J["spine3"], 1] > \
      joints[J["pelvis"], 1] > joints[J["left_knee"], 1] > joints[J["left_ankle"], 1]


def test_mirror_symmetry(arrays):
  v = arrays["v_template"]
  mirrored = v * np.array([-1.0, 1.0, 1.0])
  from scipy.spatial import cKDTree
  gap, mirror = cKDTree(v).query(mirrored)
  assert gap.max() < 1e-9
  assert np.array_equal(mirror[mirror], np.arange(len(v)))
  # Skinning mirrors too: a vertex's dominant joint is the mirror of its mirror's.
  names = list(SKELETON_JOINT_NAMES)
  swap = np.array([names.index(n.replace("left_", "RIGHT_").replace("right_", "left_")
                               .replace("RIGHT_", "right_")) for n in names])
  np.testing.assert_allclose(arrays["weights"][mirror][:, swap], arrays["weights"], atol=1e-9)
  np.testing.assert_allclose(arrays["J_regressor"][:, mirror][swap] @ v,
                             arrays["J_regressor"] @ v, atol=1e-9)


def test_vertex_joints_at_anatomical_places(rest):
  v, joints = rest
  head = joints[J["head"]]
  nose = v[VJ["nose"]]
  assert abs(nose[0]) < 1e-9 and nose[2] > head[2] + 0.08 and abs(nose[1] - head[1]) < 0.06
  for side, sign in (("left", 1), ("right", -1)):
    eye, ear = v[VJ[f"{side}_eye"]], v[VJ[f"{side}_ear"]]
    assert sign * eye[0] > 0.02 and eye[2] > head[2] + 0.06 and eye[1] > nose[1]
    assert sign * ear[0] > 0.07 and ear[2] < eye[2] - 0.07
    ankle = joints[J[f"{side}_ankle"]]
    big, small, heel = (v[VJ[f"{side}_{n}"]] for n in ("big_toe", "small_toe", "heel"))
    assert big[2] > ankle[2] + 0.15 and small[2] > ankle[2] + 0.12
    assert sign * small[0] > sign * big[0]  # the small toe is on the outside
    assert heel[2] < ankle[2] - 0.02 and heel[1] < ankle[1] - 0.03
    for point in (big, small, heel):
      assert sign * point[0] > 0 and point[1] < v[:, 1].min() + 0.03
    for finger in ("thumb", "index", "middle", "ring", "pinky"):
      tip = v[VJ[f"{side}_{finger}"]]
      last = joints[J[f"{side}_{finger}3"]]
      previous = joints[J[f"{side}_{finger}2"]]
      # The tip continues the finger's last bone.
      bone, beyond = last - previous, tip - last
      assert beyond @ bone / (np.linalg.norm(beyond) * np.linalg.norm(bone)) > 0.9
      assert 0.012 < np.linalg.norm(beyond) < 0.035
      assert sign * tip[0] > 0.75


@pytest.mark.parametrize("joint, place", [
    ("left_shoulder", lambda J_: 0.6 * J_["left_shoulder"] + 0.4 * J_["left_elbow"]),
    ("left_elbow", lambda J_: 0.5 * J_["left_elbow"] + 0.5 * J_["left_wrist"]),
    ("left_wrist", lambda J_: J_["left_wrist"] + np.array([0.05, 0.0, 0.0])),
    ("left_index2", lambda J_: 0.5 * J_["left_index2"] + 0.5 * J_["left_index3"]),
    ("left_middle1", lambda J_: 0.5 * J_["left_middle1"] + 0.5 * J_["left_middle2"]),
    ("left_thumb2", lambda J_: 0.5 * J_["left_thumb2"] + 0.5 * J_["left_thumb3"]),
    ("left_hip", lambda J_: 0.5 * J_["left_hip"] + 0.5 * J_["left_knee"]),
    ("left_knee", lambda J_: 0.5 * J_["left_knee"] + 0.5 * J_["left_ankle"]),
    ("left_foot", lambda J_: J_["left_foot"] + np.array([0.0, 0.0, 0.06])),
    ("left_collar", lambda J_: np.array([0.12, 0.17, -0.03])),
    ("spine3", lambda J_: np.array([0.0, 0.02, 0.12])),
    ("pelvis", lambda J_: np.array([0.0, -0.40, -0.13])),
    ("neck", lambda J_: J_["neck"] + np.array([0.0, 0.03, -0.05])),
    ("head", lambda J_: np.array([0.0, 0.42, 0.0])),
    ("jaw", lambda J_: np.array([0.0, 0.21, 0.09])),
])
def test_dominant_skinning_joint(arrays, rest, joint, place):
  v, joints = rest
  named = {n: joints[i] for n, i in J.items()}
  target = place(named)
  used = np.setdiff1d(np.unique(arrays["f"]), [])
  nearest = used[np.argsort(np.linalg.norm(v[used] - target, axis=1))[:3]]
  dominant = arrays["weights"][nearest].argmax(axis=1)
  assert [SKELETON_JOINT_NAMES[d] for d in dominant] == [joint] * 3


def test_heel_toes_and_eyes_follow_their_joints(arrays, rest):
  v, joints = rest
  weights = arrays["weights"]
  for side in ("left", "right"):
    eye = joints[J[f"{side}_eye_smplhf"]]
    gap = np.abs(np.linalg.norm(v - eye, axis=1) - 0.0125)
    ball = np.flatnonzero(gap < 1e-6)  # the eyeball's surface
    assert len(ball) > 40 and VJ[f"{side}_eye"] in ball
    assert np.all(weights[ball, J[f"{side}_eye_smplhf"]] == 1.0)
  for side in ("left", "right"):
    assert weights[VJ[f"{side}_heel"]].argmax() == J[f"{side}_ankle"]
    assert weights[VJ[f"{side}_big_toe"]].argmax() == J[f"{side}_foot"]


def test_regressor_is_local_and_hits_the_designed_joints(arrays, rest):
  v, joints = rest
  designed, _ = db._design_joints()
  np.testing.assert_allclose(joints, designed, atol=1e-6)
  for joint in range(55):
    support = np.flatnonzero(arrays["J_regressor"][joint] > 0)
    assert len(support) >= 4
    assert np.linalg.norm(v[support] - joints[joint], axis=1).max() < 0.25


def test_shape_directions_like_pca(arrays):
  v, dirs = arrays["v_template"], arrays["shapedirs"].astype(np.float64)
  used = np.unique(arrays["f"])
  rms = np.sqrt((dirs[used] ** 2).sum(axis=1).mean(axis=0))
  assert np.all(np.diff(rms[:300]) < 0)  # decreasing like a PCA basis
  assert rms[0] > 10 * rms[40]
  height = lambda x: x[:, 1].max() - x[:, 1].min()  # noqa: E731
  for beta in (1.0, -1.0, 2.0):
    change = height(v + beta * dirs[:, :, 0]) - height(v)
    assert 0.04 * abs(beta) < np.sign(beta) * change < 0.10 * abs(beta)
  # Direction 2 makes legs longer and the trunk shorter; direction 1 adds girth.
  joints = lambda x: arrays["J_regressor"] @ x  # noqa: E731
  j0, j2 = joints(v), joints(v + dirs[:, :, 2])
  leg = lambda jj: jj[J["left_hip"], 1] - jj[J["left_ankle"], 1]  # noqa: E731
  trunk = lambda jj: jj[J["neck"], 1] - jj[J["pelvis"], 1]  # noqa: E731
  assert leg(j2) > leg(j0) + 0.01 and trunk(j2) < trunk(j0)
  belly = np.flatnonzero((np.abs(v[:, 0]) < 0.01) & (np.abs(v[:, 1] + 0.2) < 0.03) &
                         (v[:, 2] > 0))
  assert np.all(dirs[belly, 2, 1] > 0.005)


def test_expression_directions_move_only_the_face(arrays):
  v, dirs = arrays["v_template"], arrays["shapedirs"][:, :, 300:].astype(np.float64)
  moved = np.linalg.norm(dirs, axis=1).max(axis=1) > 2e-4
  assert moved.any()
  # The face, and the front of the neck under the jaw.
  assert v[moved, 1].min() > 0.16 and v[moved, 2].min() > -0.04
  # The first expression opens the jaw: the chin goes down.
  chin = np.argmin(np.linalg.norm(v - np.array([0.0, 0.21, 0.09]), axis=1))
  assert dirs[chin, 1, 0] < -1e-4


def test_pose_correctives_are_small_bulges(arrays):
  posedirs = arrays["posedirs"]
  assert np.abs(posedirs).max() < 0.01
  assert np.abs(posedirs).max() > 1e-4
  # Only diagonal entries of each joint's (R - I) drive them: a rotation's trace.
  off_diagonal = posedirs.reshape(10475, 3, 54, 9)[..., [1, 2, 3, 5, 6, 7]]
  assert np.abs(off_diagonal).max() == 0.0


def test_hand_pca(arrays):
  left, right = arrays["hands_componentsl"], arrays["hands_componentsr"]
  np.testing.assert_allclose(left @ left.T, np.eye(45), atol=1e-9)
  np.testing.assert_allclose(right, left * np.tile([1.0, -1.0, -1.0], 15), atol=1e-12)
  np.testing.assert_allclose(arrays["hands_meanr"], arrays["hands_meanl"] *
                             np.tile([1.0, -1.0, -1.0], 15), atol=1e-12)
  assert np.abs(arrays["hands_meanl"]).max() < 0.6


def test_first_hand_component_curls_the_fingers(model, arrays):
  flat = pb.BodyParams.create(model)
  # The mean hand is a relaxed curl: its finger tips hang below the flat template's.
  template_tips = arrays["v_template"][[VJ["left_index"], VJ["right_middle"]]]
  curled = pb.BodyParams.create(model, left_hand_pose=np.eye(6, dtype=np.float32)[0] * 1.5,
                                right_hand_pose=np.eye(6, dtype=np.float32)[0] * 1.5)
  joints_flat = np.asarray(pb.forward(model, flat).joints)
  joints_curled = np.asarray(pb.forward(model, curled).joints)
  for side, sign in (("left", 1), ("right", -1)):
    for finger in ("index", "middle", "ring", "pinky"):
      tip = 55 + VERTEX_JOINT_NAMES.index(f"{side}_{finger}")
      # Palms face down: curling moves the tips down and back towards the wrist.
      assert joints_curled[tip, 1] < joints_flat[tip, 1] - 0.01
      assert sign * joints_curled[tip, 0] < sign * joints_flat[tip, 0] - 0.01
  mean_tips = joints_flat[[55 + VERTEX_JOINT_NAMES.index(n) for n in ("left_index",
                                                                        "right_middle")]]
  assert np.all(mean_tips[:, 1] < template_tips[:, 1] - 0.01)


def test_face_landmarks_on_the_face(arrays, rest):
  v, joints = rest
  faces = arrays["f"]
  points = np.einsum("lk,lkc->lc", arrays["lmk_bary_coords"], v[faces[arrays["lmk_faces_idx"]]])
  head = joints[J["head"]]
  assert np.all(points[:, 2] > head[2] + 0.06)
  assert np.all((points[:, 1] > 0.2) & (points[:, 1] < 0.34))
  brows, eyes, mouth = points[:10], points[19:31], points[31:]
  assert brows[:, 1].min() > eyes[:, 1].max() > mouth[:, 1].max()
  assert np.all(np.sign(points[:5, 0]) == -1) and np.all(np.sign(points[5:10, 0]) == 1)
  contour = np.einsum("rlk,rlkc->rlc", arrays["dynamic_lmk_bary_coords"],
                      v[faces[arrays["dynamic_lmk_faces_idx"]]])
  # The jaw line: below the eyes, the chin in the middle, the sides out to the cheeks.
  assert contour[..., 1].max() < eyes[:, 1].min()
  assert np.all(contour[:, 8, 1] < contour[:, 4, 1])
  assert np.all(contour[:, 0, 0] < -0.05) and np.all(contour[:, 16, 0] > 0.05)


def test_model_is_marked_synthetic(model):
  assert model.synthetic
  assert "synthetic" in model.source
  assert "SYNTHETIC" in db.__doc__ and "SYNTHETIC" in db.default_model.__doc__
  out = pb.forward(model, pb.BodyParams.create(model))
  assert out.synthetic
  assert pb.default_model() is model  # built once per process and options


def test_smplx_gives_the_same_numbers(model, tmp_path):
  torch = pytest.importorskip("torch")
  smplx = pytest.importorskip("smplx")
  pb.save_model(model, tmp_path / "SMPLX_NEUTRAL.npz")
  reference = smplx.SMPLX(str(tmp_path), gender="neutral", num_betas=10,
                          num_expression_coeffs=10, use_pca=True, num_pca_comps=6)
  rng = np.random.default_rng(7)
  batch = 3
  params = {
      "betas": rng.normal(size=(batch, 10)), "expression": rng.normal(size=(batch, 10)),
      "global_orient": 0.4 * rng.normal(size=(batch, 3)),
      "body_pose": 0.4 * rng.normal(size=(batch, 63)),
      "jaw_pose": 0.1 * rng.normal(size=(batch, 3)), "leye_pose": 0.1 * rng.normal(size=(batch, 3)),
      "reye_pose": 0.1 * rng.normal(size=(batch, 3)),
      "left_hand_pose": rng.normal(size=(batch, 6)), "right_hand_pose": rng.normal(size=(batch, 6)),
      "transl": 0.2 * rng.normal(size=(batch, 3)),
  }
  params = {k: v.astype(np.float32) for k, v in params.items()}
  expected = reference(**{k: torch.from_numpy(v) for k, v in params.items()})
  ours = pb.forward(model, pb.BodyParams.create(model, **params))
  np.testing.assert_allclose(np.asarray(ours.vertices), expected.vertices.detach().numpy(),
                             atol=1e-5)
  np.testing.assert_allclose(np.asarray(ours.joints), expected.joints.detach().numpy(), atol=1e-5)


def test_smplx_reads_the_raw_arrays(arrays, tmp_path):
  torch = pytest.importorskip("torch")
  smplx = pytest.importorskip("smplx")
  np.savez(tmp_path / "SMPLX_NEUTRAL.npz", **arrays)
  reference = smplx.SMPLX(str(tmp_path), gender="neutral", num_betas=300,
                          num_expression_coeffs=100, flat_hand_mean=True, use_face_contour=True)
  betas = torch.zeros(1, 300)
  betas[0, 0] = 1.0
  out = reference(betas=betas)
  expected = arrays["v_template"] + arrays["shapedirs"][:, :, 0]
  np.testing.assert_allclose(out.vertices[0].detach().numpy(), expected, atol=1e-5)
  np.testing.assert_allclose(out.joints[0, :55].detach().numpy(),
                             arrays["J_regressor"] @ expected, atol=1e-5)
  assert out.joints.shape == (1, 144, 3)


def test_deterministic_and_fast():
  start = time.perf_counter()
  again = db.build_default_body_arrays()
  elapsed = time.perf_counter() - start
  cached = db.default_body_arrays()
  for key, value in cached.items():
    assert np.array_equal(again[key], value), key
  assert elapsed < 10.0  # about one second on a laptop; loose for busy test machines
  assert db.default_body_arrays() is cached
  with pytest.raises(ValueError):
    cached["v_template"][0, 0] = 1.0
