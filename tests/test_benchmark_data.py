"""posejax.data.benchmark: the method rows, constraints per method, batching, scores, tables, and
resumable scene generation (with a stand-in generator: the real one takes seconds to tens of seconds
a scene)."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from posejax import body
from posejax import metrics
from posejax.config import FitConfig
from posejax.constraints import Constraints
from posejax.data import benchmark
from posejax.data import benchmark_tables
from posejax.data import synthetic
from posejax.errors import InvalidInputError

WIDTH, HEIGHT = 320, 240


@pytest.fixture(scope="module")
def model():
  return body.default_model()


def _scene(index: int, people: int = 2, *, contacts=(("left hand", "right hand"),),
           answers=(), kind: str = "handshake") -> synthetic.SyntheticScene:
  """A stand-in scene: people at rest side by side, facing the camera, keypoints made up."""
  rng = np.random.default_rng(index)
  orient = np.tile([np.pi, 0.0, 0.0], (people, 1))
  transl = np.array([[-0.4, 0.0, 4.0], [0.4, 0.0, 4.0]])[:people]
  gt = {"global_orient": orient, "transl": transl, "body_pose": rng.normal(0, 0.05, (people, 63)),
        "betas": np.zeros((people, body.default_model().num_betas))}
  init = dict(gt, body_pose=gt["body_pose"] + 0.1)
  keypoints = np.concatenate([rng.uniform(0, 200, (people, 25, 2)), np.ones((people, 25, 1))], -1)
  return synthetic.SyntheticScene(
      scene_id=f"synthetic-{kind}-{index:04d}", kind=kind, people=people, gt=gt, init=init,
      keypoints=keypoints, occluded=np.zeros((people, 25), bool), contact_pairs=tuple(contacts),
      also_touching=(), contact_distances=np.zeros(len(contacts)), penetration_depth=0.0,
      focal_length=np.full(2, 300.0), principal_point=np.array([WIDTH / 2, HEIGHT / 2]),
      image_size=(WIDTH, HEIGHT), answers=tuple(answers), description="stand-in",
      settings=synthetic.SyntheticSettings().to_dict(), index=index, model_source="test")


def _table(rows):
  return "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n" + "".join(
      f"| {a} | {b} |\n" for a, b in rows)


# ----------------------------------------------------------------------------------------------
# Methods


def test_two_person_methods_are_the_papers_rows():
  methods = benchmark.benchmark_methods(2, max_iters=7)
  names = [m.name for m in methods]
  assert names == ["initial", "heuristic", "heuristic_placement", "no_contact", "posejax_n1",
                   "posejax_n5", "posejax_n20", "oracle", "without_lmm", "without_2d",
                   "without_gmm", "without_shape", "without_init_pose", "without_penetration",
                   "without_init_placement"]
  by_name = {m.name: m for m in methods}
  assert by_name["initial"].config is None
  anchored = by_name["heuristic_placement"].config
  assert [s.weights for s in anchored.stages] == [
      s.weights.replace(init_placement=1000.0) for s in by_name["heuristic"].config.stages]
  assert by_name["posejax_n5"].samples == 5 and by_name["posejax_n5"].contacts == benchmark.ANSWERS
  assert by_name["oracle"].contacts == benchmark.ORACLE and by_name["oracle"].samples == 20
  full = FitConfig.two_person(max_iters=7)
  for name, term, _ in benchmark.ABLATIONS:
    config = by_name[name].config
    assert by_name[name].group == "ablation" and by_name[name].samples == 20
    for stage, reference in zip(config.stages, full.stages):
      assert getattr(stage.weights, term) == 0.0
      # Every other weight is untouched.
      for other in ("keypoints", "contact", "pose_prior", "init_pose", "init_placement", "shape",
                    "penetration"):
        if other != term:
          assert getattr(stage.weights, other) == getattr(reference.weights, other)
      assert stage.max_iters == 7
  # The union of terms covers every config: one fitter runs them all.
  published = FitConfig.two_person(max_iters=7, published=True)
  assert [s.weights for s in by_name["without_init_placement"].config.stages] == \
      [s.weights for s in published.stages]
  terms = benchmark.compiled_terms(methods)
  assert len(terms) == 2
  for method in methods:
    if method.config is not None:
      for stage in range(2):
        assert set(method.config.active_terms(stage)) <= set(terms[stage])
  assert "proximity" in terms[0] and "penetration" in terms[1] and "penetration" not in terms[0]

  # Options: per-stage caps, inside-mask refresh, a contact weight for the contact rows only.
  tuned = {m.name: m for m in benchmark.benchmark_methods(
      2, max_iters=(9, 4), search_every={"contact": 3, "penetration": 5},
      contact_weight=50.0)}
  assert [s.max_iters for s in tuned["oracle"].config.stages] == [9, 4]
  assert tuned["oracle"].config.penetration_search_every == 5
  assert tuned["oracle"].config.fallback.penetration_search_every == 5
  assert tuned["oracle"].config.contact_search_every == 3
  assert [s.weights.contact for s in tuned["posejax_n1"].config.stages] == [50.0, 50.0]
  assert tuned["without_lmm"].config.stages[0].weights.contact == 0.0
  assert tuned["without_2d"].config.stages[1].weights.contact == 50.0
  assert tuned["heuristic"].config.stages[0].weights.proximity == 1e4


def test_one_person_methods_skip_terms_the_preset_does_not_weigh():
  methods = benchmark.benchmark_methods(1, samples=(2, 4), ablations=True)
  names = [m.name for m in methods]
  assert names == ["initial", "no_contact", "posejax_n2", "posejax_n4", "oracle", "without_lmm",
                   "without_2d", "without_shape", "without_init_pose"]
  assert all(m.config is None or m.config.people == 1 for m in methods)
  assert methods[-1].samples == 4
  assert [m.name for m in benchmark.benchmark_methods(1, ablations=False)][-1] == "oracle"
  with pytest.raises(InvalidInputError):
    benchmark.benchmark_methods(3)
  with pytest.raises(InvalidInputError):
    benchmark.benchmark_methods(2, samples=(0,))


# ----------------------------------------------------------------------------------------------
# Constraints


def test_method_constraints_use_the_first_answers_or_the_truth():
  answers = [_table([("hand", "hand")]), "", _table([("arm", "back"), ("hand", "head")])] * 3
  scene = _scene(0, answers=answers)
  methods = {m.name: m for m in benchmark.benchmark_methods(2, samples=(1, 3))}
  one, report = benchmark.method_constraints(methods["posejax_n1"], scene)
  assert one.sizes()["samples"] == 1 and report.answers == 1
  assert one.to_pairs() == [[("hand", "hand")]]
  three, report = benchmark.method_constraints(methods["posejax_n3"], scene)
  assert report.answers == 3 and report.empty_answers == 1
  assert three.to_pairs() == [[("hand", "hand")], [], [("arm", "back"), ("hand", "head")]]
  oracle, report = benchmark.method_constraints(methods["oracle"], scene)
  assert report is None
  assert oracle.to_pairs() == [[("left hand", "right hand")]] * 3
  assert benchmark.method_constraints(methods["heuristic"], scene) == (None, None)
  short = _scene(1, answers=answers[:2])
  with pytest.raises(InvalidInputError, match="needs 3"):
    benchmark.method_constraints(methods["posejax_n3"], short)

  sizes = Constraints.largest_sizes([one, None, three, oracle])
  for key in sizes:
    assert sizes[key] == max(c.sizes()[key] for c in (one, three, oracle))
  # Stacked to those sizes, every method's batch has the same shapes (one compilation).
  shapes = {tuple(sorted(Constraints.stack([c], **sizes).sizes().items()))
            for c in (one, three, oracle, Constraints.from_pairs([[]], 2))}
  assert len(shapes) == 1


def test_one_person_oracle_survives_the_frequency_filter():
  scene = _scene(0, 1, contacts=(("left hand", "left leg"), ("right hand", "right leg")),
                 kind="hands_on_knees")
  oracle = benchmark.BenchmarkMethod("oracle", "oracle", FitConfig.one_person(),
                                     benchmark.ORACLE, 20)
  constraints, _ = benchmark.method_constraints(oracle, scene)
  assert np.asarray(constraints.row_valid).sum() == 2 * 20


# ----------------------------------------------------------------------------------------------
# Batching and scores


def test_scene_inputs_stack_scenes(model):
  scenes = [_scene(i) for i in range(3)]
  inputs = benchmark.scene_inputs(scenes, model)
  assert inputs.keypoints.shape == (3, 2, 25, 3)
  np.testing.assert_allclose(inputs.keypoints[2], scenes[2].keypoints)
  assert np.shape(inputs.init.body_pose) == (3, 2, 63)
  np.testing.assert_allclose(inputs.gt.transl[1], scenes[1].gt["transl"], atol=1e-6)
  np.testing.assert_allclose(inputs.init.body_pose[0], scenes[0].init["body_pose"], atol=1e-6)
  assert np.shape(inputs.camera.focal_length) == (3, 2)
  with pytest.raises(InvalidInputError):
    benchmark.scene_inputs([_scene(0), _scene(1, 1)], model)
  with pytest.raises(InvalidInputError):
    benchmark.scene_inputs([], model)


def test_scene_metrics_against_direct_computation(model):
  scene = _scene(0, contacts=(("left hand", "right hand"), ("head", "head")))
  tools = benchmark.evaluation_tools(model, 2)
  gt = np.asarray(body.forward(model, scene.gt_params(model)).vertices, np.float64)
  exact = benchmark.scene_metrics(tools, scene, gt, gt)
  assert exact["pa_mpjpe"] == pytest.approx(0.0, abs=1e-3)
  assert exact["mpjpe"] == pytest.approx(0.0, abs=1e-3)
  # PCC: the two regions' fixed vertices, distances computed here with numpy.
  names = list(tools.region_names)
  expected = []
  for a, b in scene.contact_pairs:
    points_a = gt[0][tools.region_vertices[names.index(a)]]
    points_b = gt[1][tools.region_vertices[names.index(b)]]
    expected.append(np.min(np.linalg.norm(points_a[:, None] - points_b[None], axis=-1)))
  for column, tau in zip(benchmark.dataset_eval.PCC_COLUMNS, metrics.PCC_THRESHOLDS_M):
    assert exact[column] == pytest.approx(np.mean(np.asarray(expected) < tau))
  # A shifted and scaled copy keeps PA-MPJPE at zero; swapping the people is undone.
  moved = (gt * 1.3 + np.array([0.2, -0.1, 0.5]))[::-1]
  # Within 10 micrometres: the alignment runs in float32, whose rounding at metres is ~0.5 um.
  assert benchmark.scene_metrics(tools, scene, moved, gt)["pa_mpjpe"] == pytest.approx(0, abs=1e-2)
  assert benchmark.scene_metrics(tools, scene, moved, gt)["swapped"] == 1.0
  bad = _scene(1, contacts=(("left hand", "elbow"),))
  with pytest.raises(InvalidInputError, match="region"):
    benchmark.contact_pair_indices(bad)


# ----------------------------------------------------------------------------------------------
# Tables


def _rows(pa, pcc, fell_back=0.0):
  row = {"pa_mpjpe": pa, "mpjpe": pa + 10, "pcc_mean": pcc, "fell_back": fell_back,
         "iterations": 100.0, "converged": 1.0}
  for column in benchmark.dataset_eval.PCC_COLUMNS:
    row[column] = pcc
  return row


def test_tables_hold_the_means():
  methods = benchmark.benchmark_methods(2, samples=(20,), ablations=True)[:5] + (
      benchmark.benchmark_methods(2)[-1],)
  summaries = {
      "initial": benchmark_tables.summarize_method([_rows(100, 0.5, None), _rows(120, 0.7, None)]),
      "posejax_n20": benchmark_tables.summarize_method([_rows(80, 0.9, 1.0), _rows(60, 0.7, 0.0)]),
  }
  assert summaries["posejax_n20"]["pa_mpjpe"] == pytest.approx(70)
  assert summaries["posejax_n20"]["fell_back"] == pytest.approx(0.5)
  assert math.isnan(summaries["initial"]["fell_back"])
  text = benchmark_tables.results_markdown("t", methods, summaries, 2, notes=["SYNTHETIC"])
  assert "- SYNTHETIC" in text
  assert "| initial estimate (no fit) | 2 | 110.0 | 120.0 | 60.0 |" in text
  assert "| posejax, N = 20 | 2 | 70.0 | 80.0 | 80.0 |" in text
  assert "| heuristic (closest points) | – |" in text  # not run yet
  assert "Ablations:" in text and "without init placement" in text
  table = list(csv.DictReader(io.StringIO(benchmark_tables.results_csv([(2, methods, summaries)]))))
  assert [r["method"] for r in table] == ["initial", "posejax_n20"]
  assert float(table[1]["pa_mpjpe"]) == pytest.approx(70)
  assert float(table[1]["pcc_05cm"]) == pytest.approx(0.8)
  assert table[0]["fell_back"] == "" and table[1]["synthetic"] == "1"


# ----------------------------------------------------------------------------------------------
# Resumable generation


def test_generate_or_resume_keeps_and_extends_saved_scenes(tmp_path, monkeypatch, model):
  calls = []

  def fake_generate(kind, index, settings, model_, check=True):
    calls.append((kind, index))
    if index == 1:
      raise synthetic.SceneCheckFailed(f"synthetic scene {kind!r} #{index}: too far")
    return _scene(index, kind=kind)

  monkeypatch.setattr(synthetic, "generate_scene", fake_generate)
  settings = synthetic.SyntheticSettings(seed=3)
  path = tmp_path / "scenes"
  kinds = ("hug", "handshake")
  first = benchmark.generate_or_resume(path, 2, 2, settings, model, kinds=kinds)
  # The failed handshake is retried with the next draw: the kinds stay balanced.
  assert [(s.kind, s.index) for s in first.scenes] == [("hug", 0), ("handshake", 2)]
  assert calls == [("hug", 0), ("handshake", 1), ("handshake", 2)]
  assert [f.index for f in first.failures] == [1]
  # A rerun reads them back without generating; asking for more continues the sequence.
  again = benchmark.generate_or_resume(path, 2, 2, settings, model, kinds=kinds)
  assert [s.scene_id for s in again.scenes] == [s.scene_id for s in first.scenes]
  assert len(calls) == 3
  more = benchmark.generate_or_resume(path, 3, 2, settings, model, kinds=kinds)
  assert [s.index for s in more.scenes] == [0, 2, 3] and calls[-1] == ("hug", 3)
  fewer = benchmark.generate_or_resume(path, 1, 2, settings, model, kinds=kinds)
  assert [s.index for s in fewer.scenes] == [0]
  # Either file's name is the same stem: its scenes are resumed, not overwritten.
  for name in ("scenes.json", "scenes.npz"):
    named = benchmark.generate_or_resume(tmp_path / name, 3, 2, settings, model, kinds=kinds)
    assert [s.index for s in named.scenes] == [0, 2, 3] and len(calls) == 4
  with pytest.raises(InvalidInputError, match="other generator settings"):
    benchmark.generate_or_resume(path, 3, 2, synthetic.SyntheticSettings(seed=4), model,
                                 kinds=kinds)
  with pytest.raises(InvalidInputError, match="passed the check"):
    benchmark.generate_or_resume(tmp_path / "other", 5, 2, settings, model, kinds=kinds,
                                 max_attempts=2)


# ----------------------------------------------------------------------------------------------
# Splits, paired intervals, true-pair gaps, answer F1


def test_dev_and_test_splits_never_share_a_seed():
  seeds = {(split, k): benchmark.split_seed(split, k) for split in benchmark.SPLITS
           for k in range(50)}
  assert len(set(seeds.values())) == len(seeds)
  assert benchmark.split_seed("test", 0) == 0
  with pytest.raises(InvalidInputError, match="unknown split"):
    benchmark.split_seed("train")


def test_paired_difference_interval_is_the_pairs_not_the_spread():
  rng = np.random.default_rng(0)
  base = rng.normal(100, 40, 30)  # a large spread over scenes, shared by both methods
  d = benchmark_tables.paired_difference(base - 2.0 + rng.normal(0, 0.5, 30), base)
  assert d["high"] < 0 and d["low"] > -3 and d["lower"] >= 28 and d["scenes"] == 30
  same = benchmark_tables.paired_difference(base + rng.normal(0, 1, 30), base)
  assert same["low"] < 0 < same["high"]
  nan = benchmark_tables.paired_difference(np.array([1.0, np.nan]), np.array([0.0, 0.0]))
  assert nan["scenes"] == 1 and nan["mean"] == 1.0
  rows = {"oracle": {"a": {"pa_mpjpe": 50.0, "pcc_mean": 0.9, "gap_mm": 1.0},
                     "b": {"pa_mpjpe": 60.0, "pcc_mean": 0.8, "gap_mm": 3.0}},
          "heuristic": {"a": {"pa_mpjpe": 70.0, "pcc_mean": 0.7, "gap_mm": 9.0},
                        "b": {"pa_mpjpe": 80.0, "pcc_mean": 0.6, "gap_mm": 11.0}}}
  text = benchmark_tables.paired_markdown(rows, 2)
  assert "| oracle vs heuristic | 2 | -20.0 [-20.0, -20.0] (2 / 0) | +20.0 [+20.0, +20.0] (0 / 2)" \
      in text
  assert "posejax_n20" not in text  # missing methods are left out
  kinds = benchmark_tables.per_kind_markdown(rows, {"a": "hug", "b": "hug"}, ["oracle", "heuristic"])
  assert "| hug | 2 | 55.0 | 75.0 |" in kinds


def test_gap_closed_is_the_share_of_the_baseline_to_target_gap():
  rng = np.random.default_rng(1)
  baseline = rng.normal(100, 30, 40)
  target = baseline - 20 + rng.normal(0, 2, 40)
  halfway = baseline - 10 + rng.normal(0, 2, 40)
  d = benchmark_tables.gap_closed(halfway, baseline, target)
  assert d["mean"] == pytest.approx(0.5, abs=0.05) and d["low"] < 0.5 < d["high"]
  assert d["high"] - d["low"] < 0.2  # the shared spread over scenes cancels
  assert benchmark_tables.gap_closed(target, baseline, target)["mean"] == pytest.approx(1.0)
  assert benchmark_tables.gap_closed(baseline + 20, baseline, target)["mean"] == pytest.approx(-1, abs=0.05)
  assert np.isnan(benchmark_tables.gap_closed(target, baseline, baseline)["mean"])
  # PCC: higher is better; the same formula, since both differences change sign together.
  score = benchmark_tables.gap_closed(np.full(3, 0.8), np.full(3, 0.7), np.full(3, 0.9))
  assert score["mean"] == pytest.approx(0.5)
  rows = {name: {s: {"pa_mpjpe": v + k, "pcc_mean": 0.5, "gap_mm": v}
                 for k, s in enumerate("abc")}
          for name, v in (("posejax_n20", 75.0), ("heuristic", 90.0), ("oracle", 70.0))}
  text = benchmark_tables.gap_closed_markdown(rows, 2)
  assert "PA-MPJPE: posejax_n20 closes 75% [75, 75] of the heuristic-to-oracle gap (3 scenes)" \
      in text
  assert "PCC mean: posejax_n20 closes – of" in text  # no gap to close
  assert benchmark_tables.gap_closed_markdown({"oracle": rows["oracle"]}, 2) == ""


def test_true_pair_gaps_measure_the_nearest_vertices_of_the_pair():
  tools = benchmark.EvaluationTools(
      regressor=np.zeros((14, 4)), region_names=("left hand", "right hand"), region_vertices=None,
      self_contact=None, gap_vertices=np.array([[0, 1], [2, 3]]))
  scene = _scene(0, contacts=(("left hand", "right hand"),))
  pred = np.zeros((2, 4, 3))
  pred[0, :2] = [[0, 0, 0], [1, 0, 0]]
  pred[1, 2:] = [[0, 0.012, 0], [1, 0.003, 0]]  # nearest: vertex 1 to vertex 3, 3 mm
  gaps = benchmark.true_pair_gaps(tools, scene, pred)
  assert gaps["gap_mm"] == pytest.approx(3.0)
  assert gaps["gap_within_05mm"] == 1.0 and gaps["gap_within_20mm"] == 1.0
  one = _scene(0, people=1, contacts=(("left hand", "right hand"),))
  lone = pred[:1].copy()
  lone[0, 2:] = [[0, 0.0, 0.03], [5, 0, 0]]  # 30 mm on the same body
  gaps = benchmark.true_pair_gaps(tools, one, lone)
  assert gaps["gap_mm"] == pytest.approx(30.0) and gaps["gap_within_20mm"] == 0.0


def test_true_pair_report_puts_each_pair_beside_its_nearest_mirror():
  names = ("left hand", "right hand", "back")
  tools = benchmark.EvaluationTools(
      regressor=np.zeros((14, 6)), region_names=names, region_vertices=None, self_contact=None,
      gap_vertices=np.array([[0, 1], [2, 3], [4, 5]]))
  scene = _scene(0, contacts=(("left hand", "back"), ("right hand", "left hand")))
  pred = np.zeros((2, 6, 3))
  pred[0, :4] = [[0, 0, 0], [0, 0, 0.4], [1, 0, 0], [1, 0, 0.4]]  # person 0: left, right hand
  pred[1] = [[5, 0, 0], [5, 0, 0], [0.9, 0, 0], [0.9, 0, 0.01], [1.0, 0.002, 0], [3, 0, 0]]
  # Person 0's right hand touches person 1's back (2 mm), the true pair names the left (1 m).
  first, second = benchmark.true_pair_report(tools, scene, pred)
  assert first["pair"] == ("left hand", "back")
  assert first["gap_mm"] == pytest.approx(1000.0 * np.hypot(1.0, 0.002))
  assert first["mirror"] == ("right hand", "back") and first["mirror_gap_mm"] == pytest.approx(2.0)
  # Both sides lateral: three alternatives; the nearest is right hand - right hand (100 mm).
  assert second["pair"] == ("right hand", "left hand")
  assert second["gap_mm"] == pytest.approx(4000.0)
  assert second["mirror"] == ("right hand", "right hand")
  assert second["mirror_gap_mm"] == pytest.approx(100.0)
  # Exchanged: each region on the other person, so person 0's back (at the origin) against
  # person 1's hands, the right one 0.9 m away, the left one 5 m.
  assert first["exchanged_gap_mm"] == pytest.approx(900.0)
  assert second["exchanged_gap_mm"] == pytest.approx(100.0)  # right hands again
  central = _scene(0, contacts=(("back", "back"),))
  (only,) = benchmark.true_pair_report(tools, central, pred)
  assert only["mirror"] is None and only["mirror_gap_mm"] is None
  lone = _scene(0, people=1, contacts=(("left hand", "back"),))
  (alone,) = benchmark.true_pair_report(tools, lone, pred[:1])
  assert alone["exchanged_gap_mm"] is None


def test_answer_f1_counts_a_matching_alternative_and_ignores_sides():
  truth = (("left hand", "back"), ("right hand", "back"), ("chest", "chest"))
  answers = (_table([("hand", "back"), ("chest", "chest")]),  # p 1, r 1: without sides both hands are one pair
             _table([("hand / arm", "back"), ("head", "head")]),  # alternative hits: p 1/2, r 1/2
             "no table at all")  # p 0, r 0
  scene = _scene(0, contacts=truth, answers=answers, kind="hug")
  f1 = benchmark.answer_f1(scene)
  assert f1["precision"] == pytest.approx((1 + 0.5 + 0) / 3)
  assert f1["recall"] == pytest.approx((1 + 0.5 + 0) / 3)


def test_config_changes_reach_the_posejax_and_oracle_rows_only():
  changes = {"weights": {"contact": [300, 1000]}, "learning_rates": [0.02, 0.001],
             "contact_softmin": 0.01}
  methods = {m.name: m for m in benchmark.benchmark_methods(2, ablations=False, changes=changes)}
  for name in ("posejax_n20", "oracle"):
    config = methods[name].config
    assert [s.weights.contact for s in config.stages] == [300, 1000]
    assert [s.learning_rate for s in config.stages] == [0.02, 0.001]
    assert config.contact_softmin == 0.01
  assert methods["heuristic"].config == benchmark.benchmark_methods(2, ablations=False)[1].config
  with pytest.raises(InvalidInputError, match="unknown FitConfig fields"):
    benchmark.apply_config_changes(FitConfig.two_person(), {"contact_wieght": 3})
