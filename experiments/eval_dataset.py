"""Evaluates posejax on a real dataset: FlickrCI3D, CHI3D, Hi4D or MOYO, as processed by BUDDI.

Reads the processed file of the reference pipeline (``<split>_optimization.pkl``), the language
model's answers (the constraints file of ``experiments/query_lmm.py``, or its answer cache), fits
the images in blocks with ``posejax.fit`` (``--slots`` at a time: each image costs its
own steps; each runs the computation of its fit alone, equal up to float rounding) and scores the initial estimate and the fit the way
the paper does (PA-MPJPE, PCC). Images without answers keep the baseline (the config's fallback).

Output in ``--out_dir``:

* ``per_image.csv``: one line per image, written as soon as its block (``--block_size``) is done.
  A killed run resumes where it stopped: images already in the file are skipped (a half-written
  last line is dropped and its image fitted again). ``seconds_per_scene`` is the block's wall time
  over its images; the first block of a process includes the compilation.
* ``summary.md`` and ``summary.csv``: the dataset means in the published layout, rewritten at the
  end of every run; ``run.json``: the settings (a later run into the same folder must match them).
* ``overlays/<image>.png`` for the first ``--overlays`` images (initial estimate | fit | side view),
  ``fits/<image>.npz`` with the fitted parameters with ``--save_fits``.

Licensed files are the user's: ``--model_path`` (SMPL-X), ``--gmm_prior`` (gmm_08.pkl),
``--joint_regressor`` (SMPLX_to_J14.pkl), ``--region_map`` (flickrci3ds_r75_rid_to_smplx_vid.pkl,
for PCC), ``--contact_regions`` (CI3D's contact_regions.json, for the coarse contact regions).
Without ``--model_path`` the SYNTHETIC default body is used; its numbers say nothing about the
method on real data and the summary says so.

  .venv/bin/python -m experiments.eval_dataset --dataset flickrci3d \\
      --processed datasets/processed/FlickrCI3D_Signatures/test_optimization.pkl \\
      --constraints out/flickr_constraints.json --model_path models/smplx/SMPLX_NEUTRAL.npz \\
      --kid_template models/smplx/smplx_kid_template.npy --gmm_prior models/gmm_08.pkl \\
      --joint_regressor models/SMPLX_to_J14.pkl \\
      --region_map models/flickrci3ds_r75_rid_to_smplx_vid.pkl \\
      --contact_regions models/contact_regions.json --out_dir out/eval_flickr --slots 64
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import os
import re
import time
from typing import Any, Sequence

import jax
import numpy as np
from absl import logging

from experiments import _cli
import posejax
from posejax import body
from posejax import data
from posejax import metrics
from posejax.body.model import PARAM_FIELDS
from posejax.config import TERMS
from posejax.config import FitConfig
from posejax.constraints import Constraints
from posejax.data import dataset_eval
from posejax.data import sample_constraints
from posejax.errors import InvalidInputError
from posejax.images import as_rgb
from posejax.io_utils import atomic_write_bytes
from posejax.io_utils import atomic_write_text
from posejax.io_utils import exclusive_run
from posejax.io_utils import refuse_changed_settings
from posejax.io_utils import read_complete_lines
from posejax.losses import priors
from posejax.viz import overlay

PRESETS: dict[str, int | None] = {"two_person": 2, "one_person": 1, "heuristic": 2,
                                  "no_contact": None}
"""``--config`` values: ``FitConfig``'s preset names, with the people each fits (None: either)."""
CSV_NAME = "per_image.csv"
DEFAULT_FALLBACK_MIN_EMPTY = {"chi3d": 2}
"""The published rule: CHI3D images fall back when at least 2 of the answers are empty."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvalSettings:
  """Everything a run depends on; each field is the flag of the same name."""

  dataset: str = _cli.option(help="Which dataset.", choices=tuple(data.processed.DATASETS))
  processed: str = _cli.option(help="The processed file (<split>_optimization.pkl).")
  out_dir: str = _cli.option(help="Folder of the results (resumed when it has some).")
  image_root: str | None = _cli.option(None, "Folder the processed file's image paths are under.")
  constraints: str | None = _cli.option(None, "Constraints file of experiments/query_lmm.py.")
  answer_cache: str | None = _cli.option(None, "Or: its answer cache (.jsonl), parsed here.")
  prompt_version: str | None = _cli.option(
      None, "With --answer_cache: only this prompt's answers.")
  lmm_model: str | None = _cli.option(None, "With --answer_cache: only this model's answers.")
  num_answers: int | None = _cli.option(20, "With --answer_cache: at most this many per image.")
  min_frequency: int | None = _cli.option(
      None, "One person: frequency filter of parsed answers.")
  trust_sides: bool = _cli.option(False, "Keep left/right written in parsed answers.")
  model_path: str | None = _cli.option(
      None, "SMPL-X model file or folder (licensed); default: the SYNTHETIC default body.")
  kid_template: str | None = _cli.option(
      None, "smplx_kid_template.npy: fit with the kid shape (BEV's 11th beta), as the reference "
      "does.")
  gmm_prior: str | None = _cli.option(None, "SMPLify's gmm_08.pkl; default: posejax's prior.")
  contact_regions: str | None = _cli.option(
      None, "CI3D contact_regions.json for the coarse contact regions; default: derived from the "
      "model.")
  region_map: str | None = _cli.option(
      None, "flickrci3ds_r75_rid_to_smplx_vid.pkl: the 75 regions of the PCC.")
  joint_regressor: str | None = _cli.option(
      None, "SMPLX_to_J14.pkl; default: the model's joints.")
  moyo_gt_dir: str | None = _cli.option(None, "MOYO: folder of the mocap .npz sequences.")
  self_contact_vertices_per_region: int | None = _cli.option(
      None, "One person: subsample regions for a faster self-contact PCC.")
  config: str = _cli.option(
      "", "FitConfig preset (default: the dataset's, two_person or one_person).",
      choices=("",) + tuple(PRESETS))
  ablate: tuple[str, ...] = _cli.option((), f"Loss terms to switch off, of {list(TERMS)}.")
  max_iters: tuple[int, ...] | None = _cli.option(
      None, "Iteration cap of every stage, or one per stage (default: the preset's 1000).")
  fallback_min_empty: int | None = _cli.option(
      None, "Fall back when this many answers are empty (default: 2 for CHI3D, else only when "
      "all are).")
  slots: int = _cli.option(16, "Scenes fitted at once (the slots of continuous batching).")
  block_size: int = _cli.option(
      256, "Images per fit call; their rows are written when it ends, so a killed run "
      "refits at most one block.")
  max_images: int | None = _cli.option(None, "Evaluate only the first images.")
  chunk_size: int = _cli.option(25, "Steps between slot swaps and progress reports.")
  overlays: int = _cli.option(0, "Write overlay PNGs of the first images.")
  save_fits: bool = _cli.option(False, "Write each image's fitted parameters (.npz).")
  fit_progress: bool = _cli.option(False, "Log the fit's progress within each block.")

  def signature(self) -> dict:
    """The settings that change the numbers: a resumed run must match them."""
    keys = ("dataset", "processed", "constraints", "answer_cache", "prompt_version", "lmm_model",
            "num_answers", "min_frequency", "trust_sides", "model_path", "kid_template",
            "gmm_prior", "contact_regions", "region_map", "joint_regressor", "moyo_gt_dir",
            "self_contact_vertices_per_region", "config", "ablate", "max_iters",
            "fallback_min_empty")
    values = dataclasses.asdict(self)
    return {k: list(values[k]) if isinstance(values[k], tuple) else values[k] for k in keys}


# ----------------------------------------------------------------------------------------------
# Loading (cached: a second run in the same process reuses the model, hence the compiled fit)


@functools.lru_cache(maxsize=4)
def load_body(model_path: str | None, kid_template: str | None, use_pca: bool = True):
  if model_path is None:
    return body.default_model(use_pca=use_pca)
  options: dict[str, Any] = {"use_pca": use_pca}
  if kid_template:
    options.update(age="kid", kid_template_path=kid_template)
  return body.load_model(model_path, **options)


@functools.lru_cache(maxsize=4)
def load_prior(path: str | None):
  return None if path is None else priors.load_gmm_prior(path)


@functools.lru_cache(maxsize=4)
def load_regions(path: str | None, model_path: str | None, kid_template: str | None):
  if path is None:
    return None
  return body.load_contact_regions(path, load_body(model_path, kid_template))


def read_samples(settings: EvalSettings, model) -> list:
  kid = getattr(model, "age", "adult") == "kid"
  samples = data.read_processed(settings.processed, settings.dataset,
                                image_root=settings.image_root, kid_scale=kid)
  if settings.max_images is not None:
    samples = samples[:settings.max_images]
  names = [s.name for s in samples]
  if len(set(names)) != len(names):
    repeated = sorted({n for n in names if names.count(n) > 1})[:5]
    raise InvalidInputError(f"{settings.processed}: sample names repeat ({repeated}); the "
                            "per-image CSV needs one name per image")
  return samples


def answer_source(settings: EvalSettings) -> dict:
  if settings.constraints and settings.answer_cache:
    raise InvalidInputError("give --constraints or --answer_cache, not both")
  if settings.constraints:
    return posejax.lmm.load_constraints_file(settings.constraints)
  if settings.answer_cache:
    return sample_constraints.answers_by_image(
        settings.answer_cache, prompt_version=settings.prompt_version, model=settings.lmm_model,
        max_answers=settings.num_answers)
  return {}


def build_config(settings: EvalSettings, people: int) -> FitConfig:
  """The preset of ``--config`` for ``people``, with the caps, ablations and fallback rule."""
  name = settings.config or ("two_person" if people == 2 else "one_person")
  if name not in PRESETS:
    raise InvalidInputError(f"--config must be one of {sorted(PRESETS)}, got {name!r}")
  if PRESETS[name] not in (None, people):
    raise InvalidInputError(f"--config={name} fits {PRESETS[name]} person(s) but the dataset has "
                            f"{people}; use no_contact (HMR2+opt) or leave --config empty")
  config = FitConfig.no_contact(people) if name == "no_contact" else getattr(FitConfig, name)()
  if settings.max_iters is not None:
    config = config.with_max_iters(*settings.max_iters)
  unknown = sorted(set(settings.ablate) - set(TERMS))
  if unknown:
    raise InvalidInputError(f"--ablate names unknown loss terms {unknown}; terms are {TERMS}")
  if settings.ablate:
    # with_weights zeroes the fallback's weights too.
    config = config.with_weights(**{term: 0.0 for term in settings.ablate}).replace(
        name=f"{config.name}-without-{'-'.join(settings.ablate)}")
  min_empty = settings.fallback_min_empty
  if min_empty is None:
    min_empty = DEFAULT_FALLBACK_MIN_EMPTY.get(settings.dataset)
  if min_empty is not None:
    config = config.replace(fallback_min_empty=int(min_empty))
  return config


# ----------------------------------------------------------------------------------------------
# The per-image CSV (appended line by line; resumable)


def csv_columns(num_stages: int) -> list[str]:
  columns = ["name", "image_id", "constraints", "fell_back", "people_without_keypoints"]
  columns += [f"iterations_stage{s + 1}" for s in range(num_stages)]
  columns += ["converged", "seconds_per_scene", "init_swapped", "fit_swapped"]
  for prefix in ("init_", "fit_"):
    columns += [prefix + c for c in dataset_eval.METRIC_COLUMNS]
  return columns


def read_done_rows(path: str, columns: Sequence[str]) -> list[dict]:
  """Rows already written; drops a half-written last line (a killed run) first."""
  content = read_complete_lines(path)
  if not content.strip():
    return []
  reader = csv.DictReader(io.StringIO(content.decode("utf-8")))
  if list(reader.fieldnames or []) != list(columns):
    raise InvalidInputError(f"{path} has other columns than this run writes; use another "
                            "--out_dir (or move the file away)")
  return list(reader)


def _cell(value) -> str:
  if isinstance(value, (bool, np.bool_)):
    return str(int(value))
  if isinstance(value, (float, np.floating)):
    return "" if not np.isfinite(value) else f"{float(value):.6g}"
  return str(value)


def _safe_name(name: str) -> str:
  return re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip() or "image"


# ----------------------------------------------------------------------------------------------
# The run


@dataclasses.dataclass
class _Tools:
  """What evaluating one image needs besides the image."""

  model: Any
  gt_model: Any
  regressor: np.ndarray
  region_vertices: np.ndarray | None
  self_contact: metrics.SelfContactIndex | None


_posed = jax.jit(body.forward)


def _vertices(model, params) -> np.ndarray:
  return np.asarray(_posed(model, params).vertices, dtype=np.float64)


def _stack_params(items):
  return jax.tree_util.tree_map(lambda *leaves: np.stack([np.asarray(x) for x in leaves]), *items)


def _ground_truth(settings: EvalSettings, sample) -> dict | None:
  if settings.dataset == "moyo":
    if settings.moyo_gt_dir is None:
      return None
    return dataset_eval.moyo_ground_truth(sample, settings.moyo_gt_dir)
  return sample.gt


def _tools(settings: EvalSettings, model, people: int) -> tuple[_Tools, list[str]]:
  notes = []
  if settings.joint_regressor:
    regressor = metrics.load_joint_regressor(settings.joint_regressor,
                                             num_vertices=model.num_vertices)
  else:
    regressor = metrics.lsp14_regressor_for(model)
    notes.append("LSP-14 joints from the model's own joint regressor (no --joint_regressor)")
  rest = np.asarray(model.v_template, dtype=np.float64)
  region_sets = None
  if settings.region_map:
    region_sets = data.read_region_vertex_map(settings.region_map, model.num_vertices)
  region_vertices, self_contact = None, None
  if people == 2:
    if region_sets is not None:
      region_vertices = metrics.fixed_region_vertices(region_sets, rest_vertices=rest)
    elif settings.dataset in ("flickrci3d", "chi3d"):
      notes.append("PCC not computed: it needs the 75-region map (--region_map)")
  gt_model = model
  if people == 1:
    gt_model = load_body(settings.model_path, None, use_pca=False)
    if settings.dataset != "moyo" or settings.moyo_gt_dir:
      sets = region_sets if region_sets is not None else body.derive_regions(model)
      if region_sets is None:
        notes.append("self-contact PCC over the model's derived coarse regions (no --region_map)")
      self_contact = metrics.build_self_contact_index(
          np.asarray(model.faces), rest, sets,
          max_vertices_per_region=settings.self_contact_vertices_per_region)
    else:
      notes.append("no ground truth: MOYO's comes from the release (--moyo_gt_dir)")
  return _Tools(model, gt_model, regressor, region_vertices, self_contact), notes


def _photo(sample) -> np.ndarray | None:
  """The sample's image for its overlay, or None (a blank canvas) when missing or mismatched."""
  if not sample.image_path or not os.path.isfile(sample.image_path):
    return None
  try:
    photo = as_rgb(sample.image_path)
  except posejax.PoseJaxError as error:
    logging.warning("overlay of %s drawn without its image: %s", sample.name, error)
    return None
  if photo.shape[:2] != tuple(sample.image_size):
    logging.warning("overlay of %s drawn without its image: the file is %dx%d pixels, the "
                    "processed file says %dx%d", sample.name, photo.shape[1], photo.shape[0],
                    sample.image_size[1], sample.image_size[0])
    return None
  return photo


def run(settings: EvalSettings) -> dict:
  """Runs (or resumes) an evaluation; returns the paths written and the two summaries.

  Two runs given the same ``out_dir`` take turns: the second waits, then resumes the first's work.
  """
  if settings.slots < 1 or settings.block_size < 1:
    raise InvalidInputError(f"--slots and --block_size must be positive, got "
                            f"{settings.slots} and {settings.block_size}")
  os.makedirs(settings.out_dir, exist_ok=True)
  with exclusive_run(settings.out_dir, "evaluation"):
    return _run_locked(settings)


def _run_locked(settings: EvalSettings) -> dict:
  run_path = refuse_changed_settings(settings.out_dir, settings.signature(), "results")

  model = load_body(settings.model_path, settings.kid_template)
  samples = read_samples(settings, model)
  if not samples:
    raise InvalidInputError(f"{settings.processed} holds no samples")
  people = samples[0].num_people
  config = build_config(settings, people)
  found = sample_constraints.constraints_for_samples(
      samples, answer_source(settings), min_frequency=settings.min_frequency,
      trust_sides=settings.trust_sides)
  sizes = Constraints.largest_sizes(found.constraints)
  tools, notes = _tools(settings, model, people)
  regions = load_regions(settings.contact_regions, settings.model_path, settings.kid_template)
  prior = load_prior(settings.gmm_prior)
  atomic_write_text(run_path, json.dumps({
      "signature": settings.signature(), "settings": dataclasses.asdict(settings),
      "config": config.to_dict(), "model_source": model.source,
      "synthetic_body": bool(model.synthetic), "images": len(samples)}, indent=1, default=str))

  columns = csv_columns(len(config.stages))
  csv_path = os.path.join(settings.out_dir, CSV_NAME)
  done_rows = read_done_rows(csv_path, columns)
  done = {row["name"] for row in done_rows}
  pending = [i for i, s in enumerate(samples) if s.name not in done]
  logging.info("%s: %d images, %d already in %s, %d to fit (batch %d, config %s)",
               settings.dataset, len(samples), len(samples) - len(pending), csv_path,
               len(pending), settings.slots, config.name)
  if model.synthetic:
    logging.warning("fitting with the SYNTHETIC default body (no --model_path): the numbers do "
                    "not measure the method on real data")

  new_file = not os.path.isfile(csv_path) or os.path.getsize(csv_path) == 0
  started = time.monotonic()
  fitted_so_far, totals = 0, {"init": [], "fit": []}
  with open(csv_path, "a", encoding="utf-8", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=columns)
    if new_file:
      writer.writeheader()
      handle.flush()
    # Blocks of images through the slots (continuous batching: each image costs its own
    # steps); every block's rows are written before the next starts, so a killed run refits one
    # block at most. One compiled fit serves every block, whatever its length.
    batches = [pending[i:i + settings.block_size]
               for i in range(0, len(pending), settings.block_size)]
    for number, batch in enumerate(batches):
      chosen = [samples[i] for i in batch]
      batch_started = time.monotonic()
      init = _stack_params([dataset_eval.params_for_model(model, s.init) for s in chosen])
      cameras = posejax.camera.stack_cameras(
          [dataset_eval.sample_camera(s, model.dtype) for s in chosen])
      stacked = Constraints.stack([found.constraints[i] for i in batch], **sizes)
      result = posejax.fit(
          np.stack([s.keypoints for s in chosen]), stacked, init=init, model=model,
          camera=cameras, config=config, pose_prior=prior, regions=regions,
          slots=settings.slots, chunk_size=settings.chunk_size, return_vertices=True,
          progress=settings.fit_progress)
      fit_vertices = np.asarray(result.vertices, dtype=np.float64)
      init_vertices = _vertices(model, init)
      seconds = (time.monotonic() - batch_started) / len(batch)
      for slot, index in enumerate(batch):
        sample = samples[index]
        row = _evaluate(settings, sample, tools, init_vertices[slot], fit_vertices[slot])
        row.update(
            name=sample.name, image_id=found.matched_ids[index], constraints=found.sources[index],
            fell_back=bool(np.asarray(result.fell_back)[slot]),
            people_without_keypoints=int(np.asarray(result.keypoints_missing)[slot].sum()),
            converged=bool(np.asarray(result.converged)[slot].all()),
            seconds_per_scene=seconds)
        for stage in range(len(config.stages)):
          row[f"iterations_stage{stage + 1}"] = int(np.asarray(result.iterations)[slot, stage])
        # The image's own files first: its row marks it done, so a run killed in between
        # fits the image again on resume instead of leaving it without them.
        if index < settings.overlays:
          overlay.save_overlay(
              os.path.join(settings.out_dir, "overlays", _safe_name(sample.name) + ".png"),
              np.asarray(model.faces), fit_vertices[slot], initial=init_vertices[slot],
              camera=dataset_eval.sample_camera(sample), image=_photo(sample),
              keypoints=sample.keypoints)
        if settings.save_fits:
          _save_fit(settings, sample.name, result, slot)
        writer.writerow({c: _cell(row.get(c, "")) for c in columns})
        handle.flush()
        for kind in totals:
          totals[kind].append(row.get(f"{kind}_pa_mpjpe", np.nan))
      fitted_so_far += len(batch)
      elapsed = time.monotonic() - started
      init_mean, fit_mean = (np.nanmean(totals[k]) if np.isfinite(totals[k]).any() else np.nan
                             for k in ("init", "fit"))
      logging.info("[%d/%d] block %d/%d: %.2f s per image (%.0f s so far, about %.0f s left); "
                   "PA-MPJPE so far: initial %.1f mm, fit %.1f mm",
                   len(samples) - len(pending) + fitted_so_far, len(samples), number + 1,
                   len(batches), seconds, elapsed,
                   elapsed / fitted_so_far * (len(pending) - fitted_so_far), init_mean, fit_mean)
  return _write_summary(settings, samples, csv_path, columns, config, model, notes)


def _evaluate(settings: EvalSettings, sample, tools: _Tools, init_vertices, fit_vertices) -> dict:
  row: dict[str, Any] = {}
  gt = _ground_truth(settings, sample)
  if gt is None:
    return row
  gt_vertices = _vertices(tools.gt_model, dataset_eval.params_for_model(tools.gt_model, gt))
  options = {"region_vertices": tools.region_vertices, "self_contact": tools.self_contact,
             "contact_pairs": sample.contact_pairs}
  for prefix, vertices in (("init_", init_vertices), ("fit_", fit_vertices)):
    values = dataset_eval.sample_metrics(vertices, gt_vertices, tools.regressor, **options)
    row.update({prefix + key: value for key, value in values.items()})
  return row


def _save_fit(settings: EvalSettings, name: str, result, slot: int) -> None:
  buffer = io.BytesIO()
  arrays = {field: np.asarray(getattr(result.params, field))[slot] for field in PARAM_FIELDS}
  np.savez_compressed(buffer, **arrays)
  atomic_write_bytes(os.path.join(settings.out_dir, "fits", _safe_name(name) + ".npz"),
                     buffer.getvalue())


def _write_summary(settings, samples, csv_path, columns, config, model, notes) -> dict:
  names = {s.name for s in samples}
  rows = [row for row in read_done_rows(csv_path, columns) if row["name"] in names]
  estimator = "HMR2" if settings.dataset == "moyo" else "BEV"
  init = dataset_eval.summarize(rows, "init_")
  fit = dataset_eval.summarize(rows, "fit_")
  methods = [(f"initial estimate ({estimator})", init), (f"posejax ({config.name})", fit)]
  sources = {label: sum(row["constraints"] == label for row in rows)
             for label in (sample_constraints.FROM_FILE, sample_constraints.FROM_ANSWERS,
                           sample_constraints.MISSING)}
  fell_back = sum(row["fell_back"] == "1" for row in rows)
  header = [
      f"{len(rows)} of {len(samples)} images of {settings.processed} evaluated",
      f"answers: {sources[sample_constraints.FROM_FILE]} from a constraints file, "
      f"{sources[sample_constraints.FROM_ANSWERS]} parsed from the cache, "
      f"{sources[sample_constraints.MISSING]} missing; {fell_back} images fell back to the "
      "baseline",
      f"config {config.name}, iteration caps {[s.max_iters for s in config.stages]}, body model "
      f"{model.source}",
  ]
  if model.synthetic:
    header.insert(0, "**SYNTHETIC default body (no --model_path): these numbers do not measure "
                  "the method on real data.**")
  text = dataset_eval.summary_markdown(f"posejax on {settings.dataset}", methods,
                                       dataset=settings.dataset, notes=header + list(notes))
  summary_md = atomic_write_text(os.path.join(settings.out_dir, "summary.md"), text)
  keys = ["images", "pa_mpjpe", "mpjpe", "pcc_images", "pcc_mean"] + list(
      dataset_eval.PCC_COLUMNS)
  table = io.StringIO()
  writer = csv.writer(table, lineterminator="\n")
  writer.writerow(["method"] + keys)
  for label, summary in methods:
    writer.writerow([label] + [_cell(summary[k]) for k in keys])
  summary_csv = atomic_write_text(os.path.join(settings.out_dir, "summary.csv"), table.getvalue())
  print(text)
  return {"csv": csv_path, "summary_md": summary_md, "summary_csv": summary_csv, "init": init,
          "fit": fit, "rows": len(rows)}


if __name__ == "__main__":
  _cli.run_script(lambda: _cli.define_flags(EvalSettings),
                  lambda: run(_cli.settings_from_flags(EvalSettings)))
