"""Benchmark: the SMPL-X forward pass and its gradient, posejax against smplx, full and reduced.

On one model file (by default the generated full-size synthetic SMPL-X file the tests use) and
for each batch size in --batches, times as the median of --repeats runs:

1. posejax ``forward`` (jitted; compile time measured apart with ``lower().compile()``) and
   ``smplx.SMPLX.forward`` (PyTorch, no grad), all vertices;
2. forward+backward: the gradient of ``sum(vertices**2)`` with respect to body_pose, betas and
   transl, for both (smplx: ``loss.backward()``);
3. posejax on a reduced model (``reduce_model``: --subset vertices, expression, jaw, eyes and
   hands folded), forward and forward+backward.

Both libraries use every core of the machine (PyTorch's thread count is set to XLA's). Wall
time and process CPU time (all threads) are both printed; on a shared machine wall time
measures the neighbours as much as the code, so ratios are given for both.
Targets on a 2-core CPU: full forward+backward at batch 64 at least 1.5x faster than smplx;
reduced forward at least 4x faster than posejax's full forward.

  .venv/bin/python -m experiments.bench_body [--batches 1,64,512] [--repeats 3]
      [--subset 3000] [--model_path path/to/SMPLX_NEUTRAL.npz] [--skip_smplx]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags

from posejax.body import BodyParams
from posejax.body import forward
from posejax.body import load_model
from posejax.body import reduce_model

FLAGS = flags.FLAGS
flags.DEFINE_list("batches", ["1", "64", "512"], "Batch sizes to time.")
flags.DEFINE_integer("repeats", 3, "Timed runs per figure (median reported).")
flags.DEFINE_integer("subset", 3000, "Vertices of the reduced model.")
flags.DEFINE_string("model_path", None, "SMPL-X .npz/.pkl file; default: generate the synthetic one.")
flags.DEFINE_bool("skip_smplx", False, "Time posejax only.")
flags.DEFINE_integer("seed", 0, "Random seed.")


def _median_times(run, repeats: int) -> tuple[float, float]:
  """(median wall s, median process CPU s) of ``run()`` after one warm-up call."""
  run()
  walls, cpus = [], []
  for _ in range(repeats):
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    walls.append(time.perf_counter() - wall)
    cpus.append(time.process_time() - cpu)
  return statistics.median(walls), statistics.median(cpus)


def _posejax_figures(model, values, repeats):
  """Compile s, (wall, cpu) of forward and of forward+backward for ``model``."""
  free = {k: jnp.asarray(values[k]) for k in ("body_pose", "betas", "transl")}
  rest = {k: jnp.asarray(v) for k, v in values.items() if k not in free}

  def vertices(m, free, rest):
    return forward(m, BodyParams.create(m, **free, **rest)).vertices

  def loss(free, m, rest):
    return jnp.sum(vertices(m, free, rest) ** 2)

  start = time.perf_counter()
  fwd = jax.jit(vertices).lower(model, free, rest).compile()
  fwd_compile = time.perf_counter() - start
  start = time.perf_counter()
  bwd = jax.jit(jax.grad(loss)).lower(free, model, rest).compile()
  bwd_compile = time.perf_counter() - start
  fwd_times = _median_times(lambda: jax.block_until_ready(fwd(model, free, rest)), repeats)
  bwd_times = _median_times(lambda: jax.block_until_ready(bwd(free, model, rest)), repeats)
  return fwd_compile, bwd_compile, fwd_times, bwd_times


def _smplx_figures(path, options, values, repeats):
  import smplx  # noqa: PLC0415 (optional, test extra)
  import torch  # noqa: PLC0415

  torch.set_num_threads(os.cpu_count())  # XLA's CPU backend uses every core too
  batch = values["body_pose"].shape[0]
  ref = smplx.SMPLX(str(path), batch_size=batch, **options)
  tensors = {k: torch.from_numpy(v) for k, v in values.items()}

  def run_forward():
    with torch.no_grad():
      ref(**tensors)

  def run_backward():
    free = {k: tensors[k].clone().requires_grad_(True) for k in ("body_pose", "betas", "transl")}
    out = ref(**{**tensors, **free})
    (out.vertices ** 2).sum().backward()

  return _median_times(run_forward, repeats), _median_times(run_backward, repeats), \
      torch.get_num_threads()


def _model_path() -> Path:
  if FLAGS.model_path:
    return Path(FLAGS.model_path)
  tests = Path(__file__).resolve().parent.parent / "tests"
  sys.path.insert(0, str(tests))
  from smplx_files import write_synthetic_smplx  # noqa: PLC0415 (the tests' generator)
  folder = Path(tempfile.mkdtemp(prefix="bench_body_"))
  return write_synthetic_smplx(folder, seed=FLAGS.seed)


def main(argv):
  del argv
  path = _model_path()
  options = dict(num_betas=10, num_expression_coeffs=10, use_pca=True, num_pca_comps=6)
  model = load_model(path, **options)
  rng = np.random.default_rng(FLAGS.seed)
  ids = np.sort(rng.choice(model.num_vertices, min(FLAGS.subset, model.num_vertices),
                           replace=False))
  reduced = reduce_model(model, ids)
  print(f"model: {path} ({model.num_vertices} vertices); reduced: {reduced.num_vertices} output "
        f"+ {reduced.template.shape[0] - reduced.num_vertices} landmark vertices, free fields "
        f"{', '.join(reduced.free_fields)}")
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs; "
        f"repeats {FLAGS.repeats}; times in ms as wall / process CPU")
  header = (f"{'batch':>5} | {'figure':<20} | {'posejax':>17} | {'smplx':>17} | "
            f"{'smplx/posejax':>13} | {'compile s':>9}")
  print(header)
  print("-" * len(header))
  ms = lambda t: f"{1e3 * t[0]:7.1f} / {1e3 * t[1]:7.1f}"  # noqa: E731
  ratio = lambda a, b: f"{a[0] / b[0]:5.2f} / {a[1] / b[1]:5.2f}"  # noqa: E731
  for batch in [int(b) for b in FLAGS.batches]:
    values = {
        "betas": rng.normal(size=(batch, 10)), "expression": rng.normal(size=(batch, 10)),
        "global_orient": rng.normal(scale=0.3, size=(batch, 3)),
        "body_pose": rng.normal(scale=0.3, size=(batch, 63)),
        "jaw_pose": rng.normal(scale=0.1, size=(batch, 3)),
        "leye_pose": rng.normal(scale=0.1, size=(batch, 3)),
        "reye_pose": rng.normal(scale=0.1, size=(batch, 3)),
        "left_hand_pose": rng.normal(scale=0.3, size=(batch, 6)),
        "right_hand_pose": rng.normal(scale=0.3, size=(batch, 6)),
        "transl": rng.normal(scale=0.5, size=(batch, 3)),
    }
    values = {k: v.astype(np.float32) for k, v in values.items()}
    full = _posejax_figures(model, values, FLAGS.repeats)
    part = _posejax_figures(reduced, values, FLAGS.repeats)
    if FLAGS.skip_smplx:
      ref = None
    else:
      ref_fwd, ref_bwd, threads = _smplx_figures(path, options, values, FLAGS.repeats)
      ref = (ref_fwd, ref_bwd)
    rows = [("full forward", full[2], full[0], ref and ref[0]),
            ("full fwd+bwd", full[3], full[1], ref and ref[1]),
            ("reduced forward", part[2], part[0], None),
            ("reduced fwd+bwd", part[3], part[1], None)]
    for name, times, compile_s, ref_times in rows:
      ref_text = ms(ref_times) if ref_times else " " * 17
      ratio_text = ratio(ref_times, times) if ref_times else " " * 13
      print(f"{batch:>5} | {name:<20} | {ms(times)} | {ref_text} | {ratio_text} | "
            f"{compile_s:9.2f}")
    print(f"{batch:>5} | full/reduced forward {ratio(full[2], part[2])}, fwd+bwd "
          f"{ratio(full[3], part[3])}")
  if not FLAGS.skip_smplx:
    print(f"PyTorch threads: {threads}")


if __name__ == "__main__":
  app.run(main)
