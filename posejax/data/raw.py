"""One image straight from the detector outputs, laid out as the reference's image-folder loader
expects (what BUDDI's demo and ProsePose's MOYO runs read)::

    <folder>/images/<name>.png|jpg
    <folder>/<estimator>/<name>_0.08.npz      BEV or HMR2 results (estimator: "bev" or "hmr2")
    <folder>/vitpose/<name>_keypoints.json    ViTPose, OpenPose layout (optional)
    <folder>/openpose/<name>.json             OpenPose (optional if ViTPose is there)

The file formats are verified (see ``posejax.data.files``). The person matching is a simplified
version of the reference's and is posejax's own: estimator people are taken by index and each is
given the keypoint detection whose box overlaps its projected joints (or box) most; ViTPose is
preferred, OpenPose fills in for people ViTPose missed.

The initial estimate reuses the SMPL pose as SMPL-X pose (global orient and the first 21 body
joints), exactly as the reference does. Two things the reference computes need licensed files
posejax does not have, and are left to the caller:

* betas: the reference converts SMPL betas to SMPL-X betas with a fitted linear map; here
  ``init["betas"]`` is zero and the SMPL betas are kept in ``extras["smpl_betas"]``.
* transl: the estimator's ``cam_trans`` is the pelvis position; with ``model`` given, transl is
  ``cam_trans`` minus that model's posed pelvis at zero translation (the reference's rule),
  otherwise ``init["transl"]`` is ``cam_trans`` itself and ``extras["transl_is_pelvis"]`` is True.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from posejax.data.files import NUM_BODY25
from posejax.data.files import read_bev_npz
from posejax.data.files import read_keypoints_json
from posejax.data.sample import DatasetSample
from posejax.data.sample import focal_length_px
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _find_image(folder: str, name: str) -> str:
  for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
    candidate = os.path.join(folder, name + suffix)
    if os.path.isfile(candidate):
      return candidate
  raise FileFormatError(os.path.join(folder, name + ".*"),
                        f"image not found (tried {', '.join(IMAGE_SUFFIXES)})")


def _image_size(path: str) -> tuple[int, int]:
  from PIL import Image  # only the header is read

  try:
    with Image.open(path) as image:
      width, height = image.size
  except Exception as err:
    raise FileFormatError(path, f"cannot read the image size ({err})") from err
  return int(height), int(width)


def _box(points: np.ndarray) -> np.ndarray | None:
  """[x0, y0, x1, y1] around the points with positive confidence (or all, for 2-column input)."""
  if points.shape[-1] == 3:
    points = points[points[:, 2] > 0, :2]
  if points.shape[0] == 0:
    return None
  return np.concatenate([points.min(axis=0), points.max(axis=0)])


def _iou(a: np.ndarray | None, b: np.ndarray | None) -> float:
  if a is None or b is None:
    return 0.0
  x0, y0 = np.maximum(a[:2], b[:2])
  x1, y1 = np.minimum(a[2:], b[2:])
  inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
  union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
  return float(inter / union) if union > 0 else 0.0


def _match(targets: list[np.ndarray | None], detections: np.ndarray) -> list[int]:
  """Greedy one-to-one matching of target boxes to detections by IoU; -1 when nothing overlaps."""
  boxes = [_box(d) for d in detections]
  scores = np.array([[_iou(t, b) for b in boxes] for t in targets]).reshape(len(targets),
                                                                            len(boxes))
  matches = [-1] * len(targets)
  while scores.size and scores.max() > 0:
    target, detection = np.unravel_index(int(np.argmax(scores)), scores.shape)
    matches[target] = int(detection)
    scores[target, :] = 0
    scores[:, detection] = 0
  return matches


def read_image_folder_sample(folder: str | os.PathLike, name: str, people: Sequence[int] = (0,),
                             estimator: str = "hmr2", model=None,
                             dataset: str = "moyo") -> DatasetSample:
  """Builds a sample from one image's raw detector files (layout in the module docstring).

  Args:
    folder: the dataset folder holding ``images/``, ``<estimator>/``, ``vitpose/``, ``openpose/``.
    name: image name without suffix.
    people: indices of the estimator's people to keep, in order (one for MOYO, two for pairs).
    estimator: sub-folder of the BEV/HMR2 archives (``"hmr2"`` for MOYO, ``"bev"`` otherwise).
    model: a ``posejax.body.BodyModel`` used to turn the pelvis position into ``transl``.
    dataset: the dataset label of the sample.

  Returns:
    The sample (no ground truth; see ``read_moyo_ground_truth`` for MOYO).

  Raises:
    FileFormatError: a missing or malformed file, or too few people in the estimator's file.
  """
  folder = os.fspath(folder)
  image_path = _find_image(os.path.join(folder, "images"), name)
  height, width = _image_size(image_path)
  estimate_path = os.path.join(folder, estimator, f"{name}_0.08.npz")
  estimate = read_bev_npz(estimate_path)
  people = [int(p) for p in people]
  available = estimate["smpl_thetas"].shape[0]
  if not people or min(people) < 0 or max(people) >= available:
    raise FileFormatError(estimate_path, f"has {available} people; asked for {people}")

  vitpose_path = os.path.join(folder, "vitpose", f"{name}_keypoints.json")
  openpose_path = os.path.join(folder, "openpose", f"{name}.json")
  if not os.path.isfile(vitpose_path) and not os.path.isfile(openpose_path):
    raise FileFormatError(openpose_path, f"no keypoints: neither this nor {vitpose_path} exists")
  sources = [(label, read_keypoints_json(p)) for label, p in
             (("vitpose", vitpose_path), ("openpose", openpose_path)) if os.path.isfile(p)]

  if "pj2d_org" in estimate:
    targets = [_box(np.asarray(estimate["pj2d_org"][p], dtype=np.float64).reshape(-1, 2))
               for p in people]
  elif "boxes" in estimate and np.asarray(estimate["boxes"]).shape[0] == available:
    targets = [np.asarray(estimate["boxes"][p], dtype=np.float64).reshape(-1)[:4] for p in people]
  else:
    targets = [None] * len(people)
  keypoints = np.zeros((len(people), NUM_BODY25, 3))
  filled = np.zeros(len(people), dtype=bool)
  matched_from = ["none"] * len(people)
  for label, source in sources:
    matches = _match(targets, source) if targets[0] is not None else list(range(len(people)))
    for slot, detection in enumerate(matches):
      if not filled[slot] and 0 <= detection < source.shape[0]:
        keypoints[slot] = source[detection]
        filled[slot] = True
        matched_from[slot] = label

  thetas = estimate["smpl_thetas"][people]
  cam_trans = estimate["cam_trans"][people]
  init = {"global_orient": thetas[:, :3].copy(), "body_pose": thetas[:, 3:66].copy(),
          "betas": np.zeros((len(people), 10))}
  extras = {"smpl_betas": estimate["smpl_betas"][people].copy(), "cam_trans": cam_trans.copy(),
            "keypoint_source": tuple(matched_from), "estimator": estimator}
  if model is not None:
    init["transl"] = cam_trans - pelvis_position(model, init)
    extras["transl_is_pelvis"] = False
  else:
    init["transl"] = cam_trans.copy()
    extras["transl_is_pelvis"] = True
  return DatasetSample(keypoints=keypoints, init=init, gt=None, contact_pairs=None,
                       contact_map=None, extras=extras, image_path=image_path,
                       name=f"{name}_0", dataset=dataset, image_size=(height, width),
                       focal_length=focal_length_px(height, width))


def pelvis_position(model, init: dict[str, np.ndarray]) -> np.ndarray:
  """(P, 3) posed pelvis of ``model`` at zero translation, metres, for smplx-named (P, width)
  ``global_orient``, ``body_pose`` and ``betas`` (betas padded or cut to the model)."""
  from posejax import body  # the body layer sits below data

  betas = init["betas"]
  width = int(getattr(model, "num_betas", betas.shape[1]))
  if betas.shape[1] != width:
    padded = np.zeros((betas.shape[0], width))
    padded[:, :min(width, betas.shape[1])] = betas[:, :width]
    betas = padded
  try:
    params = body.BodyParams.create(model, global_orient=init["global_orient"],
                                    body_pose=init["body_pose"], betas=betas)
    joints = np.asarray(body.forward(model, params).joints)
  except AttributeError as err:
    raise InvalidInputError(f"model must be a posejax.body.BodyModel ({err})") from err
  return joints[:, 0]
