"""Readers for the processed dataset pickles of the BUDDI / ProsePose pipeline.

The reference pipeline writes one pickle per split (``<processed>/<split>_optimization.pkl``;
MOYO's image-folder loader writes the same layout with one person): a list of per-image dicts,
per-person arrays stacked person first. Keys, verified from the reference code
(sanjayss34/prosepose, muelea/buddi):

==============================  ============================================================
key                              meaning (P people)
==============================  ============================================================
``imgname``, ``imgpath``         image file name and path (relative to the reference's root)
``img_height``, ``img_width``    pixels; ``fl`` the focal length in pixels (60 degree FOV)
``openpose``, ``vitpose``        (P, 135, 3) or (P, 25, 3): BODY_25 first, then hands, face
``vitpose_human_idx``            (P,) ViTPose detection per person, -1 when unmatched
``bev_smplx_global_orient``      (P, 3) initial estimate (BEV's SMPL pose used as SMPL-X)
``bev_smplx_body_pose``          (P, 63)
``bev_smplx_betas``              (P, 10) SMPL-X betas converted from BEV's SMPL shape
``bev_smplx_scale``              (P,) kid blend weight (the 11th beta of the ``age='kid'`` body)
``bev_smplx_transl``             (P, 3) metres
``contact_map``                  (75, 75) bool, region of person 0 x region of person 1
``hhc_contacts_region_ids``      list of [region on person 0, region on person 1]
``contact_index``                which annotated pair of the image (FlickrCI3D)
FlickrCI3D ``pgt_smplx_*``       pseudo-ground truth: betas, global_orient, body_pose, transl,
                                 scale
CHI3D ``*_cam``, ``body_pose``,  ground truth, each (P, 1, ...) (one frame):
``betas``, ``scale``             ``global_orient_cam``, ``transl_cam`` in the camera frame
CHI3D ``is_contact_frame``,      the annotated frame (only it has detections), and the name the
``img_out_fn``                   reference gives its results
Hi4D ``*_cam_smplx``,            ground truth: ``global_orient_cam_smplx``, ``transl_cam_smplx``,
``body_pose_smplx``,             ``body_pose_smplx``, ``betas_smplx``
``betas_smplx``
==============================  ============================================================

Inferred from the writing code, not seen in a real file: the shapes of FlickrCI3D's
``pgt_smplx_*`` (read as (P, ...) after flattening) and the float dtypes (any numeric dtype is
accepted). Values may be numpy arrays, torch tensors (reading them needs torch) or nested lists.
The 2D keypoints follow the reference's choice (:func:`select_body25`).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import numpy as np

from posejax.body.keypoints import NUM_BODY_25
from posejax.body.regions import NUM_CI3D_REGIONS
from posejax.camera import reference_focal_length
from posejax.data.files import load_pickle
from posejax.data.files import to_numpy
from posejax.data.sample import DatasetSample
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError

DATASETS = ("flickrci3d", "chi3d", "hi4d", "moyo")

ANKLE_AGREEMENT = 5.0
"""Squared (x, y, confidence) distance under which ViTPose's and OpenPose's ankles agree."""

_BODY25_RIGHT_ANKLE, _BODY25_RIGHT_BIG_TOE = 11, 22
_BODY25_LEFT_ANKLE, _BODY25_LEFT_BIG_TOE = 14, 19

_EXTRA_KEYS = ("contact_index", "hhc_contacts_human_ids", "flickr_bbox", "bbox_h0", "bbox_h1",
               "openpose_human_idx", "bev_human_idx", "vitpose_human_idx", "vitposeplus_human_idx",
               "information_missing", "bev_missing", "has_infant", "is_contact_frame",
               "bev_smplx_scale", "img_out_fn", "afov_horizontal")


class _Item:
  """One dict of a processed file, with error messages that name the file, item and key."""

  def __init__(self, item: Any, path: str, index: int):
    if not isinstance(item, Mapping):
      raise FileFormatError(path, f"item {index} is a {type(item).__name__}, expected a dict")
    self.item = item
    self.path = path
    label = item.get("imgname", "")
    self.where = f"item {index}" + (f" ({label})" if label else "")

  def error(self, problem: str) -> FileFormatError:
    return FileFormatError(self.path, f"{self.where}: {problem}")

  def has(self, key: str) -> bool:
    return key in self.item and self.item[key] is not None

  def raw(self, key: str) -> Any:
    if not self.has(key):
      raise self.error(f"missing key {key!r} (keys: {sorted(map(str, self.item))})")
    return to_numpy(self.item[key])

  def scalar(self, key: str, kind: Callable = float):
    value = np.asarray(self.raw(key))
    if value.size != 1:
      raise self.error(f"key {key!r} should be a single number, has shape {value.shape}")
    try:
      number = float(value.reshape(()))
    except (TypeError, ValueError):
      raise self.error(f"key {key!r} should be a number, got {value.reshape(())!r:.40}") from None
    if not np.isfinite(number):
      raise self.error(f"key {key!r} should be a finite number, got {number}")
    return kind(number)

  def array(self, key: str, people: int, tail: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    """The value of ``key`` as a (people, *tail) array; a size-1 frame axis is dropped."""
    try:
      value = np.asarray(self.raw(key), dtype=dtype)
    except (TypeError, ValueError) as err:
      raise self.error(f"key {key!r} is not numeric ({err})") from err
    expected = (people,) + tuple(tail)
    if value.size != int(np.prod(expected)) or value.ndim == 0 or value.shape[0] != people:
      raise self.error(f"key {key!r} has shape {value.shape}; expected {expected}")
    return value.reshape(expected)

  def first_present(self, *keys: str) -> str:
    """The first of ``keys`` the item has; the last one when it has none (reported if read)."""
    return next((key for key in keys if self.has(key)), keys[-1])


def select_body25(openpose: np.ndarray, vitpose: np.ndarray | None = None,
                  vitpose_index: np.ndarray | None = None) -> np.ndarray:
  """The reference's choice of 2D keypoints per person, in BODY_25 order.

  ViTPose where it matched the person, OpenPose where it did not (index -1) or, for two people,
  for both when ViTPose matched the same detection twice; then OpenPose's big toe replaces
  ViTPose's for each foot whose ankle the two detectors agree on.

  Args:
    openpose: (P, N >= 25, 3) OpenPose keypoints (pixels, confidence).
    vitpose: (P, N >= 25, 3) ViTPose keypoints in OpenPose order, or None.
    vitpose_index: (P,) ViTPose detection index per person (-1: unmatched), or None.

  Returns:
    (P, 25, 3) keypoints.
  """
  openpose = np.asarray(openpose, dtype=np.float64)[:, :NUM_BODY_25]
  if vitpose is None:
    return openpose.copy()
  chosen = np.asarray(vitpose, dtype=np.float64)[:, :NUM_BODY_25].copy()
  num_people = openpose.shape[0]
  if vitpose_index is None:
    unmatched = ~np.any(chosen[..., 2] > 0, axis=1)
  else:
    vitpose_index = np.asarray(vitpose_index).reshape(num_people)
    unmatched = vitpose_index == -1
    if num_people == 2 and np.unique(vitpose_index).size == 1:
      unmatched[:] = True
  chosen[unmatched] = openpose[unmatched]
  for ankle, toe in ((_BODY25_RIGHT_ANKLE, _BODY25_RIGHT_BIG_TOE),
                     (_BODY25_LEFT_ANKLE, _BODY25_LEFT_BIG_TOE)):
    agree = np.sum((chosen[:, ankle] - openpose[:, ankle])**2, axis=1) < ANKLE_AGREEMENT
    chosen[agree, toe] = openpose[agree, toe]
  return chosen


def _keypoints(item: _Item, people: int) -> np.ndarray:
  def body(key):
    value = np.asarray(item.raw(key), dtype=np.float64)
    if value.ndim != 3 or value.shape[0] != people or value.shape[1] < NUM_BODY_25 \
        or value.shape[2] != 3:
      raise item.error(f"key {key!r} has shape {value.shape}; expected ({people}, >=25, 3)")
    return value

  openpose = body("openpose")
  vitpose = body("vitpose") if item.has("vitpose") else None
  index = (item.array("vitpose_human_idx", people, (), np.int64)
           if item.has("vitpose_human_idx") else None)
  return select_body25(openpose, vitpose, index)


def _smplx_params(item: _Item, people: int, prefix: str, suffix: str = "",
                  with_scale: bool = True, rename: Mapping[str, str] | None = None
                  ) -> dict[str, np.ndarray]:
  """global_orient, body_pose, betas (+ kid scale), transl stored as ``prefix + name + suffix``."""
  rename = dict(rename or {})

  def key(name):
    return rename.get(name, f"{prefix}{name}{suffix}")

  params = {name: item.array(key(name), people, (width,))
            for name, width in (("global_orient", 3), ("body_pose", 63), ("transl", 3))}
  betas_value = np.asarray(item.raw(key("betas")), dtype=np.float64)
  num_betas = betas_value.size // people if betas_value.size % people == 0 else 0
  if num_betas < 10 or betas_value.shape[:1] != (people,):
    raise item.error(f"key {key('betas')!r} has shape {betas_value.shape}; expected ({people}, 10)")
  betas = betas_value.reshape(people, num_betas)[:, :10]
  if with_scale and item.has(key("scale")):
    scale = item.array(key("scale"), people, ())
    betas = np.concatenate([betas, scale[:, None]], axis=1)
  params["betas"] = betas
  return params


def _gt_flickrci3d(item: _Item, people: int, kid: bool):
  if not item.has("pgt_smplx_body_pose"):
    return None
  return _smplx_params(item, people, "pgt_smplx_", with_scale=kid)


def _gt_chi3d(item: _Item, people: int, kid: bool):
  if not item.has("body_pose"):
    return None
  rename = {"global_orient": item.first_present("global_orient_cam", "global_orient"),
            "transl": item.first_present("transl_cam", "transl")}
  gt = _smplx_params(item, people, "", with_scale=kid, rename=rename)
  for name, width in (("jaw_pose", 3), ("leye_pose", 3), ("reye_pose", 3), ("expression", 10)):
    if item.has(name):
      gt[name] = item.array(name, people, (width,))
  return gt


def _gt_hi4d(item: _Item, people: int, kid: bool):
  del kid  # Hi4D's ground truth is an adult SMPL-X fit
  if not item.has("body_pose_smplx"):
    return None
  rename = {"global_orient": item.first_present("global_orient_cam_smplx", "global_orient_smplx"),
            "transl": item.first_present("transl_cam_smplx", "transl_smplx")}
  return _smplx_params(item, people, "", "_smplx", with_scale=False, rename=rename)


_GROUND_TRUTH = {"flickrci3d": _gt_flickrci3d, "chi3d": _gt_chi3d, "hi4d": _gt_hi4d,
                 "moyo": lambda item, people, kid: None}


def _contacts(item: _Item) -> tuple[np.ndarray | None, np.ndarray | None]:
  pairs = None
  if item.has("hhc_contacts_region_ids"):
    try:
      pairs = np.asarray(item.raw("hhc_contacts_region_ids"), dtype=np.int64).reshape(-1, 2)
    except (TypeError, ValueError) as err:
      raise item.error(f"'hhc_contacts_region_ids' is not a list of [a, b] pairs ({err})") from err
    if pairs.size and (pairs.min() < 0 or pairs.max() >= NUM_CI3D_REGIONS):
      raise item.error(f"'hhc_contacts_region_ids' holds ids outside 0..{NUM_CI3D_REGIONS - 1}")
  contact_map = None
  if item.has("contact_map"):
    contact_map = np.asarray(item.raw("contact_map")).astype(bool)
    if contact_map.shape != (NUM_CI3D_REGIONS, NUM_CI3D_REGIONS):
      raise item.error(f"'contact_map' has shape {contact_map.shape}; expected (75, 75)")
  if pairs is None and contact_map is not None:
    pairs = np.argwhere(contact_map).astype(np.int64)
  if contact_map is None and pairs is not None:
    contact_map = np.zeros((NUM_CI3D_REGIONS, NUM_CI3D_REGIONS), dtype=bool)
    contact_map[pairs[:, 0], pairs[:, 1]] = True
  return pairs, contact_map


def _name(item: _Item) -> str:
  if item.has("img_out_fn"):
    return str(item.raw("img_out_fn"))
  stem = os.path.splitext(str(item.raw("imgname")))[0]
  index = int(item.scalar("contact_index", int)) if item.has("contact_index") else 0
  return f"{stem}_{index}"


def sample_from_item(item: Mapping[str, Any], dataset: str, path: str = "<memory>",
                     index: int = 0, image_root: str | os.PathLike | None = None,
                     kid_scale: bool = True) -> DatasetSample:
  """One processed-file dict as a :class:`DatasetSample` (see the module docstring for keys).

  Args:
    dataset: one of ``DATASETS``; decides where the ground truth is.
    path, index: the file it came from and its position there (for error messages).
    image_root: folder that relative image paths are joined to.
    kid_scale: append the kid blend weight as an 11th beta where the file has one (the reference
      fits with SMPL-X ``age='kid'``); False keeps 10 betas.

  Raises:
    FileFormatError: a required key is missing or has the wrong shape.
  """
  if dataset not in DATASETS:
    raise InvalidInputError(f"dataset must be one of {DATASETS}, got {dataset!r}")
  entry = _Item(item, path, index)
  openpose = np.asarray(entry.raw("openpose"))
  if openpose.ndim != 3 or openpose.shape[0] < 1:
    raise entry.error(f"key 'openpose' has shape {openpose.shape}; expected (P, >=25, 3)")
  people = int(openpose.shape[0])
  height = entry.scalar("img_height", int)
  width = entry.scalar("img_width", int)
  if height < 1 or width < 1:
    raise entry.error(f"the image size must be positive, got {width} x {height} pixels")
  focal = entry.scalar("fl") if entry.has("fl") else reference_focal_length(width, height)
  if focal <= 0:
    raise entry.error(f"key 'fl' (focal length) must be positive pixels, got {focal}")
  image_path = str(entry.raw(entry.first_present("imgpath", "imgname")))
  if image_root is not None and not os.path.isabs(image_path):
    image_path = os.path.join(os.fspath(image_root), image_path)
  pairs, contact_map = _contacts(entry)
  extras = {key: entry.raw(key) for key in _EXTRA_KEYS if entry.has(key)}
  extras = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in extras.items()}
  return DatasetSample(
      keypoints=_keypoints(entry, people),
      init=_smplx_params(entry, people, "bev_smplx_", with_scale=kid_scale),
      gt=_GROUND_TRUTH[dataset](entry, people, kid_scale), contact_pairs=pairs,
      contact_map=contact_map, extras=extras, image_path=image_path, name=_name(entry),
      dataset=dataset, image_size=(height, width), focal_length=float(focal))


def read_processed(path: str | os.PathLike, dataset: str,
                   image_root: str | os.PathLike | None = None, kid_scale: bool = True,
                   contact_frames_only: bool = True) -> list[DatasetSample]:
  """Reads a processed pickle of the reference pipeline into samples.

  Args:
    path: e.g. ``datasets/processed/FlickrCI3D_Signatures/val_optimization.pkl``.
    dataset: ``"flickrci3d"`` (pseudo-ground truth where present), ``"chi3d"``, ``"hi4d"`` (no
      contact annotation) or ``"moyo"`` (one person, HMR2 initial estimate in the
      ``bev_smplx_*`` keys; ground truth from ``posejax.data.read_moyo_ground_truth``).
    image_root, kid_scale: see :func:`sample_from_item`.
    contact_frames_only: skip CHI3D's frames around the annotated one (no detections), as the
      reference does.

  Returns:
    The samples, in file order.

  Raises:
    FileFormatError: missing file, wrong layout, or a malformed item (named with its key).
  """
  path = os.fspath(path)
  data = load_pickle(path)
  if not isinstance(data, (list, tuple)):
    raise FileFormatError(path, f"expected a list of per-image dicts, got {type(data).__name__}")
  samples = []
  for index, item in enumerate(data):
    if dataset == "chi3d" and contact_frames_only and isinstance(item, Mapping) \
        and not bool(item.get("is_contact_frame", True)):
      continue
    samples.append(sample_from_item(item, dataset, path, index, image_root, kid_scale))
  return samples
