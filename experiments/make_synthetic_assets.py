"""Builds what ``posejax/assets/`` ships besides the body: synthetic scenes and the body's proxy.

Writes ``posejax/assets/synthetic_demo.npz`` and ``.json``: one two-person scene (a hug) and one
one-person scene (tree pose), generated on the embedded default body with the default generator
settings, each with 20 simulated language-model answers. The README's main job fits the first.
The ground truth is exact only on the body it was generated on: rerun this script whenever the
default body changes (``tests/test_synthetic.py`` checks the stored model fingerprint).

It also writes the default body's interpenetration proxy (``posejax/assets/proxy-<key>.npz``,
which ``proxy_mesh.stored_simplified_faces`` finds by key), so that no process builds it;
``tests/test_penetration.py`` checks that it is there and equal to a fresh build.

  .venv/bin/python -m experiments.make_synthetic_assets [--out posejax/assets/synthetic_demo]
      [--noscenes]
"""

from __future__ import annotations

import glob
import os
import time

import numpy as np

from absl import app
from absl import flags
from absl import logging

from posejax.body import default_model
from posejax.data import synthetic
from posejax.losses import penetration
from posejax.losses import proxy_mesh

_OUT = flags.DEFINE_string("out", synthetic.bundled_path(), "Output file stem (.npz + .json).")
_SEED = flags.DEFINE_integer("seed", 0, "The generator's seed.")
_KINDS = flags.DEFINE_list("kinds", ["hug", "foot_on_thigh"],
                           "Scene kinds to ship, one scene each (the first is the demo scene).")
_SCENES = flags.DEFINE_bool("scenes", True, "Write the scenes (else only the proxy).")


def ship_default_proxy(model) -> str:
  """Writes the default body's proxy into the package's assets, replacing older ones; its path."""
  vertices = np.asarray(model.v_template, np.float64)
  faces = np.asarray(model.faces, np.int64)
  target = penetration.DEFAULT_PROXY_VERTICES
  key = proxy_mesh.proxy_key(vertices, faces, target)
  for old in glob.glob(os.path.join(proxy_mesh.SHIPPED_DIRECTORY, "proxy-*.npz")):
    os.remove(old)
  path = os.path.join(proxy_mesh.SHIPPED_DIRECTORY, proxy_mesh.proxy_file_name(key))
  proxy_mesh.write_stored(path, proxy_mesh.simplified_faces(vertices, faces, target), key)
  return path


def main(argv):
  del argv
  started = time.perf_counter()
  model = default_model()
  path = ship_default_proxy(model)
  print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} KiB)")
  if not _SCENES.value:
    return
  settings = synthetic.SyntheticSettings(seed=_SEED.value)
  scenes, failures = [], []
  for kind in _KINDS.value:
    people = synthetic.poses.scene_design(kind).people
    part = synthetic.generate_benchmark(1, people, settings, model, kinds=[kind])
    scenes += part.scenes
    failures += part.failures
    logging.info("%s: kept %s after %d failed tries", kind, part.scenes[0].scene_id,
                 len(part.failures))
  bundle = synthetic.SyntheticBenchmark(scenes=tuple(scenes), settings=settings.to_dict(),
                                        failures=tuple(failures))
  paths = synthetic.save_benchmark(bundle, _OUT.value)
  sizes = ", ".join(f"{p} ({os.path.getsize(p) / 1024:.0f} KiB)" for p in paths)
  print(f"wrote {sizes} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
  app.run(main)
