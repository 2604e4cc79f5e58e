"""Readers for the files around the datasets: pickles, BEV/HMR2 archives and region maps; every
problem is a ``FileFormatError`` naming the file.

Formats, verified from the BUDDI (muelea/buddi) and ProsePose (sanjayss34/prosepose) code:

* BEV / HMR2 archive ``<image>_0.08.npz``: ``results`` holds ``smpl_thetas`` (N, 72) SMPL
  axis-angle (global orientation first), ``smpl_betas`` (N, 11) (10 betas + BEV's kid scale; 10
  columns are accepted too, for an HMR2 export without it: not verified), ``cam_trans`` (N, 3)
  metres (the pelvis in the camera frame), optionally ``joints``, ``verts``, ``pj2d_org``
  (projected joints, pixels) and ``boxes``.
* Region map ``flickrci3ds_r75_rid_to_smplx_vid.pkl``: dict region id (0..74) -> SMPL-X vertex ids.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from posejax import safe_load
from posejax.errors import FileFormatError

def require_file(path: str | os.PathLike) -> str:
  """``path`` as a string if it is an existing file, else a ``FileFormatError`` naming it."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileFormatError(path, "file not found")
  return path


def to_numpy(value: Any) -> Any:
  """Torch tensors (the reference pickles some) and nested lists to numpy; the rest unchanged."""
  if hasattr(value, "detach") and hasattr(value, "cpu"):
    return value.detach().cpu().numpy()
  if isinstance(value, (list, tuple)) and value and all(
      isinstance(v, (int, float, np.number, list, tuple, np.ndarray)) for v in value):
    try:
      return np.asarray(value)
    except ValueError:  # ragged lists stay lists
      return value
  return value


def load_pickle(path: str | os.PathLike) -> Any:
  """Unpickles a file written by the reference pipeline (Python 2 pickles included).

  Raises:
    FileFormatError: missing or unreadable file; files that store torch tensors need torch
      importable, and the message says so.
  """
  path = require_file(path)
  return safe_load.load_pickle(path, "a processed dataset file", allow_torch=True)


def load_json(path: str | os.PathLike) -> Any:
  """Reads a JSON file, raising ``FileFormatError`` naming it on any problem."""
  return safe_load.load_json(require_file(path), "a JSON file")


def read_bev_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """The people a BEV or HMR2 run found in one image (``<image>_0.08.npz``).

  Returns:
    Dict with ``smpl_thetas`` (N, 72), ``smpl_betas`` (N, 10 or 11), ``cam_trans`` (N, 3) and,
    when present, ``joints``, ``verts``, ``pj2d_org``, ``boxes`` (N first).
  """
  path = require_file(path)
  arrays = safe_load.load_npz(path, "an .npz archive", objects="safe")
  if "results" not in arrays:
    raise FileFormatError(path, f"has no 'results' entry (entries: {sorted(arrays)})")
  results = arrays["results"]
  if isinstance(results, np.ndarray) and results.dtype == object and results.shape == ():
    results = results.item()
  if not isinstance(results, Mapping):
    raise FileFormatError(path, "'results' is not a dict of arrays")
  for key in ("smpl_thetas", "smpl_betas", "cam_trans"):
    if key not in results:
      raise FileFormatError(path, f"'results' has no {key!r} (keys: {sorted(results)})")
  thetas = np.asarray(to_numpy(results["smpl_thetas"]), dtype=np.float64)
  if thetas.ndim != 2 or thetas.shape[1] != 72:
    raise FileFormatError(path, f"'smpl_thetas' has shape {thetas.shape}; expected (N, 72)")
  num_people = thetas.shape[0]
  betas = np.asarray(to_numpy(results["smpl_betas"]), dtype=np.float64)
  if betas.ndim != 2 or betas.shape[0] != num_people or betas.shape[1] not in (10, 11):
    raise FileFormatError(path, f"'smpl_betas' has shape {betas.shape}; expected ({num_people}, "
                          "10 or 11)")
  cam_trans = np.asarray(to_numpy(results["cam_trans"]), dtype=np.float64)
  if cam_trans.shape != (num_people, 3):
    raise FileFormatError(path, f"'cam_trans' has shape {cam_trans.shape}; expected "
                          f"({num_people}, 3)")
  out = {"smpl_thetas": thetas, "smpl_betas": betas, "cam_trans": cam_trans}
  for key in ("joints", "verts", "pj2d_org", "boxes"):
    if key in results:
      value = np.asarray(to_numpy(results[key]))
      if value.shape[:1] != (num_people,) and key != "boxes":
        raise FileFormatError(path, f"{key!r} has shape {value.shape}; expected {num_people} "
                              "people first")
      out[key] = value
  return out


def read_region_vertex_map(path: str | os.PathLike, num_vertices: int | None = None
                           ) -> list[np.ndarray]:
  """The 75 FlickrCI3D contact regions as SMPL-X vertex ids (BUDDI's
  ``flickrci3ds_r75_rid_to_smplx_vid.pkl``).

  Args:
    path: the region map pickle (dict region id -> vertex ids), or a JSON file with the same
      mapping (keys as strings).
    num_vertices: checked upper bound of the ids when given (10475 for SMPL-X).

  Returns:
    List of (n_r,) int arrays, region 0 first.
  """
  path = require_file(path)
  data = load_json(path) if path.lower().endswith(".json") else load_pickle(path)
  if not isinstance(data, Mapping) or not data:
    raise FileFormatError(path, "expected a non-empty dict region id -> vertex ids")
  try:
    keyed = {int(k): v for k, v in data.items()}
  except (TypeError, ValueError) as err:
    raise FileFormatError(path, f"region ids must be integers ({err})") from err
  if sorted(keyed) != list(range(len(keyed))):
    raise FileFormatError(path, f"region ids must be 0..{len(keyed) - 1} without gaps")
  regions = []
  for region in range(len(keyed)):
    ids = np.asarray(to_numpy(keyed[region])).reshape(-1)
    if ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
      raise FileFormatError(path, f"region {region} holds no integer vertex ids")
    if ids.min() < 0 or (num_vertices is not None and ids.max() >= num_vertices):
      raise FileFormatError(path, f"region {region} has vertex ids outside 0..{num_vertices}")
    regions.append(ids.astype(np.int64))
  return regions

