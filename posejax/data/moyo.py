"""MOYO ground truth: SMPL-X mocap fits from the MOYO release.

Verified from the ProsePose evaluation code (``moyo_eval.py``): each sequence is an AMASS-style
``.npz`` with ``poses`` (T, 165) SMPL-X axis-angle (``_POSE_SLICES``), ``trans`` (T, 3) metres
and ``betas`` (>= 10,), or an older layout splitting the pose into ``root_orient``,
``pose_body``, ``pose_hand``, ``pose_jaw``, ``pose_eye``. Image names end in
``_YOGI_Cam_<camera>_<frame>``; image frame f is mocap row 2 f. The body is a neutral adult
SMPL-X with 10 betas and full (non-PCA) hand poses.
"""

from __future__ import annotations

import os
import re

import numpy as np

from posejax.data.files import require_file
from posejax.errors import FileFormatError

MOYO_NAME = re.compile(r"^(.*?)_YOGI_Cam_(\d+)_(\d+)")
"""A MOYO image name: its sequence, camera and frame (``<sequence>_YOGI_Cam_<c>_<f>...``)."""

_POSE_SLICES = (("global_orient", 0, 3), ("body_pose", 3, 66), ("jaw_pose", 66, 69),
                ("leye_pose", 69, 72), ("reye_pose", 72, 75), ("left_hand_pose", 75, 120),
                ("right_hand_pose", 120, 165))


def moyo_camera_and_frame(image_name: str) -> tuple[int, int]:
  """Camera index and image frame number from a MOYO image or result name.

  Args:
    image_name: e.g. ``"Camel_Pose_or_Ustrasana_-b_YOGI_Cam_05_0468"`` (suffixes allowed).

  Returns:
    ``(camera, frame)``; the mocap row of that frame is ``2 * frame``.
  """
  found = MOYO_NAME.match(os.path.basename(image_name))
  if found is None:
    raise FileFormatError(image_name, "not a MOYO image name (expected '..._YOGI_Cam_<c>_<f>')")
  return int(found.group(2)), int(found.group(3))


def read_moyo_ground_truth(path: str | os.PathLike, row: int) -> dict[str, np.ndarray]:
  """SMPL-X parameters of one mocap row of a MOYO sequence, world frame, one person.

  Args:
    path: the sequence's ``.npz``.
    row: mocap row (``2 * frame`` for an image frame, see :func:`moyo_camera_and_frame`).

  Returns:
    smplx-named arrays with a person axis of 1: ``global_orient`` (1, 3), ``body_pose`` (1, 63),
    ``jaw_pose``, ``leye_pose``, ``reye_pose`` (1, 3), ``left_hand_pose``, ``right_hand_pose``
    (1, 45), ``betas`` (1, 10), ``transl`` (1, 3).
  """
  path = require_file(path)
  try:
    with np.load(path, allow_pickle=False) as archive:
      data = {key: np.asarray(archive[key]) for key in archive.files}
  except Exception as err:
    raise FileFormatError(path, f"not a readable .npz archive ({err})") from err
  for key in ("trans", "betas"):
    if key not in data:
      raise FileFormatError(path, f"missing key {key!r} (keys: {sorted(data)})")
  if "poses" in data:
    poses = data["poses"]
  elif all(k in data for k in ("root_orient", "pose_body", "pose_hand", "pose_jaw", "pose_eye")):
    poses = np.concatenate([data["root_orient"], data["pose_body"], data["pose_jaw"],
                            data["pose_eye"], data["pose_hand"]], axis=-1)
  else:
    raise FileFormatError(path, "missing key 'poses' (or root_orient/pose_body/pose_hand/"
                          f"pose_jaw/pose_eye); keys: {sorted(data)}")
  if poses.ndim != 2 or poses.shape[1] < 165:
    raise FileFormatError(path, f"poses have shape {poses.shape}; expected (T, 165)")
  if not 0 <= row < poses.shape[0]:
    raise FileFormatError(path, f"row {row} is outside the sequence's {poses.shape[0]} rows")
  trans = data["trans"]
  if trans.ndim != 2 or trans.shape != (poses.shape[0], 3):
    raise FileFormatError(path, f"'trans' has shape {trans.shape}; expected ({poses.shape[0]}, 3)")
  betas = data["betas"].reshape(-1)
  if betas.size < 10:
    raise FileFormatError(path, f"'betas' has {betas.size} values; expected at least 10")
  params = {name: poses[row, start:stop][None] for name, start, stop in _POSE_SLICES}
  params.update(betas=betas[None, :10], transl=trans[row][None])
  return {name: value.astype(np.float64) for name, value in params.items()}
