"""Tests of the synthetic benchmark's failure models on constructed cases (fast: numpy only, except
the calibration tests, which pose the default body)."""

from __future__ import annotations

import numpy as np
import pytest

from posejax import InvalidInputError
from posejax.body.keypoints import BODY_25_NAMES
from posejax.data import synthetic
from posejax.data import synthetic_initial
from posejax.data.synthetic_settings import PROFILES
from posejax.data import synthetic_failures as failures
from posejax.data import synthetic_poses
from lmm_answers import perfect_answer_settings
from posejax.data.synthetic_answers import AnswerSettings
from posejax.data.synthetic_answers import simulate_answers

K = {name: i for i, name in enumerate(BODY_25_NAMES)}
DRAWS = 4000


def _within(observed: float, rate: float, trials: int) -> bool:
  """Within four binomial standard deviations of the rate."""
  return abs(observed - rate) <= 4 * np.sqrt(rate * (1 - rate) / trials) + 1e-12


def _two_people():
  """Two people side by side (1 m tall in the image); their right wrists 5 px apart."""
  rng = np.random.default_rng(0)
  exact = np.zeros((2, 25, 2))
  exact[0] = np.column_stack([rng.uniform(100, 200, 25), np.linspace(100, 600, 25)])
  exact[1] = exact[0] + [400.0, 0.0]
  exact[1, K["right_wrist"]] = exact[0, K["right_wrist"]] + [5.0, 0.0]
  keypoints = np.concatenate([exact + 1.0, rng.uniform(0.6, 0.9, (2, 25, 1))], axis=-1)
  return keypoints, exact


def test_swap_takes_exactly_the_close_keypoint_from_the_other_person_at_the_rate():
  keypoints, exact = _two_people()
  count = np.zeros((2, 25))
  for seed in range(DRAWS):
    out, swapped = failures.swap_people(keypoints, exact, np.random.default_rng(seed), 0.3, 0.1)
    count += swapped
    for p in range(2):
      np.testing.assert_array_equal(out[p][swapped[p]], keypoints[1 - p][swapped[p]])
      np.testing.assert_array_equal(out[p][~swapped[p]], keypoints[p][~swapped[p]])
  wrist = K["right_wrist"]
  others = np.delete(np.arange(25), wrist)
  assert count[:, others].sum() == 0  # only the keypoint whose twin is near can be swapped
  assert all(_within(count[p, wrist] / DRAWS, 0.3, DRAWS) for p in range(2))
  one, _ = failures.swap_people(keypoints[:1], exact[:1], np.random.default_rng(0), 1.0, 10.0)
  np.testing.assert_array_equal(one, keypoints[:1])  # nobody to swap with


def test_flip_exchanges_exactly_the_mirror_limb_keypoints_at_the_rate():
  keypoints, _ = _two_people()
  count = np.zeros((2, 2))
  for seed in range(DRAWS):
    out, flipped = failures.flip_limbs(keypoints, np.random.default_rng(seed), 0.05)
    count += flipped
    expected = keypoints.copy()
    for p in range(2):
      for g, (left, right) in enumerate(failures.FLIP_GROUPS.values()):
        if flipped[p, g]:
          expected[p, left], expected[p, right] = keypoints[p, right], keypoints[p, left]
    np.testing.assert_array_equal(out, expected)
  assert [BODY_25_NAMES[i] for i in failures.FLIP_GROUPS["arm"][0]] == [
      "left_shoulder", "left_elbow", "left_wrist"]
  assert [BODY_25_NAMES[i] for i in failures.FLIP_GROUPS["arm"][1]] == [
      "right_shoulder", "right_elbow", "right_wrist"]
  assert all(_within(c / DRAWS, 0.05, DRAWS) for c in count.ravel())


def test_hidden_keypoint_lands_confidently_on_the_nearest_other_limb_at_the_rate():
  keypoints, _ = _two_people()
  occluded = np.zeros((2, 25), bool)
  hidden = K["left_wrist"]
  occluded[0, hidden] = True
  # Its own elbow is nearest (same limb: not a wrong limb); the right hip comes next.
  keypoints[0, K["left_elbow"], :2] = keypoints[0, hidden, :2] + [1.0, 0.0]
  keypoints[0, K["right_hip"], :2] = keypoints[0, hidden, :2] + [0.0, 3.0]
  moved = 0
  for seed in range(DRAWS):
    out, misplaced = failures.misplace_hidden(keypoints, occluded, np.random.default_rng(seed),
                                              0.25, (0.6, 0.8))
    assert not (misplaced & ~occluded).any()  # visible keypoints never move
    np.testing.assert_array_equal(out[~misplaced], keypoints[~misplaced])
    if misplaced[0, hidden]:
      moved += 1
      np.testing.assert_array_equal(out[0, hidden, :2], keypoints[0, K["right_hip"], :2])
      assert 0.6 <= out[0, hidden, 2] <= 0.8
  assert _within(moved / DRAWS, 0.25, DRAWS)
  # Only the left elbow is seen: the rest of the left arm has no other limb to land on and stays;
  # every other hidden keypoint lands on the elbow.
  alone = keypoints[:1].copy()
  all_but_elbow = np.ones((1, 25), bool)
  all_but_elbow[0, K["left_elbow"]] = False
  out, misplaced = failures.misplace_hidden(alone, all_but_elbow, np.random.default_rng(0), 1.0,
                                            (0.6, 0.8))
  own = [K[n] for n in failures.LIMBS["left_arm"]]
  assert not misplaced[0, own].any() and np.array_equal(out[0, own], alone[0, own])
  assert misplaced.sum() == 25 - 3
  np.testing.assert_array_equal(out[0, misplaced[0], :2],
                                np.broadcast_to(alone[0, K["left_elbow"], :2], (22, 2)))


def test_missed_parts_lose_confidence_as_a_whole_at_the_rate():
  keypoints, _ = _two_people()
  hits = np.zeros(len(failures.MISSABLE_LIMBS))
  for seed in range(DRAWS):
    out, missed = failures.miss_limbs(keypoints, np.random.default_rng(seed), 0.05, (0.0, 0.1))
    np.testing.assert_array_equal(out[..., :2], keypoints[..., :2])  # positions stay
    assert np.all(out[..., 2][missed] <= 0.1)
    np.testing.assert_array_equal(out[..., 2][~missed], keypoints[..., 2][~missed])
    for j, name in enumerate(failures.MISSABLE_LIMBS):
      ids = [K[n] for n in failures.LIMBS[name]]
      part = missed[:, ids]
      assert np.all(part.all(axis=1) | ~part.any(axis=1))  # the whole part or none of it
      hits[j] += part[0].all()
    assert not missed[:, [K["neck"], K["mid_hip"]]].any()  # the torso is always found
  assert all(_within(h / DRAWS, 0.05, DRAWS) for h in hits)


def test_failures_check_their_input():
  with pytest.raises(InvalidInputError, match=r"\(P, 25, 3\)"):
    failures.flip_limbs(np.zeros((2, 18, 3)), np.random.default_rng(0), 0.1)


def test_true_focal_length_spreads_at_the_stated_log_error():
  settings = synthetic.SyntheticSettings(focal_error=0.2)
  given = synthetic._focal(settings)
  ratios = np.log([synthetic.true_focal(settings, i) / given for i in range(2000)])
  assert abs(ratios.mean()) < 4 * 0.2 / np.sqrt(2000)
  assert np.std(ratios) == pytest.approx(0.2, rel=0.08)
  assert synthetic.true_focal(synthetic.SyntheticSettings(), 5) == given


# ---------------------------------------------------------------------------------------------
# Profiles


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profiles_are_settings_that_round_trip(name):
  settings = synthetic.SyntheticSettings.preset(name, seed=4)
  assert settings.profile == name and settings.seed == 4
  assert settings.init_target_pa_mpjpe > 0 and settings.answers.correlation > 0
  assert synthetic.SyntheticSettings.from_dict(settings.to_dict()) == settings
  people = PROFILES[name].people
  assert people == (1 if name == "moyo" else 2)
  kinds = synthetic.default_kinds(people, settings)
  assert kinds and all(synthetic_poses.scene_design(k).people == people for k in kinds)
  assert PROFILES[name].reasons
  with pytest.raises(InvalidInputError, match="unknown synthetic profile"):
    synthetic.SyntheticSettings.preset("coco")


def test_published_initial_errors_are_the_profiles_targets():
  targets = {n: p.values["init_target_pa_mpjpe"] for n, p in PROFILES.items()}
  assert targets == {"hi4d": 144.0, "flickrci3d": 106.0, "chi3d": 96.0, "moyo": 84.0}


# ---------------------------------------------------------------------------------------------
# Correlated answers


def _miss_matrix(correlation: float, scenes: int = 300) -> np.ndarray:
  design = synthetic_poses.scene_design("handshake")
  assert len(design.contacts) == 1
  settings = perfect_answer_settings(miss_rate=0.3, correlation=correlation)
  rows = []
  for scene in range(scenes):
    records = simulate_answers(design.contacts, 2, settings, seed=(7, scene), detailed=True)
    rows.append([len(r.rows) == 0 for r in records])
  return np.asarray(rows, np.float64)  # (scenes, answers): 1 where the answer missed the pair


def _intra_scene_correlation(x: np.ndarray) -> float:
  """Pairwise correlation of two answers of the same scene (one-way ANOVA estimator)."""
  scenes, n = x.shape
  p = x.mean()
  between = ((x.mean(axis=1) - p) ** 2).sum() * n / (scenes - 1)
  within = ((x - x.mean(axis=1, keepdims=True)) ** 2).sum() / (scenes * (n - 1))
  return (between - within) / (between + (n - 1) * within)


@pytest.mark.parametrize("correlation", [0.0, 0.5])
def test_misses_keep_their_rate_and_share_the_stated_correlation(correlation):
  x = _miss_matrix(correlation)
  assert x.mean() == pytest.approx(0.3, abs=0.03 if correlation else 0.02)
  assert _intra_scene_correlation(x) == pytest.approx(correlation, abs=0.08)


def test_believed_sides_and_hallucinations_repeat_across_a_scenes_answers():
  design = synthetic_poses.scene_design("hug")
  sided = perfect_answer_settings(side_rate=1.0, wrong_side_rate=0.5, correlation=1.0)
  careless = perfect_answer_settings(hallucination_rate=0.3, correlation=1.0)
  wrong = []
  for scene in range(60):
    records = simulate_answers(design.contacts, 2, sided, seed=(1, scene), detailed=True)
    # Every answer writes each true pair with the same (believed) sides: one row per true pair.
    assert len({tuple(sorted(r.rows)) for r in records}) == 1
    wrong.append(records[0].wrong_sides / records[0].sides_given)
    records = simulate_answers(design.contacts, 2, careless, seed=(1, scene), detailed=True)
    fakes = {r.rows[i] for r in records for i, k in enumerate(r.row_kinds) if k != "true"}
    assert len(fakes) <= 3  # the belief's hallucinations only
  assert np.mean(wrong) == pytest.approx(0.5, abs=0.12)


def test_zero_correlation_draws_no_belief():
  design = synthetic_poses.scene_design("hug")
  settings = AnswerSettings(correlation=0.0)
  assert simulate_answers(design.contacts, 2, settings, seed=3) == simulate_answers(
      design.contacts, 2, AnswerSettings(), seed=3)


# ---------------------------------------------------------------------------------------------
# Calibrated initial estimates (pose the default body)


@pytest.fixture(scope="module")
def model():
  from posejax.body import default_model
  return default_model()


def _standing_pair(model):
  rng = np.random.default_rng(0)
  params = {"betas": rng.normal(0, 0.5, (2, model.num_betas)),
            "global_orient": np.array([[np.pi, 0.3, 0.0], [np.pi, -0.3, 0.0]]),
            "body_pose": rng.normal(0, 0.1, (2, 63)), "transl": np.array([[-0.3, 0, 3.0],
                                                                         [0.3, 0, 3.2]])}
  return synthetic._full_params(model, params)


@pytest.mark.parametrize("people", [2, 1])
def test_calibrated_initial_estimate_hits_its_targets(model, people):
  gt = {k: v[:people] for k, v in _standing_pair(model).items()}
  occluded = np.zeros((people, 25), bool)
  occluded[:, K["left_wrist"]] = True
  settings = synthetic.SyntheticSettings(init_target_pa_mpjpe=110.0, init_target_relative=90.0,
                                         init_target_spread=0.0)
  details = {}
  init = synthetic_initial.calibrated_degrade(model, gt, occluded, settings, np.random.default_rng(1),
                                      details)
  errors = synthetic_initial.initial_errors(model, gt, init)
  assert errors["pa_mpjpe"] == pytest.approx(110.0, rel=0.02)
  assert errors == pytest.approx(details["errors"], nan_ok=True)
  if people == 2:
    assert errors["relative"] == pytest.approx(90.0, rel=1e-6)
    assert errors["person_pa_mpjpe"] < errors["pa_mpjpe"]
  # The focal-length correction keeps every pelvis on its viewing ray.
  moved = synthetic_initial.rescale_distance(model, init, 0.8)
  a, b = synthetic_initial._pelvis(model, init), synthetic_initial._pelvis(model, moved)
  np.testing.assert_allclose(a[:, :2] / a[:, 2:], b[:, :2] / b[:, 2:], atol=1e-12)
