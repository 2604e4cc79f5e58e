"""Format headers of posejax's JSON files."""

import pytest

from posejax.errors import FileFormatError
from posejax.io_utils import check_format_header


def test_format_header_accepts_its_own_kind_and_names_what_is_wrong():
  check_format_header("a.json", {"format": "posejax.x", "version": 2}, "posejax.x", 2, "an x file")
  with pytest.raises(FileFormatError, match=r"b\.json.*not an x file.*'format': 'posejax\.x'"):
    check_format_header("b.json", {"format": "other"}, "posejax.x", 2, "an x file")
  with pytest.raises(FileFormatError, match=r"c\.json.*not an x file"):
    check_format_header("c.json", [1, 2], "posejax.x", 2, "an x file")
  with pytest.raises(FileFormatError, match="unsupported version 1; this posejax reads version 2"):
    check_format_header("d.json", {"format": "posejax.x", "version": 1}, "posejax.x", 2,
                        "an x file")
