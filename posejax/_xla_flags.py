"""XLA's experimental YNNPACK fusions on CPU are turned off before the backend starts.

With jaxlib 0.10, XLA's CPU backend routes small reductions (the kinematic chain's 3x3 rotation
products and the like) through experimental YNNPACK fusions. On posejax's two-person fit at batch
16 the compiled program crashes the process with a segmentation fault (``experiments.run_benchmark``
with its defaults, every run), and where it runs, it is slower: a stage-1 step took 0.98 ms with
the fusions and 0.50 ms without. Unless the user's ``XLA_FLAGS`` already say something about these
fusions, posejax adds ``--xla_cpu_experimental_ynn_fusion_type=`` (no fusion types) for the jaxlib
versions known to have the flag: an unknown flag would abort XLA, so other versions are left alone.
``POSEJAX_XLA_CPU_FUSIONS=1`` keeps XLA's defaults (to measure them).
The flag is read when the backend starts, so it works whether or not jax was imported first, as long
as nothing has run on the CPU backend yet.
"""

from __future__ import annotations

import importlib.metadata
import os

FLAG = "--xla_cpu_experimental_ynn_fusion_type="
_VERSIONS_WITH_FLAG = ("0.10.",)


def disable_experimental_cpu_fusions() -> bool:
  """Adds ``FLAG`` to ``XLA_FLAGS`` when it is known and unset; returns whether it did."""
  flags = os.environ.get("XLA_FLAGS", "")
  if "ynn" in flags or os.environ.get("POSEJAX_XLA_CPU_FUSIONS") == "1":
    return False
  try:
    version = importlib.metadata.version("jaxlib")
  except importlib.metadata.PackageNotFoundError:
    return False
  if not version.startswith(_VERSIONS_WITH_FLAG):
    return False
  os.environ["XLA_FLAGS"] = (flags + " " + FLAG).strip()
  return True
