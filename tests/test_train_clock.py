"""The training clock: training time summed over resumes (saved with each checkpoint), a time budget
that ends a run as finished, and evaluations scheduled in hours of training."""
import json
import os

import pytest

from biglogit import BiglogitError
from biglogit import preflight
from biglogit import train
from biglogit import train_logs
from biglogit import training_loop
from tests.conftest import REPO


def _rows(workdir):
  return [r for r in train_logs.read_jsonl(os.path.join(workdir, "metrics.jsonl")) if "train_hours" in r]


def test_a_time_budget_ends_the_run_as_finished_and_the_clock_continues_across_a_resume(tiny_config, tmp_path, capsys):
  c = tiny_config
  c.train.num_steps, c.log_every, c.checkpoint_every, c.image_every = 6, 2, 100, 0
  c.train.budget_hours = 1e-9  # spent by the first log point
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(c, workdir)
  out = capsys.readouterr().out
  assert "finished step 2 (its time budget, train.budget_hours=1e-09) in " in out and "training time: " in out
  steps = sorted(int(p) for p in os.listdir(os.path.join(workdir, "checkpoints")) if p.isdigit())
  assert steps == [2]  # the budget's last step is checkpointed like a run's last step
  with open(os.path.join(workdir, "checkpoints", "2", "progress", "metadata")) as f:
    saved = json.load(f)["train_seconds"]
  assert saved > 0
  rows = _rows(workdir)
  assert [r["step"] for r in rows] == [2] and rows[0]["train_hours"] == pytest.approx(saved / 3600)

  train.train_and_evaluate(c, workdir)  # the same budget again: nothing to do, said so
  out = capsys.readouterr().out
  assert "already finished" in out and "raise --config.train.budget_hours" in out
  c.train.budget_hours = 0.0  # no budget: on to num_steps, the clock going on from the saved time
  train.train_and_evaluate(c, workdir)
  rows = _rows(workdir)
  assert [r["step"] for r in rows] == [2, 4, 6]
  hours = [r["train_hours"] for r in rows]
  assert hours[0] < hours[1] < hours[2]
  assert "finished step 6 in " in capsys.readouterr().out

  # The release states the clock of its checkpoint (both starts), not one start's log.
  from biglogit import export
  release = export.export(workdir, str(tmp_path / "release"), hardware="2 CPU cores")
  with open(os.path.join(workdir, "checkpoints", "6", "progress", "metadata")) as f:
    saved = json.load(f)["train_seconds"]
  with open(os.path.join(release, export.RELEASE_INFO)) as f:
    assert json.load(f)["training_seconds"] == pytest.approx(saved) and saved > rows[0]["train_hours"] * 3600
  with open(os.path.join(release, "MODEL_CARD.md")) as f:
    assert f"training time {saved / 60:.1f} min (compilation and evaluations excluded)" in f.read()


def test_the_card_gives_long_runs_in_hours():
  from biglogit import export
  assert export.duration(750) == "12.5 min" and export.duration(5.5 * 3600) == "5.50 h"


def test_evaluations_every_so_many_hours_fall_at_the_first_log_step_past_each_multiple():
  clock = training_loop.TrainClock(seconds=100.0)  # resumed past one multiple of 90 s
  due = train.due_every_hours(clock, 90 / 3600)
  assert not due(1, False)
  clock.seconds = 170.0
  assert not due(2, False)  # still within the second period
  clock.seconds = 185.0
  assert due(3, False) and not due(4, False)  # once per multiple
  clock.seconds = 400.0
  assert due(5, False) and not due(6, False)  # several multiples at once: one evaluation
  assert due(7, True)  # the last step
  assert not train.due_every_hours(clock, 90 / 3600, skip_last=True)(8, True)  # the final evaluation covers it
  assert not train.due_every_hours(clock, 0)(9, True)


@pytest.mark.parametrize("key,value", [("train.budget_hours", -1.0), ("eval.every_hours", float("nan"))])
def test_bad_time_settings_are_refused_before_any_work(tiny_config, tmp_path, key, value):
  section, name = key.split(".")
  tiny_config[section][name] = value
  with pytest.raises(BiglogitError, match=f"{key}=.*; use a finite number from 0 to 10,000 \\(e.g. 0 "):
    train.train_and_evaluate(tiny_config, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_every_cifar10_variant_is_a_valid_config_and_the_long_scale_runs_on_a_budget():
  from biglogit import sharding
  from configs import cifar10
  mesh = sharding.make_mesh()
  for phi in cifar10.CLASSIFIERS:
    for scale in cifar10.SCALES:
      preflight.validate_config(cifar10.get_config(f"{phi},{scale}"), mesh)
  c = cifar10.get_config("resnet4b,cpu_hours")
  assert c.train.budget_hours == 5.0 and c.eval.every_hours == 0.5 and c.keep_checkpoints == 1
  assert c.data.classifier == "pretrained/cifar10/resnet4b" and os.path.isdir(os.path.join(REPO, c.data.classifier))
  assert all(c[k.split(".")[0]][k.split(".")[1]] == v for k, v in cifar10.LONG_RECIPE.items())
