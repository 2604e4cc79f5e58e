"""Asks a language model which body parts touch, for a folder or list of images; writes constraints.

Every answer goes through the answer cache (JSON Lines, written as each answer arrives): a rerun
pays nothing, a killed run resumes where it stopped, and ``--offline`` replays the cache without
any server. The output is the constraints file that ``fit`` and the experiment scripts read
(``posejax.lmm.load_constraints_file``): per image the parsed rows, the diagnostics, the prompt
version, the model and the ``Constraints``.

  # OpenAI (key in OPENAI_API_KEY), 20 samples per image, crops from OpenPose keypoints:
  .venv/bin/python -m experiments.query_lmm --images data/flickr/images --people 2 \\
      --keypoints_dir data/flickr/keypoints --out out/flickr_constraints.json
  # any OpenAI-compatible server (vLLM, Ollama, LM Studio):
  .venv/bin/python -m experiments.query_lmm --images a.jpg,b.jpg --base_url http://localhost:8000/v1 \\
      --lmm_model Qwen/Qwen2-VL-7B-Instruct --out out/c.json
  # replay the cache only:
  .venv/bin/python -m experiments.query_lmm --images ... --offline --out out/c.json
  # text-only: descriptions instead of images ({"image id": "description", ...}):
  .venv/bin/python -m experiments.query_lmm --descriptions scenes.json --people 1 --out out/c.json

The API key is read from the environment variable named by ``--api_key_env`` and never printed.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from absl import app
from absl import flags
from absl import logging

from experiments import _cli
from posejax import lmm
from posejax.constraints import Constraints
from posejax.data import photo_files
from posejax.errors import FileFormatError
from posejax.io_utils import exclusive_run

FLAGS = flags.FLAGS
flags.DEFINE_list("images", [], "Image files and/or folders (every .jpg/.jpeg/.png inside).")
flags.DEFINE_string("image_list", None, "A text file with one image path per line.")
flags.DEFINE_string("keypoints_dir", None,
                    "Folder of OpenPose or ViTPose <image>.json / <image>_keypoints.json "
                    "files; the image is cropped to the most confident --people detections.")
flags.DEFINE_string("descriptions", None,
                    "JSON file {image id: description}: text-only prompts instead of images.")
flags.DEFINE_enum("people", "2", ["1", "2"], "1: self-contact prompt; 2: two people in contact.")
flags.DEFINE_string("out", None, "The constraints file to write (JSON).")
flags.DEFINE_string("cache", None, "The answer cache (JSON Lines); default: <out>.cache.jsonl.")
_cli.define_flags(_cli.LmmOptions)
flags.DEFINE_integer("max_n_per_request", 20, "Most samples asked for in one request.")
flags.DEFINE_enum("max_tokens_field", "max_tokens", ["max_tokens", "max_completion_tokens"],
                  "Request field for the answer length (newer OpenAI models need the second).")
flags.DEFINE_float("timeout_s", 120.0, "Seconds before a request counts as timed out.")
flags.DEFINE_integer("max_attempts", 6, "Tries per request.")
flags.DEFINE_integer("workers", 4, "Images queried at the same time.")
flags.DEFINE_integer("min_frequency", None, "One person: frequency-filter threshold.")
flags.DEFINE_float("price_prompt_per_mtok", 0.0, "Price of a million prompt tokens (for the cost).")
flags.DEFINE_float("price_completion_per_mtok", 0.0, "Price of a million completion tokens.")

def image_paths() -> list[str]:
  paths = []
  for entry in FLAGS.images:
    paths += photo_files.image_files(entry) if os.path.isdir(entry) else [entry]
  if FLAGS.image_list:
    with open(FLAGS.image_list, encoding="utf-8") as handle:
      paths += [line.strip() for line in handle if line.strip()]
  return paths


def crop_keypoints(image_path: str, people: int):
  """The keypoints of the ``people`` most confident detections of an image, or None."""
  if not FLAGS.keypoints_dir:
    return None
  try:
    path = photo_files.find_keypoint_file(image_path, FLAGS.keypoints_dir)
  except FileFormatError:
    logging.warning("no keypoints for %s in %s; sending the whole image", image_path,
                    FLAGS.keypoints_dir)
    return None
  detections, _ = photo_files.read_keypoint_file(path)
  order = np.argsort(-detections[..., 2].sum(axis=-1))
  return detections[order[:people]] if len(detections) else None


def make_items(people: int) -> list[lmm.QueryItem]:
  if FLAGS.descriptions:
    try:
      with open(FLAGS.descriptions, encoding="utf-8") as handle:
        descriptions = json.load(handle)
    except (OSError, ValueError) as error:
      raise app.UsageError(f"--descriptions {FLAGS.descriptions}: {error}") from None
    if not isinstance(descriptions, dict):
      raise app.UsageError("--descriptions must hold a JSON object {image id: description}")
    return [lmm.QueryItem(image_id=str(k), description=str(v)) for k, v in descriptions.items()]
  items = []
  for path in image_paths():
    stem = os.path.splitext(os.path.basename(path))[0]
    prepared = lmm.prepare_image(path, keypoints=crop_keypoints(path, people), margin=FLAGS.margin,
                                 max_side=FLAGS.max_side)
    items.append(lmm.QueryItem(image_id=stem, image=prepared))
  return items


def main(argv):
  del argv
  if not FLAGS.out:
    raise app.UsageError("--out is required")
  people = int(FLAGS.people)
  prompt = lmm.prompt_for(people, text_only=bool(FLAGS.descriptions))
  settings = lmm.SamplingSettings(model=FLAGS.lmm_model, temperature=FLAGS.temperature,
                                  max_tokens=FLAGS.max_tokens, detail=FLAGS.detail)
  items = make_items(people)
  if not items:
    raise app.UsageError("no images: pass --images, --image_list or --descriptions")
  ids = [item.image_id for item in items]
  if len(set(ids)) != len(ids):
    raise app.UsageError("two inputs share an image id (file stem); rename one")
  cache_path = FLAGS.cache or FLAGS.out + ".cache.jsonl"
  client = None
  if not FLAGS.offline:
    client = lmm.LMMClient(lmm.ClientConfig(
        base_url=FLAGS.base_url, api_key_env=FLAGS.api_key_env, timeout_s=FLAGS.timeout_s,
        max_attempts=FLAGS.max_attempts, max_n_per_request=FLAGS.max_n_per_request,
        max_tokens_field=FLAGS.max_tokens_field))
  logging.info("%d inputs, prompt %s, model %s, %d answers each, cache %s", len(items),
               prompt.version, settings.model, FLAGS.n, cache_path)
  started = time.monotonic()

  def progress(done, total, result):
    state = (f"failed: {result.error}" if result.error else
             f"{result.from_cache} cached, {result.fetched} new")
    logging.info("[%d/%d] %s: %s (%.0f s)", done, total, result.image_id, state,
                 time.monotonic() - started)

  with exclusive_run(FLAGS.out, "constraints file"), lmm.AnswerCache(cache_path) as cache:
    if cache.dropped_tail:
      logging.warning("the cache ended in a half-written answer (a killed run); it was dropped")
    results = lmm.query_many(items, prompt=prompt, settings=settings, cache=cache, client=client,
                             n=FLAGS.n, max_workers=FLAGS.workers, offline=FLAGS.offline,
                             raise_on_error=False, progress=progress)
    stored_usage = cache.usage_totals({r.key for r in results if r.error is None})

    entries, reports, failed = {}, [], []
    for result in results:
      if result.error is not None:
        failed.append(result)
        continue
      samples, report = lmm.parse_samples(result.answers, people, trust_sides=FLAGS.trust_sides)
      constraints = Constraints.from_pairs(samples, people, min_frequency=FLAGS.min_frequency)
      reports.append(report)
      entries[result.image_id] = lmm.image_entry(
          constraints, report, samples=samples, prompt_version=result.prompt_version,
          model=result.model, cache_key=result.key)
    lmm.save_constraints_file(FLAGS.out, entries)

  fetched = sum(r.fetched for r in results if r.error is None)
  cached = sum(r.from_cache for r in results if r.error is None)
  print(f"wrote {FLAGS.out}: {len(entries)} images "
        f"({sum(e['fallback'] for e in entries.values())} fall back to the baseline)")
  print(f"answers: {fetched} new, {cached} from the cache; {len(failed)} images failed")
  if client is not None:
    stats = client.stats
    run_cost = (stats["prompt_tokens"] * FLAGS.price_prompt_per_mtok
                + stats["completion_tokens"] * FLAGS.price_completion_per_mtok) / 1e6
    print(f"this run: {stats['requests']} requests, {stats['attempts']} attempts, retries "
          f"{stats['retries'] or 'none'}; tokens {stats['prompt_tokens']} prompt + "
          f"{stats['completion_tokens']} completion; cost {run_cost:.4f}")
  total_cost = (stored_usage["prompt_tokens"] * FLAGS.price_prompt_per_mtok
                + stored_usage["completion_tokens"] * FLAGS.price_completion_per_mtok) / 1e6
  print(f"all answers used (cache included): tokens {stored_usage['prompt_tokens']} prompt + "
        f"{stored_usage['completion_tokens']} completion; cost {total_cost:.4f}")
  overall = lmm.ParseReport.combine(reports)
  print("parsing:", overall.summary())
  if overall.unknown_words:
    print("most common unknown words:", dict(list(overall.unknown_words.items())[:10]))
  for result in failed:
    print(f"FAILED {result.image_id}: {result.error}", file=sys.stderr)
  return 1 if failed else 0


if __name__ == "__main__":
  app.run(main)
