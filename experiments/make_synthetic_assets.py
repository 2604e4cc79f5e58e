"""Builds the small synthetic scene set shipped in ``posejax/assets/`` (synthetic data only).

Writes ``posejax/assets/synthetic_demo.npz`` and ``.json``: one two-person scene (a hug) and one
one-person scene (tree pose), generated on the embedded default body with the default generator
settings, each with 20 simulated language-model answers. The README's main job fits the first.
The ground truth is exact only on the body it was generated on: rerun this script whenever the
default body changes (``tests/test_synthetic.py`` checks the stored model fingerprint).

  .venv/bin/python -m experiments.make_synthetic_assets [--out posejax/assets/synthetic_demo]
"""

from __future__ import annotations

import os
import time

from absl import app
from absl import flags
from absl import logging

from posejax.body import default_model
from posejax.data import synthetic

_OUT = flags.DEFINE_string("out", synthetic.bundled_path(), "Output file stem (.npz + .json).")
_SEED = flags.DEFINE_integer("seed", 0, "The generator's seed.")
_KINDS = flags.DEFINE_list("kinds", ["hug", "foot_on_thigh"],
                           "Scene kinds to ship, one scene each (the first is the demo scene).")


def main(argv):
  del argv
  started = time.perf_counter()
  model = default_model()
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
