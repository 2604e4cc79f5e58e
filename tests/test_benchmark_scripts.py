"""The benchmark scripts run end to end at toy sizes and print the figures their docstrings promise.

Timings are not checked (a test cannot time fairly on a shared machine); what is checked is that
each script still runs against the current library and reports every figure, with the peer it
compares against where it has one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(module: str, *args: str, timeout: int = 600) -> str:
  result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout,
                          env=dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO))
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  return result.stdout


def _ratios(text: str) -> list[float]:
  return [float(x) for x in re.findall(r"= (\d+(?:\.\d+)?)% \(target", text)]


def test_bench_losses_reports_contact_against_the_body_and_winding_numbers():
  out = _run("experiments.bench_losses", "--body_batch", "4", "--repeats", "1", "--samples", "4",
             "--region_samples", "8", "--queries", "300", "--winding_chunks", "64")
  assert "constraints: {" in out and "distinct region pairs per image" in out
  assert "reduced body forward+backward, batch 4" in out
  ratios = _ratios(out)
  assert len(ratios) == 6 and all(r > 0 for r in ratios)
  assert re.search(r"chunk 64: compile .* XLA peak estimate", out)
  assert "surrogate after a pose change of 0.1 rad" in out
  # The per-part inside test finds exactly the points the whole-proxy one finds.
  counts = re.findall(r"inside test, .*; (\d+) inside", out)
  assert len(counts) == 2 and counts[0] == counts[1] and int(counts[0]) > 0, out


def test_bench_parse_reports_each_stage():
  out = _run("experiments.bench_parse", "--answers", "200", "--repeats", "1")
  for stage in ("parse only, cold caches", "Constraints.from_pairs, cold",
                "parse + Constraints, warm"):
    assert re.search(re.escape(stage) + r":\s+\d+\.\d+ s wall", out), stage


def test_bench_body_compares_with_smplx():
  pytest.importorskip("smplx")
  out = _run("experiments.bench_body", "--batches", "2", "--repeats", "1", "--subset", "500")
  number = r"\s*\d+\.\d+ /\s*\d+\.\d+\s*\|"  # wall / CPU
  for figure in ("full forward", "full fwd+bwd"):  # posejax | smplx | ratio
    assert re.search(re.escape(figure) + r"\s*\|" + number * 3, out), (figure, out)
  assert re.search(r"reduced fwd\+bwd\s*\|" + number, out), out


def test_bench_fit_writes_its_table_with_the_pytorch_peer(tmp_path):
  pytest.importorskip("smplx")
  out = _run("experiments.bench_fit", "--batches", "2", "--full_batches", "2", "--max_iters", "3",
             "--samples", "2", "--torch_steps", "1", "--torch_stage2_steps", "1",
             "--nowarm_start", "--write", "--out_dir", str(tmp_path))
  assert "| batch |" in out and (tmp_path / "bench_fit.md").exists()
  figures = json.loads((tmp_path / "bench_fit.json").read_text())
  (row,) = figures["posejax"]
  assert row["batch"] == 2 and row["full"] and row["finite"]
  assert row["compilations_in_timed_call"] == 0 and row["s_per_scene"] > 0
  assert figures["torch"]["scene_s"] > 0
  # Parity: the peer computes the same loss terms as posejax (interpenetration differs by design).
  for term in figures["parity"]:
    if term["term"] != "penetration":
      assert term["posejax"] == pytest.approx(term["torch"], rel=1e-3, abs=1e-6), term
  # The vectorised peer computes posejax's stage-1 terms too, one scene and every scene of a batch.
  one_scene, batched = figures["torch_batched"]
  assert (one_scene["batch"], batched["batch"]) == (1, 2)
  for peer in (one_scene, batched):
    assert peer["posejax_batch"] == 2 and peer["parity_max_relative"] < 1e-4, peer
    assert peer["scene_step_ms"] > 0 and peer["ratio"] > 0
