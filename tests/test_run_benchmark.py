"""experiments/run_benchmark.py end to end: a small two-person benchmark (3 scenes, 3 iterations)
through every method of the table, the files it writes, and resuming after a killed run.

The scenes are written beforehand in the generator's file format with stand-in content (posed on
the default body, keypoints projected through the scene camera, Markdown answers): the real
generator needs tens of seconds a scene, and the script reuses saved scenes whose settings match.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments import run_benchmark
from posejax import body
from posejax.body import keypoints as body_keypoints
from posejax.camera import project
from posejax.data import benchmark
from posejax.data import synthetic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH, HEIGHT = 320, 240
SCENES = 3
ANSWERS = ("| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| hand | hand |\n",
           "Nothing touches.\n\n| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n",
           "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| arm | back |\n"
           "| hand | hand |\n")


def _settings(out_dir, **changes) -> run_benchmark.BenchmarkSettings:
  values = dict(out_dir=str(out_dir), people=(2,), num_scenes=SCENES, max_iters=(3,),
                slots=2, samples=(1, 5, 20), chunk_size=2)
  values.update(changes)
  return run_benchmark.BenchmarkSettings(**values)


def _write_scenes(path, settings: synthetic.SyntheticSettings) -> list[synthetic.SyntheticScene]:
  """Stand-in two-person scenes in the generator's format."""
  model = body.default_model()
  scenes = []
  for index in range(SCENES):
    rng = np.random.default_rng(index)
    gt = {"global_orient": np.tile([np.pi, 0.0, 0.0], (2, 1)),
          "transl": np.array([[-0.35, 0.2, 4.0], [0.35, 0.2, 4.1]]),
          "body_pose": rng.normal(0.0, 0.05, (2, 63)), "betas": rng.normal(0.0, 0.3, (2, model.num_betas))}
    init = dict(gt, body_pose=gt["body_pose"] + rng.normal(0.0, 0.1, (2, 63)),
                transl=gt["transl"] + [[0.05, 0.0, 0.2], [-0.05, 0.0, -0.2]])
    scene = synthetic.SyntheticScene(
        scene_id=f"synthetic-handshake-{index:04d}", kind="handshake", people=2, gt=gt,
        init=init, keypoints=np.zeros((2, 25, 3)), occluded=np.zeros((2, 25), bool),
        contact_pairs=(("right hand", "left hand"),), also_touching=(),
        contact_distances=np.zeros(1), penetration_depth=0.0, focal_length=np.full(2, 400.0),
        principal_point=np.array([WIDTH / 2, HEIGHT / 2]), image_size=(WIDTH, HEIGHT),
        answers=tuple(ANSWERS[(index + k) % 3] for k in range(20)), description="stand-in",
        settings=settings.to_dict(), index=index, model_source="test")
    joints = body.forward(model, scene.gt_params(model)).joints
    pixels = np.asarray(project(scene.camera(), body_keypoints.smplx_to_body25(joints)))
    keypoints = np.concatenate([pixels, np.full((2, 25, 1), 0.9)], axis=-1)
    scenes.append(synthetic.SyntheticScene(**{**scene.__dict__, "keypoints": keypoints}))
  synthetic.save_benchmark(synthetic.SyntheticBenchmark(scenes=tuple(scenes),
                                                        settings=settings.to_dict()), path)
  return scenes


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("benchmark")
  settings = _settings(out)
  _write_scenes(out / run_benchmark.SCENE_FILES[2], settings.generator_settings())
  return settings, run_benchmark.run(settings)


def test_table_has_every_method_with_finite_numbers(first_run):
  settings, output = first_run
  methods = benchmark.benchmark_methods(2)
  summaries = output["summaries"][2]
  assert set(summaries) == {m.name for m in methods}
  for method in methods:
    summary = summaries[method.name]
    assert summary["images"] == SCENES
    for key in ("pa_mpjpe", "mpjpe", "pcc_mean", "pcc_10cm"):
      assert np.isfinite(summary[key]), (method.name, key)
  # 3 iterations in each of the 2 stages (too few for the early stop to fire).
  assert summaries["posejax_n20"]["iterations"] == pytest.approx(6)
  assert summaries["posejax_n20"]["fell_back"] == 0.0
  assert summaries["posejax_n1"]["fell_back"] == pytest.approx(1 / 3)  # scene 1's answer is empty

  paths = output["paths"]
  text = open(paths["markdown"], encoding="utf-8").read()
  assert "SYNTHETIC" in text
  assert "posejax_n20 closes" in text and "of the heuristic-to-oracle gap (3 scenes)" in text
  for method in methods:
    assert f"| {method.label} | {SCENES} |" in text
  rows = list(csv.DictReader(open(paths["csv"], encoding="utf-8")))
  assert [r["method"] for r in rows] == [m.name for m in methods]
  assert all(r["synthetic"] == "1" and np.isfinite(float(r["pa_mpjpe"])) for r in rows)
  assert open(paths["plot"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
  meta = json.load(open(paths["run"], encoding="utf-8"))
  assert meta["synthetic"] and meta["synthetic_body"]
  assert meta["generator_settings"]["seed"] == settings.seed
  configs = {m["name"]: m["config"] for m in meta["methods"]["2"]}
  assert configs["initial"] is None
  assert configs["without_shape"]["stages"][0]["weights"]["shape"] == 0.0
  assert configs["posejax_n20"]["stages"][0]["weights"]["shape"] == 40

  # The per-scene numbers of a method average to the table's.
  records = run_benchmark.read_records(paths["results"])
  assert all(r["synthetic"] for r in records)
  # 3 scenes in batches of 2: two records per method.
  assert len(records) == 2 * len(methods)
  rows = run_benchmark.scene_rows(records)
  oracle = [rows[(2, "oracle", f"synthetic-handshake-{i:04d}")]["pa_mpjpe"] for i in range(SCENES)]
  assert np.mean(oracle) == pytest.approx(summaries["oracle"]["pa_mpjpe"])


def test_diagnosis_refits_a_run_to_its_recorded_numbers(first_run):
  from experiments import diagnose_contacts

  settings, output = first_run
  rows = run_benchmark.scene_rows(run_benchmark.read_records(output["paths"]["results"]))
  diagnosis = diagnose_contacts.diagnose(diagnose_contacts.DiagnosisSettings(
      run_dir=str(settings.out_dir), methods=("posejax_n20", "oracle"), worst=2))
  assert len(diagnosis) == 2
  behind = []
  for item in diagnosis:
    for name in ("posejax_n20", "oracle"):
      recorded = rows[(2, name, item["scene_id"])]
      assert item["pa_mpjpe_mm"][name] == pytest.approx(recorded["pa_mpjpe"], abs=1e-3)
      (pair,) = item["pairs"][name]
      assert pair["pair"] == ("right hand", "left hand")
      assert pair["gap_mm"] == pytest.approx(recorded["gap_mm"], abs=1e-3)
    behind.append(item["pa_mpjpe_mm"]["posejax_n20"] - item["pa_mpjpe_mm"]["oracle"])
    assert item["cause"] in diagnose_contacts.CAUSES
    # The stand-in answers cycle through three texts; "hand | hand" is in two of them.
    assert dict(item["answer_rows"])[(("hand",), ("hand",))] in (13, 14)
  everyone = [rows[(2, "posejax_n20", s)]["pa_mpjpe"] - rows[(2, "oracle", s)]["pa_mpjpe"]
              for s in (f"synthetic-handshake-{i:04d}" for i in range(SCENES))]
  assert behind == pytest.approx(sorted(everyone, reverse=True)[:2], abs=1e-3)


def test_rerun_resumes_without_refitting(first_run, monkeypatch):
  settings, output = first_run
  results = output["paths"]["results"]
  before = open(results, encoding="utf-8").read()

  def no_fit(*args, **kwargs):
    raise AssertionError("a finished method was fitted again")

  monkeypatch.setattr(run_benchmark, "fit_scenes", no_fit)
  again = run_benchmark.run(settings)
  assert open(results, encoding="utf-8").read() == before
  assert again["summaries"][2]["oracle"]["pa_mpjpe"] == pytest.approx(
      output["summaries"][2]["oracle"]["pa_mpjpe"])

  # A killed run: the last record half-written. Only that batch is fitted again.
  lines = before.splitlines(keepends=True)
  last = json.loads(lines[-1])
  with open(results, "w", encoding="utf-8") as handle:
    handle.write("".join(lines[:-1]) + lines[-1][:40])
  fitted = []
  monkeypatch.setattr(run_benchmark, "fit_scenes",
                      lambda s, r, method, indices: fitted.append((method.name, indices)) or (
                          np.zeros((len(indices), 2, r.gt_vertices.shape[2], 3)),
                          [{"iterations": 0.0, "converged": 0.0, "fell_back": 0.0}] * len(indices)))
  run_benchmark.run(settings)
  assert fitted == [(last["method"], [2])]
  assert len(run_benchmark.read_records(results)) == len(lines)

  # Other settings in the same folder are refused.
  with pytest.raises(run_benchmark.InvalidInputError, match="other settings"):
    run_benchmark.run(_settings(settings.out_dir, max_iters=(4,)))


def test_flags_reach_the_settings(tmp_path):
  """The command line (a subprocess) with every scene already saved and one cheap method."""
  settings = _settings(tmp_path, methods=("initial",), answers={"miss_rate": 0.5})
  _write_scenes(tmp_path / run_benchmark.SCENE_FILES[2], settings.generator_settings())
  command = [sys.executable, "-m", "experiments.run_benchmark", f"--out_dir={tmp_path}",
             "--people=2", f"--num_scenes={SCENES}", "--max_iters=3", "--methods=initial",
             "--miss_rate=0.5", "--noplot"]
  done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu"))
  assert done.returncode == 0, done.stderr[-3000:]
  assert "| initial estimate (no fit) | 3 |" in done.stdout
  meta = json.load(open(tmp_path / "run.json", encoding="utf-8"))
  assert meta["generator_settings"]["answers"]["miss_rate"] == 0.5
  assert not os.path.exists(tmp_path / "benchmark.png")


def test_profiles_bring_their_datasets_published_fallback_rule(tmp_path):
  settings = lambda **changes: run_benchmark.BenchmarkSettings(out_dir=str(tmp_path), **changes)
  assert settings(profile="chi3d").fit_changes() == {"fallback_min_empty": 2}
  assert settings(profile="hi4d").fit_changes() == {} and settings().fit_changes() == {}
  chosen = settings(profile="chi3d", config_changes={"fallback_min_empty": 5})
  assert chosen.fit_changes() == {"fallback_min_empty": 5}
  assert settings(profile="chi3d").signature()["config_changes"] == {"fallback_min_empty": 2}
  methods = {m.name: m for m in benchmark.benchmark_methods(
      2, ablations=False, changes=settings(profile="chi3d").fit_changes())}
  assert methods["posejax_n20"].config.fallback_min_empty == 2
  assert methods["heuristic"].config.fallback_min_empty is None


def test_diagnosis_causes_follow_their_rules():
  from experiments.diagnose_contacts import CAUSES, cause

  def pair(gap, mirror_gap=None, names=("right hand", "back"), exchanged_gap=400.0):
    return {"pair": names, "gap_mm": gap, "mirror": None if mirror_gap is None else names,
            "mirror_gap_mm": mirror_gap, "exchanged_gap_mm": exchanged_gap}

  rows = [((("hand",), ("back",)), 17), ((("waist (back)",), ("left hand",)), 3)]
  assert cause([pair(300.0, 5.0)], rows, 20) == CAUSES[0]  # open, its mirror closed
  assert cause([pair(300.0, 200.0, exchanged_gap=3.0)], rows, 20) == CAUSES[1]
  assert cause([pair(300.0, 200.0)], rows, 20) == CAUSES[4]  # open though 17 answers name it
  rare = pair(300.0, 200.0, ("waist (back)", "right hand"))
  assert cause([pair(1.0), rare], rows, 20) == CAUSES[2]  # named by 3 of 20, sides ignored
  assert cause([pair(1.0), rare], rows, 10) == CAUSES[4]  # 3 of 10 is not rare
  assert cause([pair(1.0), pair(19.0, 300.0)], rows, 20) == CAUSES[3]
  assert cause([pair(1.0), pair(30.0, 300.0)], rows, 20) == CAUSES[4]


def test_diagnosis_refuses_a_folder_without_two_person_scenes(tmp_path):
  from experiments import diagnose_contacts
  from posejax.errors import InvalidInputError

  settings = diagnose_contacts.DiagnosisSettings(run_dir=str(tmp_path))
  with pytest.raises(InvalidInputError, match="run.json"):
    diagnose_contacts.diagnose(settings)
  (tmp_path / "run.json").write_text(json.dumps({"settings": {"people": [1]}}))
  with pytest.raises(InvalidInputError, match="no two-person scenes"):
    diagnose_contacts.diagnose(settings)
  assert sorted(os.listdir(tmp_path)) == ["run.json"]  # nothing was generated
