"""Why fits miss the true contacts, scene by scene, on a run of the SYNTHETIC benchmark.

Refits scenes of a ``run_benchmark`` folder (two people) with its own settings, through the same
fitter, and prints for each scene every method's PA-MPJPE and, per true contact pair, how far
apart the fit leaves it beside its nearest mirrored and exchanged alternatives
(``benchmark.true_pair_report``), the answer rows the first method read with how many answers
name each, and the likely cause (``CAUSES``), tallied at the end. By default the scenes where
the first method is furthest behind the second.

  .venv/bin/python -m experiments.diagnose_contacts --run_dir outputs/dev_hi4d \\
      --methods posejax_n20,oracle --worst 6
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os

from experiments import _cli
from experiments import run_benchmark
from posejax import body
from posejax.body import vocabulary
from posejax.data import benchmark
from posejax.data import synthetic
from posejax.errors import InvalidInputError
from posejax.io_utils import atomic_write_text


@dataclasses.dataclass(frozen=True, kw_only=True)
class DiagnosisSettings:
  """The script's flags."""

  run_dir: str = _cli.option(help="A run_benchmark output folder with two-person scenes.")
  methods: tuple[str, ...] = _cli.option(("posejax_n20", "oracle"), "Methods to refit; the "
                                         "first is diagnosed, the second is its reference.")
  scene_ids: tuple[str, ...] = _cli.option((), "Only these scenes (ids or their endings, e.g. "
                                           "hug-0006); default: the --worst ones.")
  worst: int = _cli.option(6, "How many scenes, those where the first method's PA-MPJPE is "
                           "furthest above the second's.")
  out: str | None = _cli.option(None, "Also write the diagnosis as JSON here.")


CLOSED_MM = 20.0
"""A pair this close counts as closed (the paper's self-contact threshold, METHOD.md)."""
OPEN_MM = 50.0
"""A pair this far apart counts as open (beyond the PCC's first, 5 cm, threshold)."""
RARE_SHARE = 0.15
"""A true pair that at most this share of the answers name counts as rarely named (3 of 20)."""

CAUSES = ("side choice", "roles exchanged", "pair rarely named", "pairs closed, people misplaced",
          "pair open")
"""What ``cause`` calls a scene, tested in this order: a true pair open while its mirrored
alternative is closed; while its exchanged alternative (each region on the other person) is
closed; a true pair open that few answers name; every true pair closed; else."""


Row = tuple[tuple[str, ...], tuple[str, ...]]
"""An answer row as parsed: the names (alternatives) of its person-1 cell and person-2 cell."""


def _naming_count(pair: tuple[str, str], answer_rows: list[tuple[Row, int]]) -> int:
  """How many answers name ``pair`` (sides and the order of the two cells ignored)."""
  def free(names):
    return {vocabulary.split_side(name)[1] for name in names}

  first, second = free(pair[:1]), free(pair[1:])
  return sum(answers for (one, other), answers in answer_rows
             if (first <= free(one) and second <= free(other))
             or (first <= free(other) and second <= free(one)))


def cause(pairs: list[dict], answer_rows: list[tuple[Row, int]], samples: int) -> str:
  """Which of ``CAUSES`` explains a fit's true pairs (``benchmark.true_pair_report``)."""
  if any(p["gap_mm"] > OPEN_MM and p["mirror_gap_mm"] is not None
         and p["mirror_gap_mm"] < CLOSED_MM for p in pairs):
    return CAUSES[0]
  if any(p["gap_mm"] > OPEN_MM and p["exchanged_gap_mm"] is not None
         and p["exchanged_gap_mm"] < CLOSED_MM for p in pairs):
    return CAUSES[1]
  if any(p["gap_mm"] > OPEN_MM and _naming_count(p["pair"], answer_rows) <= RARE_SHARE * samples
         for p in pairs):
    return CAUSES[2]
  if all(p["gap_mm"] < CLOSED_MM for p in pairs):
    return CAUSES[3]
  return CAUSES[4]


def _answer_rows(scene, samples: int) -> list[tuple[Row, int]]:
  """The rows of a scene's first ``samples`` answers with how many answers name each."""
  from posejax.lmm import parse_answer

  def names(cell):
    return (cell,) if isinstance(cell, str) else tuple(cell)

  counts = collections.Counter()
  for text in scene.answers[:samples]:
    counts.update({(names(row[0]), names(row[-1]))
                   for row in parse_answer(text, people=scene.people).rows})
  return counts.most_common()


def row_text(row: Row) -> str:
  """``"hand / arm | back"``: a row as the answers write it."""
  return " | ".join(" / ".join(cell) for cell in row)


def diagnose(settings: DiagnosisSettings) -> list[dict]:
  """Refits the chosen scenes; returns a dict per scene (see the module docstring)."""
  if len(settings.methods) < 2:
    raise InvalidInputError("--methods needs the method to diagnose and a reference")
  recorded = run_benchmark.settings_of_run(settings.run_dir)
  scenes_path = os.path.join(settings.run_dir, run_benchmark.SCENE_FILES[2])
  if 2 not in recorded.people or not os.path.isfile(scenes_path + ".json"):
    raise InvalidInputError(f"{settings.run_dir} has no two-person scenes to diagnose")
  # As many scenes as the folder holds, so that none is generated here.
  saved = len(synthetic.load_benchmark(scenes_path).scenes)
  model = body.default_model()
  chosen = dataclasses.replace(recorded, methods=settings.methods, people=(2,),
                               num_scenes=min(saved, recorded.num_scenes))
  run = run_benchmark.prepare_people(chosen, 2, model)
  names = [m.name for m in run.methods]
  missing = sorted(set(settings.methods) - set(names))
  if missing:
    raise InvalidInputError(f"unknown methods {missing}")
  if settings.scene_ids:
    indices = [i for i, s in enumerate(run.scenes)
               if any(s.scene_id.endswith(wanted) for wanted in settings.scene_ids)]
    if not indices:
      raise InvalidInputError(f"no scene of {settings.run_dir} matches {settings.scene_ids}")
  else:
    indices = list(range(len(run.scenes)))
  methods = {m.name: m for m in run.methods}
  vertices, scores = {}, {}
  for name in settings.methods:
    fitted, _ = run_benchmark.fit_scenes(chosen, run, methods[name], indices)
    vertices[name] = fitted
    scores[name] = [benchmark.scene_metrics(run.tools, run.scenes[i], fitted[k],
                                            run.gt_vertices[i])["pa_mpjpe"]
                    for k, i in enumerate(indices)]
  first, second = settings.methods[:2]
  order = sorted(range(len(indices)), key=lambda k: scores[second][k] - scores[first][k])
  if not settings.scene_ids:
    order = order[:settings.worst]
  out = []
  for k in order:
    scene = run.scenes[indices[k]]
    pairs = {name: benchmark.true_pair_report(run.tools, scene, vertices[name][k])
             for name in settings.methods}
    rows = (_answer_rows(scene, methods[first].samples)
            if methods[first].contacts == benchmark.ANSWERS else [])
    out.append({
        "scene_id": scene.scene_id,
        "pa_mpjpe_mm": {name: float(scores[name][k]) for name in settings.methods},
        "cause": cause(pairs[first], rows, methods[first].samples),
        "pairs": pairs,
        "answer_rows": rows,
    })
  return out


def _text(diagnosis: list[dict]) -> str:
  lines = []
  for item in diagnosis:
    scores = ", ".join(f"{name} {value:.1f}" for name, value in item["pa_mpjpe_mm"].items())
    lines.append(f"{item['scene_id']}: PA-MPJPE (mm) {scores}; {item['cause']}")
    for name, pairs in item["pairs"].items():
      for pair in pairs:
        mirror = ("" if pair["mirror"] is None else
                  f"; nearest mirror {' - '.join(pair['mirror'])} {pair['mirror_gap_mm']:.0f} mm")
        exchanged = ("" if pair["exchanged_gap_mm"] is None
                     else f"; exchanged {pair['exchanged_gap_mm']:.0f} mm")
        lines.append(f"  {name:12s} {' - '.join(pair['pair'])}: {pair['gap_mm']:.0f} mm{mirror}"
                     f"{exchanged}")
    if item["answer_rows"]:
      rows = ", ".join(f"{row_text(row)} ({count})" for row, count in item["answer_rows"])
      lines.append(f"  answer rows (answers naming each): {rows}")
  tally = collections.Counter(item["cause"] for item in diagnosis)
  lines.append("causes: " + ", ".join(f"{name} {tally[name]}" for name in CAUSES))
  return "\n".join(lines) + "\n"


def main() -> None:
  settings = _cli.settings_from_flags(DiagnosisSettings)
  diagnosis = diagnose(settings)
  print(_text(diagnosis), end="")
  if settings.out:
    atomic_write_text(settings.out, json.dumps(diagnosis, indent=1))


if __name__ == "__main__":
  _cli.run_script(lambda: _cli.define_flags(DiagnosisSettings), main)
