"""Dataset evaluation pieces: parameters for a model, cameras, MOYO ground truth, metrics rows,
summaries. The metrics are checked against numbers computed here from first principles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import posejax.camera
from posejax import metrics
from posejax.data import DatasetSample
from posejax.data import dataset_eval as de
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError


class _Model:
  """The few fields ``params_for_model`` reads (widths), without building a body."""

  num_betas = 10
  num_expression_coeffs = 10
  use_pca = True
  num_pca_comps = 6
  dtype = np.float32


def test_params_for_model_fits_betas_and_checks_widths():
  rng = np.random.default_rng(0)
  arrays = {"global_orient": rng.normal(size=(2, 3)), "body_pose": rng.normal(size=(2, 63)),
            "betas": rng.normal(size=(2, 11)), "transl": rng.normal(size=(2, 3))}
  params = de.params_for_model(_Model, arrays)
  assert params.batch_shape == (2,)
  np.testing.assert_allclose(params.betas, arrays["betas"][:, :10], rtol=1e-6)  # kid scale dropped
  np.testing.assert_allclose(params.body_pose, arrays["body_pose"], rtol=1e-6)
  np.testing.assert_allclose(params.transl, arrays["transl"], rtol=1e-6)
  assert np.all(np.asarray(params.left_hand_pose) == 0) and params.left_hand_pose.shape == (2, 6)
  short = de.params_for_model(_Model, {**arrays, "betas": arrays["betas"][:, :4]})
  np.testing.assert_allclose(short.betas[:, :4], arrays["betas"][:, :4], rtol=1e-6)
  assert np.all(np.asarray(short.betas[:, 4:]) == 0)
  with pytest.raises(InvalidInputError, match="use_pca=False"):
    de.params_for_model(_Model, {**arrays, "left_hand_pose": np.zeros((2, 45))})
  with pytest.raises(InvalidInputError, match="unknown parameter field"):
    de.params_for_model(_Model, {**arrays, "scale": np.zeros((2, 1))})
  with pytest.raises(InvalidInputError, match="NaN"):
    de.params_for_model(_Model, {**arrays, "transl": np.full((2, 3), np.nan)})
  with pytest.raises(InvalidInputError, match=r"'transl' has shape \(1, 3\)"):
    de.params_for_model(_Model, {**arrays, "transl": np.zeros((1, 3))})


def test_cameras():
  sample = DatasetSample(keypoints=np.zeros((2, 25, 3)), init={}, gt=None, contact_pairs=None,
                         contact_map=None, name="a", image_size=(480, 640), focal_length=500.0)
  camera = de.sample_camera(sample)
  np.testing.assert_allclose(camera.focal_length, [500.0, 500.0])
  np.testing.assert_allclose(camera.principal_point, [320.0, 240.0])
  np.testing.assert_allclose(camera.image_size, [640.0, 480.0])
  default = de.sample_camera(sample.replace(focal_length=0.0))
  np.testing.assert_allclose(default.focal_length, 640 / (2 * math.tan(math.radians(30))),
                             rtol=1e-6)
  stacked = posejax.camera.stack_cameras([camera, default])
  assert stacked.focal_length.shape == (2, 2) and stacked.rotation.shape == (2, 3, 3)
  with pytest.raises(InvalidInputError, match="no image size"):
    de.sample_camera(sample.replace(image_size=(0, 0)))


def test_moyo_ground_truth_is_found_by_name(tmp_path):
  rng = np.random.default_rng(1)
  poses = rng.normal(size=(40, 165))
  trans = rng.normal(size=(40, 3))
  sequence = "220923_yogi_body_hands_03596_Camel_Pose_or_Ustrasana_-b"
  np.savez(tmp_path / f"{sequence}_stageii.npz", poses=poses, trans=trans, betas=np.ones(16))
  np.savez(tmp_path / "other_Pose_stageii.npz", poses=poses, trans=trans, betas=np.ones(16))
  sample = DatasetSample(keypoints=np.zeros((1, 25, 3)), init={}, gt=None, contact_pairs=None,
                         contact_map=None, name=f"{sequence}_YOGI_Cam_05_0007_0")
  gt = de.moyo_ground_truth(sample, tmp_path)
  np.testing.assert_allclose(gt["body_pose"][0], poses[14, 3:66])  # image frame 7 = mocap row 14
  np.testing.assert_allclose(gt["transl"][0], trans[14])
  assert gt["betas"].shape == (1, 10) and gt["left_hand_pose"].shape == (1, 45)
  with pytest.raises(FileFormatError, match="0 ground-truth files for sequence 'Missing'"):
    de.moyo_sequence_file(tmp_path, "Missing_YOGI_Cam_01_0001")
  with pytest.raises(FileFormatError, match="not a MOYO image name"):
    de.moyo_sequence_file(tmp_path, "img_0001")


def _procrustes_error_mm(pred, gt):
  """Similarity Procrustes of ``pred`` onto ``gt`` (Umeyama), then the mean error in mm."""
  mu_p, mu_g = pred.mean(0), gt.mean(0)
  p, g = pred - mu_p, gt - mu_g
  u, s, vt = np.linalg.svd(g.T @ p)
  d = np.sign(np.linalg.det(u @ vt))
  fix = np.diag([1.0, 1.0, d])
  rotation = u @ fix @ vt
  scale = np.trace(np.diag(s) @ fix) / np.sum(p**2)
  aligned = scale * p @ rotation.T + mu_g
  return 1000.0 * np.linalg.norm(aligned - gt, axis=1).mean()


def _bodies(rng, vertices=60):
  """Two random point clouds standing in for meshes, and a one-hot LSP regressor."""
  gt = rng.normal(size=(2, vertices, 3)) * 0.3 + np.array([[[-0.4, 0, 4]], [[0.4, 0, 4]]])
  regressor = np.zeros((14, vertices))
  regressor[np.arange(14), rng.choice(vertices, 14, replace=False)] = 1.0
  return gt, regressor


def test_two_person_row_against_first_principles():
  rng = np.random.default_rng(2)
  gt, regressor = _bodies(rng)
  # A similarity transform of the whole scene leaves the joint PA-MPJPE at zero.
  rotation = Rotation.from_rotvec([0.2, -0.5, 0.1]).as_matrix()
  moved = 1.3 * gt @ rotation.T + np.array([0.5, 0.1, -0.2])
  row = de.sample_metrics(moved, gt, regressor)
  assert row["pa_mpjpe"] == pytest.approx(0.0, abs=1e-3)
  assert row["mpjpe"] > 10.0 and row["swapped"] == 0.0
  assert all(math.isnan(row[c]) for c in de.PCC_COLUMNS) and math.isnan(row["pcc_mean"])
  # Noise: the row's number is the Procrustes error over all 28 joints, in the better order.
  noisy = gt + rng.normal(size=gt.shape) * 0.02
  swapped = noisy[::-1]
  row = de.sample_metrics(swapped, gt, regressor)
  joints_pred = np.concatenate([regressor @ swapped[1], regressor @ swapped[0]])
  joints_gt = np.concatenate([regressor @ gt[0], regressor @ gt[1]])
  assert row["swapped"] == 1.0
  assert row["pa_mpjpe"] == pytest.approx(_procrustes_error_mm(joints_pred, joints_gt), rel=1e-3)


def test_two_person_pcc_against_first_principles():
  rng = np.random.default_rng(3)
  gt, regressor = _bodies(rng)
  regions = [np.arange(i * 6, i * 6 + 6) for i in range(10)]
  table = metrics.fixed_region_vertices(regions, count=3)
  pairs = np.array([[0, 1], [2, 7], [5, 5], [9, 3]])
  pred = gt.copy()
  row = de.sample_metrics(pred, gt, regressor, contact_pairs=pairs, region_vertices=table)
  distances = [np.min(np.linalg.norm(pred[0][table[a]][:, None] - pred[1][table[b]][None],
                                     axis=-1)) for a, b in pairs]
  for column, tau in zip(de.PCC_COLUMNS, metrics.PCC_THRESHOLDS_M):
    assert row[column] == pytest.approx(np.mean(np.array(distances) < tau))
  assert row["pcc_mean"] == pytest.approx(np.mean([row[c] for c in de.PCC_COLUMNS]))
  none = de.sample_metrics(pred, gt, regressor, contact_pairs=np.zeros((0, 2), int),
                           region_vertices=table)
  assert math.isnan(none["pcc_mean"])


def test_one_person_row():
  rng = np.random.default_rng(4)
  gt, regressor = _bodies(rng)
  one = gt[:1]
  moved = 0.8 * one + np.array([1.0, 0.0, 0.0])
  row = de.sample_metrics(moved, one, regressor)
  assert row["pa_mpjpe"] == pytest.approx(0.0, abs=1e-3)
  assert row["mpjpe"] > 1.0 and "swapped" not in row
  with pytest.raises(InvalidInputError, match="P = 1 or 2"):
    de.sample_metrics(gt, one, regressor)


def test_summaries():
  curve = [0.0] * 5 + [0.5] * 5 + [1.0] * 10
  rows = [
      {"fit_pa_mpjpe": "100", "fit_mpjpe": "150", **{f"fit_{c}": str(v)
                                                      for c, v in zip(de.PCC_COLUMNS, curve)}},
      {"fit_pa_mpjpe": 50.0, "fit_mpjpe": "", **{f"fit_{c}": 1.0 for c in de.PCC_COLUMNS}},
      {"fit_pa_mpjpe": "nan", "fit_mpjpe": "120"},  # no PCC for this image
  ]
  summary = de.summarize(rows, "fit_")
  assert summary["images"] == 3 and summary["pcc_images"] == 2
  assert summary["pa_mpjpe"] == pytest.approx(75.0)
  assert summary["mpjpe"] == pytest.approx(135.0)
  expected = (np.array(curve) + 1.0) / 2
  np.testing.assert_allclose([summary[c] for c in de.PCC_COLUMNS], expected)
  assert summary["pcc_mean"] == pytest.approx(expected.mean())
  empty = de.summarize([], "fit_")
  assert empty["images"] == 0 and math.isnan(empty["pa_mpjpe"]) and math.isnan(empty["pcc_mean"])
  text = de.summary_markdown("posejax on flickrci3d", [("initial", empty), ("fit", summary)],
                             dataset="flickrci3d", notes=["a note"])
  assert "- a note" in text
  assert f"| fit | 3 | 75.0 | 135.0 | {100 * expected.mean():.1f} | 2 |" in text
  assert "| initial | 0 | – | – | – | 0 |" in text
  assert "| 5 cm | 10 cm |" in text.replace("| method ", "")
  assert "| ProsePose | 58 | 79.9 |" in text
  assert "Published" not in de.summary_markdown("x", [("fit", summary)], dataset="other")
