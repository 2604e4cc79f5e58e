"""What the experiment scripts share: absl start-up with clear errors, and settings dataclasses
whose fields are the command-line flags (one name, default and help per setting)."""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from typing import Any, Callable, Sequence

from absl import app
from absl import flags

import posejax

_REQUIRED = dataclasses.MISSING


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


def option(default: Any = _REQUIRED, help: str = "", *,
           choices: Sequence[str] | None = None) -> Any:
  """A settings field that is also a flag of the same name (``define_flags``); a plain field is
  not a flag.

  Args:
    default: the field's and the flag's default; omitted: the flag is required.
    help: the flag's help text.
    choices: the allowed values of a ``str`` setting (an enum flag).
  """
  metadata = {"help": help, "choices": tuple(choices) if choices else None}
  if isinstance(default, (list, dict)):
    raise TypeError("option: use a tuple default, not a mutable one")
  return dataclasses.field(default=default, metadata=metadata)


def _flag_fields(settings_type: type) -> list[tuple[dataclasses.Field, type]]:
  """The fields of ``settings_type`` made with ``option``, with their value types (``X | None``
  read as ``X``)."""
  hints = typing.get_type_hints(settings_type)
  fields = []
  for field in dataclasses.fields(settings_type):
    if "help" not in field.metadata:
      continue
    kind = hints[field.name]
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
      kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    fields.append((field, kind))
  return fields


def define_flags(settings_type: type, flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines a flag per ``option`` field of the dataclass ``settings_type``: bool, int, float and
  str settings as such (str with choices as an enum), tuples as comma-separated lists.

  The flags belong to the calling module, so that its ``--help`` lists them.
  """
  caller = sys._getframe(1).f_globals["__name__"]
  owner = {"module_name": sys.argv[0] if caller == "__main__" else caller,
           "flag_values": flag_values}
  required = []
  for field, kind in _flag_fields(settings_type):
    default = None if field.default is _REQUIRED else field.default
    if field.default is _REQUIRED:
      required.append(field.name)
    help_text, choices = field.metadata["help"], field.metadata["choices"]
    if typing.get_origin(kind) is tuple:
      listed = None if default is None else [str(value) for value in default]
      flags.DEFINE_list(field.name, listed, help_text, **owner)
    elif choices:
      flags.DEFINE_enum(field.name, default, list(choices), help_text, **owner)
    else:
      define = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
                str: flags.DEFINE_string}[kind]
      define(field.name, default, help_text, **owner)
  if required:
    flags.mark_flags_as_required(required, flag_values=flag_values)


def parsed_options(settings_type: type, flag_values: flags.FlagValues = flags.FLAGS
                   ) -> dict[str, Any]:
  """The parsed flags of ``settings_type``'s ``option`` fields, by name, lists as tuples of the
  field's element type."""
  values = {}
  for field, kind in _flag_fields(settings_type):
    value = flag_values[field.name].value
    if typing.get_origin(kind) is tuple and value is not None:
      element = typing.get_args(kind)[0]
      value = tuple(element(item) for item in value)
    values[field.name] = value
  return values


def settings_from_flags(settings_type: type, flag_values: flags.FlagValues = flags.FLAGS,
                        **others: Any) -> Any:
  """``settings_type`` made from the parsed flags, plus ``others`` (its plain fields)."""
  return settings_type(**parsed_options(settings_type, flag_values), **others)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LmmOptions:
  """How to ask the language model (``posejax.lmm``): the same flags in every script."""

  offline: bool = option(False, "Answer from the cache only; never contact a server.")
  lmm_model: str = option("gpt-4o", "Language model name.")
  base_url: str | None = option(None, "OpenAI-compatible endpoint; default: OpenAI.")
  api_key_env: str = option("OPENAI_API_KEY", "Environment variable holding the API key.")
  n: int = option(20, "Answers per image.")
  temperature: float = option(0.7, "Sampling temperature.")
  max_tokens: int = option(500, "Maximum tokens per answer.")
  detail: str = option("high", "Image detail level.", choices=("high", "low", "auto"))
  max_side: int = option(1024, "Longest side of the image sent, pixels.")
  margin: float = option(0.2, "Crop margin around the people's keypoints (fraction of their "
                         "box).")
  trust_sides: bool = option(False, "Keep left/right written in the answers.")
