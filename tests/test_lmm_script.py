"""experiments/query_lmm.py end to end: images and keypoints in, constraints file out, via loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from lmm_server import FakeLMMServer
from posejax.lmm import files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSWERS = [
    "They hug.\n| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| arms | back |\n| head | head |",
    "I'm sorry, I can't help with that.",
]


def _run(args, env):
  return subprocess.run([sys.executable, "-m", "experiments.query_lmm", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=120)


def test_query_lmm_writes_constraints_and_replays_offline(tmp_path):
  images = tmp_path / "images"
  keypoints = tmp_path / "keypoints"
  images.mkdir()
  keypoints.mkdir()
  rng = np.random.default_rng(0)
  for name in ("a", "b"):
    Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(images / f"{name}.png")
  people = [{"pose_keypoints_2d": (rng.uniform(10, 50, (25, 3)) * [1, 1, 0.02]).ravel().tolist()}
            for _ in range(3)]
  (keypoints / "a_keypoints.json").write_text(json.dumps({"people": people}))
  out = tmp_path / "constraints.json"
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu", OPENAI_API_KEY="sk-script-secret")
  with FakeLMMServer(ANSWERS) as server:
    done = _run(["--images", str(images), "--keypoints_dir", str(keypoints), "--out", str(out),
                 "--base_url", server.base_url, "--lmm_model", "fake", "--n", "4", "--workers", "2"],
                env)
    assert done.returncode == 0, done.stderr
    assert len(server.requests) == 2
  assert "4 from the cache" not in done.stdout and "8 new" in done.stdout
  loaded = files.load_constraints_file(out)
  assert sorted(loaded) == ["a", "b"]
  for entry in loaded.values():
    assert entry.report["answers"] == 4 and entry.report["refusals"] == 2
    assert entry.samples[0] == [["left arm", "back"], ["right arm", "back"], ["head", "head"]]
    assert entry.model == "fake" and entry.prompt_version.startswith("two_person-")
  cache_text = (tmp_path / "constraints.json.cache.jsonl").read_text()
  assert len(cache_text.splitlines()) == 8
  for text in (cache_text, out.read_text(), done.stdout, done.stderr):
    assert "sk-script-secret" not in text

  # Offline: no server at all, the same file again.
  replay = tmp_path / "replay.json"
  again = _run(["--images", str(images), "--keypoints_dir", str(keypoints), "--out", str(replay),
                "--cache", str(tmp_path / "constraints.json.cache.jsonl"), "--lmm_model", "fake",
                "--n", "4", "--offline"], env)
  assert again.returncode == 0, again.stderr
  assert "0 new, 8 from the cache" in again.stdout
  assert json.loads(replay.read_text()) == json.loads(out.read_text())

  # Offline with more answers than cached: the images fail, named, and the exit code says so.
  short = _run(["--images", str(images), "--keypoints_dir", str(keypoints),
                "--out", str(tmp_path / "short.json"), "--cache",
                str(tmp_path / "constraints.json.cache.jsonl"), "--lmm_model", "fake", "--n", "6",
                "--offline"], env)
  assert short.returncode == 1
  assert "FAILED a: offline mode: the cache" in short.stderr
  assert "holds 4 of the 6 answers" in short.stderr
