"""Benchmark: the adapter's own overhead, parsing answers and building ``Constraints``.

Generates --answers realistic answers (reasoning, then a Markdown table with plurals, sides,
alternatives, synonyms, misspellings, markup, refusals and empty tables mixed in), groups them into
images of --n answers, and times, as the median of --repeats runs:

1. parsing alone (text -> name rows + report);
2. ``Constraints.from_pairs`` alone, per image, on the parsed rows;
3. both (the whole of ``posejax.lmm.parse``);

each cold (every memoised word, cell, row and sample of the parser and of ``posejax.constraint_tables``
forgotten first: a fresh process reading new answers) and warm (kept: a rerun, or a dataset whose
answers repeat the same cells and rows).

The target: 10,000 answers parsed and built in under 2 s on a 2-core CPU. Measured on a 2-core CPU
shared with other jobs (load about 2), parse + Constraints, cold: two people 1.0-1.1 s, one person
0.6 s (2.5 s and 0.8 s before rows were compiled once per side variant and the tables filled with
numpy).

  .venv/bin/python -m experiments.bench_parse [--answers 10000] [--people 2] [--repeats 3]
"""

from __future__ import annotations

import random
import statistics
import time

from absl import app
from absl import flags

from posejax.body import vocabulary
from posejax import constraint_tables
from posejax.constraints import Constraints
from posejax.lmm import build
from posejax.lmm import parsing
from posejax.lmm import words

FLAGS = flags.FLAGS
flags.DEFINE_integer("answers", 10_000, "Answers in total.")
flags.DEFINE_integer("n", 20, "Answers per image.")
flags.DEFINE_enum("people", "2", ["1", "2"], "Prompt kind of the generated answers.")
flags.DEFINE_integer("repeats", 3, "Timed runs (median reported).")
flags.DEFINE_integer("seed", 0, "Random seed.")

REASONING = [
    "The two people are hugging closely; Person 1's arms wrap around Person 2.",
    "Person 1 stands behind Person 2 and rests a hand on their shoulder. The other hand is not "
    "visible, so I only list what I can see.",
    "They are dancing: one hand is held, the other is on the partner's back or waist.",
    "The person is in a seated forward fold (Paschimottanasana): the torso rests on the legs and "
    "the hands hold the feet.",
]
EXTRA_WORDS = ["forearm", "thigh", "palm", "hips", "knee", "wrist", "lower back", "face", "belly",
               "shoulder blade", "fingers", "sholder", "hnad", "stomache"]


def make_answer(rng: random.Random, people: int) -> str:
  roll = rng.random()
  if roll < 0.03:
    return "I'm sorry, but I can't help with identifying people in images."
  parts = list(vocabulary.TWO_PERSON_PARTS if people == 2 else vocabulary.ONE_PERSON_PARTS)
  header = ("| Person 1 Body Part | Person 2 Body Part |" if people == 2
            else "| Body Part A | Body Part B |")
  lines = [rng.choice(REASONING), "", header, "|---|---|"]
  if roll < 0.08:
    lines.append("| none | none |")
  else:
    for _ in range(rng.randint(1, 6)):
      cells = []
      for _ in range(2):
        word = rng.choice(parts + EXTRA_WORDS) if rng.random() < 0.85 else rng.choice(EXTRA_WORDS)
        style = rng.random()
        if style < 0.1 and vocabulary.is_lateral(word):
          word += "s"
        elif style < 0.2 and word in vocabulary.LATERAL_PARTS:
          word = rng.choice(vocabulary.SIDES) + " " + word
        elif style < 0.3:
          word = word + rng.choice([", ", "/", " or "]) + rng.choice(parts)
        elif style < 0.35:
          word = f"**{word}**"
        cells.append(word)
      lines.append(f"| {cells[0]} | {cells[1]} |")
  text = "\n".join(lines)
  return f"```\n{text}\n```" if rng.random() < 0.1 else text


def clear_caches() -> None:
  """Forgets every memoised word, cell, row and sample: a fresh process, as for new answers."""
  for module in (parsing, words, build, constraint_tables):
    for value in vars(module).values():
      if hasattr(value, "cache_clear"):
        value.cache_clear()


def median_time(function, repeats: int, cold: bool) -> tuple[float, float]:
  """Median wall-clock and CPU seconds (CPU time is steadier on a shared machine)."""
  wall, cpu = [], []
  for _ in range(repeats):
    if cold:
      clear_caches()
    start, start_cpu = time.perf_counter(), time.process_time()
    function()
    wall.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
  return statistics.median(wall), statistics.median(cpu)


def line(label: str, seconds: tuple[float, float], count: int) -> str:
  wall, cpu = seconds
  return (f"{label:32s} {wall:6.3f} s wall, {cpu:6.3f} s CPU "
          f"({1e6 * cpu / count:.1f} us CPU per answer)")


def main(argv):
  del argv
  people = int(FLAGS.people)
  rng = random.Random(FLAGS.seed)
  answers = [make_answer(rng, people) for _ in range(FLAGS.answers)]
  images = [answers[i:i + FLAGS.n] for i in range(0, len(answers), FLAGS.n)]

  def parse_only():
    for image in images:
      build.parse_samples(image, people)

  parsed = [build.parse_samples(image, people)[0] for image in images]

  def constraints_only():
    for samples in parsed:
      Constraints.from_pairs(samples, people)

  def parse_and_build():
    for image in images:
      build.parse(image, people)

  cold_parse = median_time(parse_only, FLAGS.repeats, cold=True)
  warm_parse = median_time(parse_only, FLAGS.repeats, cold=False)
  cold_build = median_time(constraints_only, FLAGS.repeats, cold=True)
  warm_build = median_time(constraints_only, FLAGS.repeats, cold=False)
  cold_total = median_time(parse_and_build, FLAGS.repeats, cold=True)
  warm_total = median_time(parse_and_build, FLAGS.repeats, cold=False)
  report = parsing.ParseReport.combine(build.parse_samples(image, people)[1] for image in images)
  print(f"{len(answers)} answers, {len(images)} images of {FLAGS.n}, people={people}")
  print(f"  {report.summary()}")
  count = len(answers)
  print(line("parse only, cold caches:", cold_parse, count))
  print(line("parse only, warm caches:", warm_parse, count))
  print(line("Constraints.from_pairs, cold:", cold_build, count))
  print(line("Constraints.from_pairs, warm:", warm_build, count))
  print(line("parse + Constraints, cold:", cold_total, count))
  print(line("parse + Constraints, warm:", warm_total, count))
  print("target: parse + Constraints under 2 s for 10,000 answers on a 2-core CPU")


if __name__ == "__main__":
  app.run(main)
