"""Shared test set-up: strict broadcasting, a float64 switch, and generated model files."""

import atexit
import os
import shutil
import tempfile

import jax
import pytest

# What posejax keeps on disk between processes (interpenetration proxies) goes to a folder of this
# test run, not the user's cache; subprocesses of the tests inherit it.
_CACHE = tempfile.mkdtemp(prefix="posejax-test-cache-")
os.environ["POSEJAX_CACHE"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

# Silent broadcasting hides shape bugs; every test runs with it forbidden.
jax.config.update("jax_numpy_rank_promotion", "raise")

@pytest.fixture
def x64():
  """Runs the test body with 64-bit floats (parity and gradient checks)."""
  with jax.enable_x64(True):
    yield


@pytest.fixture(scope="session")
def synthetic_smplx_file(tmp_path_factory):
  """Path of a generated full-size SMPLX_NEUTRAL.npz (seed 0); the kid template lies beside it."""
  from smplx_files import write_synthetic_smplx
  return write_synthetic_smplx(tmp_path_factory.mktemp("smplx_model"), ext="npz", seed=0)


@pytest.fixture(scope="session")
def default_body():
  """The embedded default body model (Anny, SYNTHETIC label)."""
  from posejax.body import default_model
  return default_model()
