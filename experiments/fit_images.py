"""From a folder of photos to fitted meshes in one command (README, "Your own photos").

For every image ``<stem>.jpg|jpeg|png`` of ``--images``: read its 2D keypoints (OpenPose BODY_25,
or ViTPose COCO-17 / COCO-WholeBody JSON, ``<stem>.json`` or ``<stem>_keypoints.json``), pick the
one or two people, find its camera (``--intrinsics`` / ``--focal_length``, else EXIF, else the
reference camera), take its initial estimate from ``--init_dir`` (BEV / HMR2 ``<stem>_0.08.npz``,
SMPL-X ``<stem>.npz`` or ``<stem>.json``) or make one from the keypoints, get the language model's
contact answers (asked through the answer cache, replayed with ``--offline``, or read from
``--constraints``), fit (``--block_size`` images read at a time, those of one people count fitted
together through ``posejax.fit`` with slots), and write ``<out_dir>/<stem>/``: ``fit.glb``, ``fit.obj``,
``params.npz``, ``params.json``, ``overlay.png`` (initial estimate | fit | side view) and
``answers.json``. ``<out_dir>/summary.md`` shows a thumbnail and the status of every image
(fitted, fell back, failed and why); it is rewritten after each image.

Resumable: an image's files are written before its line in ``<out_dir>/progress.jsonl``; a rerun
skips the images with a "fitted" or "fell back" line and tries the failed ones again (answers
already paid for come from the cache). One bad image (a missing keypoint file, three people, a
refusal with ``--on_refusal=fail``) is recorded as failed and never stops the run.

  .venv/bin/python -m experiments.fit_images --images photos/ --out_dir out/photos \\
      --base_url http://localhost:8000/v1 --lmm_model Qwen/Qwen2-VL-7B-Instruct
  .venv/bin/python -m experiments.fit_images --images photos/ --out_dir out/photos --offline
  .venv/bin/python -m experiments.fit_images --images photos/ --out_dir out/photos \\
      --constraints out/photos_constraints.json      # answers from experiments/query_lmm.py
"""

from __future__ import annotations

import dataclasses
import json
import logging as std_logging
import os
import time
from typing import Any

from absl import logging

from experiments import _cli
import posejax
from posejax import lmm
from posejax import keypoint_init
from posejax import photos
from posejax.data import photo_files
from posejax.data.dataset_eval import format_number
from posejax.config import FitConfig
from posejax.errors import InvalidInputError
from posejax.images import as_rgb
from posejax.io_utils import atomic_write_text
from posejax.io_utils import exclusive_run
from posejax.io_utils import refuse_changed_settings
from posejax.io_utils import read_complete_lines
from posejax.viz import overlay

PROGRESS_NAME = "progress.jsonl"
DONE = (photos.FITTED, photos.FELL_BACK)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PhotoSettings(_cli.LmmOptions):
  """Everything a run depends on; each field is the flag of the same name."""

  images: str = _cli.option(help="Folder of photos (.jpg, .jpeg, .png).")
  out_dir: str = _cli.option(help="Folder of the results (resumed when it has some).")
  keypoints_dir: str | None = _cli.option(
      None, "Folder of the keypoint JSON files (<stem>.json or <stem>_keypoints.json); default: "
      "the image folder.")
  init_dir: str | None = _cli.option(
      None, "Folder of initial estimates (<stem>_0.08.npz from BEV / HMR2, or SMPL-X <stem>.npz "
      "/ <stem>.json); default: made from the keypoints.")
  intrinsics: str | None = _cli.option(
      None, "JSON camera intrinsics, one for all images or one per stem: "
      "{\"focal_length\": f, \"principal_point\": [cx, cy]}.")
  focal_length: float | None = _cli.option(None, "Focal length in pixels for every image.")
  use_exif: bool = _cli.option(True, "Read the focal length from EXIF when none is given.")
  constraints: str | None = _cli.option(
      None, "Answers from a constraints file (experiments/query_lmm.py) instead of asking the "
      "model.")
  cache: str | None = _cli.option(None, "The answer cache; default <out_dir>/answers.cache.jsonl.")
  on_refusal: str = _cli.option(
      "fall_back", "When every answer is a refusal: fit without answers (fall back), or record "
      "the image as failed.", choices=("fall_back", "fail"))
  model_path: str | None = _cli.option(
      None, "SMPL-X model file (licensed); default: the SYNTHETIC default body.")
  max_iters: tuple[int, ...] = _cli.option(
      (1000,), "Iteration cap of every fit stage, or one per stage.")
  slots: int = _cli.option(16, "Photos fitted at once (continuous batching slots).")
  block_size: int = _cli.option(
      64, "Photos read, then fitted, then written together; a killed run loses at most one "
      "block's fits.")
  init_iters: int = _cli.option(
      100, "Iteration cap of each stage of the keypoint-only fit that makes an initial estimate "
      "(images without one).")
  min_keypoints: int = _cli.option(
      photo_files.MIN_KEYPOINTS_PER_PERSON,
      "A detection is a person with at least this many confident keypoints.")
  thumbnail_width: int = _cli.option(480, "Width of the summary's thumbnails, pixels.")
  compilation_cache: str | None = _cli.option(
      None, "Keep compiled fits here (a rerun skips compilation).")

  def signature(self) -> dict:
    """The settings that change the results: a resumed run must match them."""
    keys = ("images", "keypoints_dir", "init_dir", "intrinsics", "focal_length", "use_exif",
            "constraints", "lmm_model", "n", "temperature", "max_tokens", "detail", "margin",
            "max_side", "trust_sides", "on_refusal", "model_path", "max_iters", "init_iters",
            "min_keypoints")
    values = dataclasses.asdict(self)
    return {key: list(values[key]) if isinstance(values[key], tuple) else values[key]
            for key in keys}


@dataclasses.dataclass
class _Tools:
  """What every image of a run shares."""

  model: Any
  intrinsics: dict | None
  constraints: dict | None
  cache: lmm.AnswerCache | None
  client: Any
  sampling: lmm.SamplingSettings


def _check(settings: PhotoSettings) -> None:
  if settings.constraints and settings.offline:
    raise InvalidInputError("give --constraints or --offline (replay the answer cache), not both")
  if settings.on_refusal not in ("fall_back", "fail"):
    raise InvalidInputError(f"--on_refusal must be fall_back or fail, got {settings.on_refusal!r}")
  if min(settings.max_iters) < 0 or settings.init_iters < 0 or settings.n < 1:
    raise InvalidInputError("--max_iters and --init_iters must be >= 0 and --n >= 1")
  if settings.slots < 1 or settings.block_size < 1:
    raise InvalidInputError("--slots and --block_size must be >= 1")


def run(settings: PhotoSettings) -> dict:
  """Fits (or resumes fitting) every image of ``settings.images``; returns the records.

  Two runs given the same ``out_dir`` take turns: the second waits, then resumes the first's work.
  """
  _check(settings)
  if settings.compilation_cache:
    posejax.enable_compilation_cache(settings.compilation_cache)
  images = photo_files.image_files(settings.images)
  os.makedirs(settings.out_dir, exist_ok=True)
  with exclusive_run(settings.out_dir, "photo fits"):
    return _run_locked(settings, images)


def _check_resume(settings: PhotoSettings) -> None:
  run_path = refuse_changed_settings(settings.out_dir, settings.signature(), "fits")
  atomic_write_text(run_path, json.dumps({"signature": settings.signature(),
                                          "settings": dataclasses.asdict(settings)}, indent=1))


def read_records(path: str) -> dict[str, dict]:
  """The latest progress record of every image (stem -> record); drops a killed run's half line."""
  records = {}
  for line in read_complete_lines(path).decode("utf-8").splitlines():
    if line.strip():
      record = json.loads(line)
      records[record["stem"]] = record
  return records


def _run_locked(settings: PhotoSettings, images: list[str]) -> dict:
  _check_resume(settings)
  progress_path = os.path.join(settings.out_dir, PROGRESS_NAME)
  records = read_records(progress_path)
  stem = lambda path: os.path.splitext(os.path.basename(path))[0]
  pending = [p for p in images if records.get(stem(p), {}).get("status") not in DONE]
  logging.info("%d images in %s: %d done, %d to fit", len(images), settings.images,
               len(images) - len(pending), len(pending))
  if not pending:
    _write_summary(settings, images, records)
    return records

  model = (posejax.body.load_model(settings.model_path) if settings.model_path
           else posejax.body.default_model())
  if model.synthetic:
    logging.warning("fitting with the SYNTHETIC default body (no --model_path): a licence-free "
                    "stand-in for SMPL-X")
  sampling = lmm.SamplingSettings(model=settings.lmm_model, temperature=settings.temperature,
                                  max_tokens=settings.max_tokens, detail=settings.detail)
  cache = client = None
  constraints = None
  if settings.constraints:
    constraints = lmm.load_constraints_file(settings.constraints)
  else:
    cache = lmm.AnswerCache(settings.cache or os.path.join(settings.out_dir,
                                                          "answers.cache.jsonl"))
    if not settings.offline:
      client = lmm.LMMClient(lmm.ClientConfig(base_url=settings.base_url,
                                              api_key_env=settings.api_key_env))
  tools = _Tools(model=model, intrinsics=(photo_files.read_intrinsics(settings.intrinsics)
                                          if settings.intrinsics else None),
                 constraints=constraints, cache=cache, client=client, sampling=sampling)
  started = time.monotonic()
  done = len(images) - len(pending)
  try:
    with open(progress_path, "a", encoding="utf-8") as handle:
      for first in range(0, len(pending), settings.block_size):
        block = [_prepare_image(settings, tools, path)
                 for path in pending[first:first + settings.block_size]]
        _fit_block(settings, tools, block)
        for image in block:
          record = _finish_image(settings, tools, image)
          _save_thumbnail(settings, image.path, record)
          # The image's files are all written: its line marks it done.
          handle.write(json.dumps(record) + "\n")
          handle.flush()
          records[record["stem"]] = record
          _write_summary(settings, images, records)
          done += 1
          note = f": {record['reason']}" if record["reason"] else ""
          log = logging.warning if record["status"] == photos.FAILED else logging.info
          log("[%d/%d] %s %s%s (%.1f s; %.0f s so far)", done, len(images), record["image"],
              record["status"], note, record["seconds"], time.monotonic() - started)
  finally:
    if cache is not None:
      cache.close()
  return records


@dataclasses.dataclass
class _Image:
  """One image on its way through a block: read, fitted, written."""

  path: str
  record: dict
  seconds: float = 0.0
  photo: photos.PhotoInput | None = None  # None once it failed
  picture: Any = None
  facts: dict = dataclasses.field(default_factory=dict)
  fit: photos.PhotoFit | None = None


def _failed(image: _Image, error: Exception) -> None:
  """Records ``error`` as the image's failure; a bug (not the user's input) is logged in full."""
  if isinstance(error, posejax.PoseJaxError):
    reason = str(error)
  else:
    logging.exception("%s failed unexpectedly", image.path, exc_info=error)
    reason = f"unexpected {type(error).__name__}: {error}"
  image.record.update(status=photos.FAILED, reason=reason)
  image.photo = None


def _timed(image: _Image, step, *args) -> None:
  """Runs ``step(*args)``, adding its time to the image's; an error fails the image, the run goes
  on."""
  began = time.monotonic()
  try:
    step(*args)
  except Exception as error:  # noqa: BLE001 (each image's failure is recorded, see _failed)
    _failed(image, error)
  image.seconds += time.monotonic() - began


def _prepare_image(settings: PhotoSettings, tools: _Tools, image_path: str) -> _Image:
  """Reads one image's keypoints, camera, initial estimate and answers."""
  stem = os.path.splitext(os.path.basename(image_path))[0]
  image = _Image(path=image_path, record={"image": os.path.basename(image_path), "stem": stem,
                                          "status": photos.FAILED, "reason": ""})
  _timed(image, _read_image, settings, tools, image)
  return image


def _read_image(settings: PhotoSettings, tools: _Tools, image: _Image) -> None:
  model, record = tools.model, image.record
  keypoint_path = photo_files.find_keypoint_file(image.path, settings.keypoints_dir)
  detections, layout = photo_files.read_keypoint_file(keypoint_path)
  keypoints = photo_files.select_people(detections, keypoint_path,
                                        min_keypoints=settings.min_keypoints)
  record.update(people=int(keypoints.shape[0]), keypoint_file=keypoint_path,
                keypoint_layout=layout)
  image.picture = as_rgb(image.path)
  height, width = image.picture.shape[:2]
  camera, camera_source = photo_files.photo_camera(
      image.path, (width, height), tools.intrinsics, settings.focal_length, settings.use_exif)
  record["camera"] = camera_source

  init_path = photo_files.find_initial_estimate(image.path, settings.init_dir)
  if init_path is not None:
    arrays, kind = photo_files.read_initial_estimate(init_path, model)
    arrays = photo_files.match_estimate_to_keypoints(model, arrays, keypoints, camera, init_path)
    init = posejax.body.BodyParams.create(model, (keypoints.shape[0],), **arrays)
    record["initial_estimate"] = f"{kind} file {os.path.basename(init_path)}"
  else:
    init = keypoint_init.init_from_keypoints(model, keypoints, camera,
                                             max_iters=settings.init_iters, path=keypoint_path)
    record["initial_estimate"] = "from keypoints"

  answers = None
  if tools.constraints is not None:
    entry = tools.constraints.get(stem := record["stem"])
    if entry is not None:
      answers = photos.answers_from_file(entry, keypoints.shape[0], settings.constraints)
    record["answers"] = ("constraints file" if entry is not None
                         else f"none: no entry {stem!r} in {settings.constraints}")
  else:
    answers = photos.photo_answers(
        image.path, keypoints, cache=tools.cache, settings=tools.sampling, client=tools.client,
        n=settings.n, offline=settings.offline, margin=settings.margin,
        max_side=settings.max_side, trust_sides=settings.trust_sides)
    record["answers"] = f"{answers.source} ({answers.fetched} new of {settings.n})"
  photos.refusal_reason(answers, image.path, settings.on_refusal)
  image.photo = photos.PhotoInput(keypoints=keypoints, camera=camera, init=init, answers=answers,
                                  image_path=image.path)
  image.facts = {key: record[key] for key in ("image", "keypoint_file", "keypoint_layout",
                                              "camera", "initial_estimate", "answers")}
  image.facts["synthetic_body"] = bool(model.synthetic)


def _fit_block(settings: PhotoSettings, tools: _Tools, block: list[_Image]) -> None:
  """Fits the block's readable images, those of each people count together; when such a fit
  fails, each of its images alone (so that one bad image fails alone)."""
  groups: dict[int, list[_Image]] = {}
  for image in block:
    if image.photo is not None:
      groups.setdefault(image.record["people"], []).append(image)
  for people, group in sorted(groups.items()):
    config = FitConfig.for_people(people).with_max_iters(*settings.max_iters)

    def fit(members):
      began = time.monotonic()
      fits = photos.fit_photos(tools.model, [m.photo for m in members], config=config,
                               slots=settings.slots)
      share = (time.monotonic() - began) / len(members)
      for member, fitted in zip(members, fits):
        member.fit = fitted
        member.seconds += share

    try:
      fit(group)
    except Exception as error:  # noqa: BLE001 (retried image by image, each failure recorded)
      if len(group) == 1:
        _failed(group[0], error)
      else:
        for image in group:
          _timed(image, fit, [image])


def _finish_image(settings: PhotoSettings, tools: _Tools, image: _Image) -> dict:
  """Writes a fitted image's files; returns its record."""
  if image.fit is not None:
    _timed(image, _write_image, settings, tools, image)
  record = dict(image.record, seconds=round(image.seconds, 2))
  return record


def _write_image(settings: PhotoSettings, tools: _Tools, image: _Image) -> None:
  fitted, record = image.fit, image.record
  folder = os.path.join(settings.out_dir, record["stem"])
  paths = photos.save_photo_outputs(folder, tools.model, fitted, image=image.picture,
                                    camera=image.photo.camera, keypoints=image.photo.keypoints,
                                    answers=image.photo.answers, facts=image.facts)
  record.update(status=fitted.status, reason=fitted.reason,
                keypoint_error_px=fitted.keypoint_error_px,
                fit_status=str(fitted.result.status[0]),
                outputs={k: os.path.relpath(v, settings.out_dir) for k, v in paths.items()})


def _save_thumbnail(settings: PhotoSettings, image_path: str, record: dict) -> None:
  """The summary's picture of the image: its overlay, or the photo itself when it failed."""
  source = os.path.join(settings.out_dir, record["stem"], "overlay.png")
  if record["status"] == photos.FAILED or not os.path.isfile(source):
    source = image_path
  try:
    picture = as_rgb(source)
  except posejax.PoseJaxError:
    return  # an unreadable photo: its row says why, without a picture
  path = os.path.join(settings.out_dir, "thumbs", record["stem"] + ".png")
  overlay.write_png(path, photos.thumbnail(picture, settings.thumbnail_width))
  record["thumbnail"] = os.path.relpath(path, settings.out_dir)


def _cell(text: str) -> str:
  return str(text).replace("|", "\\|").replace("\n", " ")


def _write_summary(settings: PhotoSettings, images: list[str], records: dict) -> str:
  stems = [os.path.splitext(os.path.basename(p))[0] for p in images]
  counts = {status: sum(records.get(s, {}).get("status") == status for s in stems)
            for status in photos.STATUSES}
  pending = sum(s not in records for s in stems)
  lines = [
      f"# Fits of {settings.images}",
      "",
      f"{len(images)} images: {counts[photos.FITTED]} fitted, {counts[photos.FELL_BACK]} fell "
      f"back (fitted without contact answers), {counts[photos.FAILED]} failed, {pending} not yet "
      "done.",
      "",
      "| image | status | people | initial estimate | answers | keypoint error px (initial / "
      "fit) | why |",
      "|---|---|---:|---|---|---|---|",
  ]
  for stem, path in zip(stems, images):
    record = records.get(stem)
    if record is None:
      lines.append(f"| {_cell(os.path.basename(path))} | not yet done | | | | | |")
      continue
    picture = (f"![{_cell(stem)}]({record['thumbnail']})<br>" if record.get("thumbnail") else "")
    errors = record.get("keypoint_error_px") or {}
    error_text = (" / ".join(format_number(errors[k]) for k in ("initial", "fit")) if errors
                  else "")
    folder = f" ([files]({stem}/))" if record["status"] != photos.FAILED else ""
    lines.append(
        f"| {picture}{_cell(record['image'])}{folder} | {record['status']} | "
        f"{record.get('people', '')} | {_cell(record.get('initial_estimate', ''))} | "
        f"{_cell(record.get('answers', ''))} | {error_text} | {_cell(record['reason'])} |")
  lines.append("")
  return atomic_write_text(os.path.join(settings.out_dir, "summary.md"), "\n".join(lines))


# ----------------------------------------------------------------------------------------------
# Flags


def main() -> None:
  std_logging.getLogger("posejax").setLevel(std_logging.INFO)
  settings = _cli.settings_from_flags(PhotoSettings)
  records = run(settings)
  failed = [r for r in records.values() if r["status"] == photos.FAILED]
  print(f"{len(records)} images: {len(records) - len(failed)} fitted, {len(failed)} failed; see "
        f"{os.path.join(settings.out_dir, 'summary.md')}")


if __name__ == "__main__":
  _cli.run_script(lambda: _cli.define_flags(PhotoSettings), main)
