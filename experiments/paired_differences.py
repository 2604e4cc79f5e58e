"""Paired differences between benchmark methods, across runs, with 95% bootstrap intervals.

Reads one or more ``run_benchmark`` output folders of the same scenes (e.g. the published settings
in one folder and a candidate setting in another, its scenes copied over) and, for each pair of
methods, prints the mean difference A - B over the scenes both have, of joint PA-MPJPE (mm),
mean PCC (points) and the true-pair gap (mm) (one person: PA-MPJPE and the gaps), a 95%
percentile bootstrap interval (scenes resampled, the pairing kept) and how many scenes came out
lower / higher. A method is named ``run:method`` where ``run`` is a folder's label; with one
folder the plain method names work.

  .venv/bin/python -m experiments.paired_differences --runs outputs/benchmark
  .venv/bin/python -m experiments.paired_differences \\
      --runs published=outputs/dev_hi4d,w300=outputs/dev_hi4d_w300 \\
      --pairs w300:posejax_n20-published:posejax_n20,w300:posejax_n20-published:heuristic
"""

from __future__ import annotations

import os

from absl import flags

from experiments._cli import run_script
from experiments.run_benchmark import RESULTS_NAME
from experiments.run_benchmark import read_records
from experiments.run_benchmark import scene_rows
from posejax.data import benchmark_tables
from posejax.errors import InvalidInputError

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_list("runs", ["outputs/benchmark"], "run_benchmark output folders, each "
                    "optionally labelled label=folder.")
  flags.DEFINE_list("pairs", [], "A-B method pairs (run:method or method); default: "
                    "posejax.data.benchmark_tables.PAIRED_COMPARISONS within each run.")
  flags.DEFINE_enum("people", "2", ["1", "2"], "Which table.")


def load_runs(specs) -> dict[str, dict]:
  """label -> method -> scene id -> row, for ``people``."""
  runs = {}
  for spec in specs:
    label, _, folder = spec.rpartition("=")
    label = label or os.path.basename(os.path.normpath(folder))
    path = os.path.join(folder, RESULTS_NAME)
    if not os.path.isfile(path):
      raise InvalidInputError(f"no {RESULTS_NAME} in {folder}")
    by_method: dict = {}
    for (people, method, scene), row in scene_rows(read_records(path)).items():
      if people == int(FLAGS.people):
        by_method.setdefault(method, {})[scene] = row
    runs[label] = by_method
  return runs


def main() -> None:
  runs = load_runs(FLAGS.runs)
  people = int(FLAGS.people)
  if len(runs) == 1 and not FLAGS.pairs:
    print(benchmark_tables.paired_markdown(next(iter(runs.values())), people))
    return
  rows = {f"{label}:{method}": scenes for label, methods in runs.items()
          for method, scenes in methods.items()}
  if len(runs) == 1:
    rows.update(next(iter(runs.values())))
  pairs = [tuple(p.split("-", 1)) for p in FLAGS.pairs] or [
      (f"{label}:{a}", f"{label}:{b}") for label in runs
      for a, b in benchmark_tables.PAIRED_COMPARISONS[people]]
  for a, b in pairs:
    for name in (a, b):
      if name not in rows:
        raise InvalidInputError(f"no method {name!r}; have {sorted(rows)}")
  print(benchmark_tables.paired_markdown(rows, people, pairs))


if __name__ == "__main__":
  run_script(define_flags, main)
