"""Benchmark: the contact loss and its gradient against the body forward+backward; winding numbers.

Three figures, each compiled first and then timed (median of --repeats runs):

1. Contact loss value and gradient (with respect to both bodies' region points) for one image with
   --samples answers whose largest sample enumerates --assignments left/right assignments; once
   for a single scene and once vmapped over --body_batch / 2 scenes (--body_batch bodies). Then
   as ``posejax.fit`` runs it: the search and sample choices (``contact_surrogate``) every
   ``FitConfig.search_every`` = k steps and the surrogate's loss and gradient at every step,
   amortised per step for k = 1, 5, 10; and how far a stale surrogate (or stale closest pairs)
   lies above the exact loss after a pose change.
2. The reduced body forward+backward at batch --body_batch (the vertices a fit evaluates: region
   subsamples and proxy vertices), when ``posejax.body.default_model`` exists; the ratio of 1 to 2
   is the target (contact at most 10% of the body).
3. Generalized winding numbers of 10,475 query points against a ~1,000-vertex closed proxy
   (``posejax.losses.penetration``): time and XLA's memory estimate per chunk size; then the
   inside test as a fit runs it (every vertex of one body against the other, overlapping), with
   the proxy's closed limb parts and with the whole proxy.

Without the default body, region points are random of the same sizes and the proxy is built on
an icosphere; the script says so.

  .venv/bin/python -m experiments.bench_losses [--repeats 20] [--body_batch 64] [--answers random]
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

from posejax.body import regions as regions_module
from posejax.body import vocabulary
from posejax.constraints import Constraints
from posejax.constraint_tables import assignment_count
from posejax.losses import contact

FLAGS = flags.FLAGS
flags.DEFINE_integer("samples", 20, "Sampled answers per image.")
flags.DEFINE_integer("assignments", 64, "Left/right assignments of the largest sample.")
flags.DEFINE_integer("body_batch", 64,
                     "Bodies per forward+backward (contact: half as many scenes).")
flags.DEFINE_integer("repeats", 20, "Timed runs per figure (median reported).")
flags.DEFINE_integer("queries", 13_718, "Winding-number query points (the default body's vertex count).")
flags.DEFINE_list("winding_chunks", ["128", "1024"], "Winding-number chunk sizes to time.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_integer("region_samples", regions_module.DEFAULT_SAMPLES_PER_REGION,
                     "K, vertices per region in the contact subsample (FitConfig.region_samples).")
flags.DEFINE_enum("answers", "hug", ["random", "hug"],
                  "hug: rows drawn from a few plausible pairs of one scene, as the N answers to "
                  "one image are (44-48 distinct region pairs); random: rows drawn from all 14 "
                  "two-person parts (136-251 distinct region pairs, a stress case).")

HUG_ROWS = (("arm", "back"), ("hand", "back"), ("head", "shoulder (front)"), ("chest", "chest"),
            ("hand", "shoulder (back)"), ("arm", "arm"), (("stomach", "chest"), "stomach"))

REGIONS = len(vocabulary.RESOLVED_REGIONS)


def timed(fn, *args, repeats: int) -> tuple[float, float, float, object]:
  """(compile s, median wall s, median process CPU s, compiled) of ``jax.jit(fn)(*args)``.

  CPU time (all threads of this process) is reported beside wall time because on a shared
  machine wall time mostly measures the neighbours; ratios are taken on CPU time.
  """
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  compile_s = time.perf_counter() - start
  jax.block_until_ready(compiled(*args))
  walls, cpus = [], []
  for _ in range(repeats):
    wall, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(compiled(*args))
    walls.append(time.perf_counter() - wall)
    cpus.append(time.process_time() - cpu)
  return compile_s, statistics.median(walls), statistics.median(cpus), compiled


def describe(compile_s: float, wall_s: float, cpu_s: float) -> str:
  return f"compile {compile_s:.2f} s, run {wall_s * 1e3:.2f} ms wall / {cpu_s * 1e3:.2f} ms CPU"


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
    if FLAGS.answers == "hug":
      picks = rng.choice(len(HUG_ROWS), size=int(rng.integers(0, 5)))
      rows = [HUG_ROWS[i] for i in picks]
    for _ in range(rng.integers(0, 6) if FLAGS.answers == "random" else 0):
      cells = []
      for _ in range(2):
        names = tuple(str(n) for n in rng.choice(parts, size=1 + int(rng.random() < 0.2),
                                                  replace=False))
        cells.append(names[0] if len(names) == 1 else names)
      rows.append(tuple(cells))
    if assignment_count(rows) <= max_assignments:
      samples.append(rows)
  return samples


def default_body():
  """(model, region map) when ``posejax.body.default_model`` exists, else None."""
  body = importlib.import_module("posejax.body")
  if not hasattr(body, "default_model"):
    return None
  from posejax.body import regions
  model = body.default_model()
  region_map = regions.derive_regions(model, samples_per_region=FLAGS.region_samples)
  return model, region_map


def bench_contact(rng, scenes: int, points_source) -> dict:
  samples = answers(rng, FLAGS.samples, FLAGS.assignments)
  single = Constraints.from_pairs(samples, 2)
  batch = Constraints.stack([single] + [
      Constraints.from_pairs(answers(rng, FLAGS.samples, FLAGS.assignments), 2)
      for _ in range(scenes - 1)])
  poses = rng.normal(scale=0.2, size=(scenes, 2, 63))
  points, valid = points_source(poses)
  print(f"constraints: {single.sizes()}; stack of {scenes}: {batch.sizes()}")
  print(f"  valid assignments per sample: {single.assignments_per_sample().tolist()}")
  pair_counts = np.asarray(batch.pair_valid).sum(axis=1)
  print(f"  distinct region pairs per image: {pair_counts.min()}..{pair_counts.max()}")

  def one(points, cons, closest=None):
    return jax.value_and_grad(
        lambda p: contact.contact_loss(p[0], p[1], valid, cons, closest=closest))(points)

  def search(points, cons):
    return contact.closest_pairs(points[0], points[1], valid, cons)

  def make_surrogate(points, cons):
    return contact.contact_surrogate(points[0], points[1], valid, cons)

  def surrogate_step(points, cons, surrogate):
    return jax.value_and_grad(lambda p: contact.surrogate_contact_loss(
        p[0], p[1], valid, cons, surrogate))(points)

  closest = jax.jit(jax.vmap(search))(points, batch)
  surrogates = jax.jit(jax.vmap(make_surrogate))(points, batch)
  variants = (
      ("1 scene", one, (points[0], single)),
      (f"{scenes} scenes, vmap", jax.vmap(one), (points, batch)),
      (f"{scenes} scenes, lax.map", lambda p, c: jax.lax.map(lambda x: one(*x), (p, c)),
       (points, batch)),
      (f"{scenes} scenes, vmap, cached closest pairs", jax.vmap(one), (points, batch, closest)),
      (f"{scenes} scenes, the search alone (vmap)", jax.vmap(search), (points, batch)),
      (f"{scenes} scenes, surrogate: search and choices (vmap)", jax.vmap(make_surrogate),
       (points, batch)),
      (f"{scenes} scenes, surrogate: loss+grad (vmap)", jax.vmap(surrogate_step),
       (points, batch, surrogates)),
  )
  results = {}
  for name, fn, args in variants:
    compile_s, wall_s, cpu_s, _ = timed(fn, *args, repeats=FLAGS.repeats)
    results[name] = cpu_s
    print(f"contact loss+grad, {name}: {describe(compile_s, wall_s, cpu_s)}")

  # What reusing the closest pairs costs in accuracy: move every joint by a random rotation of
  # the given size (Adam at lr 0.01 moves each pose parameter by at most about 0.01 per step).
  exact = jax.jit(jax.vmap(lambda p, c: contact.contact_loss(p[0], p[1], valid, c)))
  cached = jax.jit(jax.vmap(lambda p, c, k: contact.contact_loss(p[0], p[1], valid, c, closest=k)))
  linear = jax.jit(jax.vmap(lambda p, c, s: contact.surrogate_contact_loss(p[0], p[1], valid, c,
                                                                           s)))
  for step in (0.01, 0.03, 0.1):
    moved, _ = points_source(poses + rng.normal(scale=step / np.sqrt(3), size=poses.shape))
    true = np.asarray(exact(moved, batch))
    for name, stale in (("cached pairs", cached(moved, batch, closest)),
                        ("surrogate", linear(moved, batch, surrogates))):
      excess = (np.asarray(stale) - true) / np.maximum(true, 1e-9)
      print(f"  {name} after a pose change of {step} rad per joint: loss excess "
            f"median {np.median(excess):.2%}, max {excess.max():.2%} "
            f"(mean loss {true.mean() * 100:.1f} cm)")
  return results


def bench_body(model, region_map, batch: int, proxy_ids) -> float:
  from posejax.body import BodyParams
  from posejax.body import forward
  from posejax.body import reduce_model
  ids = np.unique(np.concatenate([np.asarray(region_map.sample_ids).ravel()]
                                 + ([np.asarray(proxy_ids)] if proxy_ids is not None else [])))
  reduced = reduce_model(model, vertex_ids=ids)
  params = BodyParams.zeros(reduced, (batch,))
  rng = np.random.default_rng(1)
  params = params.replace(body_pose=jnp.asarray(rng.normal(scale=0.2, size=params.body_pose.shape),
                                                params.body_pose.dtype))

  def loss(free):
    out = forward(reduced, params.replace(**free))
    return jnp.sum(jnp.square(out.vertices)) + jnp.sum(jnp.square(out.joints))

  free = {"body_pose": params.body_pose, "betas": params.betas, "transl": params.transl}
  compile_s, wall_s, cpu_s, _ = timed(jax.value_and_grad(loss), free, repeats=FLAGS.repeats)
  print(f"reduced body forward+backward, batch {batch} ({len(ids)} vertices): "
        f"{describe(compile_s, wall_s, cpu_s)}")
  return cpu_s


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
    compile_s, wall_s, cpu_s, compiled = timed(fn, queries, triangles,
                                               repeats=max(3, FLAGS.repeats // 4))
    memory = memory_bytes(compiled)
    memory_text = "n/a" if memory is None else f"{memory / 2**20:.1f} MiB"
    print(f"  chunk {chunk}: {describe(compile_s, wall_s, cpu_s)}, XLA peak estimate {memory_text}")
  if proxy.part_triangle_ids is None:
    return
  # The inside test as the fit runs it: every vertex of one body against the other body, standing
  # 10 cm from it (deep overlap), with the proxy's closed limb parts and with the whole proxy.
  whole = penetration.PenetrationProxy(vertex_ids=proxy.vertex_ids, triangle_ids=proxy.triangle_ids)
  body_a = jnp.asarray(vertices, jnp.float32)
  body_b = body_a + jnp.asarray([0.1, 0.0, 0.05], jnp.float32)
  parts = len(np.unique(np.asarray(proxy.block_part)))
  for name, which in ((f"{parts} closed limb parts", proxy), ("the whole proxy", whole)):
    fn = lambda q, v, which=which: penetration.inside_mask(q, v, which)  # noqa: E731
    compile_s, wall_s, cpu_s, compiled = timed(fn, body_a, body_b,
                                               repeats=max(3, FLAGS.repeats // 4))
    inside = int(jnp.sum(compiled(body_a, body_b)))
    print(f"inside test, {len(vertices)} vertices vs the other body 10 cm away, {name}: "
          f"{describe(compile_s, wall_s, cpu_s)}; {inside} inside")


def main(argv):
  del argv
  rng = np.random.default_rng(FLAGS.seed)
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {jax.device_count()} device(s)")
  scenes = FLAGS.body_batch // 2
  body = default_body()
  if body is None:
    print("posejax.body.default_model not available: random region points, no body timing")

    def points_source(poses):
      del poses
      points = rng.normal(scale=0.3, size=(scenes, 2, REGIONS, FLAGS.region_samples, 3))
      return jnp.asarray(points, jnp.float32), jnp.ones((REGIONS, FLAGS.region_samples), bool)
  else:
    model, region_map = body
    from posejax.body import BodyParams
    from posejax.body import forward
    from posejax.body import regions

    def points_source(poses):
      params = BodyParams.zeros(model, poses.shape[:2])
      offset = np.zeros(poses.shape[:2] + (3,), np.float32)
      offset[:, 1, 2] = 0.5  # face to face, half a metre apart
      params = params.replace(transl=jnp.asarray(offset, params.transl.dtype),
                              body_pose=jnp.asarray(poses, params.body_pose.dtype))
      vertices = forward(model, params).vertices
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
    for how in ("vmap", "lax.map", "vmap, cached closest pairs"):
      batched = contact_times[f"{scenes} scenes, {how}"]
      print(f"ratio, CPU time: contact ({scenes} scenes, {how}) / body ({FLAGS.body_batch} bodies) "
            f"= {batched / body_time:.1%} (target <= 10%)")
    build = contact_times[f"{scenes} scenes, surrogate: search and choices (vmap)"]
    step = contact_times[f"{scenes} scenes, surrogate: loss+grad (vmap)"]
    for every in (1, 5, 10):
      # What a fit with FitConfig.search_every = k pays per step: a search every k steps, the
      # surrogate's loss and gradient at every step.
      print(f"ratio, CPU time: contact as fit runs it, searches every {every} step(s) "
            f"({scenes} scenes: {(build / every + step) * 1e3:.2f} ms per step) / body "
            f"= {(build / every + step) / body_time:.1%} (target <= 10%)")
  bench_winding(None if body is None else body[0])


if __name__ == "__main__":
  app.run(main)
