"""Multi-host on one machine: 2 processes x 4 CPU devices (jax.distributed + gloo collectives) train
the tiny config to the same losses and parameters as 1 process x 8 devices."""
import os
import socket

import jax
import numpy as np
import pytest

from biglogit import checkpointing, sharding, train
from biglogit import trainer as trainer_lib
from tests.conftest import launch_main, logged_steps


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@pytest.mark.slow  # two cold compiles side by side: about 2 minutes on 2 cores
def test_two_processes_match_one_process(tiny_config, tmp_path):
  c = tiny_config
  c.image_every = 0
  workdir = tmp_path / "two_processes"
  port = _free_port()
  logs = [open(tmp_path / f"process_{i}.log", "w") for i in range(2)]
  procs = [launch_main(workdir, c.data.dataset, devices=4, log=logs[i], compile_cache=False,
                       extra_args=[f"--coordinator_address=localhost:{port}", "--num_processes=2",
                                   f"--process_id={i}"]) for i in range(2)]
  codes = [p.wait(timeout=300) for p in procs]
  for f in logs:
    f.close()
  assert codes == [0, 0], [(tmp_path / f"process_{i}.log").read_text()[-2000:] for i in range(2)]
  reference = train.train_and_evaluate(c, str(tmp_path / "one_process"))  # 8 devices, in-process

  # Process 0 alone writes logs; both wrote their shards of every checkpoint.
  one, two = logged_steps(tmp_path / "one_process"), logged_steps(workdir)
  assert sorted(two) == sorted(one) == [1, 2, 3, 4]
  for step in one:
    for k in ("d_loss", "g_loss", "d_real", "d_fake"):
      # Same examples in the same order: equal up to the order of cross-process reductions.
      np.testing.assert_allclose(two[step][k], one[step][k], rtol=1e-5, atol=1e-6)
  mesh = sharding.make_mesh()
  trainer = trainer_lib.build_trainer(c, mesh)
  ckpt = checkpointing.Checkpointer(str(workdir), 3, checkpointing.architecture_signature(c))
  restored = ckpt.restore(4, trainer.abstract_state)
  ckpt.close()
  # each process saved its own data position (Grain's checkpoint handler)
  assert sorted(p.name for p in (workdir / "checkpoints" / "4" / "data").glob("*.json")) == [
      "process_0-of-2.json", "process_1-of-2.json"]
  # Adam moves a parameter by about lr per step whatever the gradient's size, so entries whose
  # gradient is ~0 (and flips sign with the reduction order) may differ by up to steps * lr.
  atol = 1.5 * c.train.num_steps * max(c.train.g_lr, c.train.d_lr)
  for name in ("g_params", "d_params", "ema_params"):
    for a, b in zip(jax.tree_util.tree_leaves(jax.device_get(getattr(restored, name))),
                    jax.tree_util.tree_leaves(jax.device_get(getattr(reference, name)))):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=atol)
  assert not os.path.exists(workdir / "metrics_process_1.jsonl")


def test_dataset_missing_on_one_host_stops_every_process_with_one_error(tiny_config, tmp_path):
  port = _free_port()
  datasets = [tiny_config.data.dataset, str(tmp_path / "not_copied_here")]
  logs = [tmp_path / f"process_{i}.log" for i in range(2)]
  procs = []
  for i in range(2):
    with open(logs[i], "w") as log:
      procs.append(launch_main(tmp_path / "run", datasets[i], devices=4, log=log, compile_cache=False,
                               extra_args=[f"--coordinator_address=localhost:{port}",
                                           "--num_processes=2", f"--process_id={i}"]))
  assert [p.wait(timeout=180) for p in procs] == [2, 2]
  for log in logs:
    text = log.read_text()
    # (stdout and stderr share the file, and C++ logging may write mid-line: find the line anywhere)
    errors = [l[l.index("error: "):] for l in text.splitlines() if "error: " in l]
    assert len(errors) == 1, text[-3000:]  # one line
    assert "Traceback" not in text, text[-3000:]
    assert errors[0].startswith("error: the data could not be opened on process(es) [1] of 2"), errors
  assert not (tmp_path / "run" / "checkpoints").exists()
