"""One image of a dataset, as posejax's readers return it."""

from __future__ import annotations

from typing import Any

import numpy as np
from flax import struct


@struct.dataclass
class DatasetSample:
  """One image (one annotated pair of people, or one person) ready for fitting and evaluation.

  Arrays are numpy; the person axis P comes first everywhere (P = 2 for Hi4D, FlickrCI3D and
  CHI3D, 1 for MOYO), in the dataset's person order.
  """

  keypoints: np.ndarray
  """(P, 25, 3) OpenPose BODY_25 keypoints: x, y in pixels and a confidence in [0, 1]."""
  init: dict[str, np.ndarray]
  """Initial estimate (BEV / HMR2) in smplx names: ``global_orient`` (P, 3), ``body_pose``
  (P, 63) axis-angle radians, ``betas`` (P, B), ``transl`` (P, 3) metres."""
  gt: dict[str, np.ndarray] | None
  """Ground-truth (or FlickrCI3D pseudo-ground-truth) parameters in smplx names, (P, ...),
  camera frame; None when the dataset has none for this image."""
  contact_pairs: np.ndarray | None
  """(K, 2) int annotated contact region pairs (FlickrCI3D's 75 region ids), column 0 on
  person 0 and column 1 on person 1; None when not annotated."""
  contact_map: np.ndarray | None
  """(75, 75) bool, ``contact_map[a, b]`` when region a of person 0 touches region b of
  person 1; None when not annotated."""
  extras: dict[str, Any] = struct.field(pytree_node=False, default_factory=dict)
  """Further fields the file had (bounding boxes, detector indices, flags), as read."""
  image_path: str = struct.field(pytree_node=False, default="")
  """Path of the image (as the processed file records it, joined to ``image_root`` if given)."""
  name: str = struct.field(pytree_node=False, default="")
  """Identifier used by the reference for result files and cached answers."""
  dataset: str = struct.field(pytree_node=False, default="")
  """``"flickrci3d"``, ``"chi3d"``, ``"hi4d"`` or ``"moyo"``."""
  image_size: tuple[int, int] = struct.field(pytree_node=False, default=(0, 0))
  """(height, width) in pixels."""
  focal_length: float = struct.field(pytree_node=False, default=0.0)
  """Pinhole focal length in pixels (principal point at the image centre)."""

  @property
  def num_people(self) -> int:
    """P, the number of people."""
    return int(self.keypoints.shape[0])
