"""Paired differences between benchmark methods, with 95% bootstrap intervals.

Reads ``run_benchmark``'s ``results.jsonl`` and, for each pair of methods compared on the same
scenes, prints the mean difference A - B of joint PA-MPJPE (mm) and of mean PCC (points), a 95%
percentile bootstrap interval over scenes (resampling scenes, the pairing kept), and how many
scenes came out lower / higher. Differences whose interval excludes zero are the ones the
benchmark resolves.

  .venv/bin/python -m experiments.paired_differences --results outputs/benchmark/results.jsonl
"""

from __future__ import annotations

import json

import numpy as np
from absl import flags

from experiments._cli import run_script

FLAGS = flags.FLAGS

DEFAULT_PAIRS = {
    2: (("posejax_n20", "heuristic"), ("posejax_n20", "no_contact"), ("oracle", "heuristic"),
        ("oracle", "no_contact"), ("posejax_n20", "posejax_n1"), ("posejax_n20", "posejax_n5")),
    1: (("posejax_n20", "no_contact"), ("oracle", "no_contact"), ("posejax_n20", "posejax_n1")),
}
"""People -> (A, B) method names (as in results.jsonl) compared by default."""


def define_flags() -> None:
  flags.DEFINE_string("results", "outputs/benchmark/results.jsonl", "run_benchmark's results.")
  flags.DEFINE_integer("resamples", 10000, "Bootstrap resamples.")
  flags.DEFINE_integer("seed", 0, "Bootstrap seed.")


def per_scene(path: str) -> dict:
  """(people, method) -> scene_id -> row, from the results file (later rows win)."""
  out: dict = {}
  with open(path) as handle:
    for line in handle:
      record = json.loads(line)
      for row in record["rows"]:
        out.setdefault((int(record["people"]), record["method"]), {})[row["scene_id"]] = row
  return out


def paired(a: np.ndarray, b: np.ndarray, resamples: int, rng: np.random.Generator) -> dict:
  """Mean of a - b, its 95% percentile bootstrap interval over scenes, lower / higher counts."""
  difference = a - b
  draws = rng.integers(0, len(difference), (resamples, len(difference)))
  means = difference[draws].mean(axis=1)
  low, high = np.percentile(means, [2.5, 97.5])
  return {"mean": float(difference.mean()), "low": float(low), "high": float(high),
          "lower": int((difference < 0).sum()), "higher": int((difference > 0).sum()),
          "scenes": int(len(difference))}


def main() -> None:
  rows = per_scene(FLAGS.results)
  rng = np.random.default_rng(FLAGS.seed)
  print("| people | A vs B | PA-MPJPE A - B (mm) | PCC mean A - B (points) |")
  print("|---|---|---|---|")
  for people, pairs in DEFAULT_PAIRS.items():
    for a, b in pairs:
      if (people, a) not in rows or (people, b) not in rows:
        continue
      ra, rb = rows[(people, a)], rows[(people, b)]
      common = sorted(set(ra) & set(rb))
      cells = []
      for key, scale in (("pa_mpjpe", 1.0), ("pcc_mean", 100.0)):
        x = np.array([ra[s][key] for s in common], np.float64) * scale
        y = np.array([rb[s][key] for s in common], np.float64) * scale
        d = paired(x, y, FLAGS.resamples, rng)
        cells.append(f"{d['mean']:+.1f} [{d['low']:+.1f}, {d['high']:+.1f}] "
                     f"({d['lower']} / {d['higher']} of {d['scenes']})")
      print(f"| {people} | {a} vs {b} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
  run_script(define_flags, main)
