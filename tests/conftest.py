"""Shared test set-up: strict broadcasting, a float64 switch, and generated model files."""

import jax
import pytest

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
