"""XLA's experimental YNNPACK fusions on CPU are turned off before the backend starts.

With jaxlib 0.10 they crash posejax's two-person fit at batch 16 (segmentation fault, every run of
``experiments.run_benchmark``'s defaults) and, where it runs, slow it (a stage-1 step 0.98 ms
against 0.50 ms). Unless ``XLA_FLAGS`` already mention them or ``POSEJAX_XLA_CPU_FUSIONS=1``,
``FLAG`` is added for the jaxlib versions known to have it (an unknown flag would abort XLA). It is
read when the backend starts, so importing jax first is fine as long as nothing ran on the CPU.
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
