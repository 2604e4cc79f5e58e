"""Format headers of posejax's JSON files; reading back append-only files after a killed run."""

import pytest

from posejax.errors import FileFormatError
from posejax.io_utils import check_format_header
from posejax.io_utils import read_complete_lines


def test_format_header_accepts_its_own_kind_and_names_what_is_wrong():
  check_format_header("a.json", {"format": "posejax.x", "version": 2}, "posejax.x", 2, "an x file")
  with pytest.raises(FileFormatError, match=r"b\.json.*not an x file.*'format': 'posejax\.x'"):
    check_format_header("b.json", {"format": "other"}, "posejax.x", 2, "an x file")
  with pytest.raises(FileFormatError, match=r"c\.json.*not an x file"):
    check_format_header("c.json", [1, 2], "posejax.x", 2, "an x file")
  with pytest.raises(FileFormatError, match="unsupported version 1; this posejax reads version 2"):
    check_format_header("d.json", {"format": "posejax.x", "version": 1}, "posejax.x", 2,
                        "an x file")


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
