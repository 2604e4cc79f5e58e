"""What the experiment scripts share: absl start-up with clear errors, the language-model flags."""

from __future__ import annotations

from typing import Callable

from absl import app
from absl import flags

import posejax


def run_script(define_flags: Callable[[], None], run: Callable[[], object]) -> None:
  """Defines the flags, then runs ``run()`` under absl.

  Positional arguments are refused, and a posejax error (bad input file, inconsistent settings,
  ...) ends the script with its one-line message and usage, not a traceback.
  """

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments {argv[1:]}")
    try:
      run()
    except posejax.PoseJaxError as error:
      raise app.UsageError(str(error)) from None

  define_flags()
  app.run(main)


def define_lmm_flags() -> None:
  """The flags of asking a language model (``posejax.lmm``), one meaning in every script."""
  flags.DEFINE_bool("offline", False, "Answer from the cache only; never contact a server.")
  flags.DEFINE_string("lmm_model", "gpt-4o", "Language model name.")
  flags.DEFINE_string("base_url", None, "OpenAI-compatible endpoint; default: OpenAI.")
  flags.DEFINE_string("api_key_env", "OPENAI_API_KEY", "Environment variable holding the API key.")
  flags.DEFINE_integer("n", 20, "Answers per image.")
  flags.DEFINE_float("temperature", 0.7, "Sampling temperature.")
  flags.DEFINE_integer("max_tokens", 500, "Maximum tokens per answer.")
  flags.DEFINE_enum("detail", "high", ["high", "low", "auto"], "Image detail level.")
  flags.DEFINE_integer("max_side", 1024, "Longest side of the image sent, pixels.")
  flags.DEFINE_float("margin", 0.2, "Crop margin around the people's keypoints (fraction of their "
                     "box).")
  flags.DEFINE_bool("trust_sides", False, "Keep left/right written in the answers.")
