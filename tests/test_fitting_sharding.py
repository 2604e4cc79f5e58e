"""posejax.fit over several devices: a batch sharded across (virtual CPU) devices.

Runs in a subprocess, because the device count is fixed when JAX starts.
"""

import subprocess
import sys
import textwrap


def test_sharded_batch_equals_unsharded(tmp_path):
  """Four scenes spread over four (virtual CPU) devices give the single-device result."""
  script = textwrap.dedent("""
      import jax, numpy as np, posejax
      from posejax.body import BodyParams
      model = posejax.body.default_model()
      rng = np.random.default_rng(1)
      orient = np.tile([np.pi, 0, 0], (4, 2, 1))
      transl = np.tile([[-0.5, 0, 4.0], [0.5, 0, 4.0]], (4, 1, 1))
      init = BodyParams.create(model, (4, 2), global_orient=orient, transl=transl,
                               body_pose=rng.normal(0, 0.1, (4, 2, 63)))
      keypoints = np.concatenate([rng.uniform(300, 700, (4, 2, 25, 2)), np.ones((4, 2, 25, 1))], -1)
      cons = [posejax.Constraints.from_pairs([[("hand", "shoulder (front)")]] * 4, people=2)] * 4
      config = posejax.FitConfig.two_person(max_iters=4).with_weights(penetration=0.0)
      plain = posejax.fit(keypoints, cons, init=init, model=model, image_size=(1000, 1000), config=config)
      mesh = jax.sharding.Mesh(np.array(jax.devices()), ("scenes",))
      spread = posejax.fit(keypoints, cons, init=init, model=model, image_size=(1000, 1000),
                           config=config, sharding=mesh)
      assert len(jax.devices()) == 4
      np.testing.assert_allclose(spread.params.body_pose, plain.params.body_pose, rtol=1e-5, atol=1e-6)
      np.testing.assert_allclose(spread.stage_total, plain.stage_total, rtol=1e-5)
      print("OK")
  """)
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "PATH": "/usr/bin:/bin",
         "JAX_PLATFORMS": "cpu"}
  done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                        timeout=900)
  assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]
