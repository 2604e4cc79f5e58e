"""posejax.fit with slots across two jax.distributed processes on loopback equals one process.

Two CPU processes (gloo collectives) each fit their contiguous share of five scenes (three and
two: uneven shares) and gather everything; the test process fits the same scenes alone meanwhile.
"""

import os
import socket
import subprocess
import sys
import textwrap

import numpy as np

import posejax

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SCENES = """
import jax, numpy as np, posejax
from posejax.body import BodyParams

def scenes(model):
  rng = np.random.default_rng(3)
  count = 5
  orient = np.tile([np.pi, 0, 0], (count, 2, 1))
  transl = np.tile([[-0.5, 0, 4.0], [0.5, 0, 4.0]], (count, 1, 1))
  init = BodyParams.create(model, (count, 2), global_orient=orient, transl=transl,
                           body_pose=rng.normal(0, 0.1, (count, 2, 63)))
  keypoints = np.concatenate([rng.uniform(300, 700, (count, 2, 25, 2)),
                              np.ones((count, 2, 25, 1))], -1)
  cons = [posejax.Constraints.from_pairs([[("hand", "shoulder (front)")]] * 4, people=2)] * count
  cons[1] = posejax.Constraints.from_pairs([[]], people=2)  # falls back
  config = posejax.FitConfig.two_person(max_iters=6).with_weights(penetration=0.0)
  return keypoints, cons, init, config
"""


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_fit_their_shares_and_equal_one_process(tmp_path):
  (tmp_path / "scenes_def.py").write_text(_SCENES)
  child = textwrap.dedent("""
      import sys
      import jax
      jax.config.update("jax_cpu_collectives_implementation", "gloo")
      jax.distributed.initialize(coordinator_address="127.0.0.1:" + sys.argv[1],
                                 num_processes=2, process_id=int(sys.argv[2]))
      import posejax
      from scenes_def import scenes
      model = posejax.body.default_model()
      keypoints, cons, init, config = scenes(model)
      result = posejax.fit(keypoints, cons, init=init, model=model, config=config,
                           image_size=(1000, 1000), slots=2, across_processes=True)
      result.save(sys.argv[3])
      print("OK", jax.process_count(), jax.process_index())
  """)
  port = str(_free_port())
  env = {"PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu",
         "PYTHONPATH": os.pathsep.join([str(tmp_path), _REPO])}
  runs = [subprocess.Popen([sys.executable, "-c", child, port, str(i), str(tmp_path / f"p{i}")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
          for i in range(2)]
  namespace = {}
  exec(_SCENES, namespace)
  model = posejax.body.default_model()
  keypoints, cons, init, config = namespace["scenes"](model)
  alone = posejax.fit(keypoints, cons, init=init, model=model, config=config,
                      image_size=(1000, 1000))
  for i, run in enumerate(runs):
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0 and f"OK 2 {i}" in out, err[-3000:]
  for i in range(2):
    gathered = posejax.FitResult.load(tmp_path / f"p{i}")
    np.testing.assert_array_equal(gathered.iterations, alone.iterations)
    np.testing.assert_array_equal(gathered.fell_back, alone.fell_back)
    np.testing.assert_allclose(gathered.params.body_pose, alone.params.body_pose, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(gathered.params.transl, alone.params.transl, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gathered.stage_total, alone.stage_total, rtol=1e-5)
