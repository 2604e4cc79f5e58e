"""The SYNTHETIC benchmark's tables: per-method means, paired differences with bootstrap
intervals and the share of the heuristic-to-oracle gap closed, over the per-scene rows of
``benchmark.scene_metrics``, as Markdown and CSV."""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Mapping, Sequence

import numpy as np

from posejax.data import dataset_eval
from posejax.data.benchmark import ABLATIONS
from posejax.data.benchmark import GAP_COLUMNS
from posejax.data.benchmark import GAP_THRESHOLDS_MM
from posejax.data.benchmark import BenchmarkMethod
from posejax.data.dataset_eval import format_number

MARKDOWN_PCC_TAUS_CM: tuple[int, ...] = (5, 10, 20)
"""PCC thresholds the Markdown table spells out (the CSV has all twenty)."""

def summarize_method(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
  """``dataset_eval.summarize`` of a method's per-scene rows plus the means of ``fell_back``,
  ``iterations`` (Adam steps, both stages), ``converged`` and ``GAP_COLUMNS``."""
  out = dataset_eval.summarize(rows)
  for key in ("fell_back", "iterations", "converged") + GAP_COLUMNS:
    values = [float(r[key]) for r in rows if r.get(key) is not None]
    out[key] = float(np.nanmean(values)) if values else math.nan
  return out


def results_markdown(title: str, methods: Sequence[BenchmarkMethod],
                     summaries: Mapping[str, Mapping[str, float]], people: int, *,
                     notes: Sequence[str] = ()) -> str:
  """The benchmark table as Markdown (main rows, then ablations), with PCC(tau) columns.

  Args:
    methods: the rows in order; methods without a summary are printed as missing.
    summaries: method name -> ``summarize_method`` output.
    people: 1 or 2 (PCC is the two-person PCC or the self-contact PCC).
    notes: lines printed under the heading.
  """
  pcc = "PCC" if people == 2 else "self-contact PCC"
  taus = [f"pcc_{cm:02d}cm" for cm in MARKDOWN_PCC_TAUS_CM]
  lines = [f"# {title}", ""] + [f"- {note}" for note in notes] + ([""] if notes else [])
  header = (["method", "scenes", "PA-MPJPE (mm)", "MPJPE (mm)", f"{pcc} mean (%)"]
            + [f"{pcc} {cm} cm" for cm in MARKDOWN_PCC_TAUS_CM]
            + ["true-pair gap (mm)"] + [f"gap < {t} mm (%)" for t in GAP_THRESHOLDS_MM]
            + ["fell back", "Adam steps (both stages)"])
  for group in ("main", "ablation"):
    chosen = [m for m in methods if m.group == group]
    if not chosen:
      continue
    if group == "ablation":
      lines += ["", "Ablations:", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in chosen:
      summary = summaries.get(method.name)
      if summary is None:
        lines.append(f"| {method.label} | " + " | ".join(["–"] * (len(header) - 1)) + " |")
        continue
      fit = method.config is not None
      cells = [method.label, str(int(summary["images"])), format_number(summary["pa_mpjpe"]),
               format_number(summary["mpjpe"]), format_number(summary["pcc_mean"], 100)]
      cells += [format_number(summary[t], 100) for t in taus]
      cells += [format_number(summary.get("gap_mm"))] + [format_number(summary.get(c), 100)
                                                    for c in GAP_COLUMNS[1:]]
      fell_back = summary["fell_back"]
      cells += [f"{100 * fell_back:.0f} %" if fit and np.isfinite(fell_back) else "–",
                format_number(summary["iterations"], 1, 0) if fit else "–"]
      lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


CSV_COLUMNS: tuple[str, ...] = (
    ("people", "method", "label", "group", "scenes", "pa_mpjpe", "mpjpe", "pcc_images", "pcc_mean")
    + dataset_eval.PCC_COLUMNS + GAP_COLUMNS
    + ("fell_back", "iterations", "converged", "synthetic"))
"""Columns of ``results_csv``."""


def results_csv(tables: Sequence[tuple[int, Sequence[BenchmarkMethod],
                                       Mapping[str, Mapping[str, float]]]]) -> str:
  """The ``(people, methods, summaries)`` tables as one CSV of ``CSV_COLUMNS``, a line per
  person count and method (PCC as fractions; ``synthetic`` always 1)."""
  out = io.StringIO()
  writer = csv.writer(out, lineterminator="\n")
  writer.writerow(CSV_COLUMNS)
  for people, methods, summaries in tables:
    for method in methods:
      summary = summaries.get(method.name)
      if summary is None:
        continue
      values = {"people": people, "method": method.name, "label": method.label,
                "group": method.group, "scenes": int(summary["images"]), "synthetic": 1}
      for key in CSV_COLUMNS:
        if key not in values:
          value = summary.get(key, math.nan)
          values[key] = "" if value is None or not np.isfinite(value) else f"{float(value):.6g}"
      writer.writerow([values[key] for key in CSV_COLUMNS])
  return out.getvalue()


PAIRED_COMPARISONS: dict[int, tuple[tuple[str, str], ...]] = {
    2: (("oracle", "heuristic"), ("oracle", "no_contact"), ("posejax_n20", "heuristic"),
        ("posejax_n20", "heuristic_placement"), ("posejax_n20", "no_contact"),
        ("posejax_n20", "oracle"), ("posejax_n1", "posejax_n5"), ("posejax_n5", "posejax_n20"))
       + tuple((name, "posejax_n20") for name, _, _ in ABLATIONS),
    1: (("oracle", "no_contact"), ("posejax_n20", "no_contact"), ("posejax_n20", "oracle"),
        ("posejax_n1", "posejax_n5"), ("posejax_n5", "posejax_n20")),
}
"""People -> (A, B) method names compared scene by scene in the tables (two people: each
ablation against the full posejax N = 20 too; pairs with a method not run are left out)."""

PAIRED_METRICS: dict[int, tuple[tuple[str, str, float], ...]] = {
    2: (("pa_mpjpe", "PA-MPJPE (mm)", 1.0), ("pcc_mean", "PCC mean (points)", 100.0),
        ("gap_mm", "true-pair gap (mm)", 1.0)),
    1: (("pa_mpjpe", "PA-MPJPE (mm)", 1.0), ("gap_mm", "true-pair gap (mm)", 1.0),
        ("gap_within_20mm", "pairs < 20 mm (points)", 100.0)),
}
"""People -> (row key, label, scale) of the paired columns."""


def paired_difference(a: np.ndarray, b: np.ndarray, *, resamples: int = 10000,
                      seed: int = 0) -> dict[str, float]:
  """Mean of ``a - b`` over scenes with a 95% percentile bootstrap interval.

  Scenes are resampled with their pair of values, so the spread both methods share cancels.

  Args:
    a, b: (S,) per-scene values of two methods on the same scenes (NaN pairs are dropped).
    resamples, seed: the number of bootstrap resamples and their seed.

  Returns:
    ``mean``, ``low``, ``high`` (the interval), ``lower`` / ``higher`` (scenes where a < b / a > b)
    and ``scenes``.
  """
  difference = np.asarray(a, np.float64) - np.asarray(b, np.float64)
  difference = difference[np.isfinite(difference)]
  if difference.size == 0:
    return {"mean": math.nan, "low": math.nan, "high": math.nan, "lower": 0, "higher": 0,
            "scenes": 0}
  draws = np.random.default_rng(seed).integers(0, difference.size, (resamples, difference.size))
  low, high = np.percentile(difference[draws].mean(axis=1), [2.5, 97.5])
  return {"mean": float(difference.mean()), "low": float(low), "high": float(high),
          "lower": int((difference < 0).sum()), "higher": int((difference > 0).sum()),
          "scenes": int(difference.size)}


def interval_text(d: Mapping[str, float], scale: float = 1.0) -> str:
  """``"+1.2 [-0.3, +2.8] (5 / 11)"``: a paired difference, its interval and lower / higher."""
  if not d["scenes"]:
    return "–"
  return (f"{scale * d['mean']:+.1f} [{scale * d['low']:+.1f}, {scale * d['high']:+.1f}] "
          f"({d['lower']} / {d['higher']})")


def gap_closed(method: np.ndarray, baseline: np.ndarray, target: np.ndarray, *,
               resamples: int = 10000, seed: int = 0) -> dict[str, float]:
  """The fraction of the baseline-to-target gap a method closes, with a 95% bootstrap interval.

  ``mean(baseline - method) / mean(baseline - target)``: 1 when the method is as good as the
  target (the oracle) on average, 0 when no better than the baseline (the heuristic); it serves
  an error and a score alike. Scenes are resampled with their three values.

  Args:
    method, baseline, target: (S,) per-scene values on the same scenes (scenes with a NaN are
      dropped).
    resamples, seed: as ``paired_difference``.

  Returns:
    ``mean``, ``low``, ``high`` (fractions) and ``scenes``; NaN where the target does not differ
    from the baseline on average.
  """
  values = np.stack([np.asarray(v, np.float64) for v in (method, baseline, target)])
  values = values[:, np.all(np.isfinite(values), axis=0)]
  scenes = values.shape[1]
  nan = {"mean": math.nan, "low": math.nan, "high": math.nan, "scenes": scenes}
  closed, whole = values[1] - values[0], values[1] - values[2]
  if scenes == 0 or whole.mean() == 0:
    return nan
  draws = np.random.default_rng(seed).integers(0, scenes, (resamples, scenes))
  with np.errstate(divide="ignore", invalid="ignore"):
    ratios = closed[draws].mean(axis=1) / whole[draws].mean(axis=1)
  low, high = np.nanpercentile(ratios, [2.5, 97.5])
  return {"mean": float(closed.mean() / whole.mean()), "low": float(low), "high": float(high),
          "scenes": scenes}


def gap_closed_markdown(rows: Mapping[str, Mapping[str, Mapping[str, Any]]], people: int, *,
                        method: str = "posejax_n20", baseline: str = "heuristic",
                        target: str = "oracle") -> str:
  """One line per paired metric: the share of the baseline-to-target gap ``method`` closes.

  ``rows`` maps method name -> scene id -> per-scene row; the result is an empty string when one
  of the three methods was not run.
  """
  if any(name not in rows for name in (method, baseline, target)):
    return ""
  lines = []
  for key, label, _ in PAIRED_METRICS[people]:
    d = gap_closed(*scene_values(rows, (method, baseline, target), key))
    text = ("–" if not np.isfinite(d["mean"]) else
            f"{100 * d['mean']:.0f}% [{100 * d['low']:.0f}, {100 * d['high']:.0f}]")
    lines.append(f"- {label.split(' (')[0]}: {method} closes {text} of the {baseline}-to-{target} "
                 f"gap ({d['scenes']} scenes)")
  return "\n".join(lines) + "\n"


def paired_markdown(rows: Mapping[str, Mapping[str, Mapping[str, Any]]], people: int,
                    comparisons: Sequence[tuple[str, str]] | None = None) -> str:
  """The paired comparisons of a run as a Markdown table.

  Args:
    rows: method name -> scene id -> per-scene row (``scene_metrics`` plus the fit's fields).
    people: 1 or 2 (picks ``PAIRED_COMPARISONS`` and ``PAIRED_METRICS``).
    comparisons: (A, B) pairs (default ``PAIRED_COMPARISONS[people]``); pairs with a method
      missing are left out.

  Returns:
    One line per pair, each cell ``A - B`` mean [95% interval] (scenes lower / higher).
  """
  columns = PAIRED_METRICS[people]
  lines = ["| A vs B | scenes | " + " | ".join(f"{label}, A - B" for _, label, _ in columns)
           + " |", "|" + "---|" * (len(columns) + 2)]
  for a, b in comparisons or PAIRED_COMPARISONS[people]:
    if a not in rows or b not in rows:
      continue
    common = set(rows[a]) & set(rows[b])
    cells = [interval_text(paired_difference(*scene_values(rows, (a, b), key)), scale)
             for key, _, scale in columns]
    lines.append(f"| {a} vs {b} | {len(common)} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def scene_values(rows: Mapping[str, Mapping[str, Mapping[str, Any]]], methods: Sequence[str],
                 key: str) -> list[np.ndarray]:
  """Per method, an (S,) array of ``key`` (None: NaN) over the scenes all ``methods`` have, in one
  scene order (``rows``: method name -> scene id -> per-scene row)."""
  common = sorted(set.intersection(*(set(rows[m]) for m in methods)))
  return [np.asarray([_row_value(rows[m][s], key) for s in common], np.float64) for m in methods]


def _row_value(row: Mapping[str, Any], key: str) -> float:
  value = row.get(key)
  return math.nan if value is None else float(value)


def per_kind_markdown(rows: Mapping[str, Mapping[str, Mapping[str, Any]]],
                      kinds: Mapping[str, str], methods: Sequence[str],
                      key: str = "pa_mpjpe") -> str:
  """Mean ``key`` per scene kind (``kinds``: scene id -> kind) and method (the columns; those
  not in ``rows`` are left out), as Markdown."""
  methods = [m for m in methods if m in rows]
  lines = ["| kind | scenes | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 2)]
  for kind in sorted(set(kinds.values())):
    ids = [s for s, k in kinds.items() if k == kind]
    cells = []
    for method in methods:
      values = [_row_value(rows[method][s], key) for s in ids if s in rows[method]]
      cells.append(format_number(np.nanmean(values)) if values else "–")
    lines.append(f"| {kind} | {len(ids)} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"
