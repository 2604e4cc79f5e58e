"""Benchmark: the contact loss and its gradient against the body forward+backward; winding numbers.

Three figures, each compiled first and then timed (median of --repeats runs):

1. Contact loss value and gradient (with respect to both bodies' region points) for one image with
   --samples answers whose largest sample enumerates --assignments left/right assignments; once
   for a single scene and once vmapped over --body_batch / 2 scenes (--body_batch bodies).
2. The reduced body forward+backward at batch --body_batch (the vertices a fit evaluates: region
   subsamples and proxy vertices), when ``posejax.body.default_model`` exists; the ratio of 1 to 2
   is the target (contact at most 10% of the body).
3. Generalized winding numbers of 10,475 query points against a ~1,000-vertex closed proxy
   (``posejax.losses.penetration``): time and XLA's memory estimate per chunk size.

Without the default body, region points are random of the same sizes and the proxy is built on
an icosphere; the script says so.

  .venv/bin/python -m experiments.bench_losses [--repeats 20] [--body_batch 64]
"""

from __future__ import annotations

import importlib
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags

from posejax.body import vocabulary
from posejax.constraints import Constraints
from posejax.losses import contact

FLAGS = flags.FLAGS
flags.DEFINE_integer("samples", 20, "Sampled answers per image.")
flags.DEFINE_integer("assignments", 64, "Left/right assignments of the largest sample.")
flags.DEFINE_integer("body_batch", 64, "Bodies per forward+backward (contact: half as many scenes).")
flags.DEFINE_integer("repeats", 20, "Timed runs per figure (median reported).")
flags.DEFINE_integer("queries", 10_475, "Winding-number query points.")
flags.DEFINE_list("winding_chunks", ["256", "1024"], "Winding-number chunk sizes to time.")
flags.DEFINE_integer("seed", 0, "Random seed.")

REGIONS = len(vocabulary.RESOLVED_REGIONS)
SAMPLES_PER_REGION = 64


def timed(fn, *args, repeats: int) -> tuple[float, float, object]:
  """(compile seconds, median run seconds, compiled) of ``jax.jit(fn)(*args)``."""
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  compile_s = time.perf_counter() - start
  jax.block_until_ready(compiled(*args))
  runs = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    runs.append(time.perf_counter() - start)
  return compile_s, statistics.median(runs), compiled


def memory_bytes(compiled) -> int | None:
  """XLA's estimate of the peak: temporaries + arguments + outputs (None if unavailable)."""
  try:
    m = compiled.memory_analysis()
    return int(m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes)
  except Exception:  # not every backend reports it
    return None


def widest_sample() -> list:
  """Six side-free parts, each named twice in one column: 2^6 = 64 valid assignments."""
  return [("hand", "hand"), ("hand", "hand"), ("arm", "leg"), ("arm", "leg"),
          ("foot", "shoulder (front)"), ("foot", "shoulder (front)")]


def answers(rng: np.random.Generator, count: int, max_assignments: int) -> list:
  """``count`` two-person answers: the widest first, then random ones (some empty)."""
  parts = vocabulary.TWO_PERSON_PARTS
  samples = [widest_sample()]
  while len(samples) < count:
    rows = []
    for _ in range(rng.integers(0, 6)):
      cells = []
      for _ in range(2):
        names = tuple(str(n) for n in rng.choice(parts, size=1 + int(rng.random() < 0.2),
                                                  replace=False))
        cells.append(names[0] if len(names) == 1 else names)
      rows.append(tuple(cells))
    try:
      cons = Constraints.from_pairs([rows], 2)
    except Exception:
      continue
    if int(cons.assignment_valid.sum()) <= max_assignments:
      samples.append(rows)
  return samples


def default_body():
  """(model, region sample ids, validity, reduced forward) when the default body exists, else None."""
  body = importlib.import_module("posejax.body")
  if not hasattr(body, "default_model"):
    return None
  from posejax.body import regions
  model = body.default_model()
  region_map = regions.derive_regions(model, samples_per_region=SAMPLES_PER_REGION)
  return model, region_map


def bench_contact(rng, scenes: int, points_source) -> dict:
  samples = answers(rng, FLAGS.samples, FLAGS.assignments)
  single = Constraints.from_pairs(samples, 2)
  batch = Constraints.stack([single] + [
      Constraints.from_pairs(answers(rng, FLAGS.samples, FLAGS.assignments), 2)
      for _ in range(scenes - 1)])
  points, valid = points_source(scenes)
  print(f"constraints: {single.sizes()}; stack of {scenes}: {batch.sizes()}")
  print(f"  valid assignments per sample: {single.assignment_valid.sum(axis=1).tolist()}")

  def one(points, cons):
    return jax.value_and_grad(
        lambda p: contact.contact_loss(p[0], p[1], valid, cons))(points)

  def many(points, cons):
    return jax.vmap(one)(points, cons)

  results = {}
  for name, fn, args in (("1 scene", one, (points[0], single)),
                         (f"{scenes} scenes", many, (points, batch))):
    compile_s, run_s, _ = timed(fn, *args, repeats=FLAGS.repeats)
    results[name] = run_s
    print(f"contact loss+grad, {name}: compile {compile_s:.2f} s, run {run_s * 1e3:.3f} ms")
  return results


def bench_body(model, region_map, batch: int, proxy_ids) -> float:
  from posejax.body import forward as forward_module
  from posejax.body import reduce as reduce_module
  from posejax.body.model import BodyParams
  ids = np.unique(np.concatenate([np.asarray(region_map.sample_ids).ravel()]
                                 + ([np.asarray(proxy_ids)] if proxy_ids is not None else [])))
  reduced = reduce_module.reduce_model(model, vertex_ids=ids)
  params = BodyParams.zeros(reduced, (batch,))
  rng = np.random.default_rng(1)
  params = params.replace(body_pose=jnp.asarray(rng.normal(scale=0.2, size=params.body_pose.shape),
                                                params.body_pose.dtype))

  def loss(free):
    out = forward_module.forward(reduced, params.replace(**free))
    return jnp.sum(jnp.square(out.vertices)) + jnp.sum(jnp.square(out.joints))

  free = {"body_pose": params.body_pose, "betas": params.betas, "transl": params.transl}
  compile_s, run_s, _ = timed(jax.value_and_grad(loss), free, repeats=FLAGS.repeats)
  print(f"reduced body forward+backward, batch {batch} ({len(ids)} vertices): compile "
        f"{compile_s:.2f} s, run {run_s * 1e3:.3f} ms")
  return run_s


def bench_winding(model) -> None:
  try:
    penetration = importlib.import_module("posejax.losses.penetration")
  except ImportError:
    print("winding numbers: posejax.losses.penetration not available; skipped")
    return
  if model is not None:
    proxy = penetration.build_model_proxy(model)
    vertices = np.asarray(model.v_template)
    source = "default body"
  else:
    import trimesh
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.3)
    proxy = penetration.build_proxy(np.asarray(sphere.vertices), np.asarray(sphere.faces))
    vertices = np.asarray(sphere.vertices)
    source = "icosphere (no default body yet)"
  triangles = jnp.asarray(vertices, jnp.float32)[proxy.triangle_ids]
  rng = np.random.default_rng(2)
  low, high = vertices.min(0), vertices.max(0)
  queries = jnp.asarray(rng.uniform(low, high, size=(FLAGS.queries, 3)), jnp.float32)
  print(f"winding numbers: {FLAGS.queries} queries vs proxy of {proxy.num_vertices} vertices, "
        f"{proxy.num_triangles} triangles ({source})")
  for chunk in [int(c) for c in FLAGS.winding_chunks]:
    fn = lambda q, t, chunk=chunk: penetration.winding_numbers(q, t, chunk_size=chunk)  # noqa: E731
    compile_s, run_s, compiled = timed(fn, queries, triangles, repeats=max(3, FLAGS.repeats // 4))
    memory = memory_bytes(compiled)
    memory_text = "n/a" if memory is None else f"{memory / 2**20:.1f} MiB"
    print(f"  chunk {chunk}: compile {compile_s:.2f} s, run {run_s * 1e3:.1f} ms, "
          f"XLA peak estimate {memory_text}")


def main(argv):
  del argv
  rng = np.random.default_rng(FLAGS.seed)
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {jax.device_count()} device(s)")
  scenes = FLAGS.body_batch // 2
  body = default_body()
  if body is None:
    print("posejax.body.default_model not available: random region points, no body timing")

    def points_source(count):
      points = rng.normal(scale=0.3, size=(count, 2, REGIONS, SAMPLES_PER_REGION, 3))
      return jnp.asarray(points, jnp.float32), jnp.ones((REGIONS, SAMPLES_PER_REGION), bool)
  else:
    model, region_map = body
    from posejax.body import forward as forward_module
    from posejax.body import regions
    from posejax.body.model import BodyParams

    def points_source(count):
      params = BodyParams.zeros(model, (count, 2))
      offset = np.zeros((count, 2, 3), np.float32)
      offset[:, 1, 0] = 0.6  # two people side by side
      params = params.replace(transl=jnp.asarray(offset, params.transl.dtype))
      vertices = forward_module.forward(model, params).vertices
      return (regions.sample_points(region_map, vertices).astype(jnp.float32),
              jnp.asarray(region_map.sample_valid))

  contact_times = bench_contact(rng, scenes, points_source)
  proxy_ids = None
  if body is not None:
    try:
      proxy_ids = importlib.import_module("posejax.losses.penetration").build_model_proxy(
          body[0]).vertex_ids
    except ImportError:
      pass
    body_time = bench_body(body[0], body[1], FLAGS.body_batch, proxy_ids)
    batched = contact_times[f"{scenes} scenes"]
    print(f"ratio: contact ({scenes} scenes) / body ({FLAGS.body_batch} bodies) = "
          f"{batched / body_time:.1%} (target <= 10%)")
  bench_winding(None if body is None else body[0])


if __name__ == "__main__":
  app.run(main)
