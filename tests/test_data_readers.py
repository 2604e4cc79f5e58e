"""Dataset readers: round trips of fixture files written in the reference pipeline's formats, and
clear errors (naming the file and the key) for malformed ones."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from posejax import data
from posejax.data import files
from posejax.data import photo_files
from posejax.data import processed
from posejax.errors import FileFormatError


def _openpose_person(rng, offset=0.0, nested=False):
  points = np.concatenate([rng.uniform(0, 500, size=(25, 2)) + offset,
                           rng.uniform(0.3, 1.0, size=(25, 1))], axis=1)
  body = points.tolist() if nested else points.reshape(-1).tolist()
  return points, {"pose_keypoints_2d": body, "hand_left_keypoints_2d": [0.0] * 63,
                  "face_keypoints_2d": [0.0] * 210}


def _write_json(path, payload):
  path.write_text(json.dumps(payload))
  return path


# ---------------------------------------------------------------------------------------------
# Low-level files


def test_keypoint_json_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  first, person_a = _openpose_person(rng)
  second, person_b = _openpose_person(rng, nested=True)
  path = _write_json(tmp_path / "img_keypoints.json", {"people": [person_a, person_b]})
  keypoints, layout = photo_files.read_keypoint_file(path)
  assert layout == "openpose_body25"
  assert keypoints.shape == (2, 25, 3)
  np.testing.assert_allclose(keypoints[0], first)
  np.testing.assert_allclose(keypoints[1], second)
  empty = _write_json(tmp_path / "empty.json", {"people": []})
  assert photo_files.read_keypoint_file(empty)[0].shape == (0, 25, 3)


@pytest.mark.parametrize("payload, message", [
    ({"persons": []}, "OpenPose's {'people'"),
    ({"people": [{"pose_keypoints_2d": [1.0] * 30}]}, "has 10 keypoints"),
    ({"people": [{"face_keypoints_2d": []}]}, "no 'pose_keypoints_2d'"),
])
def test_keypoint_json_errors(tmp_path, payload, message):
  path = _write_json(tmp_path / "bad.json", payload)
  with pytest.raises(FileFormatError, match=message) as caught:
    photo_files.read_keypoint_file(path)
  assert caught.value.path == str(path)
  broken = tmp_path / "broken.json"
  broken.write_text("{not json")
  with pytest.raises(FileFormatError, match="broken.json.*not valid JSON"):
    photo_files.read_keypoint_file(broken)
  with pytest.raises(FileFormatError, match="missing.json: file not found"):
    photo_files.read_keypoint_file(tmp_path / "missing.json")


def _bev_results(rng, people=2):
  return {"smpl_thetas": rng.normal(size=(people, 72)) * 0.2,
          "smpl_betas": rng.normal(size=(people, 11)),
          "cam_trans": rng.normal(size=(people, 3)) + np.array([0.0, 0.0, 4.0]),
          "pj2d_org": rng.uniform(0, 500, size=(people, 54, 2)),
          "verts": np.zeros((people, 6890, 3), dtype=np.float32)}


def test_bev_npz_round_trip_and_errors(tmp_path):
  rng = np.random.default_rng(1)
  results = _bev_results(rng)
  path = tmp_path / "img_0.08.npz"
  np.savez(path, results=results)
  read = files.read_bev_npz(path)
  for key in ("smpl_thetas", "smpl_betas", "cam_trans", "pj2d_org"):
    np.testing.assert_allclose(read[key], results[key])
  assert read["verts"].shape == (2, 6890, 3)
  bad = dict(results, smpl_thetas=np.zeros((2, 69)))
  np.savez(tmp_path / "bad.npz", results=bad)
  with pytest.raises(FileFormatError, match=r"bad.npz.*'smpl_thetas' has shape \(2, 69\)"):
    files.read_bev_npz(tmp_path / "bad.npz")
  np.savez(tmp_path / "nores.npz", other=np.zeros(3))
  with pytest.raises(FileFormatError, match="no 'results'"):
    files.read_bev_npz(tmp_path / "nores.npz")
  missing = dict(results)
  del missing["cam_trans"]
  np.savez(tmp_path / "nocam.npz", results=missing)
  with pytest.raises(FileFormatError, match="no 'cam_trans'"):
    files.read_bev_npz(tmp_path / "nocam.npz")


def test_region_vertex_map(tmp_path):
  mapping = {i: np.arange(i * 3, i * 3 + 3) for i in range(75)}
  path = tmp_path / "flickrci3ds_r75_rid_to_smplx_vid.pkl"
  path.write_bytes(pickle.dumps(mapping))
  regions = files.read_region_vertex_map(path, num_vertices=10475)
  assert len(regions) == 75
  np.testing.assert_array_equal(regions[10], [30, 31, 32])
  del mapping[4]
  path.write_bytes(pickle.dumps(mapping))
  with pytest.raises(FileFormatError, match="without gaps"):
    files.read_region_vertex_map(path)


def test_unreadable_pickle(tmp_path):
  path = tmp_path / "val_optimization.pkl"
  path.write_bytes(b"\x80\x04garbage")
  with pytest.raises(FileFormatError, match="val_optimization.pkl: cannot read .*not a readable pickle"):
    files.load_pickle(path)


# ---------------------------------------------------------------------------------------------
# Processed pickles


def _item(rng, dataset, people=2, tensors=False):
  """One processed item with the keys the reference writes for ``dataset``."""
  item = {
      "imgname": "girls_250416.png" if dataset != "hi4d" else "32_hug13_4_000120",
      "imgpath": "datasets/original/x/images/girls_250416.png",
      "img_height": 480, "img_width": 640, "fl": 554.2562584220408,
      "cam_transl": [0.0, 0.0, 0.0], "cam_rot": [0.0, 0.0, 180.0], "afov_horizontal": 60,
      "openpose": rng.uniform(0, 400, size=(people, 135, 3)),
      "vitpose": rng.uniform(0, 400, size=(people, 135, 3)),
      "vitpose_human_idx": np.arange(people),
      "openpose_human_idx": np.arange(people), "bev_human_idx": np.arange(people),
      "bev_smplx_global_orient": rng.normal(size=(people, 3)),
      "bev_smplx_body_pose": rng.normal(size=(people, 63)),
      "bev_smplx_transl": rng.normal(size=(people, 3)),
      "bev_smplx_betas": rng.normal(size=(people, 10)),
      "bev_smplx_scale": rng.uniform(size=(people,)),
      "bev_smplx_vertices": np.zeros((people, 10, 3)),
      "information_missing": False,
  }
  if dataset in ("flickrci3d", "chi3d"):
    pairs = [[19, 45], [44, 34], [6, 57]]
    contact_map = np.zeros((75, 75), dtype=bool)
    for a, b in pairs:
      contact_map[a, b] = True
    item.update(contact_map=contact_map, hhc_contacts_region_ids=pairs)
  if dataset == "flickrci3d":
    item.update(contact_index=1, hhc_contacts_human_ids=[5, 6],
                pgt_smplx_betas=rng.normal(size=(people, 10)),
                pgt_smplx_global_orient=rng.normal(size=(people, 3)),
                pgt_smplx_body_pose=rng.normal(size=(people, 63)),
                pgt_smplx_transl=rng.normal(size=(people, 3)),
                pgt_smplx_scale=rng.uniform(size=(people, 1)))
  if dataset == "chi3d":
    item.update(img_out_fn="s03_Hug 1_000085_50591643_0", is_contact_frame=True,
                global_orient=rng.normal(size=(people, 1, 3)),
                global_orient_cam=rng.normal(size=(people, 1, 3)),
                transl=rng.normal(size=(people, 1, 3)),
                transl_cam=rng.normal(size=(people, 1, 3)),
                body_pose=rng.normal(size=(people, 1, 63)),
                betas=rng.normal(size=(people, 1, 10)), scale=np.zeros((people, 1, 1)),
                jaw_pose=rng.normal(size=(people, 1, 3)),
                expression=rng.normal(size=(people, 1, 10)))
  if dataset == "hi4d":
    item.update(betas_smplx=rng.normal(size=(people, 10)),
                global_orient_smplx=rng.normal(size=(people, 3)),
                global_orient_cam_smplx=rng.normal(size=(people, 3)),
                body_pose_smplx=rng.normal(size=(people, 63)),
                transl_smplx=rng.normal(size=(people, 3)),
                transl_cam_smplx=rng.normal(size=(people, 3)))
  if dataset == "moyo":
    item.update(img_out_fn="Camel_Pose_or_Ustrasana_-b_YOGI_Cam_05_0468_0")
  if tensors:
    import torch
    for key in ("bev_smplx_global_orient", "bev_smplx_body_pose", "bev_smplx_transl"):
      item[key] = torch.from_numpy(item[key]).float()
    if "contact_map" in item:
      item["contact_map"] = torch.from_numpy(item["contact_map"])
  return item


def _write_pickle(path, items):
  path.write_bytes(pickle.dumps(items))
  return path


def _as_numpy(value):
  return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


@pytest.mark.parametrize("dataset", ["flickrci3d", "chi3d", "hi4d", "moyo"])
def test_processed_round_trip(tmp_path, dataset):
  rng = np.random.default_rng(2)
  people = 1 if dataset == "moyo" else 2
  items = [_item(rng, dataset, people) for _ in range(2)]
  path = _write_pickle(tmp_path / "val_optimization.pkl", items)
  samples = data.read_processed(path, dataset, image_root="/data")
  assert len(samples) == 2
  sample, item = samples[0], items[0]
  assert sample.num_people == people and sample.dataset == dataset
  assert sample.keypoints.shape == (people, 25, 3)
  assert sample.image_size == (480, 640)
  assert sample.focal_length == pytest.approx(640 / (2 * np.tan(np.radians(30))))
  assert sample.image_path == "/data/datasets/original/x/images/girls_250416.png"
  np.testing.assert_allclose(sample.init["body_pose"], item["bev_smplx_body_pose"])
  np.testing.assert_allclose(sample.init["transl"], item["bev_smplx_transl"])
  np.testing.assert_allclose(sample.init["betas"][:, :10], item["bev_smplx_betas"])
  np.testing.assert_allclose(sample.init["betas"][:, 10], item["bev_smplx_scale"])
  assert sample.extras["vitpose_human_idx"].tolist() == list(range(people))
  if dataset == "flickrci3d":
    assert sample.name == "girls_250416_1"
    np.testing.assert_array_equal(sample.contact_pairs, [[19, 45], [44, 34], [6, 57]])
    assert sample.contact_map.sum() == 3 and sample.contact_map[44, 34]
    np.testing.assert_allclose(sample.gt["body_pose"], item["pgt_smplx_body_pose"])
    np.testing.assert_allclose(sample.gt["betas"][:, 10], item["pgt_smplx_scale"][:, 0])
  elif dataset == "chi3d":
    assert sample.name == "s03_Hug 1_000085_50591643_0"
    np.testing.assert_allclose(sample.gt["global_orient"], item["global_orient_cam"][:, 0])
    np.testing.assert_allclose(sample.gt["transl"], item["transl_cam"][:, 0])
    np.testing.assert_allclose(sample.gt["body_pose"], item["body_pose"][:, 0])
    np.testing.assert_allclose(sample.gt["expression"], item["expression"][:, 0])
    assert sample.contact_pairs.shape == (3, 2)
  elif dataset == "hi4d":
    np.testing.assert_allclose(sample.gt["global_orient"], item["global_orient_cam_smplx"])
    np.testing.assert_allclose(sample.gt["transl"], item["transl_cam_smplx"])
    assert sample.gt["betas"].shape == (2, 10)  # adult ground truth: no kid column
    assert sample.contact_pairs is None and sample.contact_map is None
  else:
    assert sample.gt is None and sample.contact_pairs is None
    assert sample.name.endswith("YOGI_Cam_05_0468_0")
  adult = data.read_processed(path, dataset, kid_scale=False)[0]
  assert adult.init["betas"].shape == (people, 10)


def test_processed_reads_torch_tensors(tmp_path):
  pytest.importorskip("torch")
  rng = np.random.default_rng(3)
  item = _item(rng, "flickrci3d", tensors=True)
  path = _write_pickle(tmp_path / "val_optimization.pkl", [item])
  sample = data.read_processed(path, "flickrci3d")[0]
  np.testing.assert_allclose(sample.init["body_pose"], _as_numpy(item["bev_smplx_body_pose"]),
                             rtol=1e-6)
  assert sample.contact_map.dtype == bool and sample.contact_map.sum() == 3


def test_chi3d_skips_frames_without_detections(tmp_path):
  rng = np.random.default_rng(4)
  contact = _item(rng, "chi3d")
  neighbour = {k: v for k, v in _item(rng, "chi3d").items()
               if k not in ("openpose", "vitpose") and not k.startswith("bev_")}
  neighbour["is_contact_frame"] = False
  path = _write_pickle(tmp_path / "val_optimization.pkl", [neighbour, contact])
  assert len(data.read_processed(path, "chi3d")) == 1
  with pytest.raises(FileFormatError, match="item 0.*missing key 'openpose'"):
    data.read_processed(path, "chi3d", contact_frames_only=False)


def test_keypoint_selection_follows_the_reference():
  rng = np.random.default_rng(5)
  openpose = rng.uniform(0, 100, size=(2, 135, 3))
  vitpose = rng.uniform(0, 100, size=(2, 135, 3))
  # Person 0: ViTPose's right ankle agrees with OpenPose's -> OpenPose's right big toe is used.
  vitpose[0, 11] = openpose[0, 11] + 0.5
  chosen = processed.select_body25(openpose, vitpose, np.array([0, 1]))
  np.testing.assert_allclose(chosen[0, :22], vitpose[0, :22])
  np.testing.assert_allclose(chosen[0, 22], openpose[0, 22])
  np.testing.assert_allclose(chosen[0, 19], vitpose[0, 19])  # left ankles disagree
  np.testing.assert_allclose(chosen[1], vitpose[1, :25])
  # ViTPose missed person 1 -> OpenPose for that person only.
  chosen = processed.select_body25(openpose, vitpose, np.array([0, -1]))
  np.testing.assert_allclose(chosen[1], openpose[1, :25])
  np.testing.assert_allclose(chosen[0, :11], vitpose[0, :11])
  # ViTPose matched the same detection twice -> OpenPose for both.
  chosen = processed.select_body25(openpose, vitpose, np.array([1, 1]))
  np.testing.assert_allclose(chosen, openpose[:, :25])


@pytest.mark.parametrize("change, message", [
    (lambda item: item.pop("bev_smplx_body_pose"), "missing key 'bev_smplx_body_pose'"),
    (lambda item: item.update(bev_smplx_body_pose=np.zeros((2, 60))),
     r"'bev_smplx_body_pose' has shape \(2, 60\); expected \(2, 63\)"),
    (lambda item: item.update(openpose=np.zeros((2, 17, 3))), r"'openpose' has shape \(2, 17, 3\)"),
    (lambda item: item.update(contact_map=np.zeros((10, 10))), r"'contact_map' has shape"),
    (lambda item: item.update(hhc_contacts_region_ids=[[1, 80]]), "ids outside"),
    (lambda item: item.update(img_height=[1, 2]), "'img_height' should be a single number"),
])
def test_malformed_processed_items_name_file_and_key(tmp_path, change, message):
  rng = np.random.default_rng(6)
  items = [_item(rng, "flickrci3d"), _item(rng, "flickrci3d")]
  change(items[1])
  path = _write_pickle(tmp_path / "val_optimization.pkl", items)
  with pytest.raises(FileFormatError, match=message) as caught:
    data.read_processed(path, "flickrci3d")
  assert caught.value.path == str(path)
  assert "item 1 (girls_250416.png)" in str(caught.value)


def test_processed_file_layout_errors(tmp_path):
  path = _write_pickle(tmp_path / "val_optimization.pkl", {"not": "a list"})
  with pytest.raises(FileFormatError, match="expected a list of per-image dicts"):
    data.read_processed(path, "hi4d")
  path = _write_pickle(tmp_path / "list.pkl", [["not", "a dict"]])
  with pytest.raises(FileFormatError, match="item 0 is a list"):
    data.read_processed(path, "hi4d")
  with pytest.raises(FileFormatError, match="file not found"):
    data.read_processed(tmp_path / "nothing.pkl", "hi4d")


# ---------------------------------------------------------------------------------------------
# MOYO


def test_moyo_ground_truth_and_names(tmp_path):
  rng = np.random.default_rng(7)
  poses = rng.normal(size=(1000, 165))
  trans = rng.normal(size=(1000, 3))
  path = tmp_path / "220923_yogi_body_hands_03596_Camel_Pose_or_Ustrasana_-b_stageii.npz"
  np.savez(path, poses=poses, trans=trans, betas=rng.normal(size=16))
  camera, frame = data.moyo_camera_and_frame("Camel_Pose_or_Ustrasana_-b_YOGI_Cam_05_0468_0.pkl")
  assert (camera, frame) == (5, 468)
  gt = data.read_moyo_ground_truth(path, 2 * frame)
  np.testing.assert_allclose(gt["global_orient"][0], poses[936, :3])
  np.testing.assert_allclose(gt["body_pose"][0], poses[936, 3:66])
  np.testing.assert_allclose(gt["right_hand_pose"][0], poses[936, 120:165])
  np.testing.assert_allclose(gt["transl"][0], trans[936])
  assert gt["betas"].shape == (1, 10)
  with pytest.raises(FileFormatError, match="row 5000 is outside"):
    data.read_moyo_ground_truth(path, 5000)
  with pytest.raises(FileFormatError, match="not a MOYO image name"):
    data.moyo_camera_and_frame("girls_250416")


def test_bev_estimate_puts_the_model_root_at_cam_trans(tmp_path, default_body):
  from posejax import body

  rng = np.random.default_rng(4)
  results = _bev_results(rng)
  path = tmp_path / "img_0.08.npz"
  np.savez(path, results=results)
  params, kind = photo_files.read_initial_estimate(path, default_body)
  assert kind == "bev/hmr2"
  posed = body.forward(default_body, body.BodyParams.create(default_body, **params))
  np.testing.assert_allclose(np.asarray(posed.joints)[:, 0], results["cam_trans"], atol=1e-5)
  np.testing.assert_allclose(body.rest_root(default_body, params["betas"]) + params["transl"],
                             results["cam_trans"], atol=1e-12)


def test_smplx_json_with_words_for_numbers_names_the_file(tmp_path, default_body):
  path = _write_json(tmp_path / "estimate.json",
                     {"people": [{"betas": [0.1] * 10, "body_pose": ["bent"] * 63}]})
  with pytest.raises(FileFormatError, match="estimate.json.*parameter is not numbers"):
    photo_files.read_initial_estimate(path, default_body)
