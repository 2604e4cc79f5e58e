"""What the settings-driven experiment scripts share: absl start-up with clear errors."""

from __future__ import annotations

from typing import Callable

from absl import app

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
