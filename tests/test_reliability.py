"""Bad input, faults and concurrency, tried the way a user's mistakes would hit posejax.

Each case ends in one of: a clear error (a ``PoseJaxError`` whose message names the file or the
argument), a finite result flagged as untrustworthy (a warning, a report count or a result flag),
silent garbage (a result with nothing said: must never happen) or a crash (any other exception:
must never happen). ``pytest -s tests/test_reliability.py`` prints the table per area.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

import posejax
from posejax import body
from posejax import data
from posejax import lmm
from posejax import metrics
from posejax.camera import Camera
from posejax.camera import reference_camera
from posejax.constraints import Constraints
from posejax.errors import PoseJaxError
from posejax.errors import PoseJaxWarning
from posejax.io_utils import atomic_write_text
from posejax.io_utils import read_complete_lines
from posejax.losses import priors
from posejax.result import FitResult

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLEAR, FLAGGED, GARBAGE, CRASH = "clear error", "finite flagged", "silent garbage", "crash"
TABLE: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


def _record(area: str, outcome: str, case: str) -> None:
  TABLE[area][outcome] += 1
  TABLE[area]["cases"] += 1
  if outcome in (GARBAGE, CRASH):
    TABLE[area].setdefault("examples", []).append(case)


def _expect_error(area: str, case: str, call, must_name: str) -> None:
  try:
    call()
  except PoseJaxError as error:
    _record(area, CLEAR if must_name in str(error) else GARBAGE, f"{case}: {error}")
  except Exception as error:  # noqa: BLE001 - what is counted here
    _record(area, CRASH, f"{case}: {type(error).__name__}: {error}")
  else:
    _record(area, GARBAGE, f"{case}: accepted")


class _Payload:
  """A pickle that runs a command when loaded."""

  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (os.system, (f"touch {self.marker}",))


def _bad_files(folder, marker) -> dict[str, str]:
  payload = pickle.dumps({"shapedirs": _Payload(marker)}, protocol=2)
  buffer = io.BytesIO()
  np.savez(buffer, a=np.zeros(10))
  npz = buffer.getvalue()
  npy = io.BytesIO()
  np.save(npy, np.zeros(3))
  contents = {
      "payload.pkl": payload, "payload.npz": payload, "array.npz": npy.getvalue(),
      "truncated.npz": npz[:len(npz) // 2], "empty.npz": b"", "text.pkl": b"hello",
      "empty.pkl": b"", "truncated.pkl": pickle.dumps(list(range(100)))[:40],
      "deep.json": b"[" * 100000 + b"]" * 100000,
      "huge_ids.json": json.dumps({"rid_to_smplx_fids": [[2**70]] * 75}).encode(),
      "syntax.json": b"{", "binary.json": b"\xff\xfe\x00",
      "strings.json": json.dumps({"people": [{"pose_keypoints_2d": ["a"] * 75}]}).encode(),
  }
  paths = {}
  for name, content in contents.items():
    path = os.path.join(folder, name)
    with open(path, "wb") as handle:
      handle.write(content)
    paths[name] = path
  return paths


def test_bad_files_give_clear_errors_and_never_run_code(tmp_path):
  marker = tmp_path / "code_ran"
  readers = {
      "load_model": body.load_model,
      "load_gmm_prior": priors.load_gmm_prior,
      "load_joint_regressor": metrics.load_joint_regressor,
      "read_contact_regions": body.regions.read_contact_regions,
      "load_constraints_file": lmm.load_constraints_file,
      "FitResult.load": FitResult.load,
      "load_benchmark": data.load_benchmark,
      "read_processed": lambda p: data.read_processed(p, "flickrci3d"),
      "read_keypoint_file": data.read_keypoint_file,
      "read_bev_npz": data.read_bev_npz,
      "read_region_vertex_map": data.read_region_vertex_map,
      "read_moyo_ground_truth": lambda p: data.read_moyo_ground_truth(p, 0),
  }
  for name, path in _bad_files(tmp_path, marker).items():
    for reader_name, reader in readers.items():
      _expect_error("files", f"{reader_name}({name})", lambda: reader(path), name.split(".")[0])
  if marker.exists():
    _record("files", GARBAGE, "a pickle ran code")
  # A processed dataset item with a non-numeric or absurd field.
  good = {"imgname": "a.png", "imgpath": "images/a.png", "img_height": 240, "img_width": 320,
          "contact_index": 0, "openpose": np.zeros((2, 25, 3)), "hhc_contacts_region_ids": [[1, 2]],
          "bev_smplx_scale": np.zeros(2)}
  for field, width in (("global_orient", 3), ("body_pose", 63), ("betas", 10), ("transl", 3)):
    good[f"bev_smplx_{field}"] = good[f"pgt_smplx_{field}"] = np.zeros((2, width))
  for case, change in (("width", {"img_width": "wide"}), ("nan height", {"img_height": np.nan}),
                       ("negative", {"img_height": -5}), ("openpose", {"openpose": "x"})):
    path = tmp_path / "processed.pkl"
    path.write_bytes(pickle.dumps([{**good, **change}]))
    _expect_error("files", f"processed item {case}", lambda: data.read_processed(path, "flickrci3d"),
                  "processed.pkl")
  assert not marker.exists(), "a pickle ran code"
  assert TABLE["files"][GARBAGE] == 0 and TABLE["files"][CRASH] == 0, "\n".join(
      TABLE["files"]["examples"])


@pytest.fixture(scope="module")
def scene():
  model = body.default_model()
  params = body.BodyParams.create(model, (2,), global_orient=np.tile([np.pi, 0, 0], (2, 1)),
                                  transl=np.array([[-0.4, 0.2, 4.0], [0.4, 0.2, 4.2]]))
  camera = reference_camera(320, 240)
  joints = body.forward(model, params).joints
  pixels = np.asarray(posejax.camera.project(camera, body.keypoints.smplx_to_body25(joints)))
  image_kp = np.concatenate([pixels, np.full((2, 25, 1), 0.9)], axis=-1)
  constraints = Constraints.from_pairs([[("hand", "back")]], people=2)
  config = posejax.FitConfig.two_person().with_max_iters(3)
  return dict(model=model, params=params, camera=camera, image_kp=image_kp,
              constraints=constraints, config=config)


def _fit(scene, **changes):
  arguments = dict(init=scene["params"], model=scene["model"], camera=scene["camera"],
                   config=scene["config"])
  arguments.update(changes)
  image_kp = arguments.pop("image_kp", scene["image_kp"])
  return posejax.fit(image_kp, scene["constraints"], **arguments)


def test_bad_fit_inputs_are_refused_naming_the_argument(scene):
  params = scene["params"]
  kp = scene["image_kp"]
  two = posejax.FitConfig.two_person()
  cases = {
      "confidence 3e38": (dict(image_kp=kp.copy() * [1, 1, 3e38]), "confidence"),
      "confidence -1": (dict(image_kp=kp * [1, 1, -1]), "confidence"),
      "coordinates 1e36": (dict(image_kp=kp * [1e36, 1, 1]), "image_kp"),
      "infinite coordinate": (dict(image_kp=np.where(np.arange(3) == 0, np.inf, kp)), "image_kp"),
      "camera NaN focal": (dict(camera=Camera(
          focal_length=np.array([np.nan, 300.0]), principal_point=np.array([160.0, 120.0]),
          image_size=np.array([320.0, 240.0]), rotation=np.eye(3), translation=np.zeros(3))),
                           "camera.focal_length"),
      "camera negative focal": (dict(camera=Camera(
          focal_length=np.array([-300.0, -300.0]), principal_point=np.array([160.0, 120.0]),
          image_size=np.array([320.0, 240.0]), rotation=np.eye(3), translation=np.zeros(3))),
                                "camera.focal_length"),
      "init behind the camera": (dict(init=params.replace(transl=np.asarray(params.transl) * [1, 1, -1])),
                                 "behind"),
      "init NaN pose": (dict(init=params.replace(body_pose=np.where(
          np.arange(63) == 0, np.nan, np.asarray(params.body_pose)))),
                        "init.body_pose"),
      "one person's keypoints": (dict(image_kp=kp[:1]), "image_kp"),
      "keypoints of 18 joints": (dict(image_kp=kp[:, :18]), "image_kp"),
  }
  for case, (changes, must_name) in cases.items():
    _expect_error("fit inputs", case, lambda: _fit(scene, **changes), must_name)
  configs = {
      "NaN contact weight": (lambda: two.with_weights(contact=float("nan")), "contact"),
      "negative weight": (lambda: two.with_weights(keypoints=-1.0), "keypoints"),
      "NaN learning rate": (lambda: two.replace(stages=(two.stages[0].__class__(
          optimize=("body_pose",), learning_rate=float("nan"), max_iters=3,
          weights=two.stages[0].weights),)), "learning_rate"),
      "infinite slope": (lambda: two.replace(stages=(two.stages[0].__class__(
          optimize=("body_pose",), learning_rate=0.01, max_iters=3, weights=two.stages[0].weights,
          early_stop_slope=float("inf")),)), "early_stop_slope"),
      "zero softmin": (lambda: two.replace(contact_softmin=0.0), "contact_softmin"),
  }
  for case, (make, must_name) in configs.items():
    _expect_error("fit inputs", case, make, must_name)
  assert TABLE["fit inputs"][GARBAGE] == 0 and TABLE["fit inputs"][CRASH] == 0, (
      TABLE["fit inputs"]["examples"])


def test_untrustworthy_fits_are_flagged_and_warned_about_once(scene):
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    capped = _fit(scene)
  ours = [w for w in caught if issubclass(w.category, PoseJaxWarning)]
  assert len(ours) == 1 and "iteration cap" in str(ours[0].message)
  assert capped.status.tolist() == "not converged" and bool(capped.finite)
  _record("fit results", FLAGGED, "capped")
  # Keypoints of a person far to the side of where the bodies are: the fit cannot follow them
  # within a few steps, and says so.
  far = scene["image_kp"].copy()
  far[..., 0] += 140.0
  far[..., 1] -= 110.0
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    result = _fit(scene, image_kp=far)
  flagged = str(result.status) in ("diverged", "non-finite")
  _record("fit results", FLAGGED if flagged and caught else GARBAGE, "far keypoints")
  # A clean fit, converged: nothing to say.
  assert TABLE["fit results"][GARBAGE] == 0, TABLE["fit results"]["examples"]


def test_garbage_answers_are_reported_never_silent():
  from posejax.lmm.parsing import parse_answers
  rng = np.random.default_rng(0)
  texts = {
      "None": [None], "number": [123], "bytes": [b"| hand | back |"],
  }
  for case, answers in texts.items():
    _expect_error("answers", case, lambda: parse_answers(answers, 2), "answers[0]")
  noise = ["".join(chr(c) for c in rng.integers(32, 0x2FF, size=400)) for _ in range(40)]
  noise += ["|" * 50 + "\n" + "-|" * 30, "```\n| a | b |\n```", "| hand |", "I'm sorry, no.",
            "\x00\x01|\x02", "| ground | ground |", "| none | none |"]
  for text in noise:
    _, report, parsed = parse_answers([text], 2)
    accounted = (report.rows_kept > 0 or report.declared_empty + report.refusals
                 + report.no_table + report.unreadable == 1)
    _record("answers", FLAGGED if accounted else GARBAGE, repr(text[:40]))
  with pytest.warns(PoseJaxWarning):
    parse_answers(["| Body Part A | Body Part B |\n|---|---|\n| hand | foot |"] * 3, 2)
  _record("answers", FLAGGED, "one-person answers parsed for two people")
  assert TABLE["answers"][GARBAGE] == 0 and TABLE["answers"][CRASH] == 0, TABLE["answers"]


def test_killed_writes_lose_nothing_and_leave_nothing(tmp_path):
  # A cache whose writer died mid-line.
  path = tmp_path / "cache.jsonl"
  with lmm.AnswerCache(path) as cache:
    cache.append("k", "a")
  with open(path, "ab") as handle:
    handle.write(b'{"key": "k", "index": 1, "ans')
  with lmm.AnswerCache(path) as cache:
    ok = cache.answers("k") == ["a"] and cache.dropped_tail
    cache.append("k", "b")
  with lmm.AnswerCache(path) as cache:
    ok &= cache.answers("k") == ["a", "b"]
  _record("kills", FLAGGED if ok else GARBAGE, "cache half line")
  # An append-only CSV cut mid-row.
  rows = tmp_path / "rows.csv"
  rows.write_bytes(b"a,b\n1,2\n3,")
  content = read_complete_lines(rows)
  _record("kills", FLAGGED if content == b"a,b\n1,2\n" and rows.read_bytes() == content
          else GARBAGE, "csv half row")
  # A temporary file of a writer killed between write and rename.
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  stale = tmp_path / f".tmp-{dead.pid}-out.json"
  stale.write_text("{")
  atomic_write_text(tmp_path / "out.json", "{}")
  _record("kills", FLAGGED if not stale.exists() else GARBAGE, "stale temporary file")
  assert TABLE["kills"][GARBAGE] == 0, TABLE["kills"]["examples"]


_APPEND = """
import sys
from posejax.lmm.cache import AnswerCache
with AnswerCache(sys.argv[1]) as cache:
  for k in range(100):
    cache.append("key%d" % (k % 3), "%s-%d" % (sys.argv[2], k))
"""


def test_concurrent_processes_share_a_cache(tmp_path):
  path = tmp_path / "cache.jsonl"
  children = [subprocess.Popen([sys.executable, "-c", _APPEND, str(path), str(w)],
                               env=dict(os.environ, PYTHONPATH=REPO), stderr=subprocess.PIPE)
              for w in range(3)]
  for child in children:
    assert child.wait(timeout=120) == 0, child.stderr.read().decode()
  with lmm.AnswerCache(path) as cache:
    stored = sorted(a for key in cache.keys() for a in cache.answers(key))
    indices = {key: [e.index for e in cache.entries(key)] for key in cache.keys()}
  expected = sorted(f"{w}-{k}" for w in range(3) for k in range(100))
  _record("concurrent processes", FLAGGED if stored == expected and all(
      v == list(range(len(v))) for v in indices.values()) else GARBAGE, "three appenders")
  assert TABLE["concurrent processes"][GARBAGE] == 0


def test_print_the_reliability_table():
  lines = ["| area | cases | clear errors | finite flagged | silent garbage | crashes |",
           "|---|---:|---:|---:|---:|---:|"]
  for area, counts in TABLE.items():
    lines.append(f"| {area} | {counts['cases']} | {counts[CLEAR]} | {counts[FLAGGED]} | "
                 f"{counts[GARBAGE]} | {counts[CRASH]} |")
  print("\n" + "\n".join(lines))
  assert all(counts[GARBAGE] == 0 and counts[CRASH] == 0 for counts in TABLE.values())
