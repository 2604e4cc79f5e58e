"""Format headers of posejax's JSON files; reading back append-only files after a killed run."""

import os

import pytest

from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError
from posejax.io_utils import check_format_header
from posejax.io_utils import read_complete_lines
from posejax.io_utils import refuse_changed_settings


def test_format_header_accepts_its_own_kind_and_names_what_is_wrong():
  check_format_header("a.json", {"format": "posejax.x", "version": 2}, "posejax.x", 2, "an x file")
  with pytest.raises(FileFormatError, match=r"b\.json.*not an x file.*'format': 'posejax\.x'"):
    check_format_header("b.json", {"format": "other"}, "posejax.x", 2, "an x file")
  with pytest.raises(FileFormatError, match=r"c\.json.*not an x file"):
    check_format_header("c.json", [1, 2], "posejax.x", 2, "an x file")
  with pytest.raises(FileFormatError, match="unsupported version 1; this posejax reads version 2"):
    check_format_header("d.json", {"format": "posejax.x", "version": 1}, "posejax.x", 2,
                        "an x file")


def test_a_resumed_run_must_match_its_settings_and_a_damaged_run_json_is_named(tmp_path):
  run_json = tmp_path / "run.json"
  assert refuse_changed_settings(tmp_path, {"seed": 1}, "fits") == str(run_json)  # a new folder
  run_json.write_text('{"signature": {"seed": 1, "people": 2}}')
  assert refuse_changed_settings(tmp_path, {"seed": 1}, "fits") == str(run_json)
  with pytest.raises(InvalidInputError, match=r"other settings \(seed\)"):
    refuse_changed_settings(tmp_path, {"seed": 2}, "fits")
  for damaged in ('{"signature": ', "[1, 2]", '{"signature": 3}', "\xff"):
    run_json.write_bytes(damaged.encode("latin-1"))
    with pytest.raises(FileFormatError, match="run.json"):
      refuse_changed_settings(tmp_path, {"seed": 1}, "fits")


def test_read_complete_lines_cuts_a_half_written_last_line(tmp_path, caplog):
  path = tmp_path / "log.csv"
  assert read_complete_lines(path) == b""
  path.write_bytes(b"a,b\n1,2\n3,")
  assert read_complete_lines(path) == b"a,b\n1,2\n"
  assert path.read_bytes() == b"a,b\n1,2\n"  # the next append starts on its own line
  assert "half-written" in caplog.text
  assert read_complete_lines(path) == b"a,b\n1,2\n"
  path.write_bytes(b"no newline at all")
  assert read_complete_lines(path) == b"" and path.read_bytes() == b""


def test_temporary_files_of_killed_writers_are_removed_by_the_next_run(tmp_path):
  import subprocess
  import sys
  from posejax import io_utils
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  stale = tmp_path / f".tmp-{dead.pid}-abcresult.json"
  stale.write_text("half")
  live = tmp_path / f".tmp-{os.getppid()}-defresult.json"  # a writer that is still running
  live.write_text("in progress")
  unrelated = tmp_path / ".tmp-notes"
  unrelated.write_text("mine")
  io_utils.atomic_write_text(tmp_path / "result.json", "{}")
  assert not stale.exists()
  assert live.exists() and unrelated.exists()
  assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
      [live.name, unrelated.name, "result.json"])


def test_exclusive_run_makes_a_second_process_wait(tmp_path):
  import subprocess
  import sys
  import time
  from posejax import io_utils
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  marker = tmp_path / "order.txt"
  child_code = (
      "import sys, time\n"
      "from posejax import io_utils\n"
      "with io_utils.exclusive_run(sys.argv[1]):\n"
      "  open(sys.argv[2], 'a').write('child\\n')\n")
  with io_utils.exclusive_run(tmp_path / "out"):
    child = subprocess.Popen([sys.executable, "-c", child_code, str(tmp_path / "out"), str(marker)],
                             env=dict(os.environ, PYTHONPATH=repo))
    time.sleep(1.0)
    assert child.poll() is None  # still waiting for the lock
    with open(marker, "a") as handle:
      handle.write("parent\n")
  assert child.wait(timeout=60) == 0
  assert marker.read_text() == "parent\nchild\n"


def test_the_cache_folder_follows_posejax_cache_and_can_be_turned_off(tmp_path, monkeypatch):
  from posejax.io_utils import cache_directory
  monkeypatch.setenv("POSEJAX_CACHE", str(tmp_path))
  assert cache_directory("proxy") == os.path.join(str(tmp_path), "proxy")
  monkeypatch.delenv("POSEJAX_CACHE")
  assert cache_directory("jax") == os.path.join(os.path.expanduser("~"), ".cache", "posejax", "jax")
  monkeypatch.setenv("POSEJAX_CACHE", "off")
  assert cache_directory("jax") is None


_COMPILE_AND_CACHE = """
import sys
import jax, jax.numpy as jnp
import posejax
if sys.argv[1] == "off":
  try:
    posejax.enable_compilation_cache()
  except posejax.InvalidInputError as error:
    print("refused:", error)
  sys.exit(0)
print(posejax.enable_compilation_cache())
jax.jit(lambda x: jnp.sin(x) * 3.0)(jnp.ones(5)).block_until_ready()
"""


def test_compiled_programs_are_kept_in_the_cache_folder(tmp_path):
  import subprocess
  import sys
  run = lambda cache, mode: subprocess.run(
      [sys.executable, "-c", _COMPILE_AND_CACHE, mode], capture_output=True, text=True,
      env={**os.environ, "POSEJAX_CACHE": cache, "JAX_PLATFORMS": "cpu"}, check=True).stdout
  assert run(str(tmp_path), "on").strip() == str(tmp_path / "jax")
  assert any((tmp_path / "jax").iterdir())
  assert "refused: enable_compilation_cache: POSEJAX_CACHE is 'off'" in run("off", "off")
