"""What every experiment shares: loading a run (inverter + held-out data + judging networks), the
output folder RUN/experiments/<name>/, JSON numbers and PNG figures."""
import dataclasses
import json
from typing import Any, Dict, List, Optional

import numpy as np
from etils import epath

from biglogit import BiglogitError
from biglogit import limits
from biglogit import files
from biglogit import images as image_lib
from biglogit import cli
from biglogit import inference
from biglogit.evaluate import core
from biglogit.evaluate import metrics as M
from biglogit.inverter import Inverter, load_config


@dataclasses.dataclass
class Run:
  inverter: Inverter
  evaluator: core.Evaluator
  examples: Dict[str, np.ndarray]  # x float [0,1], image uint8, logits, label, index
  out: str

  @property
  def config(self):
    return self.inverter.config

  def ci(self, values):
    """Mean and 95% interval of per-example values, with the run's eval.bootstrap resamples."""
    return M.bootstrap_ci(values, self.config.eval.bootstrap)


def prepare_experiment(workdir: str, experiment: str, *, num_examples: int, split: Optional[str] = None,
             out: Optional[str] = None, need_phi: bool = False, levers: Optional[dict] = None) -> Run:
  """Data and judging networks are checked before the checkpoint is restored. levers: inference
  settings over the inverter's own (biglogit/inference.py; the --truncation, --best_of, ... flags)."""
  config = load_config(workdir)
  split = split or config.eval.split
  examples, metadata = core.held_out(config, split, num_examples)
  evaluator = core.Evaluator(config, metadata)
  if need_phi and evaluator.phi is None:
    raise BiglogitError(f"experiment {experiment} needs the classifier phi; set eval.classifier in "
                        f"{workdir}/config.json's config or rebuild the dataset with make_logits")
  inverter = Inverter.load(workdir).set_inference(**(levers or {}))
  out = out or str(epath.Path(workdir) / "experiments" / experiment)
  epath.Path(out).mkdir(parents=True, exist_ok=True)
  return Run(inverter, evaluator, examples, out)


to_uint8 = image_lib.unit_to_uint8


def save_grid(path: str, columns: List[np.ndarray], titles: List[str], row_labels=None, upscale: int = 3) -> str:
  """columns: float [0, 1] or uint8 arrays [N, H, W, 3], one column each, titled in the picture; a
  row per example (row_labels: what differs between rows, where something does)."""
  cols = [c if c.dtype == np.uint8 else image_lib.unit_to_uint8(c) for c in columns]
  image_lib.save_png(path, image_lib.labelled_grid(cols, titles, row_labels, upscale=upscale))
  return path


def write_json(path: str, obj: Any) -> str:
  files.atomic_write(path, json.dumps(obj, indent=2, default=_jsonable))
  return path


def _jsonable(o):
  if isinstance(o, np.generic):
    return o.item()
  if isinstance(o, np.ndarray):
    return o.tolist()
  raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def header(run: Run, experiment: str) -> Dict[str, Any]:
  inv = run.inverter
  return {"experiment": experiment, "run": inv.name, "workdir": inv.workdir, "step": inv.step,
          "method": inv.config.method, "networks": run.evaluator.describe(),
          "notes": list(run.evaluator.notes)}


def pick(n_total: int, n: int, seed: int) -> np.ndarray:
  """n distinct indices, random but reproducible, kept in increasing order."""
  rng = np.random.default_rng(seed)
  return np.sort(rng.choice(n_total, size=min(n, n_total), replace=False))


def define_common_flags(num_examples: int, multi_workdir: bool = False):
  """Called under `if __name__ == "__main__"` only, so tests can import every experiment together."""
  from absl import flags
  if multi_workdir:
    flags.DEFINE_multi_string("workdir", None, "A biglogit.main workdir; repeat for side-by-side runs.")
  else:
    flags.DEFINE_string("workdir", None, "A biglogit.main workdir.")
  flags.DEFINE_string("out", None, "Output folder (default: RUN/experiments/<name>).")
  flags.DEFINE_integer("num_examples", num_examples, "Held-out examples to use.",
                       lower_bound=1, upper_bound=limits.MAX_EXAMPLES)
  flags.DEFINE_integer("seed", 0, "Which random examples (and eps) are drawn.", lower_bound=0, upper_bound=limits.MAX_SEED)
  flags.DEFINE_string("split", None, "Held-out split (default: the run's eval.split).")
  inference.define_flags()
  flags.mark_flags_as_required(["workdir"])


def simple_main(run, num_examples: int, num_images: int, multi_workdir: bool = False):
  """The command line of an experiment whose run() takes only the common flags and --num_images:
  run(workdir, out, num_images, num_examples, seed, split)."""
  from absl import flags
  define_common_flags(num_examples, multi_workdir)
  flags.DEFINE_integer("num_images", num_images, "Rows of each figure.", lower_bound=1, upper_bound=limits.MAX_ROWS)
  F = flags.FLAGS
  cli.run(lambda _: run(F.workdir, F.out, F.num_images, F.num_examples, F.seed, F.split,
                        levers=inference.overrides_from_flags(F)))
