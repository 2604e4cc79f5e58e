"""posejax turns XLA's experimental CPU fusions off only where the flag is known and unset."""

import importlib.metadata
import os
import subprocess
import sys

from posejax import _xla_flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_flag_is_added_once_and_never_over_the_users(monkeypatch):
  monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.10.2")
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
  assert _xla_flags.disable_experimental_cpu_fusions()
  assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=4 " + _xla_flags.FLAG
  assert not _xla_flags.disable_experimental_cpu_fusions()  # already there
  monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=dot")
  assert not _xla_flags.disable_experimental_cpu_fusions()
  assert os.environ["XLA_FLAGS"] == "--xla_cpu_experimental_ynn_fusion_type=dot"


def test_an_unknown_jaxlib_is_left_alone(monkeypatch):
  monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.11.0")
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  assert not _xla_flags.disable_experimental_cpu_fusions()
  assert "XLA_FLAGS" not in os.environ


def test_importing_posejax_sets_it_before_the_backend_starts():
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  code = ("import posejax, os, jax.numpy as jnp; jnp.ones(2).sum().block_until_ready(); "
          "print(os.environ.get('XLA_FLAGS', ''))")
  out = subprocess.run([sys.executable, "-c", code], env=dict(env, PYTHONPATH=REPO),
                       capture_output=True, text=True, timeout=120, check=True).stdout
  known = importlib.metadata.version("jaxlib").startswith(_xla_flags._VERSIONS_WITH_FLAG)
  assert (_xla_flags.FLAG in out) == known
