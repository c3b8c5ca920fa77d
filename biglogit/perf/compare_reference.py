"""python -m biglogit.perf.compare_reference [--rounds=3] [--steps=10] [--reference=../shared/reference/biggan-pytorch]

Runs from any working directory: --config and --reference are taken from the repository root when
they are relative (the defaults are the repository's configs/cifar10.py and ../shared beside it).

biglogit's GAN step against the reference PyTorch BigGAN's own training function at equal
architecture (BigGAN-32, spectral norm in G and D, EMA on, fp32, hinge loss) on this machine, run
interleaved (biglogit, reference, biglogit, ...) because a shared machine's speed drifts between
runs. Prints one JSON line per run and a summary per setting: images/s min/median/max of each side,
the ratio of the medians, and biglogit's compile time. Without the reference folder (or without
torch), only biglogit's side is measured. Each run is a fresh process (python -m biglogit.perf.benchmark
and the reference's time_biggan.py): the figures are what a user's command gets.
"""
import json
import os
import statistics
import subprocess
import sys
from typing import Dict, List, Optional

from absl import flags

from biglogit import BiglogitError
from biglogit import cli

# The two settings of the performance issue. The conditioning MLP's hidden width follows the
# reference's shared-embedding size at each width so that both models have the same parameters.
SETTINGS = {
    "ch16_b64_d2": {"ch": 16, "batch": 64, "d_steps": 2, "cond_hidden": 96},
    "ch32_b32_d1": {"ch": 32, "batch": 32, "d_steps": 1, "cond_hidden": 120},
}


# The repository root (biglogit/perf/ -> biglogit/ -> the root), where the configs and ../shared are.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def biglogit_command(setting: Dict, steps: int, config: str = "configs/cifar10.py:resnet20,cpu") -> List[str]:
  return [sys.executable, "-m", "biglogit.perf.benchmark", f"--config={config}", f"--steps={steps}",
          f"--config.model.ch_g={setting['ch']}", f"--config.model.ch_d={setting['ch']}",
          f"--config.train.global_batch={setting['batch']}", f"--config.train.d_steps={setting['d_steps']}",
          f"--config.model.cond_hidden={setting['cond_hidden']}"]


def reference_command(reference: str, python: str, setting: Dict, steps: int) -> List[str]:
  return [python, os.path.join(reference, "time_biggan.py"),
          "--peer_dir", os.path.join(reference, "BigGAN-PyTorch"), "--device", "cpu", "--resolution", "32",
          "--zy", "plain", "--ema", "on", "--warmup", "3", "--steps", str(steps), "--flops", "off",
          "--batch", str(setting["batch"]), "--ch", str(setting["ch"]), "--d_steps", str(setting["d_steps"])]


def run_json(command: List[str], cwd: str) -> Dict:
  """The last JSON line a benchmark prints on stdout."""
  done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
  lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
  if done.returncode or not lines:
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    raise BiglogitError(f"{' '.join(command[:3])} failed (rc {done.returncode}): {' | '.join(tail)}")
  return json.loads(lines[-1])


def spread(values: List[float]) -> str:
  return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def compare(rounds: int, steps: int, reference: Optional[str], torch_python: str, repo: str = REPO,
            config: str = "configs/cifar10.py:resnet20,cpu", settings=tuple(SETTINGS)) -> Dict:
  summary = {}
  for name in settings:
    setting = SETTINGS[name]
    ours, theirs, compile_s = [], [], []
    for i in range(rounds):
      result = run_json(biglogit_command(setting, steps, config), repo)
      ours.append(result["images_per_s"])
      compile_s.append(result["compile_s"])
      print(json.dumps({"setting": name, "round": i, "impl": "biglogit", **result}), flush=True)
      if reference:
        result = run_json(reference_command(reference, torch_python, setting, steps), repo)
        theirs.append(result["images_per_s"])
        print(json.dumps({"setting": name, "round": i, "impl": "reference", **result}), flush=True)
    summary[name] = {"biglogit_images_per_s": spread(ours), "biglogit_compile_s": spread(compile_s)}
    if theirs:
      summary[name].update(reference_images_per_s=spread(theirs),
                           ratio_of_medians=round(statistics.median(ours) / statistics.median(theirs), 3))
  return summary


def main(argv):
  del argv
  f = flags.FLAGS

  def body():
    unknown = sorted(set(f.settings) - set(SETTINGS))
    if unknown:
      raise BiglogitError(f"--settings={','.join(f.settings)}: unknown {', '.join(unknown)}; use any of "
                          f"{', '.join(SETTINGS)}")
    reference = os.path.join(REPO, f.reference)  # an absolute --reference stays as it is
    reference = reference if os.path.exists(os.path.join(reference, "time_biggan.py")) else None
    if reference:
      try:
        subprocess.run([f.torch_python, "-c", "import torch"], check=True, capture_output=True)
      except (OSError, subprocess.CalledProcessError):
        print(f"no torch in {f.torch_python}: measuring biglogit alone (--torch_python=...)", file=sys.stderr)
        reference = None
    else:
      print(f"no reference at {f.reference}: measuring biglogit alone", file=sys.stderr)
    summary = compare(f.rounds, f.steps, reference, f.torch_python, REPO, f.config, f.settings)
    for name, row in summary.items():
      print(json.dumps({"summary": name, **row}))
  body()


if __name__ == "__main__":
  flags.DEFINE_integer("rounds", 3, "Interleaved rounds per setting.", lower_bound=1, upper_bound=100)
  flags.DEFINE_integer("steps", 10, "Timed steps per run (after compilation and warm-up).", lower_bound=1,
                       upper_bound=10_000)
  flags.DEFINE_string("config", "configs/cifar10.py:resnet20,cpu", "biglogit's config (relative: to the "
                      "repository root); each setting overrides its widths and batch.")
  flags.DEFINE_list("settings", list(SETTINGS), f"Which settings to compare ({', '.join(SETTINGS)}).")
  flags.DEFINE_string("reference", os.path.join("..", "shared", "reference", "biggan-pytorch"),
                      "Folder of the reference's time_biggan.py.")
  flags.DEFINE_string("torch_python", sys.executable, "A Python with torch for the reference.")
  cli.run(main)
