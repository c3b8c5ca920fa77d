"""Figure-1-style grid: original | reconstruction by each given inverter, side by side.

  python -m biglogit.experiments.grid --workdir=RUN_ROBUST --workdir=RUN_DEEPSIM --workdir=RUN_STANDARD \
      [--baselines=nearest_logits,class_mean]

Images are random held-out examples that every run's classifier gets right (the logits of every
run's dataset put the true label first). Runs are aligned by the example's source index, so runs on
logits of different classifiers of the same images line up. Writes grid.png and grid.json (chosen
indices and classes, per-run PSNR/SSIM on exactly these images) under the first run's
experiments/grid/; each row of the picture is labelled with the example's class.
--baselines adds a column per trivial inverter (default nearest_logits), computed from the first
run's logits with its training split as the reference, so every picture shows what no training gives.
"""
import os

import numpy as np

from biglogit import BiglogitError
from biglogit import limits
from biglogit import cli
from biglogit import inference
from biglogit import images as image_lib
from biglogit.data import dataset as dataset_lib
from biglogit.evaluate import trivial_inverters as B
from biglogit.evaluate import metrics as M
from biglogit.experiments import harness

NAME = "grid"


def run(workdirs, out=None, num_images: int = 8, num_examples: int = 1000, seed: int = 0, split=None,
        baselines=("nearest_logits",), levers=None):
  kinds = B.parse_kinds(baselines)
  # One output folder, the first run's: the others may be releases, which an experiment never writes into
  out = out or os.path.join(workdirs[0], "experiments", NAME)
  runs = [harness.prepare_experiment(w, NAME, num_examples=num_examples, split=split, out=out,
                                    levers=levers) for w in workdirs]
  # Examples every classifier gets right, by source index.
  right = None
  position = []
  for r in runs:
    ex = r.examples
    pos = {int(i): p for p, i in enumerate(ex["index"]) if ex["logits"][p].argmax() == ex["label"][p]}
    position.append(pos)
    right = set(pos) if right is None else right & set(pos)
  if not right:
    raise BiglogitError(f"no held-out example among the first {num_examples} is classified correctly by "
                        "every run's classifier; raise --num_examples")
  right = sorted(right)
  chosen = [right[i] for i in harness.pick(len(right), num_images, seed)]
  first, first_rows, c = runs[0].examples, [position[0][i] for i in chosen], runs[0].config
  originals = first["x"][first_rows]
  columns, per_run = [originals], {}
  for r, pos in zip(runs, position):
    rows = [pos[i] for i in chosen]
    x = r.examples["x"][rows]
    if not np.array_equal(image_lib.unit_to_uint8(x), image_lib.unit_to_uint8(originals)):
      raise BiglogitError(f"run {r.inverter.name} holds different images at the same source indices "
                          "as the first run; grid compares runs built from the same image source")
    x_hat = r.inverter.reconstruct(r.examples["logits"][rows], seed=seed,
                                   indices=r.examples["index"][rows])
    columns.append(x_hat)
    per_run[r.inverter.name] = {"psnr": M.psnr(x, x_hat), "ssim": M.ssim(x, x_hat),
                                "method": r.inverter.config.method, "step": r.inverter.step}
  titles = ["original"] + [r.inverter.name for r in runs]
  if kinds:
    e = c.eval
    reference = B.load_reference(c.data.dataset, c.data.train_split, c.data.data_dir)
    logits = first["logits"][first_rows]
    for kind in kinds:
      x_hat = B.reconstruct(kind, reference, logits, e.nearest_distance,
                            e.class_mean_by)
      columns.append(x_hat)
      titles.append(f"baseline: {kind}")
      per_run[f"baseline: {kind}"] = {"psnr": M.psnr(originals, x_hat), "ssim": M.ssim(originals, x_hat)}
  out_dir = runs[0].out
  _, builder = dataset_lib.open_split(c.data.dataset, split or c.eval.split, c.data.data_dir)
  classes = dataset_lib.label_names(builder, first["label"][first_rows])
  figure = harness.save_grid(os.path.join(out_dir, "grid.png"), columns, titles, row_labels=classes)
  result = {**harness.header(runs[0], NAME), "columns": titles,
            "source_indices": chosen, "classes": classes, "all_correct_pool": len(right), "per_run": per_run,
            "figures": [os.path.basename(figure)]}
  harness.write_json(os.path.join(out_dir, "grid.json"), result)
  return result


def main():
  from absl import flags
  harness.define_common_flags(1000, multi_workdir=True)
  flags.DEFINE_integer("num_images", 8, "Rows of the figure.", lower_bound=1, upper_bound=limits.MAX_ROWS)
  flags.DEFINE_list("baselines", ["nearest_logits"], f"Trivial inverters as extra columns, any of "
                    f"{', '.join(B.KINDS)}; empty for none.")
  F = flags.FLAGS
  cli.run(lambda _: run(F.workdir, F.out, F.num_images, F.num_examples, F.seed, F.split, F.baselines,
          levers=inference.overrides_from_flags(F)))


if __name__ == "__main__":
  main()
