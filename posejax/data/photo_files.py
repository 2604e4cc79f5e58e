"""Readers for a folder of a user's own photos: keypoint files, initial estimates and cameras.

What ``experiments/fit_images.py`` reads for each image ``<stem>.jpg|jpeg|png`` (every problem is a
``posejax.errors`` exception naming the file):

* Keypoints, ``<stem>.json`` or ``<stem>_keypoints.json`` (``read_keypoint_file``): OpenPose's
  ``{"people": [{"pose_keypoints_2d": [x, y, c, ...]}, ...]}``, or ViTPose / mmpose's list of
  instances (or ``{"instance_info": [...]}``), each ``{"keypoints": [[x, y], ...],
  "keypoint_scores": [s, ...]}`` or ``[x, y, s]`` rows; 25 points (BODY_25), or 17 / 133
  (COCO-17 / COCO-WholeBody, converted by ``posejax.body.keypoints.coco_to_body25``).
* An optional initial estimate (``read_initial_estimate``): a BEV / HMR2 archive
  (``<stem>_0.08.npz``), or SMPL-X parameters as ``<stem>.npz`` or ``<stem>.json``.
* Camera intrinsics (``photo_camera``): given, else EXIF, else the reference camera.
"""

from __future__ import annotations

import itertools
import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

from posejax import safe_load
from posejax.body import keypoints as body_keypoints
from posejax.body.keypoints import NUM_BODY_25
from posejax.body.forward import rest_root
from posejax.body.model import PARAM_FIELDS
from posejax.camera import Camera
from posejax.camera import project
from posejax.camera import reference_camera
from posejax.data.dataset_eval import params_for_model
from posejax.data.files import load_json
from posejax.data.files import read_bev_npz
from posejax.data.files import require_file
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError
from posejax.errors import UnsupportedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
KEYPOINT_NAMES = ("{stem}.json", "{stem}_keypoints.json")
"""Keypoint file names tried for image ``<stem>.<suffix>``, in order."""
INIT_NAMES = ("{stem}_0.08.npz", "{stem}.npz", "{stem}.json")
"""Initial-estimate file names tried for image ``<stem>``, in order."""

MIN_KEYPOINTS_PER_PERSON = 6
"""A detection counts as a person when it has at least this many confident keypoints."""
MIN_CONFIDENCE = 0.2
"""Keypoint confidence above which a keypoint counts (people selection, initial placement)."""

_COCO_LABELS = {len(body_keypoints.COCO_17_NAMES): "coco17",
                body_keypoints.NUM_COCO_WHOLEBODY: "coco_wholebody"}


def image_files(folder: str | os.PathLike) -> list[str]:
  """The images of a folder (``IMAGE_SUFFIXES``, any case), sorted by name; hidden files (such as
  macOS's ``._photo.jpg``) are not images.

  Raises:
    FileFormatError: the folder does not exist or holds no image.
  """
  folder = os.fspath(folder)
  if not os.path.isdir(folder):
    raise FileFormatError(folder, "image folder not found")
  names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES)
                 and not n.startswith(".") and os.path.isfile(os.path.join(folder, n)))
  if not names:
    raise FileFormatError(folder, f"holds no image ({', '.join(IMAGE_SUFFIXES)})")
  stems = [os.path.splitext(n)[0] for n in names]
  repeated = sorted({s for s in stems if stems.count(s) > 1})
  if repeated:
    raise FileFormatError(folder, f"images {repeated} share a name with different suffixes; "
                          "every output is named after the stem, so rename one")
  return [os.path.join(folder, n) for n in names]


def find_keypoint_file(image_path: str | os.PathLike, folder: str | os.PathLike | None = None
                       ) -> str:
  """The keypoint file of an image (``KEYPOINT_NAMES``) in ``folder`` (None: the image's).

  Raises:
    FileFormatError: neither file exists (the message names both).
  """
  image_path = os.fspath(image_path)
  stem = os.path.splitext(os.path.basename(image_path))[0]
  folder = os.path.dirname(image_path) if folder is None else os.fspath(folder)
  tried = [os.path.join(folder, name.format(stem=stem)) for name in KEYPOINT_NAMES]
  for path in tried:
    if os.path.isfile(path):
      return path
  raise FileFormatError(
      image_path, f"no keypoint file: neither {tried[0]} nor {tried[1]} exists. Run OpenPose "
      "(BODY_25) or ViTPose on the image first and put its JSON there (README, 'Your own photos')")


def _rows(value: Any, path: str, where: str) -> np.ndarray:
  try:
    return np.asarray(value, dtype=np.float64)
  except (TypeError, ValueError) as err:
    raise FileFormatError(path, f"{where} is not a list of numbers ({err})") from None


def _to_body25(points: np.ndarray, path: str, where: str) -> tuple[np.ndarray, str]:
  """(K, 3) rows of one person as BODY_25, and the layout's name."""
  count = points.shape[0]
  if count == NUM_BODY_25:
    return points, "openpose_body25"
  if count in _COCO_LABELS:
    return np.asarray(body_keypoints.coco_to_body25(points), np.float64), _COCO_LABELS[count]
  raise FileFormatError(path, f"{where} has {count} keypoints; expected 25 (OpenPose BODY_25), 17 "
                        "(COCO-17) or 133 (COCO-WholeBody)")


def _openpose_people(data: Mapping, path: str) -> list[tuple[np.ndarray, str]]:
  people = []
  for index, person in enumerate(data["people"]):
    where = f"people[{index}]['pose_keypoints_2d']"
    if not isinstance(person, Mapping) or "pose_keypoints_2d" not in person:
      raise FileFormatError(path, f"people[{index}] has no 'pose_keypoints_2d'")
    flat = _rows(person["pose_keypoints_2d"], path, where).reshape(-1)
    if flat.size % 3:
      raise FileFormatError(path, f"{where} holds {flat.size} numbers, not x, y, c triples")
    people.append(_to_body25(flat.reshape(-1, 3), path, where))
  return people


def _instance_people(instances: Sequence, path: str) -> list[tuple[np.ndarray, str]]:
  people = []
  for index, instance in enumerate(instances):
    where = f"instance {index}"
    if not isinstance(instance, Mapping) or "keypoints" not in instance:
      raise FileFormatError(path, f"{where} has no 'keypoints'")
    points = _rows(instance["keypoints"], path, f"{where} 'keypoints'")
    if points.ndim == 3 and points.shape[0] == 1:  # mmpose sometimes nests one more level
      points = points[0]
    if points.ndim == 1:
      columns = 3 if "keypoint_scores" not in instance else 2
      if points.size % columns:
        raise FileFormatError(path, f"{where} 'keypoints' is not a list of points")
      points = points.reshape(-1, columns)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
      raise FileFormatError(path, f"{where} 'keypoints' has shape {points.shape}; expected (K, 2) "
                            "with 'keypoint_scores', or (K, 3)")
    if points.shape[1] == 2:
      if "keypoint_scores" not in instance:
        raise FileFormatError(path, f"{where} has (K, 2) 'keypoints' but no 'keypoint_scores'")
      scores = _rows(instance["keypoint_scores"], path, f"{where} 'keypoint_scores'").reshape(-1)
      if scores.shape[0] != points.shape[0]:
        raise FileFormatError(path, f"{where}: {points.shape[0]} keypoints but {scores.shape[0]} "
                              "scores")
      points = np.concatenate([points, scores[:, None]], axis=1)
    people.append(_to_body25(points, path, where))
  return people


def read_keypoint_file(path: str | os.PathLike) -> tuple[np.ndarray, str]:
  """Every person of a keypoint JSON file (OpenPose or ViTPose layout; see the module), as BODY_25.

  Returns:
    ``(keypoints, layout)``: (N, 25, 3) x, y pixels and confidence, and the input layout
    (``"openpose_body25"``, ``"coco17"`` or ``"coco_wholebody"``).

  Raises:
    FileFormatError: missing, unreadable, or neither layout.
  """
  path = require_file(path)
  data = load_json(path)
  if isinstance(data, Mapping) and isinstance(data.get("people"), list):
    people = _openpose_people(data, path)
  elif isinstance(data, list):
    people = _instance_people(data, path)
  elif isinstance(data, Mapping) and isinstance(data.get("instance_info"), list):
    people = _instance_people(data["instance_info"], path)
  else:
    raise FileFormatError(path, "not a keypoint file: expected OpenPose's {'people': [...]} or "
                          "ViTPose/mmpose's list of {'keypoints', 'keypoint_scores'} instances")
  if not people:
    return np.zeros((0, NUM_BODY_25, 3)), "empty"
  layouts = sorted({layout for _, layout in people})
  points = np.stack([p for p, _ in people])
  points[~np.isfinite(points)] = 0.0
  return points, "+".join(layouts)


def select_people(detections: np.ndarray, path: str | os.PathLike, *,
                  min_keypoints: int = MIN_KEYPOINTS_PER_PERSON,
                  min_confidence: float = MIN_CONFIDENCE) -> np.ndarray:
  """The one or two people to fit among an image's detections.

  A detection is a person when at least ``min_keypoints`` keypoints exceed ``min_confidence``
  (so a hand at the border or a face in the background is ignored); people keep the file's order.

  Args:
    detections: (N, 25, 3) BODY_25 keypoints of every detection.
    path: the keypoint file (named in errors).

  Returns:
    (P, 25, 3) with P = 1 or 2.

  Raises:
    UnsupportedImageError: nobody, or more than two people (naming the file and what to do).
  """
  counts = np.sum(np.nan_to_num(np.asarray(detections)[..., 2]) > min_confidence, axis=-1)
  people = np.asarray(detections)[counts >= min_keypoints]
  if len(people) == 0:
    raise UnsupportedImageError(
        path, f"no person found: none of its {len(detections)} detections has {min_keypoints} "
        f"keypoints with confidence above {min_confidence}")
  if len(people) > 2:
    raise UnsupportedImageError(
        path, f"holds {len(people)} people (detections with at least {min_keypoints} confident "
        "keypoints); posejax fits one or two people per image. Keep the two people in contact "
        "in the file (delete the other entries of 'people'), or crop the image")
  return people


def find_initial_estimate(image_path: str | os.PathLike, folder: str | os.PathLike | None
                          ) -> str | None:
  """The initial-estimate file of an image in ``folder`` (``INIT_NAMES``), or None."""
  if folder is None:
    return None
  stem = os.path.splitext(os.path.basename(os.fspath(image_path)))[0]
  for name in INIT_NAMES:
    candidate = os.path.join(os.fspath(folder), name.format(stem=stem))
    if os.path.isfile(candidate):
      return candidate
  return None


def _smplx_arrays(path: str) -> dict[str, np.ndarray]:
  """SMPL-X parameter arrays (P, width) from a ``.npz`` or ``.json`` file."""
  if path.lower().endswith(".json"):
    data = load_json(path)
    if isinstance(data, Mapping) and isinstance(data.get("people"), list):
      people = data["people"]
      if not people or not all(isinstance(p, Mapping) for p in people):
        raise FileFormatError(path, "'people' must be a non-empty list of parameter objects")
      names = sorted(set().union(*[set(p) for p in people]))
      missing = [n for n in names if any(n not in p for p in people)]
      if missing:
        raise FileFormatError(path, f"every person needs the same fields; some lack {missing}")
      try:
        raw = {name: [np.asarray(p[name], np.float64).reshape(-1) for p in people]
               for name in names}
      except (TypeError, ValueError) as err:
        raise FileFormatError(path, f"a person's parameter is not numbers ({err})") from None
      try:
        arrays = {name: np.stack(values) for name, values in raw.items()}
      except ValueError as err:
        raise FileFormatError(path, f"people's parameters differ in width ({err})") from None
    elif isinstance(data, Mapping):
      arrays = {}
      for name, value in data.items():
        try:
          arrays[name] = np.asarray(value, np.float64)
        except (TypeError, ValueError) as err:
          raise FileFormatError(path, f"{name!r} is not an array of numbers ({err})") from None
    else:
      raise FileFormatError(path, "expected an object of SMPL-X parameters")
  else:
    arrays = {k: np.asarray(v) for k, v in
              safe_load.load_npz(path, "SMPL-X parameters (.npz)").items()}
  arrays = {k: v for k, v in arrays.items() if k in PARAM_FIELDS}
  if "body_pose" not in arrays:
    raise FileFormatError(path, f"no 'body_pose'; SMPL-X parameters need smplx field names "
                          f"({', '.join(PARAM_FIELDS)})")
  single = np.ndim(arrays["body_pose"]) == 1
  return {name: np.asarray(value, np.float64).reshape(1 if single else np.shape(value)[0], -1)
          for name, value in arrays.items()}


def read_initial_estimate(path: str | os.PathLike, model) -> tuple[dict[str, np.ndarray], str]:
  """Every person of an initial-estimate file as SMPL-X parameters for ``model``.

  BEV / HMR2 archives: the SMPL pose is reused as SMPL-X pose (as the reference does), betas are
  zero (the SMPL to SMPL-X shape map is a licensed file) and the pelvis goes to ``cam_trans``.
  SMPL-X parameter files (smplx-named arrays, person axis first; JSON: ``{"people": [...]}`` or
  one object) are taken as they are, betas padded or cut to the model.

  Returns:
    ``(params, kind)``: smplx-named (N, width) float arrays, and ``"bev/hmr2"`` or ``"smplx"``.

  Raises:
    FileFormatError: a missing or malformed file, or parameters that do not fit the model.
  """
  path = require_file(path)
  if (path.lower().endswith(".npz")
      and "results" in safe_load.load_npz(path, "an .npz archive", objects="safe")):
    estimate = read_bev_npz(path)
    thetas = estimate["smpl_thetas"]
    arrays = {"global_orient": thetas[:, :3].copy(), "body_pose": thetas[:, 3:66].copy(),
              "betas": np.zeros((thetas.shape[0], 10))}
    # cam_trans is the pelvis position (the reference's rule); the root does not move with pose.
    try:
      arrays["transl"] = estimate["cam_trans"] - rest_root(model, arrays["betas"])
    except AttributeError as err:
      raise InvalidInputError(f"model must be a posejax.body.BodyModel ({err})") from err
    kind = "bev/hmr2"
  else:
    arrays = _smplx_arrays(path)
    kind = "smplx"
  try:
    params = params_for_model(model, arrays)
  except InvalidInputError as err:
    raise FileFormatError(path, f"parameters do not fit the body model: {err}") from None
  return {name: np.asarray(getattr(params, name), np.float64) for name in PARAM_FIELDS}, kind


def match_estimate_to_keypoints(model, params: dict[str, np.ndarray], keypoints: np.ndarray,
                                camera: Camera, path: str) -> dict[str, np.ndarray]:
  """The estimate's people in the order of the keypoint people (by projected BODY_25 joints).

  Args:
    params: smplx-named (N, width) arrays of the estimate's N people.
    keypoints: (P, 25, 3) the people to fit.
    path: the estimate file (named in errors).

  Returns:
    smplx-named (P, width) arrays; person i is the estimate closest to keypoint person i (the
    assignment with the least summed mean pixel distance over confident keypoints).

  Raises:
    UnsupportedImageError: the estimate has fewer people than the keypoints.
  """
  import jax
  from posejax import body

  available = params["body_pose"].shape[0]
  people = keypoints.shape[0]
  if available < people:
    raise UnsupportedImageError(path, f"holds {available} people but the keypoints show {people}; "
                                "give an estimate of every person, or leave the file out")
  joints = jax.jit(body.forward)(model, body.BodyParams(**params)).joints
  pixels = np.asarray(project(camera, body_keypoints.smplx_to_body25(joints)), np.float64)
  confident = np.nan_to_num(keypoints[..., 2]) > MIN_CONFIDENCE
  cost = np.zeros((people, available))
  for i in range(people):
    for j in range(available):
      gap = np.linalg.norm(pixels[j] - keypoints[i, :, :2], axis=-1)
      cost[i, j] = gap[confident[i]].mean() if confident[i].any() else 0.0
  best = min(itertools.permutations(range(available), people),
             key=lambda order: sum(cost[i, j] for i, j in enumerate(order)))
  return {name: value[list(best)] for name, value in params.items()}


def read_intrinsics(path: str | os.PathLike) -> dict[str, dict]:
  """Camera intrinsics from a JSON file: one camera for every image, or one per image stem.

  ``{"focal_length": 1200.0, "principal_point": [640, 360]}`` (the principal point is optional:
  the image centre), or ``{"<stem>": {...}, ...}``; ``focal_length`` may be ``[fx, fy]``.

  Returns:
    ``{"*": intrinsics}`` for one shared camera, else stem -> intrinsics.

  Raises:
    FileFormatError: a missing file or a malformed entry.
  """
  path = require_file(path)
  data = load_json(path)
  if not isinstance(data, Mapping):
    raise FileFormatError(path, "expected an object with 'focal_length' (pixels), or one such "
                          "object per image stem")
  entries = {"*": data} if "focal_length" in data else dict(data)
  for stem, entry in entries.items():
    if not isinstance(entry, Mapping) or "focal_length" not in entry:
      raise FileFormatError(path, f"entry {stem!r} needs 'focal_length' in pixels")
    focal = np.asarray(entry["focal_length"], np.float64).reshape(-1)
    if focal.size not in (1, 2) or not np.all(np.isfinite(focal)) or np.any(focal <= 0):
      raise FileFormatError(path, f"entry {stem!r}: focal_length must be f or [fx, fy] > 0 pixels")
    if "principal_point" in entry:
      centre = np.asarray(entry["principal_point"], np.float64).reshape(-1)
      if centre.size != 2 or not np.all(np.isfinite(centre)):
        raise FileFormatError(path, f"entry {stem!r}: principal_point must be [cx, cy] pixels")
  return entries


_EXIF_IFD = 0x8769
_FOCAL_LENGTH = 0x920A
_FOCAL_PLANE_X_RESOLUTION = 0xA20E
_FOCAL_PLANE_RESOLUTION_UNIT = 0xA210
_FOCAL_LENGTH_35MM = 0xA405
_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # EXIF resolution units: inch, cm, mm, um
_FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


def exif_focal_length_px(image_path: str | os.PathLike) -> tuple[float, str] | None:
  """The focal length in pixels that an image's EXIF data implies, or None.

  The focal length in mm times the focal-plane resolution (exact for the full-size image), else
  the 35 mm equivalent times the image diagonal over the full-frame diagonal (43.3 mm).

  Returns:
    ``(focal_px, how)`` or None when the file has neither.
  """
  from PIL import Image

  try:
    with Image.open(image_path) as image:
      width, height = image.size
      exif = image.getexif()
      tags = dict(exif.get_ifd(_EXIF_IFD)) if exif else {}
  except Exception as err:  # PIL raises many types for a bad file
    raise FileFormatError(image_path, f"cannot read the image ({type(err).__name__}: {err})"
                          ) from None
  number = lambda value: float(value) if value is not None else float("nan")
  focal_mm = number(tags.get(_FOCAL_LENGTH))
  resolution = number(tags.get(_FOCAL_PLANE_X_RESOLUTION))
  unit = _UNIT_MM.get(int(tags.get(_FOCAL_PLANE_RESOLUTION_UNIT, 2)))
  if focal_mm > 0 and resolution > 0 and unit:
    return focal_mm * resolution / unit, "exif focal length and focal-plane resolution"
  equivalent = number(tags.get(_FOCAL_LENGTH_35MM))
  if equivalent > 0:
    return (equivalent * math.hypot(width, height) / _FULL_FRAME_DIAGONAL_MM,
            "exif 35 mm equivalent focal length")
  return None


def photo_camera(image_path: str | os.PathLike, image_size: Sequence[int],
                 intrinsics: Mapping[str, dict] | None = None,
                 focal_length: float | None = None, use_exif: bool = True) -> tuple[Camera, str]:
  """The camera of one photo, and where its focal length came from.

  In order: ``intrinsics`` (``read_intrinsics``: the image's stem, else the shared ``"*"``),
  ``focal_length`` (pixels), the EXIF focal length, the reference camera (``posejax.camera``:
  ``max(W, H) / (2 tan 30 deg)``). The principal point is the image centre unless given.

  Args:
    image_size: (width, height) pixels.
    intrinsics: per-stem intrinsics, or None.
    focal_length: one focal length in pixels for every image, or None.
    use_exif: read EXIF when nothing is given.

  Returns:
    ``(camera, source)``.
  """
  width, height = (float(v) for v in image_size)
  stem = os.path.splitext(os.path.basename(os.fspath(image_path)))[0]
  centre = (width / 2.0, height / 2.0)
  entry = intrinsics.get(stem, intrinsics.get("*")) if intrinsics else None
  if entry is not None:
    focal = np.asarray(entry["focal_length"], np.float64).reshape(-1)
    centre = tuple(entry.get("principal_point", centre))
    camera = Camera.from_intrinsics(focal if focal.size == 2 else float(focal[0]), centre,
                                    (width, height))
    return camera, "intrinsics file"
  if focal_length is not None:
    return Camera.from_intrinsics(float(focal_length), centre, (width, height)), "focal length flag"
  if use_exif:
    found = exif_focal_length_px(image_path)
    if found is not None:
      return Camera.from_intrinsics(found[0], centre, (width, height)), found[1]
  return reference_camera(width, height), "default (60 degree field of view)"

