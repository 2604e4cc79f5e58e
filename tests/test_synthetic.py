"""Tests of the synthetic contact benchmark: simulated answers, designs, scenes, files."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from posejax import InvalidInputError
from posejax.body import vocabulary
from posejax.data import synthetic_answers as answers_lib
from posejax.data import synthetic_poses
from lmm_answers import perfect_answer_settings
from posejax.data.synthetic_answers import AnswerSettings
from posejax.data.synthetic_answers import simulate_answers
from posejax.lmm import parse_answer


def _strip(cell) -> str:
  assert isinstance(cell, str), f"the simulator never writes alternatives, got {cell!r}"
  return vocabulary.split_side(cell)[1]


def _coarse_set(rows, people):
  out = set()
  for a, b in rows:
    pair = (_strip(a), _strip(b))
    out.add(tuple(sorted(pair)) if people == 1 else pair)
  return out


def _true_coarse(design):
  return _coarse_set(design.contacts, design.people)


# ---------------------------------------------------------------------------------------------
# Designs


@pytest.mark.parametrize("kind", list(synthetic_poses.SCENE_DESIGNS))
def test_designs_are_answerable_and_well_formed(kind):
  design = synthetic_poses.scene_design(kind)
  assert len(design.persons) == design.people
  for pair in design.contacts:
    # Every true pair can be named in the prompt vocabulary of its people count.
    answers_lib.coarse_pair(pair, design.people)
    assert all(name in vocabulary.REGION_INDEX for name in pair)
  for person in design.persons:
    pose = person.body_pose()
    assert pose.shape == (21, 3) and np.all(np.isfinite(pose))
    assert np.all(np.linalg.norm(pose, axis=1) < np.pi)


def test_turn_follows_the_documented_conventions():
  from scipy.spatial.transform import Rotation
  lowered = Rotation.from_rotvec(synthetic_poses.turn(("z", -np.pi / 2))).apply([1.0, 0.0, 0.0])
  np.testing.assert_allclose(lowered, [0.0, -1.0, 0.0], atol=1e-12)  # left arm hangs down
  forward = Rotation.from_rotvec(synthetic_poses.turn(("y", -np.pi / 2))).apply([1.0, 0.0, 0.0])
  np.testing.assert_allclose(forward, [0.0, 0.0, 1.0], atol=1e-12)  # left arm points forward
  thigh = Rotation.from_rotvec(synthetic_poses.turn(("x", -np.pi / 2))).apply([0.0, -1.0, 0.0])
  np.testing.assert_allclose(thigh, [0.0, 0.0, 1.0], atol=1e-12)  # hip flexion lifts the thigh
  composed = Rotation.from_rotvec(synthetic_poses.turn(("z", -np.pi / 2), ("y", -np.pi / 2)))
  # First lowered (to -y), then turned about y: a vector along -y is unchanged by that turn.
  np.testing.assert_allclose(composed.apply([1.0, 0.0, 0.0]), [0.0, -1.0, 0.0], atol=1e-12)


def test_unknown_kind_is_a_clear_error():
  with pytest.raises(InvalidInputError, match="known kinds"):
    synthetic_poses.scene_design("tango")


# ---------------------------------------------------------------------------------------------
# Simulated answers (pure text; parsed by the real parser)


@pytest.mark.parametrize("kind", list(synthetic_poses.SCENE_DESIGNS))
def test_perfect_answers_parse_back_to_the_true_pairs(kind):
  design = synthetic_poses.scene_design(kind)
  texts = simulate_answers(design.contacts, design.people, perfect_answer_settings(num_answers=5),
                           seed=(3, 1), description=design.description,
                           pose_name=design.pose_name)
  assert len(texts) == 5
  for text in texts:
    parsed = parse_answer(text, design.people)
    assert not parsed.dropped, (text, parsed)
    assert not parsed.unknown_words, (text, parsed)
    assert all(isinstance(c, str) and vocabulary.split_side(c)[0] is None
               for row in parsed.rows for c in row)
    assert _coarse_set(parsed.rows, design.people) == _true_coarse(design), text


def test_plurals_and_sides_parse_back_exactly():
  design = synthetic_poses.scene_design("hug")
  settings = perfect_answer_settings(num_answers=10, plural_rate=1.0)
  for record in simulate_answers(design.contacts, 2, settings, seed=0, detailed=True):
    parsed = parse_answer(record.text, 2)
    # Both hands on the back, twice over: each becomes one plural row, expanded with sides.
    assert ("hands", "back") in record.rows and ("waist (back)", "hands") in record.rows
    assert set(parsed.rows) == {("left hand", "back"), ("right hand", "back"),
                                ("waist (back)", "left hand"), ("waist (back)", "right hand"),
                                ("chest", "chest")}
  wrong = simulate_answers(design.contacts, 2, perfect_answer_settings(
      num_answers=50, side_rate=1.0, wrong_side_rate=1.0), seed=0, detailed=True)
  for record in wrong:
    assert record.sides_given == 4 and record.wrong_sides == 4
    assert ("right hand", "back") in record.rows  # the left hand written as the right one
    parsed = parse_answer(record.text, 2)
    assert parsed.sides_dropped == 4  # the parser ignores sides by default ...
    assert _coarse_set(parsed.rows, 2) == _true_coarse(design)
    trusted = parse_answer(record.text, 2, trust_sides=True)  # ... or keeps them when asked
    assert set(trusted.rows) == set(record.rows)


def test_swapped_roles_swap_both_columns():
  design = synthetic_poses.scene_design("hand_on_shoulder")
  records = simulate_answers(design.contacts, 2, perfect_answer_settings(swap_rate=1.0), seed=1,
                             detailed=True)
  for record in records:
    assert record.swapped
    assert set(parse_answer(record.text, 2).rows) == {("shoulder (front)", "hand")}


def test_error_rates_give_the_configured_shares():
  design = synthetic_poses.scene_design("piggyback")
  settings = AnswerSettings(num_answers=3000, miss_rate=0.3, hallucination_rate=0.25,
                            side_rate=0.2, wrong_side_rate=0.5, empty_rate=0.15, swap_rate=0.5,
                            plural_rate=0.0)
  records = simulate_answers(design.contacts, 2, settings, seed=11, detailed=True)
  n = len(records)
  empty = sum(r.empty for r in records)
  assert abs(empty / n - 0.15) < 4 * np.sqrt(0.15 * 0.85 / n)
  nonempty = [r for r in records if not r.empty]
  kinds = collections.Counter(k for r in nonempty for k in r.row_kinds)
  rows = sum(kinds.values())
  share = kinds["hallucinated"] / rows
  assert abs(share - 0.25) < 0.03, share
  kept = kinds["true"] / (len(nonempty) * len(design.contacts))
  assert abs(kept - 0.7) < 4 * np.sqrt(0.21 / (len(nonempty) * 3)), kept
  lateral_cells = sum(vocabulary.is_lateral(_strip(c)) for r in nonempty for row in r.rows
                      for c in row)
  given = sum(r.sides_given for r in nonempty)
  assert abs(given / lateral_cells - 0.2) < 0.03
  wrong = sum(r.wrong_sides for r in nonempty)
  true_given = sum(r.sides_given for r in nonempty)  # hallucinated cells' sides are never "wrong"
  assert 0.3 < wrong / true_given < 0.55
  assert 0.45 < np.mean([r.swapped for r in nonempty]) < 0.55

  # The real parser sees exactly the written rows, and the hallucinated ones are wrong.
  truth = _true_coarse(design)
  truth_swapped = {(b, a) for a, b in truth}
  wrong_rows = parsed_rows = 0
  for r in records[:600]:
    parsed = parse_answer(r.text, 2)
    assert not parsed.unknown_words
    assert _coarse_set(parsed.rows, 2) == _coarse_set(r.rows, 2)
    reference = truth_swapped if r.swapped else truth
    for row, kind in zip(r.rows, r.row_kinds):
      pair = (_strip(row[0]), _strip(row[1]))
      assert (pair in reference) == (kind == "true"), (row, kind, r.text)
    wrong_rows += sum(k == "hallucinated" for k in r.row_kinds)
    parsed_rows += len(r.row_kinds)
  assert abs(wrong_rows / parsed_rows - 0.25) < 0.06


def test_hallucinations_avoid_pairs_that_really_touch():
  design = synthetic_poses.scene_design("handshake")
  touching = [("right arm", "right hand"), ("right hand", "right arm")]
  settings = AnswerSettings(num_answers=400, hallucination_rate=0.6, near_miss_share=1.0,
                            empty_rate=0.0, swap_rate=0.0)
  records = simulate_answers(design.contacts, 2, settings, seed=2, also_touching=touching,
                             detailed=True)
  forbidden = {("hand", "hand"), ("arm", "hand"), ("hand", "arm")}
  halluc = [(_strip(a), _strip(b)) for r in records for (a, b), k in zip(r.rows, r.row_kinds)
            if k == "hallucinated"]
  assert halluc and not forbidden & set(halluc)


def test_one_person_answers_use_the_one_person_table():
  design = synthetic_poses.scene_design("hands_together")
  text = simulate_answers(design.contacts, 1, perfect_answer_settings(num_answers=1), seed=0,
                          pose_name=design.pose_name)[0]
  assert "| Body Part A | Body Part B |" in text and "| hand | hand |" in text
  assert design.pose_name in text
  assert parse_answer(text, 1).rows == (("hand", "hand"),)


def test_answers_are_deterministic_and_seeded():
  design = synthetic_poses.scene_design("hug")
  first = simulate_answers(design.contacts, 2, seed=(0, 4))
  assert first == simulate_answers(design.contacts, 2, seed=(0, 4))
  assert first != simulate_answers(design.contacts, 2, seed=(0, 5))
  assert len(first) == AnswerSettings().num_answers == 20


def test_answer_settings_are_checked_and_round_trip():
  with pytest.raises(InvalidInputError, match="miss_rate"):
    AnswerSettings(miss_rate=1.5)
  with pytest.raises(InvalidInputError, match="hallucination_rate"):
    AnswerSettings(hallucination_rate=1.0)
  with pytest.raises(InvalidInputError, match="unknown"):
    AnswerSettings.from_dict({"bogus": 1})
  settings = AnswerSettings(miss_rate=0.1, num_answers=7)
  assert AnswerSettings.from_dict(settings.to_dict()) == settings
  with pytest.raises(InvalidInputError, match="cannot be named"):
    simulate_answers([("waist", "back")], 2)  # plain "waist" is not a two-person prompt part
  with pytest.raises(InvalidInputError, match="not a resolved region"):
    simulate_answers([("left hnad", "back")], 2)


# ---------------------------------------------------------------------------------------------
# Generated scenes on the default body (module fixtures: the set-up and compilations are shared)

from scipy.spatial import cKDTree  # noqa: E402
from scipy.spatial.distance import cdist  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

from posejax import FileFormatError  # noqa: E402
from posejax.data import synthetic  # noqa: E402
from posejax.data import synthetic_initial  # noqa: E402

SETTINGS = synthetic.SyntheticSettings(seed=3)


@pytest.fixture(scope="module")
def model():
  from posejax.body import default_model
  return default_model()


@pytest.fixture(scope="module")
def region_masks(model):
  from posejax.body import derive_regions
  return np.asarray(derive_regions(model).masks)


@pytest.fixture(scope="module")
def two_person_scene(model):
  return synthetic.generate_scene("handshake", 0, SETTINGS, model)


@pytest.fixture(scope="module")
def one_person_scene(model):
  return synthetic.generate_scene("hands_together", 1, SETTINGS, model)


def _vertices_and_joints(model, params):
  import jax
  from posejax.body import BodyParams
  from posejax.body import forward
  fields = {k: np.asarray(v, np.float32) for k, v in params.items()}
  out = jax.jit(forward)(model, BodyParams.create(model, batch_shape=(len(fields["betas"]),),
                                                  **fields))
  return np.asarray(out.vertices, np.float64), np.asarray(out.joints, np.float64)


def _pair_distance(vertices_a, vertices_b, masks, a, b):
  ia, ib = vocabulary.REGION_INDEX[a], vocabulary.REGION_INDEX[b]
  return cdist(vertices_a[masks[ia]], vertices_b[masks[ib]]).min()


@pytest.mark.parametrize("which", ["two_person_scene", "one_person_scene"])
def test_true_contacts_are_geometric_facts(which, request, model, region_masks):
  scene = request.getfixturevalue(which)
  assert scene.synthetic and scene.scene_id.startswith("synthetic-")
  vertices, _ = _vertices_and_joints(model, scene.gt)
  other = vertices[1] if scene.people == 2 else vertices[0]
  for (a, b), stored in zip(scene.contact_pairs, scene.contact_distances):
    distance = _pair_distance(vertices[0], other, region_masks, a, b)  # brute force, all vertices
    assert distance < SETTINGS.contact_tolerance, (a, b, distance)
    assert distance == pytest.approx(stored, abs=2e-4)
  assert scene.penetration_depth <= SETTINGS.max_penetration


def test_two_people_do_not_interpenetrate_heavily(model, two_person_scene):
  import jax.numpy as jnp
  from posejax.losses import penetration
  vertices, _ = _vertices_and_joints(model, two_person_scene.gt)
  proxy = synthetic._workshop(model).proxy
  for a, b in ((0, 1), (1, 0)):  # every vertex, not only the generator's check subset
    inside = np.asarray(penetration.inside_mask(jnp.asarray(vertices[a], jnp.float32),
                                                jnp.asarray(vertices[b], jnp.float32), proxy))
    if inside.any():
      depth, _ = cKDTree(vertices[b]).query(vertices[a][inside])
      assert depth.max() <= SETTINGS.max_penetration + 0.005


def test_one_person_contact_does_not_sink_in(model, one_person_scene, region_masks):
  from posejax.body.regions import vertex_normals
  vertices, _ = _vertices_and_joints(model, one_person_scene.gt)
  normals = vertex_normals(vertices[0], np.asarray(model.faces))
  (a, b), = one_person_scene.contact_pairs
  ids_a = np.flatnonzero(region_masks[vocabulary.REGION_INDEX[a]])
  ids_b = np.flatnonzero(region_masks[vocabulary.REGION_INDEX[b]])
  distances = cdist(vertices[0][ids_a], vertices[0][ids_b])
  nearest = ids_b[np.argmin(distances, axis=1)]
  close = distances.min(axis=1) < 0.05
  signed = np.einsum("ij,ij->i", vertices[0][ids_a[close]] - vertices[0][nearest[close]],
                     normals[nearest[close]])
  assert -signed.min() <= SETTINGS.max_penetration


@pytest.mark.parametrize("which", ["two_person_scene", "one_person_scene"])
def test_keypoints_are_the_camera_projection_with_noise(which, request, model):
  from posejax.body.keypoints import smplx_to_body25
  from posejax.camera import project
  scene = request.getfixturevalue(which)
  width, height = scene.image_size
  assert scene.keypoints.shape == (scene.people, 25, 3)
  _, joints = _vertices_and_joints(model, scene.gt)
  body25 = np.asarray(smplx_to_body25(joints))
  assert np.all(body25[..., 2] > 0.5)  # in front of the camera
  exact = np.asarray(project(scene.camera(), body25))
  assert np.all((exact >= 0) & (exact < [width, height]))  # framed inside the image
  confidence = scene.keypoints[..., 2]
  seen = confidence > 0
  assert np.all((scene.keypoints[seen][:, :2] >= 0) & (scene.keypoints[seen][:, :2] < [width, height]))
  error = np.linalg.norm(scene.keypoints[..., :2] - exact, axis=-1)
  visible = ~scene.occluded
  assert error[visible].max() < 6 * SETTINGS.keypoint_noise
  assert error[~visible & seen].max(initial=0) < 6 * SETTINGS.occluded_keypoint_noise
  low, high = SETTINGS.visible_confidence
  assert np.all((confidence[visible] >= low) & (confidence[visible] <= high))
  assert np.all(confidence[~visible] <= SETTINGS.occluded_confidence[1])
  # Upright in the image: the nose above the ankles (y grows downwards).
  names = __import__("posejax.body.keypoints", fromlist=["x"]).BODY_25_NAMES
  assert np.all(exact[:, names.index("nose"), 1] < exact[:, names.index("left_ankle"), 1])


def test_side_view_hides_keypoints_and_front_view_shows_most(two_person_scene, one_person_scene):
  # The handshake is seen from the side: one arm of each person is behind its body.
  assert 0.1 < two_person_scene.occluded.mean() < 0.8
  assert one_person_scene.occluded.mean() < 0.5


def test_initial_estimate_is_degraded_by_the_configured_amounts(model):
  rng = np.random.default_rng(0)
  people = 400
  gt = {"betas": rng.normal(0, 0.5, (people, model.num_betas)),
        "global_orient": rng.normal(0, 0.3, (people, 3)),
        "body_pose": rng.normal(0, 0.3, (people, 63)),
        "transl": np.column_stack([rng.normal(0, 0.3, people), rng.normal(0, 0.3, people),
                                   rng.uniform(2.5, 4.0, people)])}
  occluded = np.zeros((people, 25), bool)
  occluded[:, vocabulary_body25_index("left_wrist")] = True  # hides the left elbow joint's limb
  settings = synthetic.SyntheticSettings(init_pose_noise=0.05, init_occluded_pose_noise=0.2,
                                         init_orient_noise=0.1, init_shape_noise=0.4,
                                         init_depth_noise=0.1, init_relative_noise=0.0)
  init = synthetic_initial.degrade(model, gt, occluded, settings, np.random.default_rng(1))

  def angles(a, b):
    return (Rotation.from_rotvec(a.reshape(-1, 3)).inv()
            * Rotation.from_rotvec(b.reshape(-1, 3))).magnitude().reshape(a.shape[0], -1)

  errors = angles(gt["body_pose"], init["body_pose"])  # (people, 21)
  hidden = synthetic_initial.hidden_joints(occluded)[0]
  # The wrist keypoint ends the forearm (elbow joint) and stands for the hand (wrist joint).
  assert [synthetic_poses.BODY_JOINTS[j] for j in np.flatnonzero(hidden)] == [
      "left_elbow", "left_wrist"]
  # A rotation vector with per-axis std s has RMS angle s * sqrt(3).
  assert np.sqrt(np.mean(errors[:, ~hidden] ** 2)) == pytest.approx(0.05 * np.sqrt(3), rel=0.05)
  assert np.sqrt(np.mean(errors[:, hidden] ** 2)) == pytest.approx(0.2 * np.sqrt(3), rel=0.1)
  root = angles(gt["global_orient"], init["global_orient"])
  assert np.sqrt(np.mean(root ** 2)) == pytest.approx(0.1 * np.sqrt(3), rel=0.1)
  assert np.std(init["betas"] - gt["betas"]) == pytest.approx(0.4, rel=0.05)
  pelvis_gt = synthetic.geometry.pelvis_rest_position(model, gt["betas"]) + gt["transl"]
  pelvis = synthetic.geometry.pelvis_rest_position(model, init["betas"]) + init["transl"]
  ratio = np.linalg.norm(pelvis, axis=1) / np.linalg.norm(pelvis_gt, axis=1)
  assert np.std(ratio) == pytest.approx(0.1, rel=0.15)
  # Along the viewing ray: the pelvis still projects where it did.
  np.testing.assert_allclose(pelvis[:, :2] / pelvis[:, 2:], pelvis_gt[:, :2] / pelvis_gt[:, 2:],
                             atol=1e-9)
  shifted = synthetic_initial.degrade(model, gt, occluded, synthetic.SyntheticSettings(
      init_depth_noise=0.0, init_relative_noise=0.08), np.random.default_rng(2))
  moved = synthetic.geometry.pelvis_rest_position(model, shifted["betas"]) + shifted["transl"]
  assert np.std(moved - pelvis_gt) == pytest.approx(0.08, rel=0.1)


def vocabulary_body25_index(name):
  from posejax.body.keypoints import BODY_25_NAMES
  return BODY_25_NAMES.index(name)


def test_scene_initial_estimate_differs_from_truth(two_person_scene):
  for field in ("body_pose", "betas", "transl", "global_orient"):
    assert two_person_scene.init[field].shape == two_person_scene.gt[field].shape
    assert not np.allclose(two_person_scene.init[field], two_person_scene.gt[field])
  for field in ("jaw_pose", "left_hand_pose", "expression"):
    np.testing.assert_array_equal(two_person_scene.init[field], two_person_scene.gt[field])


def test_scenes_are_deterministic(model, one_person_scene):
  again = synthetic.generate_scene("hands_together", 1, SETTINGS, model)
  for group in ("gt", "init"):
    for name, value in getattr(one_person_scene, group).items():
      np.testing.assert_array_equal(getattr(again, group)[name], value)
  np.testing.assert_array_equal(again.keypoints, one_person_scene.keypoints)
  assert again.answers == one_person_scene.answers
  other = synthetic.design_params(model, synthetic_poses.scene_design("hands_together"), SETTINGS, 2)
  first = synthetic.design_params(model, synthetic_poses.scene_design("hands_together"), SETTINGS, 1)
  assert not np.allclose(other["body_pose"], first["body_pose"])


def test_scene_answers_are_simulated_answers_of_its_pairs(two_person_scene):
  from posejax.lmm import parse
  scene = two_person_scene
  assert len(scene.answers) == SETTINGS.answers.num_answers
  constraints, report = parse(list(scene.answers), people=2, return_report=True)
  assert report.answers == 20 and not report.unknown_words
  assert np.asarray(constraints.sample_nonempty).sum() >= 10


def test_settings_are_recorded_and_round_trip(two_person_scene):
  assert synthetic.SyntheticSettings.from_dict(two_person_scene.settings) == SETTINGS
  with pytest.raises(InvalidInputError, match="unknown"):
    synthetic.SyntheticSettings.from_dict({"sed": 1})
  with pytest.raises(InvalidInputError, match="frame_fill"):
    synthetic.SyntheticSettings(frame_fill=1.5)
  for num_betas in (-1, 2.5, True):  # a negative count would zero the last betas
    with pytest.raises(InvalidInputError, match="num_betas"):
      synthetic.SyntheticSettings(num_betas=num_betas)


def test_save_and_load_round_trip(tmp_path, two_person_scene, one_person_scene):
  bench = synthetic.SyntheticBenchmark(
      scenes=(two_person_scene, one_person_scene), settings=SETTINGS.to_dict(),
      failures=(synthetic.SyntheticFailure("hug", 7, "left hand | back 3.0 cm apart"),))
  npz, js = synthetic.save_benchmark(bench, tmp_path / "set.json")
  assert npz.endswith("set.npz") and js.endswith("set.json")
  loaded = synthetic.load_benchmark(tmp_path / "set")
  assert len(loaded) == 2 and loaded.failures == bench.failures
  assert loaded.settings == json_round_trip(SETTINGS.to_dict())
  for a, b in zip(bench, loaded):
    assert a.to_dict() == json_round_trip(b.to_dict())
    for group in ("gt", "init"):
      assert set(getattr(a, group)) == set(getattr(b, group))
      for name in getattr(a, group):
        np.testing.assert_array_equal(getattr(a, group)[name], getattr(b, group)[name])
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.occluded, b.occluded)
  assert not list(tmp_path.glob(".tmp-*"))  # atomic writes leave no temporary files


def json_round_trip(value):
  import json
  return json.loads(json.dumps(value))


def test_bad_files_give_clear_errors(tmp_path, two_person_scene):
  with pytest.raises(FileFormatError, match="not found"):
    synthetic.load_benchmark(tmp_path / "missing")
  synthetic.save_benchmark([two_person_scene], tmp_path / "set")
  (tmp_path / "set.json").write_text("{not json")
  with pytest.raises(FileFormatError, match="set.json"):
    synthetic.load_benchmark(tmp_path / "set")
  synthetic.save_benchmark([two_person_scene], tmp_path / "set")
  (tmp_path / "set.npz").write_bytes(b"garbage")
  with pytest.raises(FileFormatError, match="set.npz"):
    synthetic.load_benchmark(tmp_path / "set")
  np.savez(tmp_path / "other.npz", x=np.zeros(1))
  (tmp_path / "other.json").write_text('{"format": "posejax.synthetic_benchmark", "version": 1, '
                                       '"scenes": [{"scene_id": "a"}]}')
  with pytest.raises(FileFormatError, match="scene 0"):
    synthetic.load_benchmark(tmp_path / "other")


def test_visible_keypoints_depth_test():
  from posejax.data import synthetic_geometry as geometry
  from posejax.body.keypoints import BODY_25_NAMES
  # Person 0: a 2 m wall 5 m away, all of it skinned to the pelvis; person 1: a 0.6 m wall 3 m
  # away in front of its middle. Pixels: a pinhole with f = 500 px centred at (320, 320).
  grid = np.stack(np.meshgrid(np.linspace(-1, 1, 81), np.linspace(-1, 1, 81)), -1).reshape(-1, 2)
  n = int(np.sqrt(len(grid)))
  faces = np.array([(r * n + c, r * n + c + 1, (r + 1) * n + c) for r in range(n - 1)
                    for c in range(n - 1)])
  wall = np.column_stack([grid, np.full(len(grid), 5.0)])
  front = np.column_stack([grid * 0.3, np.full(len(grid), 3.0)])
  vertices = np.stack([wall, front])
  to_pixels = lambda p: 320 + 500 * p[..., :2] / p[..., 2:]  # noqa: E731
  keypoints = np.zeros((2, 25, 3))
  keypoints[..., 2] = 5.2
  keypoints[0, :, :2] = [0.8, 0.8]  # beside the front wall
  mid_hip, nose = BODY_25_NAMES.index("mid_hip"), BODY_25_NAMES.index("nose")
  keypoints[0, mid_hip, :2] = [0.0, 0.0]  # straight behind it
  keypoints[1, :, :] = [0.0, 0.0, 3.0]
  owners = [np.array([0])] * 25  # every keypoint belongs to the pelvis here
  vertex_joint = np.zeros(len(grid), np.int64)
  visible = geometry.visible_keypoints(keypoints, to_pixels(keypoints), vertices,
                                       to_pixels(vertices), vertex_joint, faces, owners,
                                       (640, 640))
  assert not visible[0, mid_hip]  # behind the other body
  assert visible[0, BODY_25_NAMES.index("left_hip")]  # beside it, on its own surface
  assert not visible[0, nose]  # a skin point 20 cm behind its own wall
  assert visible[1, mid_hip]  # the front body's own surface


def test_generate_benchmark_keeps_kinds_balanced_and_reports_failures(monkeypatch, two_person_scene):
  calls = []

  def fake(kind, index, settings, model):
    calls.append((kind, index))
    if index in (1, 2, 5):
      raise synthetic.SceneCheckFailed(f"synthetic scene {kind!r} #{index}: too far")
    return dataclasses_replace(two_person_scene, kind=kind, index=index)

  monkeypatch.setattr(synthetic, "generate_scene", fake)
  bench = synthetic.generate_benchmark(4, 2, SETTINGS, model=object(),
                                       kinds=["hug", "handshake"], tries_per_scene=2)
  assert calls == [("hug", 0), ("handshake", 1), ("handshake", 2), ("hug", 3), ("handshake", 4),
                   ("hug", 5), ("hug", 6)]
  # The first handshake slot was given up after two failed tries; a failed hug is retried.
  assert [s.kind for s in bench] == ["hug", "hug", "handshake", "hug"]
  assert [s.index for s in bench] == [0, 3, 4, 6]
  assert [f.index for f in bench.failures] == [1, 2, 5]
  calls.clear()
  partial = synthetic.SyntheticBenchmark(scenes=bench.scenes[:2], settings=bench.settings,
                                         failures=bench.failures[:2])
  resumed = synthetic.generate_benchmark(4, 2, SETTINGS, model=object(),
                                         kinds=["hug", "handshake"], tries_per_scene=2,
                                         resume=partial)
  assert [s.index for s in resumed] == [0, 3, 4, 6] and calls[0] == ("handshake", 4)

  # By default a kind is never skipped: every failed draw is retried with the same kind.
  calls.clear()
  balanced = synthetic.generate_benchmark(4, 2, SETTINGS, model=object(),
                                          kinds=["hug", "handshake"])
  assert [s.kind for s in balanced] == ["hug", "handshake", "hug", "handshake"]
  assert [s.index for s in balanced] == [0, 3, 4, 6]
  assert calls[1:3] == [("handshake", 1), ("handshake", 2)]

  def fail(kind, index, settings, model):
    raise synthetic.SceneCheckFailed(f"synthetic scene {kind!r} #{index}: always")

  monkeypatch.setattr(synthetic, "generate_scene", fail)
  with pytest.raises(InvalidInputError, match="only 0 of 2 .* passed the check"):
    synthetic.generate_benchmark(2, 2, SETTINGS, model=object(), kinds=["hug"], max_attempts=3)


def dataclasses_replace(scene, **changes):
  import dataclasses
  return dataclasses.replace(scene, **changes)


def test_bundled_scenes_are_true_on_the_current_default_body(model, region_masks):
  bundle = synthetic.load_bundled()
  assert bundle[0].people == 2 and len(bundle[0].answers) == 20
  for scene in bundle:
    assert scene.model_fingerprint == synthetic.model_fingerprint(model), (
        "the default body changed: rebuild the bundled scenes with "
        "`python -m experiments.make_synthetic_assets`")
    vertices, _ = _vertices_and_joints(model, scene.gt)
    other = vertices[1] if scene.people == 2 else vertices[0]
    for a, b in scene.contact_pairs:
      assert _pair_distance(vertices[0], other, region_masks, a, b) < 0.01


def test_profile_scene_records_its_camera_failures_and_calibrated_start(model):
  from posejax.body.keypoints import smplx_to_body25
  from posejax.camera import Camera
  from posejax.camera import project
  settings = synthetic.SyntheticSettings.preset("chi3d", seed=3)
  scene = synthetic.generate_scene("handshake", 0, settings, model, check=False)
  assert synthetic.SyntheticSettings.from_dict(scene.settings) == settings
  assert scene.settings["profile"] == "chi3d"
  given, true = scene.focal_length[0], scene.true_focal_length[0]
  assert given == pytest.approx(synthetic._focal(settings))
  assert true == pytest.approx(synthetic.true_focal(settings, 0)) and true != given
  # The keypoints were taken by the true camera: visible, unfailed ones sit near its projection.
  _, joints = _vertices_and_joints(model, scene.gt)
  exact = np.asarray(project(Camera.from_intrinsics(scene.true_focal_length,
                                                    scene.principal_point, scene.image_size),
                             np.asarray(smplx_to_body25(joints))))
  error = np.linalg.norm(scene.keypoints[..., :2] - exact, axis=-1)
  assert np.median(error[~scene.occluded]) < 3 * settings.keypoint_noise
  # The start is calibrated: with the focal length's depth scale undone, the joint PA-MPJPE is
  # the scene's drawn target.
  z = synthetic._rng(settings, 0, "init").normal()
  spread = settings.init_target_spread
  target = settings.init_target_pa_mpjpe * np.exp(spread * z - spread ** 2 / 2)
  undone = synthetic_initial.rescale_distance(model, scene.init, true / given)
  errors = synthetic_initial.initial_errors(model, scene.gt, undone)
  assert errors["pa_mpjpe"] == pytest.approx(target, rel=0.03)
  assert errors["relative"] == pytest.approx(target * settings.init_target_relative
                                             / settings.init_target_pa_mpjpe, rel=1e-3)


def test_a_scene_whose_contacts_stop_short_is_repaired_with_stronger_contact(monkeypatch, model):
  shop = synthetic._workshop(model)
  real_refine, real_measure = shop.refiner.refine, synthetic.geometry.measure_scene
  passes = []

  def refine(params, pairs, moving, weights):
    passes.append((weights.contact, weights.pose_anchor))
    return real_refine(params, pairs, moving, weights)

  def measure(*args):
    measured = real_measure(*args)
    # The first pass "stops 5 cm short"; a repair pass reaches the contact.
    if len(passes) == 1:
      measured = dataclasses_replace(measured, contact_distances=measured.contact_distances + 0.05)
    return measured

  monkeypatch.setattr(shop.refiner, "refine", refine)
  monkeypatch.setattr(synthetic.geometry, "measure_scene", measure)
  scene = synthetic.generate_scene("handshake", 0, SETTINGS, model)
  base = SETTINGS.refine
  assert passes == [(base.contact, base.pose_anchor), (4 * base.contact, base.pose_anchor / 2)]
  assert np.all(scene.contact_distances <= SETTINGS.contact_tolerance)
  passes.clear()
  no_repair = dataclasses_replace(SETTINGS, repairs=0)
  with pytest.raises(synthetic.SceneCheckFailed, match=r"5\.\d cm apart.*after 0 repair"):
    synthetic.generate_scene("handshake", 0, no_repair, model)
  assert len(passes) == 1


def test_the_default_model_follows_the_float_width(monkeypatch):
  # The generator's default body must be default_model()'s for the current x64 setting, not the
  # one built under whichever setting asked first.
  import jax

  from posejax.body import default_model

  class Seen(Exception):
    pass

  def stop(model):
    raise Seen(model)

  monkeypatch.setattr(synthetic, "_workshop", stop)
  for x64 in (False, True, False):
    with jax.enable_x64(x64):
      with pytest.raises(Seen) as seen:
        synthetic.generate_scene("handshake")
      assert seen.value.args[0] is default_model()
