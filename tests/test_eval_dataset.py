"""experiments/eval_dataset.py end to end on a tiny FlickrCI3D-format file (default body, 2
iterations): per-image CSV, resume after a killed run, summaries, overlays, the flags."""

from __future__ import annotations

import csv
import dataclasses
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import posejax
from experiments import eval_dataset
from posejax import body
from posejax import lmm
from posejax import metrics
from posejax.body import keypoints as body_keypoints
from posejax.camera import project
from posejax.camera import reference_camera
from posejax.constraints import Constraints
from posejax.data import DatasetSample
from posejax.data.dataset_eval import params_for_model
from posejax.errors import InvalidInputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH, HEIGHT = 320, 240
PAIRS = [[19, 45], [44, 34]]


def _item(model, rng, index, exact_init):
  """One processed FlickrCI3D item: ground truth, its projected keypoints, a BEV-like init."""
  upright = np.tile([np.pi, 0.0, 0.0], (2, 1))
  gt = {"global_orient": upright, "body_pose": rng.normal(size=(2, 63)) * 0.1,
        "betas": rng.normal(size=(2, 10)) * 0.5,
        "transl": np.array([[-0.35, 0.1, 4.0], [0.35, 0.1, 4.2]])}
  # The file holds SMPL-X's 10 betas, as the datasets do; the model takes its own width.
  params = params_for_model(model, gt)
  joints = body.forward(model, params).joints
  camera = reference_camera(WIDTH, HEIGHT)
  pixels = np.asarray(project(camera, body_keypoints.smplx_to_body25(joints)))
  openpose = np.concatenate([pixels, np.full((2, 25, 1), 0.9)], axis=-1)
  init = {k: v.copy() for k, v in gt.items()}
  if not exact_init:
    init["body_pose"] = init["body_pose"] + rng.normal(size=(2, 63)) * 0.15
    init["transl"] = init["transl"] + [[0.05, 0.0, 0.3], [-0.05, 0.0, -0.2]]
  item = {"imgname": f"img{index}.png", "imgpath": f"images/img{index}.png",
          "img_height": HEIGHT, "img_width": WIDTH, "contact_index": 0,
          "openpose": openpose, "hhc_contacts_region_ids": PAIRS}
  for name, value in init.items():
    item[f"bev_smplx_{name}"] = value
  item["bev_smplx_scale"] = np.zeros(2)  # an adult: BEV's kid scale 0
  for name, value in gt.items():
    item[f"pgt_smplx_{name}"] = value
  return item, gt


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  root = tmp_path_factory.mktemp("flickr")
  model = eval_dataset.load_body(None, None)
  rng = np.random.default_rng(0)
  items, truths = zip(*[_item(model, rng, i, exact_init=i == 0) for i in range(3)])
  processed = root / "val_optimization.pkl"
  processed.write_bytes(pickle.dumps(list(items)))
  (root / "images").mkdir()
  Image.fromarray(np.full((HEIGHT, WIDTH, 3), 90, np.uint8)).save(root / "images" / "img0.png")
  # Answers for image 0 only (stored under its file stem); images 1 and 2 fall back.
  answers = Constraints.from_pairs([[("hand", "hand")], [("arm", "back")], []], people=2)
  constraints = root / "constraints.json"
  lmm.save_constraints_file(constraints, {"img0": lmm.image_entry(
      answers, lmm.ParseReport(answers=3), samples=answers.to_pairs(), prompt_version="t",
      model="fake")})
  regions = {i: np.arange(i * 130, i * 130 + 130) for i in range(75)}
  region_map = root / "regions.pkl"
  region_map.write_bytes(pickle.dumps(regions))
  return {"root": root, "processed": str(processed), "constraints": str(constraints),
          "region_map": str(region_map), "model": model, "truths": truths}


def _settings(dataset, out_dir, **changes):
  values = dict(dataset="flickrci3d", processed=dataset["processed"], out_dir=str(out_dir),
                image_root=str(dataset["root"]), constraints=dataset["constraints"],
                region_map=dataset["region_map"], max_iters=(2,), ablate=("penetration",),
                slots=2, overlays=1)
  values.update(changes)
  return eval_dataset.EvalSettings(**values)


def _rows(path):
  with open(path, newline="", encoding="utf-8") as handle:
    return list(csv.DictReader(handle))


def _joint_pa_mpjpe_mm(model, regressor, pred_params, gt_params):
  """Joint PA-MPJPE from scratch: 28 LSP joints, similarity Procrustes (Umeyama), both orders."""
  def joints(params):
    vertices = np.asarray(body.forward(model, params_for_model(model, params)).vertices,
                          np.float64)
    return [regressor @ v for v in vertices]

  pred, gt = joints(pred_params), joints(gt_params)
  errors = []
  for order in ((0, 1), (1, 0)):
    source = np.concatenate([pred[0], pred[1]])
    target = np.concatenate([gt[order[0]], gt[order[1]]])
    mu_s, mu_t = source.mean(0), target.mean(0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(t.T @ s)
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ fix @ vt
    scale = np.trace(np.diag(sigma) @ fix) / np.sum(s**2)
    errors.append(1000 * np.linalg.norm(scale * s @ rotation.T + mu_t - target, axis=1).mean())
  return min(errors)


def test_eval_dataset_end_to_end_and_resume(dataset, tmp_path):
  out = tmp_path / "eval"
  first = eval_dataset.run(_settings(dataset, out, max_images=2))
  rows = _rows(first["csv"])
  assert [r["name"] for r in rows] == ["img0_0", "img1_0"]
  assert [r["constraints"] for r in rows] == ["constraints", "missing"]
  assert [r["image_id"] for r in rows] == ["img0", ""]
  assert [r["fell_back"] for r in rows] == ["0", "1"]
  assert all(r["iterations_stage1"] == "2" and r["iterations_stage2"] == "2" for r in rows)
  # Image 0 starts at its ground truth: zero initial error, and a fit that barely moves.
  assert float(rows[0]["init_pa_mpjpe"]) < 0.5 and float(rows[0]["init_mpjpe"]) < 0.5
  assert float(rows[0]["fit_pa_mpjpe"]) < 30.0  # two Adam steps per stage move it a little
  # Image 1's initial error, recomputed from scratch.
  model = dataset["model"]
  regressor = metrics.lsp14_regressor_for(model)
  with open(dataset["processed"], "rb") as handle:
    item = pickle.load(handle)[1]
  init = {k: item[f"bev_smplx_{k}"] for k in ("global_orient", "body_pose", "betas", "transl")}
  expected = _joint_pa_mpjpe_mm(model, regressor, init, dataset["truths"][1])
  assert float(rows[1]["init_pa_mpjpe"]) == pytest.approx(expected, rel=2e-3, abs=0.05)
  assert expected > 10.0
  # PCC: fractions of the two annotated pairs, non-decreasing in tau.
  for row in rows:
    for prefix in ("init_", "fit_"):
      curve = np.array([float(row[prefix + c]) for c in eval_dataset.dataset_eval.PCC_COLUMNS])
      assert np.all(np.diff(curve) >= 0) and set(np.round(curve * 2, 6)) <= {0.0, 1.0, 2.0}
      assert float(row[prefix + "pcc_mean"]) == pytest.approx(curve.mean(), abs=1e-5)
  # The summary holds the means of the rows, in the published layout.
  summary = (out / "summary.md").read_text()
  fit_mean = np.mean([float(r["fit_pa_mpjpe"]) for r in rows])
  assert f"| posejax (prosepose-two-person-without-penetration) | 2 | {fit_mean:.1f} |" in summary
  assert "SYNTHETIC default body" in summary and "| ProsePose | 58 | 79.9 |" in summary
  assert "1 from a constraints file, 0 parsed from the cache, 1 missing" in summary
  with open(out / "summary.csv", newline="") as handle:
    table = list(csv.DictReader(handle))
  assert [t["method"] for t in table][0] == "initial estimate (BEV)"
  assert float(table[1]["pa_mpjpe"]) == pytest.approx(fit_mean, rel=1e-5)
  with Image.open(out / "overlays" / "img0_0.png") as picture:
    assert picture.size[0] == 3 * WIDTH + 2 * 4
  assert not (out / "overlays" / "img1_0.png").exists()

  # A killed run left half a line: it is dropped, the rest kept byte for byte, image 2 added.
  csv_path = out / eval_dataset.CSV_NAME
  before = csv_path.read_text()
  with open(csv_path, "a") as handle:
    handle.write("img2_0,,missing,1,0,2,2,0,1.5,0,0,12.")
  second = eval_dataset.run(_settings(dataset, out))
  after = csv_path.read_text()
  assert after.startswith(before)
  assert [r["name"] for r in _rows(csv_path)] == ["img0_0", "img1_0", "img2_0"]
  assert second["rows"] == 3 and second["fit"]["images"] == 3

  # A third run with everything done fits nothing; other settings are refused.
  third = eval_dataset.run(_settings(dataset, out))
  assert csv_path.read_text() == after and third["fit"]["pa_mpjpe"] == second["fit"]["pa_mpjpe"]
  with pytest.raises(InvalidInputError, match="other settings.*config"):
    eval_dataset.run(_settings(dataset, out, config="heuristic"))

  # The flags reach the same run (everything is done, so no fit is compiled).
  command = [sys.executable, "-m", "experiments.eval_dataset", "--dataset=flickrci3d",
             f"--processed={dataset['processed']}", f"--out_dir={out}",
             f"--image_root={dataset['root']}", f"--constraints={dataset['constraints']}",
             f"--region_map={dataset['region_map']}", "--max_iters=2", "--ablate=penetration",
             "--slots=2"]
  done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu"))
  assert done.returncode == 0, done.stderr[-2000:]
  assert "| posejax (prosepose-two-person-without-penetration) | 3 |" in done.stdout
  assert csv_path.read_text() == after


def test_moyo_ground_truth_path_without_fitting(tmp_path):
  """One person: MOYO ground truth found by name, posed with full hand poses, scored with the
  self-contact PCC (the fit itself is the two-person run's code path; not repeated here)."""
  model = eval_dataset.load_body(None, None)
  rng = np.random.default_rng(5)
  sequence = "220923_yogi_body_hands_03596_Boat_Pose_or_Paripurna_Navasana_-a"
  poses = np.zeros((10, 165))
  poses[:, 0] = np.pi
  poses[6, 3:66] = rng.normal(size=63) * 0.1
  poses[6, 75:165] = rng.normal(size=90) * 0.2  # full 45-value hand poses
  trans = np.tile([0.0, 0.2, 3.5], (10, 1))
  np.savez(tmp_path / f"{sequence}_stageii.npz", poses=poses, trans=trans, betas=np.zeros(10))
  settings = eval_dataset.EvalSettings(dataset="moyo", processed="unused", out_dir=str(tmp_path),
                                       moyo_gt_dir=str(tmp_path),
                                       self_contact_vertices_per_region=8)
  tools, notes = eval_dataset._tools(settings, model, 1)
  assert tools.gt_model.use_pca is False and tools.self_contact is not None
  assert any("derived coarse regions" in note for note in notes)
  sample = DatasetSample(keypoints=np.zeros((1, 25, 3)), init={}, gt=None, contact_pairs=None,
                         contact_map=None, name=f"{sequence}_YOGI_Cam_02_0003_0")
  gt = eval_dataset.dataset_eval.moyo_ground_truth(sample, tmp_path)
  gt_params = eval_dataset.dataset_eval.params_for_model(tools.gt_model, gt)
  gt_vertices = eval_dataset._vertices(tools.gt_model, gt_params)
  np.testing.assert_allclose(gt_params.right_hand_pose[0], poses[6, 120:165], rtol=1e-6)
  moved = gt_vertices * 1.1 + np.array([0.3, 0.0, 0.5])
  row = eval_dataset._evaluate(settings, sample, tools, moved, gt_vertices)
  assert row["init_pa_mpjpe"] < 0.5 and row["init_mpjpe"] > 10.0
  assert row["fit_pa_mpjpe"] < 0.5 and row["fit_mpjpe"] < 0.5
  # A pose with no self-contact has no PCC (NaN); any other has a full recall at its own mesh.
  assert np.isnan(row["fit_pcc_mean"]) or row["fit_pcc_95cm"] == 1.0
  without = eval_dataset._tools(dataclasses.replace(settings, moyo_gt_dir=None), model, 1)
  assert without[0].self_contact is None
  assert any("--moyo_gt_dir" in note for note in without[1])


def test_a_run_killed_after_an_image_is_fitted_writes_its_files_on_resume(dataset, tmp_path,
                                                                         monkeypatch):
  out = tmp_path / "eval"
  real_save_fit = eval_dataset._save_fit

  def killed(*args, **kwargs):  # the process dies while writing the image's fit file
    raise KeyboardInterrupt

  monkeypatch.setattr(eval_dataset, "_save_fit", killed)
  with pytest.raises(KeyboardInterrupt):
    eval_dataset.run(_settings(dataset, out, max_images=2, save_fits=True))
  # Nothing marks the image done while its files are missing.
  assert _rows(out / eval_dataset.CSV_NAME) == []
  monkeypatch.setattr(eval_dataset, "_save_fit", real_save_fit)
  eval_dataset.run(_settings(dataset, out, max_images=2, save_fits=True))
  assert [r["name"] for r in _rows(out / eval_dataset.CSV_NAME)] == ["img0_0", "img1_0"]
  assert sorted(os.listdir(out / "fits")) == ["img0_0.npz", "img1_0.npz"]
  assert (out / "overlays" / "img0_0.png").exists()


def test_config_flag_takes_the_api_preset_names(tmp_path):
  settings = lambda **changes: eval_dataset.EvalSettings(
      dataset="flickrci3d", processed="unused", out_dir=str(tmp_path), **changes)
  assert eval_dataset.build_config(settings(), 2) == posejax.FitConfig.two_person()
  assert eval_dataset.build_config(settings(), 1) == posejax.FitConfig.one_person()
  assert eval_dataset.build_config(settings(config="heuristic"), 2) == posejax.FitConfig.heuristic()
  assert (eval_dataset.build_config(settings(config="no_contact"), 1)
          == posejax.FitConfig.no_contact(1))
  with pytest.raises(InvalidInputError, match="one_person fits 1 person"):
    eval_dataset.build_config(settings(config="one_person"), 2)
  with pytest.raises(InvalidInputError, match="heuristic fits 2"):
    eval_dataset.build_config(settings(config="heuristic"), 1)
