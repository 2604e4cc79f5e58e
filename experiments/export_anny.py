"""Exports Anny to posejax's SMPL-X-structured model file (needs ``pip install posejax[anny]``).

Samples shapes from Anny's own shape distribution (ages 0-90), re-poses each into the T-pose,
fits the shape PCA and the phenotype map, and writes the model in the compact encoding
(``posejax.body.compact``) that ``posejax.body.load_model`` reads; the embedded default body is
this script's output with its defaults.

  ANNY_CACHE_DIR=... .venv/bin/python -m experiments.export_anny [--model_path FILE]
"""

from __future__ import annotations

import dataclasses
import io
import json
import time

import numpy as np
from absl import logging

from experiments._cli import define_flags
from experiments._cli import option
from experiments._cli import run_script
from experiments._cli import settings_from_flags
from posejax.body import anny_export
from posejax.body import compact
from posejax.body import phenotypes
from posejax.io_utils import atomic_write_bytes

@dataclasses.dataclass(frozen=True, kw_only=True)
class ExportSettings:
  """The export's flags."""

  model_path: str = option("posejax/assets/anny_body.npz", "Model file to write.")
  num_shapes: int = option(1200, "Shapes drawn from Anny's distribution for the PCA.")
  num_betas: int = option(16, "Shape directions kept.")
  seed: int = option(0, "Seed of the shape sample.")


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
  settings = settings_from_flags(ExportSettings)
  summary = export(settings.model_path, settings.num_shapes, settings.num_betas, settings.seed)
  logging.info("%s", json.dumps(summary))
  print(json.dumps(summary, indent=1))


if __name__ == "__main__":
  run_script(lambda: define_flags(ExportSettings), main)
