"""From photos with 2D keypoints to fitted meshes: answers (``photo_answers``), fit
(``fit_photos``) and files (``save_photo_outputs``); the library side of
``experiments/fit_images.py`` (initial estimates without BEV / HMR2: ``posejax.keypoint_init``).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from posejax import lmm
from posejax.body import keypoints as body_keypoints
from posejax.body.forward import forward
from posejax.body.model import PARAM_FIELDS
from posejax.body.model import BodyModel
from posejax.body.model import BodyParams
from posejax.camera import Camera
from posejax.camera import stack_cameras
from posejax.config import FitConfig
from posejax.constraints import Constraints
from posejax.constraints import json_rows
from posejax.errors import InvalidInputError
from posejax.errors import LMMRefusalError
from posejax.errors import UnsupportedImageError
from posejax.fitting import fit
from posejax.images import as_rgb
from posejax.io_utils import atomic_write_bytes
from posejax.io_utils import atomic_write_text
from posejax.keypoint_init import body25_error_px
from posejax.result import FitResult

_forward = jax.jit(forward)


# ----------------------------------------------------------------------------------------------
# Answers


@dataclasses.dataclass(frozen=True)
class PhotoAnswers:
  """The language model's answers about one photo and what they became."""

  constraints: Constraints
  answers: tuple[str, ...]  # verbatim (empty when read from a constraints file)
  samples: list  # the parsed rows per answer
  report: dict  # ``ParseReport.as_dict()``
  source: str  # "asked" (some answers fetched now), "cache" or "constraints file"
  fetched: int  # answers fetched from the model in this call
  cache_key: str  # "" for a constraints file
  prompt_version: str
  model: str
  refused: bool  # every answer was a refusal

  def to_json(self) -> dict:
    """The JSON-ready record written as the photo's ``answers.json``."""
    return {"source": self.source, "model": self.model, "prompt_version": self.prompt_version,
            "cache_key": self.cache_key, "fetched": self.fetched, "refused": self.refused,
            "answers": list(self.answers), "samples": self.samples, "report": self.report,
            "constraints": json.loads(self.constraints.to_json())}


def photo_answers(image_path: str, keypoints: np.ndarray, *, cache: lmm.AnswerCache,
                  settings: lmm.SamplingSettings, client=None, n: int = 20, offline: bool = False,
                  margin: float = 0.2, max_side: int = 1024,
                  trust_sides: bool = False) -> PhotoAnswers:
  """Asks the model about one photo (cropped to its people), through the answer cache.

  Args:
    image_path: the photo.
    keypoints: (P, 25, 3) the people fitted; the crop is their keypoint box grown by ``margin``.
    cache: the answer cache (answers are appended as they arrive; cached ones are never asked
      again).
    settings: model and sampling settings.
    client: an ``LMMClient``; None with ``offline``.
    n: answers per photo.
    offline: answer from the cache only.
    margin, max_side: the crop (``posejax.lmm.prepare_image``).
    trust_sides: keep left/right written in the answers.

  Raises:
    LMMError: offline with answers missing from the cache, or a request that failed for good.
  """
  people = int(keypoints.shape[0])
  prompt = lmm.prompt_for(people)
  item = lmm.QueryItem(image_id=os.path.splitext(os.path.basename(image_path))[0],
                       image=lmm.prepare_image(image_path, keypoints=keypoints, margin=margin,
                                               max_side=max_side))
  found = lmm.query(item, prompt=prompt, settings=settings, cache=cache, client=client, n=n,
                    offline=offline)
  samples, report = lmm.parse_samples(found.answers, people, trust_sides=trust_sides)
  constraints = Constraints.from_pairs(samples, people)
  return PhotoAnswers(
      constraints=constraints, answers=tuple(found.answers), samples=json_rows(samples),
      report=report.as_dict(), source="asked" if found.fetched else "cache",
      fetched=int(found.fetched), cache_key=found.key, prompt_version=found.prompt_version,
      model=found.model, refused=bool(report.answers and report.refusals == report.answers))


def answers_from_file(entry: lmm.ImageConstraints, people: int, path: str) -> PhotoAnswers:
  """A constraints-file entry (``posejax.lmm.load_constraints_file``) as ``PhotoAnswers``.

  Raises:
    UnsupportedImageError: the entry is for another number of people than the keypoints show.
  """
  if entry.people != people:
    raise UnsupportedImageError(path, f"the constraints of {entry.image_id!r} are for "
                                f"{entry.people} people but its keypoints show {people}")
  answers = int(entry.report.get("answers", 0))
  return PhotoAnswers(
      constraints=entry.constraints, answers=(), samples=entry.samples, report=entry.report,
      source="constraints file", fetched=0, cache_key="", prompt_version=entry.prompt_version,
      model=entry.model,
      refused=bool(answers and entry.report.get("refusals", 0) == answers))


# ----------------------------------------------------------------------------------------------
# The fit of one photo


FITTED = "fitted"
FELL_BACK = "fell back"
FAILED = "failed"
STATUSES = (FITTED, FELL_BACK, FAILED)


@dataclasses.dataclass(frozen=True)
class PhotoFit:
  """One photo's fit."""

  result: FitResult  # batch shape (1,)
  initial: BodyParams  # (P,) the fit started from
  fitted: BodyParams  # (P,)
  initial_vertices: np.ndarray  # (P, V, 3) metres
  fitted_vertices: np.ndarray  # (P, V, 3) metres
  status: str  # FITTED or FELL_BACK (no usable answers: the config's fallback preset)
  reason: str  # why it fell back ("" when fitted)
  keypoint_error_px: dict  # {"initial": ..., "fit": ...} mean pixel distance to the keypoints


@dataclasses.dataclass(frozen=True)
class PhotoInput:
  """What the fit of one photo reads."""

  keypoints: np.ndarray  # (P, 25, 3) BODY_25 pixels and confidence
  camera: Camera
  init: BodyParams  # (P,) initial estimate, camera frame
  answers: PhotoAnswers | None  # None: the fallback preset
  image_path: str = "image"  # named in messages


def refusal_reason(answers: PhotoAnswers | None, image_path: str, on_refusal: str) -> str:
  """Why a photo is fitted without its answers ("" when they are used).

  Raises:
    LMMRefusalError: every answer was a refusal and ``on_refusal="fail"``.
  """
  if on_refusal not in ("fall_back", "fail"):
    raise InvalidInputError(f"on_refusal must be 'fall_back' or 'fail', got {on_refusal!r}")
  if answers is None:
    return "no answers given; fitted with the fallback preset"
  if not answers.refused:
    return ""
  message = (f"the model refused to answer about this image ({answers.report.get('refusals')} "
             f"of {answers.report.get('answers')} answers were refusals)")
  if on_refusal == "fail":
    raise LMMRefusalError(image_path, message + "; try another model or prompt, or give its "
                          "answers in a constraints file")
  return message + "; fitted without contact answers (the fallback preset)"


def fit_photos(model: BodyModel, photos: Sequence[PhotoInput], *,
               config: FitConfig | None = None, slots: int = 16) -> list[PhotoFit]:
  """Fits photos of the same number of people to their keypoints and the model's answers.

  Through ``posejax.fit`` (``slots`` at a time). A photo whose answers are all
  refusals, all empty or not given is fitted with the config's fallback preset.

  Args:
    model: the body model.
    photos: the photos, each with P people (the same P).
    config: the fit config; ``FitConfig.for_people(P)`` when None.
    slots: photos fitted at once (at most the number of photos).

  Returns:
    One ``PhotoFit`` per photo, in order.
  """
  if not photos:
    return []
  people = {np.shape(photo.keypoints)[0] for photo in photos}
  if len(people) != 1:
    raise InvalidInputError(f"fit_photos fits photos of one people count at a time, got "
                            f"{sorted(people)}")
  (people,) = people
  config = FitConfig.for_people(people) if config is None else config
  reasons = [refusal_reason(photo.answers, photo.image_path, "fall_back") for photo in photos]
  empty = Constraints.from_pairs([[]], people)
  constraints = [empty if reason else photo.answers.constraints
                 for photo, reason in zip(photos, reasons)]
  stack = lambda *leaves: np.stack([np.asarray(leaf) for leaf in leaves])
  result = fit(
      np.stack([np.asarray(photo.keypoints, np.float64) for photo in photos]), constraints,
      init=jax.tree_util.tree_map(stack, *[photo.init for photo in photos]), model=model,
      camera=stack_cameras([photo.camera for photo in photos]), config=config,
      slots=min(int(slots), len(photos)))
  fits = []
  for index, (photo, reason) in enumerate(zip(photos, reasons)):
    own = jax.tree_util.tree_map(lambda x: x[index:index + 1], result)
    fell_back = bool(np.asarray(own.fell_back)[0])
    if fell_back and not reason:
      report = photo.answers.report
      reason = (f"no usable contact in the answers ({report.get('empty_answers', 0)} of "
                f"{report.get('answers', 0)} empty, {report.get('declared_empty', 0)} said no "
                "contact); fitted with the fallback preset")
    fitted = jax.tree_util.tree_map(lambda x: jnp.asarray(x)[0], own.params)
    # The initial and fitted people in one forward pass: one compiled program per people count.
    both = jax.tree_util.tree_map(lambda a, b: jnp.stack([jnp.asarray(a, b.dtype), b]),
                                  photo.init, fitted)
    posed = _forward(model, both)
    initial_vertices, fitted_vertices = np.asarray(posed.vertices, np.float64)
    initial_points, fitted_points = body_keypoints.smplx_to_body25(posed.joints)
    keypoints = np.asarray(photo.keypoints, np.float64)
    fits.append(PhotoFit(
        result=own, initial=photo.init, fitted=fitted, initial_vertices=initial_vertices,
        fitted_vertices=fitted_vertices, status=FELL_BACK if fell_back else FITTED, reason=reason,
        keypoint_error_px={
            "initial": body25_error_px(initial_points, keypoints, photo.camera),
            "fit": body25_error_px(fitted_points, keypoints, photo.camera)}))
  return fits


# ----------------------------------------------------------------------------------------------
# Files


def params_dict(params: BodyParams) -> dict[str, np.ndarray]:
  """smplx-named (P, width) float arrays of ``params``."""
  return {name: np.asarray(getattr(params, name), np.float64) for name in PARAM_FIELDS}


def save_photo_outputs(folder: str, model: BodyModel, photo: PhotoFit, *, image, camera: Camera,
                       keypoints, answers: PhotoAnswers | None, facts: dict) -> dict[str, str]:
  """Writes one photo's files into ``folder``, each atomically: ``fit.glb``, ``fit.obj``,
  ``params.npz`` (fitted smplx-named arrays), ``params.json`` (fitted and initial parameters,
  camera, status, ``facts``), ``overlay.png`` and, when there are answers, ``answers.json``.

  Args:
    folder: the photo's output folder (created).
    model: the body model.
    photo: the fit.
    image: (H, W, 3) uint8 photo.
    camera: its camera.
    keypoints: (P, 25, 3) the keypoints fitted.
    answers: the answers used, or None.
    facts: JSON-ready extras for ``params.json`` (sources of the keypoints, estimate, camera).

  Returns:
    Name -> path of every file written.
  """
  from posejax.viz import export
  from posejax.viz import overlay

  os.makedirs(folder, exist_ok=True)
  faces = np.asarray(model.faces)
  paths = {
      "glb": export.export_meshes(os.path.join(folder, "fit.glb"), photo.fitted_vertices, faces),
      "obj": export.export_meshes(os.path.join(folder, "fit.obj"), photo.fitted_vertices, faces),
  }
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **params_dict(photo.fitted))
  paths["npz"] = atomic_write_bytes(os.path.join(folder, "params.npz"), buffer.getvalue())
  record = {
      "units": "axis-angle radians; transl metres; camera frame x right, y down, z forward",
      "people": int(np.shape(keypoints)[0]), "status": photo.status, "reason": photo.reason,
      "fit": params_dict(photo.fitted), "initial": params_dict(photo.initial),
      # Pixels; a photo's camera has identity extrinsics.
      "camera": {name: np.asarray(getattr(camera, name), np.float64)
                 for name in ("focal_length", "principal_point", "image_size")},
      "keypoint_error_px": photo.keypoint_error_px,
      "fit_summary": photo.result.summary(), **facts,
  }
  paths["json"] = atomic_write_text(os.path.join(folder, "params.json"),
                                    json.dumps(record, indent=1, default=_json_default))
  paths["overlay"] = overlay.save_overlay(
      os.path.join(folder, "overlay.png"), faces, photo.fitted_vertices,
      initial=photo.initial_vertices, camera=camera, image=image, keypoints=keypoints)
  if answers is not None:
    paths["answers"] = atomic_write_text(os.path.join(folder, "answers.json"),
                                         json.dumps(answers.to_json(), indent=1,
                                                    default=_json_default))
  return paths


def _json_default(value: Any):
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, (np.floating, np.integer, np.bool_)):
    return value.item()
  raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def thumbnail(image: np.ndarray, width: int = 480) -> np.ndarray:
  """(h, width, 3) uint8: ``image`` (read with ``posejax.images.as_rgb``) shrunk to ``width``
  pixels wide (never enlarged)."""
  from PIL import Image

  picture = Image.fromarray(as_rgb(image))
  if picture.width > width:
    picture = picture.resize((width, max(1, round(picture.height * width / picture.width))),
                             Image.Resampling.LANCZOS)
  return np.asarray(picture)
