"""What a fit returns, and how it is saved and read back.

``FitResult`` is a pytree of arrays with the scenes' batch shape in front, plus static metadata
saying how the numbers were made; ``save`` writes an ``.npz`` and a JSON summary, each atomically.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import flax.struct
import jax
import numpy as np

from posejax import safe_load
from posejax.body.model import PARAM_FIELDS
from posejax.body.model import BodyParams
from posejax.config import TERMS
from posejax.errors import FileFormatError
from posejax.io_utils import atomic_write_bytes
from posejax.io_utils import atomic_write_text

_ARRAY_FIELDS = ("stage_terms", "stage_total", "iterations", "converged", "fell_back",
                 "keypoints_missing", "finite", "diverged")
"""The per-scene arrays ``save`` stores besides the parameters and vertices."""

@flax.struct.dataclass
class FitResult:
  """The fitted bodies of a batch of scenes (batch shape ``(...)``, P people, S stages, T terms).

  Attributes:
    params: final ``BodyParams`` with leading shape (..., P).
    vertices: (..., P, V, 3) final vertices in metres, or None unless asked for.
    stage_terms: (..., S, T) unweighted loss terms at the end of each stage, in ``TERMS`` order:
      at the final parameters with fresh searches when the stage ran to its cap; for a scene that
      stopped early, from the evaluation it stopped at (a term whose search is reused, such as
      interpenetration, may then hold its upper bound from up to ``*_search_every - 1`` steps on).
    stage_total: (..., S) weighted total loss at the end of each stage.
    iterations: (..., S) int, Adam updates each stage ran for each scene.
    converged: (..., S) bool, the early-stop rule fired (False: stopped at the iteration cap).
    fell_back: (...,) bool, the scene used the fallback preset (its answers were empty).
    keypoints_missing: (..., P) bool, the person had no usable keypoint (fully occluded): the fit
      kept it near its initial estimate by the priors alone.
    finite: (...,) bool, every fitted parameter and loss value is finite.
    diverged: (...,) bool, finite but not to be trusted: a body ended behind the camera, or its
      keypoints are on average more than a quarter of the normalised box from their detections
      (``posejax.validation``).
    metadata: JSON-friendly facts about the run (config, model source, ``synthetic_body``).
  """

  params: BodyParams
  stage_terms: jax.Array
  stage_total: jax.Array
  iterations: jax.Array
  converged: jax.Array
  fell_back: jax.Array
  keypoints_missing: jax.Array
  finite: jax.Array
  diverged: jax.Array
  vertices: jax.Array | None = None
  metadata: Any = flax.struct.field(pytree_node=False, default=None)

  @property
  def batch_shape(self) -> tuple[int, ...]:
    return tuple(self.fell_back.shape)

  @property
  def status(self) -> np.ndarray:
    """(...,) per scene: "ok", "not converged" (some stage hit its cap), "diverged" or
    "non-finite"."""
    converged = np.asarray(self.converged).all(axis=-1)
    return np.where(~np.asarray(self.finite), "non-finite",
                    np.where(np.asarray(self.diverged), "diverged",
                             np.where(converged, "ok", "not converged")))

  def term(self, name: str, stage: int = -1) -> np.ndarray:
    """(...,) the unweighted value of loss term ``name`` at the end of ``stage``."""
    return np.asarray(self.stage_terms[..., stage, TERMS.index(name)])

  def summary(self) -> dict:
    """A short JSON-friendly summary: the metadata but the config's full settings, counts over
    the batch, and per stage the median of each loss term, the mean iterations and how many
    scenes converged (``save`` writes it with the full settings)."""
    terms = np.asarray(self.stage_terms).reshape(-1, *self.stage_terms.shape[-2:])
    iterations = np.asarray(self.iterations).reshape(-1, self.iterations.shape[-1])
    converged = np.asarray(self.converged).reshape(-1, self.converged.shape[-1])
    stages = []
    for s in range(terms.shape[1]):
      stages.append({
          "median_terms": {t: float(np.median(terms[:, s, i])) for i, t in enumerate(TERMS)},
          "mean_iterations": float(iterations[:, s].mean()),
          "converged": int(converged[:, s].sum()),
      })
    return {
        **{k: v for k, v in (self.metadata or {}).items() if k != "config_settings"},
        "scenes": int(np.prod(self.batch_shape)),
        "fell_back": int(np.asarray(self.fell_back).sum()),
        "people_without_keypoints": int(np.asarray(self.keypoints_missing).sum()),
        "status": {kind: int(count) for kind, count in
                   zip(*np.unique(self.status, return_counts=True))},
        "stages": stages,
    }

  def save(self, path: str | os.PathLike) -> tuple[str, str]:
    """Writes ``<path>.npz`` (arrays) and ``<path>.json`` (summary), each atomically; returns
    the two paths."""
    base = os.fspath(path)
    base = base[:-4] if base.endswith(".npz") else base
    arrays = {f"params.{name}": np.asarray(getattr(self.params, name)) for name in PARAM_FIELDS}
    for name in _ARRAY_FIELDS:
      arrays[name] = np.asarray(getattr(self, name))
    if self.vertices is not None:
      arrays["vertices"] = np.asarray(self.vertices)
    arrays["metadata_json"] = np.asarray(json.dumps(self.metadata or {}))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(base + ".npz", buffer.getvalue())
    record = {**self.summary(),
              "config_settings": (self.metadata or {}).get("config_settings")}
    atomic_write_text(base + ".json", json.dumps(record, indent=2, default=float))
    return base + ".npz", base + ".json"

  @classmethod
  def load(cls, path: str | os.PathLike) -> "FitResult":
    """Reads a result written by ``save`` (give the ``.npz`` path or the common base path)."""
    base = os.fspath(path)
    file = base if base.endswith(".npz") else base + ".npz"
    arrays = safe_load.load_npz(file, "a FitResult file")
    missing = [k for k in _ARRAY_FIELDS + ("metadata_json",)
               + tuple(f"params.{name}" for name in PARAM_FIELDS) if k not in arrays]
    if missing:
      raise FileFormatError(file, f"not a FitResult file: missing {missing}")
    params = BodyParams(**{name: arrays[f"params.{name}"] for name in PARAM_FIELDS})
    return cls(params=params, vertices=arrays.get("vertices"),
               metadata=_metadata(file, arrays["metadata_json"]),
               **{name: arrays[name] for name in _ARRAY_FIELDS})


def _metadata(path: str, stored: np.ndarray) -> dict:
  try:
    metadata = json.loads(str(stored))
  except (ValueError, RecursionError) as error:
    raise FileFormatError(path, f"the stored metadata is not JSON ({error})") from None
  if not isinstance(metadata, dict):
    raise FileFormatError(path, "the stored metadata is not a JSON object")
  return metadata
