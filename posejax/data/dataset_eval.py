"""Evaluating fits on real dataset samples: parameters for a model, cameras, metrics, summaries.

The pieces ``experiments/eval_dataset.py`` wires together. Units: millimetres for joint errors,
fractions for PCC in rows and summaries (the Markdown prints percentages).
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from posejax import metrics
from posejax.body.model import PARAM_FIELDS
from posejax.body.model import BodyParams
from posejax.body.model import field_width
from posejax.camera import Camera
from posejax.camera import reference_focal_length
from posejax.data.moyo import MOYO_NAME
from posejax.data.moyo import moyo_camera_and_frame
from posejax.data.moyo import read_moyo_ground_truth
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError

PCC_COLUMNS: tuple[str, ...] = tuple(
    f"pcc_{int(round(tau * 100)):02d}cm" for tau in metrics.PCC_THRESHOLDS_M)
"""Row keys of PCC(tau), tau = 0, 5, ..., 95 cm."""

METRIC_COLUMNS: tuple[str, ...] = ("pa_mpjpe", "mpjpe", "pcc_mean") + PCC_COLUMNS
"""Row keys ``sample_metrics`` fills (NaN where a metric does not apply)."""

PUBLISHED_RESULTS: dict[str, tuple[tuple[str, float, float | None], ...]] = {
    "hi4d": (("BEV (initial estimate)", 144, None), ("Heuristic", 116, None),
             ("ProsePose", 93, None), ("BUDDI (supervised)", 89, None)),
    "flickrci3d": (("BEV (initial estimate)", 106, 64.8), ("Heuristic", 67, 77.8),
                   ("ProsePose", 58, 79.9), ("BUDDI (supervised)", 66, 81.9)),
    "chi3d": (("BEV (initial estimate)", 96, 71.4), ("Heuristic", 105, 74.1),
              ("ProsePose", 100, 75.8), ("BUDDI (supervised)", 68, 78.0)),
    "moyo": (("HMR2 (initial estimate)", 84, 83.0), ("HMR2+opt", 81, 85.2),
             ("ProsePose", 82, 87.8)),
}
"""Published test results (ProsePose, CVPR 2025): (method, PA-MPJPE mm, PCC % or None)."""

MARKDOWN_PCC_TAUS_CM: tuple[int, ...] = (5, 10, 15, 20, 30, 50)
"""PCC thresholds the Markdown summary spells out (the CSV has all of them)."""


def params_for_model(model: Any, arrays: Mapping[str, Any]) -> BodyParams:
  """A sample's parameter dict (person axis first) as ``BodyParams`` for ``model``.

  Betas and expression are fitted to the model's width: missing columns are zero, extra ones
  dropped (an adult model drops BEV's kid scale, the readers' 11th beta). Every other field must
  have the model's width; missing fields are zero (hands at the model's mean pose).

  Args:
    model: a ``posejax.body.BodyModel``.
    arrays: smplx-named arrays of shape (P, width): ``global_orient``, ``body_pose``, ``betas``,
      ``transl``, ... (``DatasetSample.init`` / ``.gt``, ``moyo_ground_truth``).

  Returns:
    ``BodyParams`` with batch shape (P,).

  Raises:
    InvalidInputError: an unknown field, a width that does not fit, non-finite values, or
      inconsistent person counts.
  """
  unknown = sorted(set(arrays) - set(PARAM_FIELDS))
  if unknown:
    raise InvalidInputError(f"unknown parameter field(s) {unknown}; fields are {PARAM_FIELDS}")
  if "body_pose" not in arrays:
    raise InvalidInputError("parameters need at least 'body_pose' (P, 63)")
  people = int(np.shape(arrays["body_pose"])[0])
  fields = {}
  for name, value in arrays.items():
    value = np.asarray(value, dtype=np.float64)
    if value.ndim != 2 or value.shape[0] != people:
      raise InvalidInputError(f"parameter {name!r} has shape {value.shape}; expected "
                              f"({people}, width)")
    if not np.all(np.isfinite(value)):
      raise InvalidInputError(f"parameter {name!r} holds NaN or infinite values")
    width = field_width(model, name)
    if name in ("betas", "expression"):  # cut or zero-padded to the model's width
      value = np.pad(value[:, :width], ((0, 0), (0, max(0, width - value.shape[1]))))
    elif value.shape[1] != width:
      hint = (" (45 values are full hand poses: load the model with use_pca=False)"
              if name.endswith("hand_pose") else "")
      raise InvalidInputError(f"parameter {name!r} has width {value.shape[1]}, the model takes "
                              f"{width}{hint}")
    fields[name] = value
  return BodyParams.create(model, batch_shape=(people,), **fields)


def sample_camera(sample: Any, dtype=jnp.float32) -> Camera:
  """The pinhole camera of a ``DatasetSample``: its focal length (0: the reference's for its
  size), principal point at the image centre; arrays of ``dtype``."""
  height, width = (float(v) for v in sample.image_size)
  if not (height > 0 and width > 0):
    raise InvalidInputError(f"sample {sample.name!r} has no image size ({sample.image_size})")
  focal = float(sample.focal_length) or reference_focal_length(width, height)
  return Camera.from_intrinsics(focal, (width / 2.0, height / 2.0), (width, height), dtype=dtype)


def moyo_sequence_file(folder: str | os.PathLike, image_name: str) -> str:
  """The mocap ``.npz`` of the sequence a MOYO image belongs to.

  ``<sequence>.npz``, ``<sequence>_stageii.npz``, or else the one ``.npz`` in ``folder`` starting
  with the sequence (the image name before ``_YOGI_Cam_``). Inferred from the release's naming,
  not verified on it.

  Raises:
    FileFormatError: no such file, or several candidates.
  """
  folder = os.fspath(folder)
  found = MOYO_NAME.match(os.path.basename(image_name))
  if found is None:
    raise FileFormatError(image_name, "not a MOYO image name (expected '..._YOGI_Cam_<c>_<f>')")
  sequence = found.group(1)
  if not os.path.isdir(folder):
    raise FileFormatError(folder, "MOYO ground-truth folder not found")
  for name in (f"{sequence}.npz", f"{sequence}_stageii.npz"):
    if os.path.isfile(os.path.join(folder, name)):
      return os.path.join(folder, name)
  candidates = sorted(n for n in os.listdir(folder)
                      if n.endswith(".npz") and n.startswith(sequence))
  if len(candidates) != 1:
    raise FileFormatError(folder, f"{len(candidates)} ground-truth files for sequence "
                          f"{sequence!r} (expected one '{sequence}*.npz'): {candidates[:5]}")
  return os.path.join(folder, candidates[0])


def moyo_ground_truth(sample: Any, folder: str | os.PathLike) -> dict[str, np.ndarray]:
  """A MOYO sample's mocap SMPL-X parameters (world frame: PA-MPJPE and the self-contact PCC
  need no camera; 45 hand values per hand: pose them with a ``use_pca=False`` model).

  Args:
    sample: the ``DatasetSample`` (its ``name`` or image path carries ``_YOGI_Cam_<c>_<frame>``).
    folder: the folder of the sequences' mocap ``.npz`` files.

  Returns:
    As ``posejax.data.read_moyo_ground_truth`` (row ``2 * frame``).
  """
  name = sample.name if MOYO_NAME.match(os.path.basename(sample.name or "")) else \
      os.path.basename(sample.image_path)
  _, frame = moyo_camera_and_frame(name)
  return read_moyo_ground_truth(moyo_sequence_file(folder, name), 2 * frame)


def sample_metrics(pred_vertices, gt_vertices, regressor: np.ndarray, *,
                   contact_pairs: np.ndarray | None = None,
                   region_vertices: np.ndarray | None = None,
                   self_contact: metrics.SelfContactIndex | None = None) -> dict[str, float]:
  """The paper's per-image numbers as one flat row.

  Two people: ``pa_mpjpe`` is the joint PA-MPJPE over both people's 14 LSP joints (better person
  order), ``mpjpe`` the mean of the two people's MPJPE, PCC over the annotated region pairs (with
  ``contact_pairs`` and ``region_vertices``). One person: PA-MPJPE, MPJPE and the self-contact PCC
  (with ``self_contact``).

  Args:
    pred_vertices, gt_vertices: (P, V, 3) predicted and ground-truth meshes, metres.
    regressor: (14, V) LSP-14 regressor.
    contact_pairs: (K, 2) annotated region pairs (two people), or None.
    region_vertices: (R, M) fixed vertices per region for the two-person PCC.
    self_contact: precomputed index for the one-person PCC, or None.

  Returns:
    ``METRIC_COLUMNS`` -> float (NaN where a metric does not apply), plus ``swapped`` (1.0 when
    the better order swapped the people, two people only).
  """
  pred = np.asarray(pred_vertices, dtype=np.float64)
  gt = np.asarray(gt_vertices, dtype=np.float64)
  if pred.ndim != 3 or pred.shape[0] not in (1, 2) or pred.shape != gt.shape:
    raise InvalidInputError(f"pred_vertices {pred.shape} and gt_vertices {gt.shape} must both be "
                            "(P, V, 3) with P = 1 or 2")
  row = dict.fromkeys(METRIC_COLUMNS, math.nan)
  if pred.shape[0] == 2:
    use_pcc = contact_pairs is not None and region_vertices is not None \
        and np.size(contact_pairs) > 0
    result = metrics.evaluate_two_person(
        pred, gt, regressor, contact_pairs=contact_pairs if use_pcc else None,
        region_vertices=region_vertices if use_pcc else None)
    row["pa_mpjpe"] = float(result["joint_pa_mpjpe"])
    row["mpjpe"] = float(np.mean(result["mpjpe"]))
    row["swapped"] = float(bool(result["swapped"]))
  else:
    result = metrics.evaluate_one_person(pred[0], gt[0], regressor, self_contact=self_contact)
    row["pa_mpjpe"] = float(result["pa_mpjpe"])
    row["mpjpe"] = float(result["mpjpe"])
  if "pcc" in result:
    curve = np.asarray(result["pcc"], dtype=np.float64)
    row.update(zip(PCC_COLUMNS, map(float, curve)))
    row["pcc_mean"] = float(np.mean(curve))
  return row


def _float(value: Any) -> float:
  if value is None or (isinstance(value, str) and not value.strip()):
    return math.nan
  try:
    return float(value)
  except (TypeError, ValueError):
    return math.nan


def summarize(rows: Sequence[Mapping[str, Any]], prefix: str = "") -> dict[str, float]:
  """Dataset means of per-image rows (values may be floats or the strings of a CSV).

  Args:
    rows: per-image rows holding ``prefix + column`` for ``METRIC_COLUMNS``.
    prefix: e.g. ``"init_"`` or ``"fit_"``.

  Returns:
    ``images``; ``pa_mpjpe`` and ``mpjpe`` (mean over images where finite, mm); ``pcc_images``
    (images with a PCC), ``pcc_mean`` and each ``PCC_COLUMNS`` value (mean over those images,
    fractions; NaN when none has a PCC).
  """
  out: dict[str, float] = {"images": float(len(rows))}
  for column in ("pa_mpjpe", "mpjpe"):
    values = np.array([_float(r.get(prefix + column)) for r in rows], dtype=np.float64)
    finite = values[np.isfinite(values)]
    out[column] = float(finite.mean()) if finite.size else math.nan
  curves = np.array([[_float(r.get(prefix + c)) for c in PCC_COLUMNS] for r in rows],
                    dtype=np.float64).reshape(len(rows), len(PCC_COLUMNS))
  out["pcc_images"] = float((~np.isnan(curves).any(axis=1)).sum())
  per_tau, mean = (metrics.summarize_pcc(curves) if len(rows)
                   else (np.full(len(PCC_COLUMNS), np.nan), math.nan))
  out["pcc_mean"] = float(mean)
  out.update(zip(PCC_COLUMNS, map(float, per_tau)))
  return out


def format_number(value: float, scale: float = 1.0, digits: int = 1) -> str:
  """``value * scale`` with ``digits`` decimals, or a dash when missing or not finite."""
  return "–" if value is None or not np.isfinite(value) else f"{value * scale:.{digits}f}"


def summary_markdown(title: str, methods: Sequence[tuple[str, Mapping[str, float]]], *,
                     dataset: str | None = None, notes: Sequence[str] = ()) -> str:
  """The published table layout (PA-MPJPE, PCC) of some methods' summaries, as Markdown.

  Args:
    methods: (label, ``summarize`` output) pairs, in table order.
    dataset: adds the published numbers for this dataset (``PUBLISHED_RESULTS``) when known.
    notes: lines printed under the heading (run settings, warnings).
  """
  lines = [f"# {title}", ""] + [f"- {note}" for note in notes] + ([""] if notes else [])
  lines += ["| method | images | PA-MPJPE (mm) | MPJPE (mm) | PCC (%) | images with PCC |",
            "|---|---|---|---|---|---|"]
  for label, summary in methods:
    lines.append(f"| {label} | {int(summary['images'])} | {format_number(summary['pa_mpjpe'])} | "
                 f"{format_number(summary['mpjpe'])} | {format_number(summary['pcc_mean'], 100)} | "
                 f"{int(summary['pcc_images'])} |")
  if any(summary["pcc_images"] > 0 for _, summary in methods):
    taus = [f"pcc_{cm:02d}cm" for cm in MARKDOWN_PCC_TAUS_CM]
    lines += ["", "PCC(tau) in %:", "",
              "| method | " + " | ".join(f"{cm} cm" for cm in MARKDOWN_PCC_TAUS_CM) + " |",
              "|---|" + "---|" * len(taus)]
    for label, summary in methods:
      cells = " | ".join(format_number(summary[t], 100) for t in taus)
      lines.append(f"| {label} | {cells} |")
  if dataset in PUBLISHED_RESULTS:
    lines += ["", f"Published results on {dataset} (ProsePose, CVPR 2025; test split, real "
              "SMPL-X, GPT-4V answers):", "", "| method | PA-MPJPE (mm) | PCC (%) |",
              "|---|---|---|"]
    for label, error, pcc in PUBLISHED_RESULTS[dataset]:
      lines.append(f"| {label} | {error:g} | {'–' if pcc is None else f'{pcc:g}'} |")
  return "\n".join(lines) + "\n"
