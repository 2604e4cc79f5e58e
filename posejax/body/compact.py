"""A compact encoding of model files, for the embedded body: a few MB instead of tens.

``encode`` stores what dominates a model file in reduced form: shape directions in float16,
skinning weights as each vertex's few non-zero (joint, weight) pairs, the joint regressor as
each joint's non-zero vertices, faces in the smallest unsigned integer type. ``decode`` restores
dense arrays under the file's usual keys, so ``posejax.body.io.read_model_file`` reads either
kind. The precision given up is measured by ``experiments/bench_body_export.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from posejax.errors import FileFormatError

FORMAT_KEY = "posejax_compact"
"""Present (holding the format version) in compact files."""
VERSION = 1


def encode(arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """The compact form of model-file ``arrays`` (dense, under the usual keys)."""
  out = {k: np.asarray(v) for k, v in arrays.items()
         if k not in ("shapedirs", "weights", "J_regressor", "f")}
  out[FORMAT_KEY] = np.asarray(VERSION)
  vertices = np.asarray(arrays["v_template"])
  out["v_template"] = vertices.astype(np.float32)
  faces = np.asarray(arrays["f"])
  out["f"] = faces.astype(np.uint16 if len(vertices) < 2 ** 16 else np.uint32)
  out["shapedirs"] = np.asarray(arrays["shapedirs"]).astype(np.float16)
  weights = np.asarray(arrays["weights"], np.float64)
  width = int((weights > 0).sum(axis=1).max())
  order = np.argsort(-weights, axis=1)[:, :width]
  out["weights_joints"] = order.astype(np.uint8)
  out["weights_values"] = np.take_along_axis(weights, order, axis=1).astype(np.float32)
  regressor = np.asarray(arrays["J_regressor"], np.float64)
  width = int((regressor != 0).sum(axis=1).max())
  order = np.argsort(-np.abs(regressor), axis=1)[:, :width]
  out["J_regressor_vertices"] = order.astype(np.uint32)
  out["J_regressor_values"] = np.take_along_axis(regressor, order, axis=1).astype(np.float32)
  out["num_vertices"] = np.asarray(len(vertices))
  out["num_joints"] = np.asarray(regressor.shape[0])
  return out


def decode(arrays: Mapping[str, Any], source: str) -> dict[str, np.ndarray]:
  """Dense model-file arrays from the compact form.

  Raises:
    FileFormatError: an unknown version or misshaped tables.
  """
  version = np.asarray(arrays[FORMAT_KEY])
  if version.shape != () or int(version) != VERSION:
    raise FileFormatError(source, f"compact model format {version!r} is not one this posejax "
                          f"reads (version {VERSION}).")
  try:
    num_vertices = int(arrays["num_vertices"])
    num_joints = int(arrays["num_joints"])
    out = {k: np.asarray(v) for k, v in arrays.items()
           if k not in (FORMAT_KEY, "num_vertices", "num_joints", "weights_joints",
                        "weights_values", "J_regressor_vertices", "J_regressor_values")}
    out["shapedirs"] = np.asarray(arrays["shapedirs"]).astype(np.float32)
    out["f"] = np.asarray(arrays["f"]).astype(np.int64)
    weights = np.zeros((num_vertices, num_joints))
    joints = np.asarray(arrays["weights_joints"]).astype(np.int64)
    rows = np.broadcast_to(np.arange(num_vertices)[:, None], joints.shape)
    np.add.at(weights, (rows, joints), np.asarray(arrays["weights_values"], np.float64))
    out["weights"] = weights / weights.sum(axis=1, keepdims=True)
    regressor = np.zeros((num_joints, num_vertices))
    vertices = np.asarray(arrays["J_regressor_vertices"]).astype(np.int64)
    rows = np.broadcast_to(np.arange(num_joints)[:, None], vertices.shape)
    np.add.at(regressor, (rows, vertices), np.asarray(arrays["J_regressor_values"], np.float64))
    out["J_regressor"] = regressor
  except (KeyError, IndexError, ValueError, TypeError) as error:
    raise FileFormatError(source, f"compact model tables are incomplete or misshaped "
                          f"({type(error).__name__}: {error}).") from None
  return out
