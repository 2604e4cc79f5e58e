"""experiments/fit_images.py end to end on two rendered synthetic scenes, and its readers.

The photos are the bundled synthetic scenes' true bodies rendered over a plain background; their
keypoints are written as OpenPose JSON (the hug) and as ViTPose / mmpose COCO-WholeBody JSON (the
one-person scene); answers come from a loopback OpenAI-compatible server. Two more images fail on
purpose: one without a keypoint file, one whose keypoint file shows three people.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

from lmm_server import FakeLMMServer
from experiments import fit_images
from posejax import body
from posejax import lmm
from posejax import metrics
from posejax import keypoint_init
from posejax import photos
from posejax.body import keypoints as body_keypoints
from posejax.camera import reference_camera
from posejax.config import FitConfig
from posejax.data import photo_files
from posejax.data import synthetic
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError
from posejax.errors import LMMRefusalError
from posejax.errors import UnsupportedImageError
from posejax.viz import overlay

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSWERS_PER_IMAGE = 4
MAX_ITERS, INIT_ITERS = 60, 40
_FORWARD = jax.jit(body.forward)
"""Every forward pass of these tests: compiled once per batch shape (eager, each op compiles)."""
REFUSAL = "I'm sorry, but I can't help with identifying or describing the people in this image."


def _coco_wholebody(body25: np.ndarray) -> np.ndarray:
  """(133, 3) COCO-WholeBody rows of one person's BODY_25 rows (face and hands empty)."""
  names = body_keypoints.BODY_25_NAMES
  rows = np.zeros((body_keypoints.NUM_COCO_WHOLEBODY, 3))
  order = body_keypoints.COCO_17_NAMES + body_keypoints.COCO_WHOLEBODY_FOOT_NAMES
  for index, name in enumerate(order):
    rows[index] = body25[names.index(name)]
  return rows


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  """images/, keypoints/, estimates/ of four photos, and the scenes' truths."""
  root = tmp_path_factory.mktemp("photos")
  images, keypoints, estimates = (root / name for name in ("images", "keypoints", "estimates"))
  for path in (images, keypoints, estimates):
    path.mkdir()
  model = body.default_model()
  scenes = {scene.people: scene for scene in synthetic.load_bundled()}
  faces = np.asarray(model.faces)
  for stem, scene in (("a_hug", scenes[2]), ("b_pose", scenes[1])):
    truth = np.asarray(_FORWARD(model, scene.gt_params(model)).vertices)
    width, height = scene.image_size
    background = np.full((height, width, 3), (200, 210, 190), np.uint8)
    picture = overlay.render_people(truth, faces, scene.camera(), image=background, alpha=1.0,
                                    colors=[(150, 150, 150)] * scene.people)
    Image.fromarray(picture).save(images / f"{stem}.png")
  hug, pose = scenes[2], scenes[1]
  (keypoints / "a_hug_keypoints.json").write_text(json.dumps(
      {"people": [{"pose_keypoints_2d": person.ravel().tolist()} for person in hug.keypoints]}))
  wholebody = _coco_wholebody(pose.keypoints[0])
  (keypoints / "b_pose.json").write_text(json.dumps({"instance_info": [
      {"keypoints": wholebody[:, :2].tolist(), "keypoint_scores": wholebody[:, 2].tolist()}]}))
  np.savez(estimates / "a_hug.npz", **{k: v for k, v in hug.init.items()})
  (estimates / "b_pose.json").write_text(json.dumps(
      {"people": [{k: v[0].tolist() for k, v in pose.init.items()}]}))
  # Failing on purpose: three people in one file; no keypoint file at all.
  Image.fromarray(np.full((60, 80, 3), 128, np.uint8)).save(images / "c_crowd.png")
  (keypoints / "c_crowd.json").write_text(json.dumps(
      {"people": [{"pose_keypoints_2d": hug.keypoints[i % 2].ravel().tolist()} for i in range(3)]}))
  Image.fromarray(np.full((60, 80, 3), 128, np.uint8)).save(images / "d_alone.png")
  answers = list(hug.answers[:ANSWERS_PER_IMAGE]) + list(pose.answers[:ANSWERS_PER_IMAGE])
  return {"root": root, "images": images, "keypoints": keypoints, "estimates": estimates,
          "model": model, "scenes": {"a_hug": hug, "b_pose": pose}, "answers": answers}


def _command(folder, out, *extra):
  return [sys.executable, "-m", "experiments.fit_images", f"--images={folder['images']}",
          f"--keypoints_dir={folder['keypoints']}", f"--out_dir={out}",
          f"--compilation_cache={folder['root'] / 'jax_cache'}", f"--n={ANSWERS_PER_IMAGE}",
          "--lmm_model=fake", f"--max_iters={MAX_ITERS}", f"--init_iters={INIT_ITERS}", *extra]


def _settings(folder, out, **extra) -> fit_images.PhotoSettings:
  """The settings ``_command`` gives the script, for a run in this process."""
  return fit_images.PhotoSettings(
      images=str(folder["images"]), keypoints_dir=str(folder["keypoints"]), out_dir=str(out),
      compilation_cache=str(folder["root"] / "jax_cache"), n=ANSWERS_PER_IMAGE, lmm_model="fake",
      max_iters=(MAX_ITERS,), init_iters=INIT_ITERS, **extra)


def _env():
  # The tests' JAX settings (conftest.py), so that the script finds the programs this process
  # compiled in the persistent compilation cache.
  return dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu", OPENAI_API_KEY="sk-test",
              JAX_NUMPY_RANK_PROMOTION="raise")


@pytest.fixture
def compilation_cache(monkeypatch):
  """In-process runs use JAX's persistent compilation cache (as the script does); it is switched
  off again after the test, and the server's API key is set."""
  monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
  names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
           "jax_persistent_cache_min_entry_size_bytes")
  saved = {name: getattr(jax.config, name) for name in names}
  yield
  for name, value in saved.items():
    jax.config.update(name, value)
  from jax.experimental.compilation_cache import compilation_cache as jax_cache
  jax_cache.reset_cache()


def _records(out):
  lines = (out / "progress.jsonl").read_text().splitlines()
  return [json.loads(line) for line in lines if line.strip()]


def _pa_mpjpe(model, params: dict, truth) -> float:
  """Mean per-person PA-MPJPE (mm) of smplx-named parameter lists against the true BodyParams."""
  regressor = metrics.lsp14_regressor_for(model)
  people = len(params["body_pose"])
  ours = _FORWARD(model, body.BodyParams.create(model, (people,), **{
      k: np.asarray(v) for k, v in params.items()})).vertices
  true = _FORWARD(model, truth).vertices
  # The fitted people keep the keypoint file's order, which is the scene's order here.
  return float(np.mean([metrics.pa_mpjpe(metrics.regress_joints(regressor, ours[p]),
                                         metrics.regress_joints(regressor, true[p]))
                        for p in range(people)]))


def _check_outputs(folder, out, records, initial_estimate: str):
  by_stem = {r["stem"]: r for r in records}
  assert by_stem["c_crowd"]["status"] == "failed"
  assert "c_crowd.json" in by_stem["c_crowd"]["reason"]
  assert "holds 3 people" in by_stem["c_crowd"]["reason"]
  assert by_stem["d_alone"]["status"] == "failed"
  assert "no keypoint file" in by_stem["d_alone"]["reason"]
  assert "d_alone" in by_stem["d_alone"]["reason"]
  summary = (out / "summary.md").read_text()
  assert "4 images: 2 fitted, 0 fell back" in summary and "2 failed" in summary
  improvement = {}
  for stem, scene in folder["scenes"].items():
    record = by_stem[stem]
    assert record["status"] == "fitted", record
    assert record["people"] == scene.people
    assert record["initial_estimate"].startswith(initial_estimate)
    for name in ("fit.glb", "fit.obj", "params.npz", "params.json", "overlay.png",
                 "answers.json"):
      assert (out / stem / name).stat().st_size > 0, name
    assert f"![{stem}](thumbs/{stem}.png)" in summary
    with Image.open(out / "thumbs" / f"{stem}.png") as thumb:
      assert thumb.size[0] == min(480, 3 * scene.image_size[0] + 8)
    with Image.open(out / stem / "overlay.png") as picture:
      assert picture.size[0] == 3 * scene.image_size[0] + 2 * 4
    saved = json.loads((out / stem / "params.json").read_text())
    with np.load(out / stem / "params.npz") as arrays:
      np.testing.assert_allclose(arrays["body_pose"], saved["fit"]["body_pose"], atol=1e-6)
    answers = json.loads((out / stem / "answers.json").read_text())
    assert len(answers["answers"]) == ANSWERS_PER_IMAGE
    assert answers["report"]["rows_kept"] > 0
    truth = scene.gt_params(folder["model"])
    before = _pa_mpjpe(folder["model"], saved["initial"], truth)
    after = _pa_mpjpe(folder["model"], saved["fit"], truth)
    improvement[stem] = (before, after, saved["keypoint_error_px"])
  return improvement


def test_fit_images_end_to_end_kill_resume_and_offline(folder, tmp_path, compilation_cache):
  """Without initial estimates, asking the server (run in this process, each fit compiles once,
  into the persistent compilation cache); then the script itself with initial estimates, on the
  cached answers: killed once the first image is recorded, and resumed offline."""
  cache = tmp_path / "answers.jsonl"
  out = tmp_path / "from_keypoints"
  with FakeLMMServer(folder["answers"]) as server:
    fit_images.run(_settings(folder, out, base_url=server.base_url, cache=str(cache)))
    assert len(server.requests) == 2 and server.served == 2 * ANSWERS_PER_IMAGE
    records = _records(out)
    assert [r["stem"] for r in records] == ["a_hug", "b_pose", "c_crowd", "d_alone"]
    assert [json.loads((out / s / "answers.json").read_text())["source"]
            for s in ("a_hug", "b_pose")] == ["asked", "asked"]
    from_keypoints = _check_outputs(folder, out, records, "from keypoints")
    for stem, (before, after, _) in from_keypoints.items():
      assert after < before, (stem, before, after)

    # With initial estimates (an SMPL-X .npz and a .json): the script, killed once the first
    # image is recorded (answers from the cache, the server up), then resumed offline (in blocks
    # of the default size). Blocks of one image while it is killed: the second image's fit, not
    # just its files, stands between the first record and the second.
    offline = tmp_path / "from_estimates"
    estimates = (f"--init_dir={folder['estimates']}", f"--cache={cache}")
    process = subprocess.Popen(
        _command(folder, offline, *estimates, f"--base_url={server.base_url}", "--block_size=1"),
        cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    deadline = time.monotonic() + 240
    try:
      while time.monotonic() < deadline and process.poll() is None:
        if (offline / "progress.jsonl").is_file() and _records(offline):
          break
        time.sleep(0.05)
    finally:
      os.killpg(process.pid, signal.SIGKILL)
      output = process.communicate()[0].decode()
    first = _records(offline)
    assert [r["stem"] for r in first] == ["a_hug"], output[-3000:]
    overlay_time = (offline / "a_hug" / "overlay.png").stat().st_mtime_ns
    resumed = subprocess.run(_command(folder, offline, *estimates, "--offline"), cwd=REPO,
                             env=_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "1 done, 3 to fit" in resumed.stderr
    # Nothing asked twice: the script's runs answered from the cache this process filled.
    assert len(server.requests) == 2 and server.served == 2 * ANSWERS_PER_IMAGE
  records = _records(offline)
  assert [r["stem"] for r in records] == ["a_hug", "b_pose", "c_crowd", "d_alone"]
  assert (offline / "a_hug" / "overlay.png").stat().st_mtime_ns == overlay_time
  assert "sk-test" not in cache.read_text()
  assert [json.loads((offline / s / "answers.json").read_text())["source"]
          for s in ("a_hug", "b_pose")] == ["cache", "cache"]
  from_estimates = _check_outputs(folder, offline, records, "smplx file")
  # The simulated estimates are a regressor's: the fit comes closer to the truth (PA-MPJPE) and
  # to the keypoints. (From keypoints, the fit's start already matches the keypoints closely.)
  for stem, (before, after, pixels) in from_estimates.items():
    assert after < before, (stem, before, after)
    assert pixels["fit"] < pixels["initial"], (stem, pixels)
  print("PA-MPJPE mm (initial, fit) from keypoints:", from_keypoints, "from estimates:",
        from_estimates)


def test_refused_image_falls_back_with_the_reason_in_the_summary(folder, tmp_path,
                                                                 compilation_cache):
  """Every answer a refusal: the image is fitted without contact answers ("fell back")."""
  images = tmp_path / "images"
  images.mkdir()
  (images / "a_hug.png").write_bytes((folder["images"] / "a_hug.png").read_bytes())
  out = tmp_path / "out"
  with FakeLMMServer([REFUSAL]) as server:
    records = fit_images.run(dataclasses.replace(
        _settings(folder, out, base_url=server.base_url, init_dir=str(folder["estimates"])),
        images=str(images)))
    assert len(server.requests) == 1
  record = records["a_hug"]
  reason = (f"the model refused to answer about this image ({ANSWERS_PER_IMAGE} of "
            f"{ANSWERS_PER_IMAGE} answers were refusals); fitted without contact answers")
  assert record["status"] == "fell back" and reason in record["reason"], record
  assert _records(out) == [record]
  summary = (out / "summary.md").read_text()
  assert "1 images: 0 fitted, 1 fell back" in summary and "0 failed" in summary
  assert "| fell back | 2 | smplx file a_hug.npz |" in summary
  assert reason in summary
  saved = json.loads((out / "a_hug" / "params.json").read_text())
  assert saved["status"] == "fell back" and reason in saved["reason"]
  assert json.loads((out / "a_hug" / "answers.json").read_text())["refused"]
  for name in ("fit.glb", "fit.obj", "params.npz", "overlay.png"):
    assert (out / "a_hug" / name).stat().st_size > 0, name


# ----------------------------------------------------------------------------------------------
# Readers and errors (no fit)


def test_keypoint_layouts_agree(folder, tmp_path):
  """The hug's BODY_25 keypoints read back from OpenPose, mmpose and OpenPose-layout COCO files."""
  hug = folder["scenes"]["a_hug"]
  points, layout = photo_files.read_keypoint_file(folder["keypoints"] / "a_hug_keypoints.json")
  assert layout == "openpose_body25"
  np.testing.assert_allclose(points, hug.keypoints)
  coco = np.stack([_coco_wholebody(p)[:17] for p in hug.keypoints])
  instances = tmp_path / "instances.json"
  instances.write_text(json.dumps([{"keypoints": p.tolist()} for p in coco]))
  read, layout = photo_files.read_keypoint_file(instances)
  assert layout == "coco17"
  names = body_keypoints.BODY_25_NAMES
  for name in body_keypoints.COCO_17_NAMES:
    np.testing.assert_allclose(read[:, names.index(name)], hug.keypoints[:, names.index(name)])
  shoulders = [names.index("left_shoulder"), names.index("right_shoulder")]
  both = (hug.keypoints[:, shoulders, 2] > 0.2).all(axis=1)
  np.testing.assert_allclose(read[both, names.index("neck"), :2],
                             hug.keypoints[both][:, shoulders, :2].mean(axis=1))
  flat = tmp_path / "openpose_coco.json"
  flat.write_text(json.dumps({"people": [{"pose_keypoints_2d": p.ravel().tolist()}
                                         for p in coco]}))
  np.testing.assert_allclose(photo_files.read_keypoint_file(flat)[0], read)
  bad = tmp_path / "bad.json"
  bad.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 18}]}))
  with pytest.raises(FileFormatError, match="bad.json.*18 keypoints"):
    photo_files.read_keypoint_file(bad)


def test_people_selection_errors_name_the_file(folder):
  hug = folder["scenes"]["a_hug"]
  weak = hug.keypoints[0].copy()
  weak[:, 2] = 0.0
  weak[:3, 2] = 0.9  # a face in the background: 3 confident points
  kept = photo_files.select_people(np.stack([hug.keypoints[0], weak, hug.keypoints[1]]), "k.json")
  np.testing.assert_array_equal(kept, hug.keypoints)
  with pytest.raises(UnsupportedImageError, match=r"crowd\.json: holds 3 people"):
    photo_files.select_people(np.stack([hug.keypoints[0]] * 3), "crowd.json")
  with pytest.raises(UnsupportedImageError, match="nobody.json: no person found"):
    photo_files.select_people(weak[None], "nobody.json")
  with pytest.raises(FileFormatError, match="d_alone.png: no keypoint file.*d_alone.json"):
    photo_files.find_keypoint_file(folder["images"] / "d_alone.png", folder["keypoints"])


def test_image_files_skip_hidden_files_and_refuse_an_empty_folder(tmp_path):
  picture = Image.fromarray(np.zeros((4, 4, 3), np.uint8))
  picture.save(tmp_path / "b.png")
  picture.save(tmp_path / "a.JPG")
  (tmp_path / "._a.JPG").write_bytes(b"\x00\x05\x16\x07")  # macOS metadata, not a JPEG
  (tmp_path / "notes.txt").write_text("x")
  assert photo_files.image_files(tmp_path) == [str(tmp_path / "a.JPG"), str(tmp_path / "b.png")]
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(FileFormatError, match="empty: holds no image"):
    photo_files.image_files(empty)


def test_camera_sources(tmp_path):
  picture = Image.fromarray(np.zeros((300, 400, 3), np.uint8))
  plain = tmp_path / "plain.jpg"
  picture.save(plain)
  camera, source = photo_files.photo_camera(plain, (400, 300))
  assert source.startswith("default")
  np.testing.assert_allclose(camera.focal_length, reference_camera(400, 300).focal_length)
  exif = Image.Exif()
  exif.get_ifd(0x8769)[0xA405] = 26  # 26 mm in 35 mm terms: a phone's wide camera
  tagged = tmp_path / "tagged.jpg"
  picture.save(tagged, exif=exif)
  camera, source = photo_files.photo_camera(tagged, (400, 300))
  assert "35 mm" in source
  np.testing.assert_allclose(camera.focal_length, 26 * 500 / np.hypot(36, 24), rtol=1e-6)
  intrinsics = tmp_path / "intrinsics.json"
  intrinsics.write_text(json.dumps({"tagged": {"focal_length": [900, 910],
                                               "principal_point": [190, 160]}}))
  camera, source = photo_files.photo_camera(tagged, (400, 300),
                                            photo_files.read_intrinsics(intrinsics))
  assert source == "intrinsics file"
  np.testing.assert_allclose(camera.focal_length, [900, 910])
  np.testing.assert_allclose(camera.principal_point, [190, 160])


def test_placement_from_keypoints_recovers_depth_and_facing(folder):
  """Canonical bodies placed from their own projected keypoints land where they were."""
  model = folder["model"]
  camera = reference_camera(640, 480)
  truth = {"global_orient": np.stack([keypoint_init.yaw_orient(0.6),
                                      keypoint_init.yaw_orient(np.pi - 0.4)]),
           "body_pose": np.tile(keypoint_init.canonical_body_pose(), (2, 1)),
           "transl": np.array([[-0.5, 0.2, 4.0], [0.6, 0.1, 6.0]])}
  params = body.BodyParams.create(model, (2,), **truth)
  out = _FORWARD(model, params)
  from posejax.camera import project
  pixels = np.asarray(project(camera, body_keypoints.smplx_to_body25(out.joints)))
  keypoints = np.concatenate([pixels, np.ones((2, 25, 1))], axis=-1)
  placed = keypoint_init.init_from_keypoints(model, keypoints, camera, max_iters=0)
  placed_out = _FORWARD(model, placed)
  # The torso is seen without foreshortening here, so depth and pelvis come back closely.
  np.testing.assert_allclose(placed_out.joints[:, 0], out.joints[:, 0], atol=0.03)
  from scipy.spatial.transform import Rotation
  turns = (Rotation.from_rotvec(np.asarray(placed.global_orient, np.float64)).inv()
           * Rotation.from_rotvec(truth["global_orient"])).magnitude()
  assert np.all(turns < 0.06), turns
  assert keypoint_init.keypoint_error_px(model, placed, keypoints, camera) < 2.0


def test_refusals_are_reported_and_can_fail_the_image(folder, tmp_path):
  hug = folder["scenes"]["a_hug"]
  image = folder["images"] / "a_hug.png"
  settings = lmm.SamplingSettings(model="fake")
  with FakeLMMServer([REFUSAL]) as server, lmm.AnswerCache(tmp_path / "c.jsonl") as cache:
    client = lmm.LMMClient(lmm.ClientConfig(base_url=server.base_url))
    answers = photos.photo_answers(str(image), hug.keypoints, cache=cache, settings=settings,
                                   client=client, n=3)
    again = photos.photo_answers(str(image), hug.keypoints, cache=cache, settings=settings,
                                 offline=True, n=3)
    assert len(server.requests) == 1
  assert answers.refused and answers.source == "asked" and answers.fetched == 3
  assert again.refused and again.source == "cache" and again.fetched == 0
  with pytest.raises(LMMRefusalError, match=r"a_hug\.png: the model refused.*3 of 3"):
    photos.refusal_reason(answers, str(image), "fail")
  assert "3 of 3 answers were refusals" in photos.refusal_reason(answers, str(image), "fall_back")


def test_photos_fitted_together_equal_each_fitted_alone(folder):
  """fit_photos runs photos of one people count through continuous batching: a photo's fit is the
  same whichever photos share the call, and one without answers falls back, saying why."""
  model, hug = folder["model"], folder["scenes"]["a_hug"]
  answers = photos.PhotoAnswers(
      constraints=lmm.parse(list(hug.answers[:ANSWERS_PER_IMAGE]), 2), answers=(), samples=[],
      report={}, source="test", fetched=0, cache_key="", prompt_version="", model="",
      refused=False)
  init = hug.init_params(model)
  moved = jax.tree_util.tree_map(lambda x: x, init).replace(
      transl=np.asarray(init.transl) + np.array([0.05, 0.0, 0.1]))
  config = FitConfig.for_people(2, max_iters=MAX_ITERS)
  inputs = [photos.PhotoInput(hug.keypoints, hug.camera(), init, answers, "first"),
            photos.PhotoInput(hug.keypoints, hug.camera(), moved, None, "second")]
  together = photos.fit_photos(model, inputs, config=config, slots=2)
  alone = [photos.fit_photos(model, [photo], config=config)[0] for photo in inputs]
  for both, one in zip(together, alone):
    for name in ("body_pose", "betas", "transl"):
      np.testing.assert_allclose(np.asarray(getattr(both.fitted, name)),
                                 np.asarray(getattr(one.fitted, name)), rtol=0, atol=1e-6)
    assert (both.status, both.reason) == (one.status, one.reason)
    assert both.result.iterations.shape == (1, 2)
  assert together[0].status == photos.FITTED and together[0].reason == ""
  assert together[1].status == photos.FELL_BACK
  assert together[1].reason == "no answers given; fitted with the fallback preset"
  with pytest.raises(InvalidInputError, match="one people count"):
    photos.fit_photos(model, [inputs[0], photos.PhotoInput(hug.keypoints[:1], hug.camera(),
                                                           init, None)])


def test_a_photo_whose_fit_fails_fails_alone_in_its_block(monkeypatch, tmp_path):
  """When a block's fit raises, each of its photos is fitted alone: only the bad one fails."""
  calls = []

  def fit_photos(model, inputs, *, config, slots):
    calls.append([p.image_path for p in inputs])
    if any(p.image_path == "bad" for p in inputs):
      raise InvalidInputError("bad: its keypoints are NaN")
    return [f"fit of {p.image_path}" for p in inputs]

  monkeypatch.setattr(photos, "fit_photos", fit_photos)
  block = [fit_images._Image(path=name, record={"people": 2, "stem": name},
                             photo=photos.PhotoInput(None, None, None, None, name))
           for name in ("good", "bad", "also_good")]
  settings = fit_images.PhotoSettings(images="", out_dir=str(tmp_path))
  fit_images._fit_block(settings, fit_images._Tools(None, None, None, None, None, None), block)
  assert calls == [["good", "bad", "also_good"], ["good"], ["bad"], ["also_good"]]
  assert [image.fit for image in block] == ["fit of good", None, "fit of also_good"]
  assert block[1].record["status"] == photos.FAILED
  assert block[1].record["reason"] == "bad: its keypoints are NaN"
  # Alone in its block, the bad photo is not fitted a second time.
  calls.clear()
  alone = [fit_images._Image(path="bad", record={"people": 2, "stem": "bad"},
                             photo=photos.PhotoInput(None, None, None, None, "bad"))]
  fit_images._fit_block(settings, fit_images._Tools(None, None, None, None, None, None), alone)
  assert calls == [["bad"]] and alone[0].fit is None
  assert alone[0].record["reason"] == "bad: its keypoints are NaN"


def test_thumbnail_clips_integer_images():
  # A plain cast to uint8 would turn 300 into 44 and -5 into 251.
  np.testing.assert_array_equal(photos.thumbnail(np.array([[[300, -5, 7]]])), [[[255, 0, 7]]])
