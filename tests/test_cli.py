"""The experiment scripts' settings dataclasses: each option field is a flag of the same name."""

from __future__ import annotations

import dataclasses

import pytest
from absl import flags

from experiments import _cli


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Settings(_cli.LmmOptions):
  out_dir: str = _cli.option(help="Where results go.")
  max_iters: tuple[int, ...] = _cli.option((1000, 100), "Caps.")
  methods: tuple[str, ...] = _cli.option((), "Methods.")
  focal: float | None = _cli.option(None, "Focal length.")
  mode: str = _cli.option("fast", "Mode.", choices=("fast", "exact"))
  derived: dict = dataclasses.field(default_factory=dict)


def _parse(*argv: str):
  values = flags.FlagValues()
  _cli.define_flags(_Settings, values)
  values(["script", *argv])
  return values


def test_flags_carry_each_options_type_default_and_choices():
  values = _parse("--out_dir=out", "--max_iters=300,20", "--methods=a,b", "--focal=512.5",
                  "--mode=exact", "--n=5", "--offline")
  settings = _cli.settings_from_flags(_Settings, values, derived={"k": 1})
  assert settings == _Settings(out_dir="out", max_iters=(300, 20), methods=("a", "b"),
                               focal=512.5, mode="exact", n=5, offline=True, derived={"k": 1})
  defaults = _cli.settings_from_flags(_Settings, _parse("--out_dir=o"))
  assert (defaults.max_iters, defaults.methods, defaults.focal, defaults.mode) == \
      ((1000, 100), (), None, "fast")
  assert defaults.lmm_model == _cli.LmmOptions().lmm_model
  assert "derived" not in values  # a plain field is not a flag


def test_bad_flags_are_refused():
  with pytest.raises(flags.IllegalFlagValueError):
    _parse("--out_dir=o", "--mode=sloppy")
  with pytest.raises(flags.IllegalFlagValueError):
    _parse("--out_dir=o", "--n=many")
  values = flags.FlagValues()
  _cli.define_flags(_Settings, values)
  with pytest.raises(flags.IllegalFlagValueError, match="out_dir"):
    values(["script"])
