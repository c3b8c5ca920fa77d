"""python -m biglogit.export --workdir=RUN --out=pretrained/cifar10/NAME --hardware="1x H200"

Writes a small release of a trained inverter: the EMA generator only (an Orbax checkpoint of
{params, batch_stats}), config.json, the evaluation numbers, and MODEL_CARD.md (classifier, data,
steps, batch, hardware, the training time saved with the checkpoint, metrics). Load it with
biglogit.inverter.Inverter.load(OUT) -- the demo notebook does; the same loader takes a
training workdir, so evaluate and the experiments accept either.
"""
import json
import os
import shutil
import tempfile

import jax
import numpy as np
import jax.numpy as jnp
import orbax.checkpoint as ocp
from absl import flags
from etils import epath

from biglogit import BiglogitError
from biglogit import limits
from biglogit import checkpointing
from biglogit import images as image_lib
from biglogit import train_logs
from biglogit import warm_start
from biglogit import cli
from biglogit import files
from biglogit import inference
from biglogit.data import dataset as dataset_lib
from biglogit.data import pipeline
from biglogit.evaluate import core
from biglogit.inverter import Inverter, write_release_digest
from biglogit.data import conditioning
from biglogit.data import release

GENERATOR = "generator"
GRID = "grid.png"
RELEASE_INFO = "release.json"  # step, images seen, hardware, training time: what the card states
MAX_FILE_MB = 15


def training_seconds(workdir: str, step: int) -> float:
  """The training time of checkpoint `step`: the clock saved with it (summed over resumes; compilation,
  evaluations and image grids excluded), else, for checkpoints older than the clock, the wall time of
  the logged steps from metrics.jsonl's steps_per_s."""
  release_info = epath.Path(workdir) / RELEASE_INFO  # exporting a release again (new statistics)
  if release_info.exists():
    return float(json.loads(release_info.read_text())["training_seconds"])
  saved = checkpointing.saved_progress(epath.Path(workdir) / "checkpoints", step)
  if "train_seconds" in saved:
    return float(saved["train_seconds"])
  path = epath.Path(workdir) / "metrics.jsonl"
  if not path.exists():
    return float("nan")
  rows, last_step, total = train_logs.read_jsonl(path), 0, 0.0
  for row in rows:
    if "steps_per_s" in row and row["steps_per_s"] > 0 and row["step"] > last_step:
      total += (row["step"] - last_step) / row["steps_per_s"]
    last_step = max(last_step, row["step"])
  return total


def duration(seconds: float) -> str:
  """Minutes for short runs, hours for the long ones."""
  return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"


def dataset_name(dataset: str) -> str:
  """A logits dataset's name, also when the config gives its folder (…/NAME/VERSION)."""
  parts = os.path.normpath(dataset).split(os.sep)
  return parts[-2] if len(parts) > 1 and parts[-1] == dataset_lib.VERSION else parts[-1]


def _accuracy(dataset_meta, split: str) -> str:
  value = dataset_meta.get(f"accuracy_{split}", float("nan"))
  return "n/a (labels are not the classifier's classes)" if value is None else f"{value:.4f}"


def model_card(name: str, config, inverter, record, seconds: float, hardware: str, dataset_meta,
               dtype: str, limitations: str = "", standing: int = 0) -> str:
  """name: the release folder's name (the card's title). No path of the training machine appears:
  the image source is named by its file name only."""
  clf = dataset_meta.get("classifier", {})
  source = str(dataset_meta.get("source", "?"))
  source = source if source.startswith("tfds:") else os.path.basename(source.rstrip("/"))
  lines = [
      f"# {name}: logit inverter ({config.method})", "",
      f"- Inverts: {clf.get('architecture', '?')} logits (source checkpoint sha256 "
      f"{str(clf.get('source_sha256', '?'))[:12]}), released as: {release.describe(config.release)}",
      f"- Conditioning (what G sees of the released vector, data/conditioning.py): "
      f"{conditioning.describe(config)}" + (" (statistics in config.json)" if conditioning.settings(config)
                                            and config.conditioning.normalize == "standardize" else ""),
      f"- Data: logits dataset `{dataset_name(config.data.dataset)}` from `{source}`; "
      f"classifier accuracy train {_accuracy(dataset_meta, 'train')}, test {_accuracy(dataset_meta, 'test')}",
      f"- Model: {config.model.resolution}px, ch_g {config.model.ch_g}, ch_d {config.model.ch_d}, "
      f"dim_z {config.model.dim_z}, compute {config.model.compute_dtype}",
      f"- Training: {inverter.step} steps, global batch {config.train.global_batch}, "
      f"{config.train.d_steps} D steps per G step, G lr {config.train.g_lr}, D lr {config.train.d_lr}, "
      f"EMA {config.train.ema_decay} from step {config.train.ema_start}",
      f"- Images seen: {inverter.step * config.train.global_batch * config.train.d_steps:,} real images "
      f"({inverter.step} steps x batch {config.train.global_batch} x {config.train.d_steps} D steps)",
      f"- Hardware: {hardware}; training time {duration(seconds)} (compilation and evaluations excluded)"
      + (f"; {warm_start.describe(config)}, whose training time is not included" if warm_start.describe(config)
         else ""),
      f"- Inference (Inverter.load(path).reconstruct(z) applies it): {inverter.inference.describe()}"
      + (f"; {record['inference']['seconds_per_image']:.3g} s per image measured over the held-out set"
         if record and (record.get("inference") or {}).get("seconds_per_image") else ""),
      "- Weights: the EMA generator only (Orbax checkpoint in generator/, parameters stored as "
      f"{dtype})" + (f"; batch-norm statistics recomputed for the EMA weights from {standing} training "
                     "batches (export --standing_stats)" if standing else ""), ""]
  if record:
    lines += [f"## Held-out metrics ({record['num_examples']} examples of split "
              f"{record.get('split', '?')}, mean [95% bootstrap CI])", "",
              "Beside it: each accuracy-like metric's chance level and the trivial baselines on the same "
              "examples (biglogit/evaluate/trivial_inverters.py). Read a number as a finding only where its "
              "interval is clear of them.", ""]
    lines += core.metrics_table_lines(record)
    lines += [""] + [f"- {k}: {v}" for k, v in record.get("networks", {}).items() if v]
  if limitations:
    lines += ["", "## Limitations", "", limitations.strip()]
  lines += ["", f"![original | reconstruction, one held-out image per class]({GRID})", "",
            "Produced by `python -m biglogit.export`; load with "
            "`Inverter.load(path)` (biglogit.inverter; the same loader takes a training workdir)."]
  return "\n".join(lines) + "\n"


def save_class_grid(path: str, inverter, per_class: int = 1, max_rows: int = 10, pool: int = 500):
  """original | reconstruction for the first held-out image of each of up to max_rows classes (among
  the first `pool` of the evaluation split), so the card shows several classes, not one."""
  c = inverter.config
  ex = pipeline.fixed_examples(c.data.dataset, c.eval.split, c.data.data_dir, pool)
  rows, seen = [], {}
  for i, label in enumerate(ex["label"]):
    if seen.get(int(label), 0) < per_class and len(rows) < max_rows * per_class:
      seen[int(label)] = seen.get(int(label), 0) + 1
      rows.append(i)
  rows = np.asarray(rows)
  x_hat = inverter.reconstruct(ex["logits"][rows], seed=0, indices=ex["index"][rows])
  _, builder = dataset_lib.open_split(c.data.dataset, c.eval.split, c.data.data_dir)
  labels = dataset_lib.label_names(builder, ex["label"][rows])
  image_lib.save_png(path, image_lib.labelled_grid([ex["image"][rows], image_lib.unit_to_uint8(x_hat)],
                                                   ["original", "reconstruction"], labels, upscale=3))
  return path


def write_card(release_dir: str, inverter, record, info, dataset_meta, name: str = ""):
  """MODEL_CARD.md + grid.png of a release folder (also to refresh an existing release's card with
  a new evaluation record: `refresh_card`). info["limitations"]: the releaser's plain statement of
  what the model does not do (its card's Limitations section); it stays in release.json so a
  refreshed card keeps it."""
  release = epath.Path(release_dir)
  save_class_grid(str(release / GRID), inverter)
  files.atomic_write(release / "MODEL_CARD.md", model_card(
      name or release.name, inverter.config, inverter, record, info["training_seconds"],
      info["hardware"], dataset_meta, info.get("dtype", "float32"), info.get("limitations", ""),
      info.get("standing_stats_batches", 0)))


def refresh_card(release_dir: str, metrics_json: str, data_dir: str = "", limitations: str = None):
  """Rewrite a release's card, grid and metrics.json from a newer evaluation of it (e.g.
  `python -m biglogit.evaluate --workdir=RELEASE --out=...`), keeping its release.json facts."""
  inverter = Inverter.load_export(release_dir)
  if data_dir:
    inverter.config.data.data_dir = data_dir
  release = epath.Path(release_dir)
  info = json.loads((release / RELEASE_INFO).read_text())
  if limitations is not None:
    info["limitations"] = limitations
    files.atomic_write(release / RELEASE_INFO, json.dumps(info, indent=2))
    write_release_digest(release_dir)
  record = json.loads(epath.Path(metrics_json).read_text())
  record["step"] = info["step"]
  record["workdir"] = release_dir  # the release, not the path of the machine that evaluated it
  c = inverter.config
  _, builder = dataset_lib.open_split(c.data.dataset, c.data.train_split, c.data.data_dir)
  files.atomic_write(release / "metrics.json", json.dumps(record, indent=2))
  write_card(release_dir, inverter, record, info, dict(builder.info.metadata or {}))


def recompute_stats(inverter, batches: int, seed: int = 0):
  """Standing statistics for the EMA weights from `batches` batches of the training split (global
  batch each; a fixed random draw), before the release is written (Inverter.recompute_stats)."""
  c = inverter.config
  source, _ = dataset_lib.open_split(c.data.dataset, c.data.train_split, c.data.data_dir)
  batch = int(c.train.global_batch)
  if batches * batch > len(source):
    raise BiglogitError(f"--standing_stats={batches} batches of {batch} exceed the {len(source)} training "
                        "examples; ask for fewer batches")
  indices = np.sort(np.random.RandomState(seed).permutation(len(source))[:batches * batch])
  logits = np.stack([np.asarray(source[int(i)]["logits"], np.float32) for i in indices])
  order = np.random.RandomState(seed + 1).permutation(len(indices))  # batches mix the classes
  return inverter.recompute_stats(logits[order], indices[order], batch, seed)


def export(workdir: str, out: str, hardware: str, step=None, dtype: str = "float32",
           limitations: str = "", standing_stats: int = 0, data_dir: str = "", levers=None) -> str:
  """dtype="bfloat16" halves the release (the loader casts back to float32). `out` may be local or
  on object storage (gs://...); the release is assembled in a local folder and published whole.
  standing_stats=N: recompute the EMA generator's batch-norm statistics from N training batches
  first (needed when the EMA weights lag G, e.g. train.ema_decay 0.9999; `workdir` may then be an
  earlier release of the run, whose held-out numbers no longer apply and are dropped).
  levers: inference settings (biglogit/inference.py) the release records as its defaults, so that
  Inverter.load(out).reconstruct(z) applies them; phi's folder is recorded relative to the release."""
  if dtype not in ("float32", "bfloat16"):
    raise BiglogitError(f"--dtype={dtype}; use float32 or bfloat16")
  if standing_stats < 0:
    raise BiglogitError(f"--standing_stats={standing_stats}; use 0 (keep training's statistics) or a number of batches")
  target = epath.Path(out)
  if target.exists() and not target.is_dir():
    raise BiglogitError(f"--out={out} is an existing file; export into a fresh folder")
  if target.exists() and any(target.iterdir()):
    raise BiglogitError(f"{out} exists and is not empty; export into a fresh folder")
  if not files.is_remote(out):
    files.check_can_create(out, "--out")
  inverter = Inverter.load(workdir, step)
  config = inverter.config
  if data_dir:
    config.data.data_dir = data_dir
  inverter.set_inference(**(levers or {}))
  recorded_levers = recorded_inference(inverter, out)  # phi is found and checked before anything is written
  if standing_stats and not jax.tree_util.tree_leaves(inverter.g_stats):
    standing_stats = 0  # a generator without running statistics (DeePSiM's decoder): nothing to redo
  if standing_stats:
    recompute_stats(inverter, standing_stats)
  record = None
  metrics_path = epath.Path(workdir) / "eval" / "metrics.json"
  if metrics_path.exists():
    record = json.loads(files.read_pair(metrics_path, metrics_path.with_suffix(".md")))
    evaluated_with = inference.from_dict({k: v for k, v in (record.get("inference") or {}).items()
                                          if k not in ("described", "seconds_per_image")})
    if record.get("step") != inverter.step or standing_stats or \
        _comparable(evaluated_with) != _comparable(inverter.inference):
      record = None  # numbers of another checkpoint or other inference settings do not describe this one
    else:
      record["workdir"] = out  # the release, not the training machine's path
  _, builder = dataset_lib.open_split(config.data.dataset, config.data.train_split, config.data.data_dir)
  # Staged beside a local `out` (one rename publishes it), in a local temporary folder for a remote one;
  # the staging folder is this export's own (a unique name), and the only thing a failure removes.
  if files.is_remote(out):
    tmp = tempfile.mkdtemp()
  else:
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(os.path.abspath(out))}.export-")
  try:
    _stage(tmp, workdir, inverter, record, builder, hardware, dtype, limitations, target.name, standing_stats,
           recorded_levers)
    publish(tmp, out)
  except BaseException as e:
    shutil.rmtree(tmp, ignore_errors=True)
    if files.disk_full(e):
      raise BiglogitError(f"export to {out} failed: no space left on the device (nothing was published; "
                          f"the run {workdir} is untouched); free space and export again") from e
    raise
  return out


def _stage(tmp, workdir, inverter, record, builder, hardware, dtype, limitations, name, standing_stats=0,
           recorded_levers=None):
  """Writes the whole release into the folder `tmp`."""
  config = inverter.config
  checkpointer = ocp.StandardCheckpointer()
  params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype), inverter.params)
  generator = {"params": params, "batch_stats": inverter.g_stats}
  checkpointer.save(os.path.abspath(os.path.join(tmp, GENERATOR)), generator)
  checkpointer.wait_until_finished()
  with open(os.path.join(tmp, "config.json"), "w") as f:
    json.dump(config.to_dict(), f, indent=2)
  if record:
    with open(os.path.join(tmp, "metrics.json"), "w") as f:
      json.dump(record, f, indent=2)
  t = config.train
  info = {"step": inverter.step, "images_seen": inverter.step * t.global_batch * t.d_steps,
          "hardware": hardware, "training_seconds": training_seconds(workdir, inverter.step), "dtype": dtype,
          "limitations": limitations, "standing_stats_batches": standing_stats}
  if recorded_levers:
    info["inference"] = recorded_levers
  with open(os.path.join(tmp, RELEASE_INFO), "w") as f:
    json.dump(info, f, indent=2)
  write_release_digest(tmp)  # the weights and every field of config.json and release.json
  write_card(tmp, inverter, record, info, dict(builder.info.metadata or {}), name=name)
  for root, _, names in os.walk(tmp):
    for file_name in names:
      size = os.path.getsize(os.path.join(root, file_name)) / 2**20
      if size > MAX_FILE_MB:
        raise BiglogitError(f"{file_name} is {size:.1f} MB, over the {MAX_FILE_MB} MB release limit; "
                            "release a smaller model or host it elsewhere")


def _comparable(settings) -> dict:
  """The settings that change the images (not where phi was found)."""
  return {k: v for k, v in settings.to_dict().items() if k not in ("classifier", "classifier_sha256")}


def recorded_inference(inverter, out: str) -> dict:
  """The release's inference defaults ({} when plain): phi's folder relative to a local release (so it
  resolves from any working directory while the release stays beside its classifier) and phi's digest."""
  if inverter.inference.plain:
    return {}
  settings = inverter.inference.to_dict()
  if inverter.inference.needs_phi:
    phi = inverter.phi()
    settings["classifier"] = phi.directory if files.is_remote(out) else \
        os.path.relpath(os.path.abspath(phi.directory), os.path.abspath(out))
    settings["classifier_sha256"] = phi.meta.get("variables_sha256", "")
  return settings


def publish(staged: str, out: str):
  """Move a finished local release folder to `out`: one rename locally; on object storage a copy of
  every file with the card last, so a release that has a card is complete."""
  if not files.is_remote(out):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if os.path.exists(out):
      os.rmdir(out)  # empty (checked before anything was written)
    os.replace(staged, out)
    return
  paths = sorted(os.path.relpath(os.path.join(root, f), staged)
                 for root, _, names in os.walk(staged) for f in names)
  for rel in sorted(paths, key=lambda p: p == "MODEL_CARD.md"):
    dest = epath.Path(out) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(epath.Path(staged, rel).read_bytes())
  shutil.rmtree(staged)


def main(argv):
  del argv
  F = flags.FLAGS
  print(export(F.workdir, F.out, F.hardware, F.step, F.dtype, F.limitations, F.standing_stats,
               F.data_dir, inference.overrides_from_flags(F)))


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "A trained biglogit.main workdir.")
  flags.DEFINE_string("out", None, "Release folder (must not exist or be empty).")
  flags.DEFINE_string("hardware", None, "What it was trained on, for the model card (e.g. '1x H200').")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).", lower_bound=0, upper_bound=limits.MAX_STEPS)
  flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Storage dtype of the parameters.")
  flags.DEFINE_string("limitations", "", "What the model does not do, in plain words (the card's "
                      "Limitations section); e.g. which baselines it does not beat.")
  flags.DEFINE_integer("standing_stats", 0, "Recompute the EMA generator's batch-norm statistics from this many "
                       "training batches (0: keep the live G's); a release may be the --workdir then.",
                       lower_bound=0, upper_bound=100_000)
  flags.DEFINE_string("data_dir", "", "Where the run's logits dataset lives, if it moved.")
  inference.define_flags()  # the levers the release records as its defaults
  flags.mark_flags_as_required(["workdir", "out", "hardware"])
  cli.run(main)
