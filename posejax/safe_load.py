"""Reading files posejax did not write: pickles without running code, ``.npz`` without pickles, JSON
with every failure turned into a ``FileFormatError`` that names the file.

``pickle.load`` calls whatever a file names, so a file that only claims to be a model can run any
command. posejax's unpickler admits only numpy arrays, scalars and dtypes, built-in containers and
numbers, scipy sparse matrices (SMPL-X's ``J_regressor``, rebuilt from their arrays), chumpy arrays
(the released SMPL-X pickles' ``shapedirs`` and ``posedirs``, read as numpy; chumpy is never
imported) and, where the caller allows, torch tensors (torch's weights-only rebuilders).
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from typing import Any

import numpy as np

from posejax.errors import FileFormatError

_NUMPY = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
_BUILTINS = {
    ("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor"), ("_codecs", "encode"),
    ("builtins", "object"), ("__builtin__", "object"), ("builtins", "set"),
    ("builtins", "frozenset"), ("builtins", "slice"), ("builtins", "complex"),
    ("builtins", "bytearray"), ("collections", "OrderedDict"), ("__builtin__", "set"),
}
_TORCH = {
    ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_parameter"), ("torch.storage", "_load_from_bytes"),
    ("torch", "FloatStorage"), ("torch", "DoubleStorage"), ("torch", "LongStorage"),
    ("torch", "IntStorage"), ("torch", "BoolStorage"), ("torch", "HalfStorage"),
}
_SPARSE_FORMATS = ("csc_matrix", "csr_matrix", "coo_matrix")


class _Recorded:
  """A stand-in for a chumpy or scipy object: it keeps the pickled state and runs nothing."""

  kind = ""

  def __init__(self, *args, **kwargs):
    self.state: dict = {}

  def __setstate__(self, state):
    self.state = state if isinstance(state, dict) else {"state": state}


def _stand_in(kind: str) -> type:
  return type(f"Recorded_{kind}", (_Recorded,), {"kind": kind})


class _AllowListUnpickler(pickle.Unpickler):

  def __init__(self, handle, allow_torch: bool):
    super().__init__(handle, encoding="latin1")
    self.allow_torch = allow_torch

  def find_class(self, module: str, name: str):
    if (module, name) in _NUMPY or (module, name) in _BUILTINS:
      return super().find_class(module.replace("__builtin__", "builtins")
                                .replace("copy_reg", "copyreg"), name)
    if module.startswith("chumpy"):
      return _stand_in("chumpy")
    if module.startswith("scipy.sparse") and name in _SPARSE_FORMATS:
      return _stand_in(name)
    if self.allow_torch and (module, name) in _TORCH:
      return super().find_class(module, name)
    raise pickle.UnpicklingError(
        f"refusing to load {module}.{name}: only arrays, numbers, containers"
        + (", torch tensors" if self.allow_torch else "") + " and sparse matrices are allowed")


def _plain(value: Any, where: str) -> Any:
  """Replaces the stand-ins inside ``value`` by numpy arrays / scipy matrices."""
  if isinstance(value, _Recorded):
    if value.kind == "chumpy":
      if "x" not in value.state:
        raise pickle.UnpicklingError(
            f"{where} is a chumpy expression, not a stored array; convert the file to numpy")
      return np.asarray(value.state["x"])
    from scipy import sparse  # a dependency of posejax; only needed for these files
    state = value.state
    shape = tuple(state.get("_shape", state.get("shape", ())))
    if value.kind == "coo_matrix":
      return sparse.coo_matrix((np.asarray(state["data"]), (np.asarray(state["row"]),
                                                            np.asarray(state["col"]))), shape=shape)
    build = sparse.csc_matrix if value.kind == "csc_matrix" else sparse.csr_matrix
    return build((np.asarray(state["data"]), np.asarray(state["indices"]),
                  np.asarray(state["indptr"])), shape=shape)
  if isinstance(value, dict):
    return type(value)((k, _plain(v, f"{where}[{k!r}]")) for k, v in value.items())
  if isinstance(value, list):
    return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
  if isinstance(value, tuple):
    return tuple(_plain(v, f"{where}[{i}]") for i, v in enumerate(value))
  return value


def load_pickle(path: str | os.PathLike, what: str, *, allow_torch: bool = False) -> Any:
  """Unpickles ``path`` admitting only data types (see the module docstring); never runs its code.

  Args:
    path: the pickle (Python 2 pickles included: read with latin-1 strings).
    what: what the file should be, for messages ("an SMPL-X model file").
    allow_torch: also admit torch tensors (torch must then be importable).

  Returns:
    The unpickled object, chumpy arrays as numpy arrays and sparse matrices as scipy matrices.

  Raises:
    FileFormatError: naming the file, when it is not a readable pickle or names any other type.
  """
  path = os.fspath(path)
  try:
    with open(path, "rb") as handle:
      return _plain(_AllowListUnpickler(handle, allow_torch).load(), "the pickle")
  except ModuleNotFoundError as error:
    raise FileFormatError(
        path, f"{what} that stores torch tensors needs torch installed (the CPU build is enough), "
        f"or the file re-saved with numpy arrays ({error.name} is missing)") from None
  except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, IndexError, TypeError,
          KeyError, OverflowError, MemoryError, RecursionError, UnicodeDecodeError) as error:
    raise FileFormatError(path, f"cannot read {what}: not a readable pickle of plain data ("
                          f"{type(error).__name__}: {error})") from None
  except OSError as error:
    raise FileFormatError(path, f"cannot read {what} ({error.strerror or error})") from None


def load_npz(path: str | os.PathLike, what: str, *, objects: str = "refuse") -> dict[str, Any]:
  """The arrays of an ``.npz`` file; numpy's own pickle loading is never used.

  Args:
    path: the file.
    what: what it should be, for messages.
    objects: what to do with entries that hold pickled Python objects: ``"refuse"`` the file,
      ``"skip"`` them (the official SMPL-X files carry two such dicts, ``joint2num`` and
      ``part2num``, that nothing needs), or read them with the allow-list unpickler (``"safe"``:
      dataset split files store lists of names that way).

  Raises:
    FileFormatError: naming the file, when it is not a zip of arrays (a pickle or ``.npy`` renamed
      ``.npz``, a truncated download), or holds objects that are refused or not plain data.
  """
  path = os.fspath(path)
  try:
    with open(path, "rb") as handle:
      magic = handle.read(4)
  except OSError as error:
    raise FileFormatError(path, f"cannot read {what} ({error.strerror or error})") from None
  if magic[:2] != b"PK":
    kind = ("a .npy array" if magic.startswith(b"\x93NUM") else
            "a pickle" if magic[:1] == b"\x80" else "empty" if not magic else "not a zip archive")
    raise FileFormatError(path, f"cannot read this .npz: the file is {kind}, but {what} in .npz "
                          "form must be a zip of numpy arrays (np.savez); re-save it or give it its "
                          "real extension")
  arrays = {}
  try:
    with zipfile.ZipFile(path) as archive:
      for member in archive.namelist():
        key = member[:-4] if member.endswith(".npy") else member
        with archive.open(member) as stream:
          version = np.lib.format.read_magic(stream)
          read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                         else np.lib.format.read_array_header_2_0)
          _, _, dtype = read_header(stream)
          if not dtype.hasobject:
            stream.seek(0)
            arrays[key] = np.lib.format.read_array(stream, allow_pickle=False)
            continue
          if objects == "skip":
            continue
          if objects != "safe":
            raise FileFormatError(
                path, f"entry {key!r} of {what} holds Python objects, which posejax does not "
                "read from this file; store plain numeric arrays")
          arrays[key] = _plain(_AllowListUnpickler(stream, allow_torch=False).load(), key)
  except FileFormatError:
    raise
  except Exception as error:  # zipfile.BadZipFile, EOFError, zlib.error, bad headers, refused types
    raise FileFormatError(path, f"cannot read this .npz: {what} that is damaged, truncated or not "
                          f"plain data ({type(error).__name__}: {str(error)[:200]})") from None
  return arrays


def load_json(path: str | os.PathLike, what: str, *, hint: str = "") -> Any:
  """A JSON document; any failure (missing file, bad UTF-8, bad syntax, nesting too deep, numbers
  too large) is a ``FileFormatError`` naming the file and ``what`` it should be.

  Args:
    path: the file.
    what: what it should be, for messages ("a synthetic benchmark file").
    hint: what to do about a missing or unreadable file, appended to the message after "; ".
  """
  path = os.fspath(path)
  advice = f"; {hint}" if hint else ""
  try:
    with open(path, "rb") as handle:
      return json.loads(handle.read().decode("utf-8"))
  except FileNotFoundError:
    raise FileFormatError(path, f"{what} not found{advice}") from None
  except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
    raise FileFormatError(path, f"{what}: not valid JSON ({type(error).__name__}: "
                          f"{str(error)[:200]}){advice}") from None
