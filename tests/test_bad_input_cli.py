"""Bad input through every command line: one line `error: ...`, exit status 2, and nothing that
existed before modified or added (every file under the watched folders is hashed before and after).

The commands run through tests/cli_runner.py (one import of the heavy libraries, a fork per
command), so the table costs seconds, not a fresh interpreter per row.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from tests.conftest import REPO, flip_bytes_in_array_files, save_tiny_classifier


@pytest.fixture(scope="module")
def files(tmp_path_factory, inverter_runs):
  """Every broken thing a user could point a command at, each in its own folder."""
  from PIL import Image
  root = tmp_path_factory.mktemp("bad_inputs")
  p = {"root": str(root), "run": inverter_runs["gan"], "dataset": inverter_runs["dataset"],
       "phi": inverter_runs["phi"]}
  rng = np.random.default_rng(0)
  for cls in ("cat", "dog"):
    os.makedirs(root / "images" / "train" / cls)
    for i in range(40):
      Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
          root / "images" / "train" / cls / f"{i}.png")
  with tarfile.open(root / "images.tar.gz", "w:gz") as tar:
    tar.add(root / "images", arcname="images")
  data = (root / "images.tar.gz").read_bytes()
  (root / "truncated.tar.gz").write_bytes(data[:len(data) // 2])
  p["images"], p["truncated_tar"] = str(root / "images"), str(root / "truncated.tar.gz")

  good = save_tiny_classifier(str(root / "classifier"), 0)
  for name in ("no_variables", "garbled", "garbled_no_digest"):
    os.makedirs(root / name)
    shutil.copy(os.path.join(good, "classifier.json"), root / name)
    p[name] = str(root / name)
  (root / "garbled" / "variables.msgpack").write_bytes(b"\xc1\xc1 not msgpack")
  (root / "garbled_no_digest" / "variables.msgpack").write_bytes(b"\xc1\xc1 not msgpack")
  meta = json.loads((root / "garbled_no_digest" / "classifier.json").read_text())
  del meta["variables_sha256"]
  (root / "garbled_no_digest" / "classifier.json").write_text(json.dumps(meta))

  shutil.copytree(good, root / "fit_run" / "classifier")  # a finished classifier run, for its release
  p["fit_run"] = str(root / "fit_run")
  shutil.copytree(good, root / "edited_normalisation")  # classifier.json's mean changed by hand
  meta = json.loads((root / "edited_normalisation" / "classifier.json").read_text())
  meta["mean"] = [0.0, 0.0, 0.0]
  (root / "edited_normalisation" / "classifier.json").write_text(json.dumps(meta))
  p["edited_normalisation"] = str(root / "edited_normalisation")
  (root / "not_a_checkpoint.pth").write_bytes(b"this is no pickle")
  (root / "existing_file").write_text("keep me")
  (root / "project").mkdir()  # a folder where report --out=. would have replaced the README
  (root / "project" / "README.md").write_text("# my project\n")
  p["project"] = str(root / "project")
  p["data_root"] = os.path.dirname(os.path.dirname(os.path.dirname(p["dataset"])))
  (root / "folder_of_other_files").mkdir()
  (root / "folder_of_other_files" / "notes.txt").write_text("keep me")
  p["not_a_checkpoint"] = str(root / "not_a_checkpoint.pth")
  p["existing_file"], p["other_files"] = str(root / "existing_file"), str(root / "folder_of_other_files")
  p["nan_checkpoint"] = str(root / "nan.pth")
  try:
    import torch
    torch.save({"conv1.weight": torch.full((16, 3, 3, 3), float("nan"))}, p["nan_checkpoint"])
  except ImportError:
    pass  # that row is skipped without the convert extra

  (root / "config_only").mkdir()  # a run that wrote its config and died before a checkpoint
  shutil.copy(os.path.join(p["run"], "config.json"), root / "config_only")
  p["config_only"] = str(root / "config_only")
  (root / "raises.py").write_text("def get_config():\n  raise ValueError('unfinished config')\n")
  (root / "no_sections.py").write_text("import ml_collections\n\ndef get_config():\n"
                                       "  return ml_collections.ConfigDict({'seed': 0})\n")
  p["raises_config"], p["no_sections_config"] = str(root / "raises.py"), str(root / "no_sections.py")

  (root / "syntax.py").write_text("def get_config(:\n  pass\n")
  p["syntax_config"] = str(root / "syntax.py")
  from biglogit.data import dataset as dataset_lib, pipeline
  arrays = pipeline.fixed_examples(p["dataset"], "train", "", None)
  poisoned = {k: v.copy() for k, v in arrays.items()}
  poisoned["logits"] = poisoned["logits"].astype(np.float32)
  poisoned["logits"][3, 0] = np.inf  # one damaged row of the evaluation split
  p["nan_dataset"] = os.fspath(dataset_lib.write_numpy_dataset(
      str(root / "nan_data"), "nan_logits", {"train": arrays, "test": poisoned}, allow_non_finite=True))
  for name, text in (("truncated_record", '{"metrics": {"psnr": {"mean": 1'), ("keyless_record", '{"foo": 1}'),
                     ("old_record", '{"num_examples": 1, "metrics": {"psnr": {"mean": 1}}}')):
    (root / name / "eval").mkdir(parents=True)
    (root / name / "eval" / "metrics.json").write_text(text)
    p[name] = str(root / name)

  from biglogit import export
  p["export"] = export.export(p["run"], str(root / "export"), hardware="2 CPU cores")
  p["edited_release"] = str(root / "edited_release")  # release.kind changed by hand: full -> top1
  shutil.copytree(p["export"], p["edited_release"])
  config = json.loads((root / "edited_release" / "config.json").read_text())
  config["release"]["kind"] = "top1"
  (root / "edited_release" / "config.json").write_text(json.dumps(config))
  p["damaged_export"] = str(root / "damaged_export")
  shutil.copytree(p["export"], p["damaged_export"])
  flip_bytes_in_array_files(os.path.join(p["damaged_export"], "generator"))
  return p


# (id, module, arguments, the exact error line). {name} is a path from the `files` fixture; {new} a
# path that does not exist yet (and must still not exist afterwards).
CASES = [
    ("main: missing config file", "biglogit.main", ["--config={root}/nothere.py", "--workdir={new}"],
     "--config={root}/nothere.py cannot be loaded ([Errno 2] No such file or directory: "
     "'{root}/nothere.py'); pass a config file such as configs/tiny.py"),
    ("main: config that raises", "biglogit.main", ["--config={raises_config}", "--workdir={new}"],
     "the config file's get_config() failed (ValueError: unfinished config); fix the file given to --config"),
    ("main: config without sections", "biglogit.main", ["--config={no_sections_config}", "--workdir={new}"],
     "--config={no_sections_config} has no 'model' section; start from a config such as configs/tiny.py"),
    ("main: config chain loaded from another folder", "biglogit.main",
     ["--config=" + os.path.join(REPO, "configs", "learning_check.py"), "--workdir={new}",
      "--config.train.num_steps=0"],
     "train.num_steps=0; use an integer from 1 to 1,000,000,000"),
    ("main: family variant loaded from another folder", "biglogit.main",
     ["--config=" + os.path.join(REPO, "configs", "cifar10.py") + ":resnet4b,quickstart", "--workdir={new}",
      "--config.train.num_steps=0"],
     "train.num_steps=0; use an integer from 1 to 1,000,000,000"),
    ("main: unknown family variant", "biglogit.main",
     ["--config=" + os.path.join(REPO, "configs", "cifar10.py") + ":resnet9", "--workdir={new}"],
     "the config file's get_config() failed (ValueError: variant 'resnet9'; use configs/cifar10.py:PHI[,SCALE] "
     "with PHI one of resnet20, resnet4b, resnet20_trained_standard, resnet20_trained_robust, inception_trained_standard, inception_trained_robust and SCALE one of gpu, cpu, cpu_long, quickstart, quickstart_scratch, cpu_hours); fix the file given "
     "to --config"),
    ("main: empty workdir", "biglogit.main", ["--config=configs/tiny.py", "--workdir="],
     "--workdir is empty; give the folder for checkpoints, logs and images"),
    ("main: no workdir flag", "biglogit.main", ["--config=configs/tiny.py"],
     "flag --workdir=None: Flag --workdir must have a value other than None.; see --helpfull for the flags"),
    ("main: unknown config key", "biglogit.main", ["--config=configs/tiny.py", "--workdir={new}",
                                                   "--config.model.chg=3"],
     "unknown config key 'chg' in a --config.x=value override (did you mean \"ch_g\" instead of \"chg\"?); use a key that "
     "the config file defines"),
    ("main: zero steps", "biglogit.main", ["--config=configs/tiny.py", "--workdir={new}",
                                           "--config.data.dataset={dataset}", "--config.train.num_steps=0"],
     "train.num_steps=0; use an integer from 1 to 1,000,000,000"),
    ("main: NaN learning rate", "biglogit.main", ["--config=configs/tiny.py", "--workdir={new}",
                                                  "--config.data.dataset={dataset}", "--config.train.g_lr=nan"],
     "train.g_lr=nan; use a finite number above 0 (e.g. 1e-4)"),
    ("main: resume past num_steps", "biglogit.main",
     ["--config=configs/tiny.py", "--workdir={run}", "--config.data.dataset={dataset}",
      "--config.train.num_steps=2"],
     "{run} already holds step 4, past train.num_steps=2; raise --config.train.num_steps "
     "or use another workdir"),
    ("convert: missing checkpoint", "biglogit.convert",
     ["--arch=cifar_resnet20", "--checkpoint={root}/missing.th", "--out={new}"],
     "checkpoint {root}/missing.th does not exist"),
    ("convert: out is a file", "biglogit.convert",
     ["--arch=cifar_resnet20", "--checkpoint={not_a_checkpoint}", "--out={existing_file}"],
     "--out={existing_file} is an existing file; give a folder for the converted classifier"),
    ("convert: out holds other files", "biglogit.convert",
     ["--arch=cifar_resnet20", "--checkpoint={not_a_checkpoint}", "--out={other_files}"],
     "--out={other_files} is a folder that holds other files; give an empty or new folder (or one "
     "holding a classifier to replace)"),
    ("convert: not a checkpoint", "biglogit.convert",
     ["--arch=cifar_resnet20", "--checkpoint={not_a_checkpoint}", "--out={new}"],
     None),
    ("convert: NaN weights", "biglogit.convert",
     ["--arch=cifar_resnet20", "--checkpoint={nan_checkpoint}", "--out={new}"],
     "{nan_checkpoint} has non-finite (NaN/inf) values in 1 tensor(s), first 'conv1.weight'; a classifier "
     "with them gives NaN logits: use an undamaged checkpoint"),
    ("convert: unknown architecture", "biglogit.convert",
     ["--arch=resnet7", "--checkpoint={not_a_checkpoint}", "--out={new}"], None),
    ("make_logits: no variables.msgpack", "biglogit.data.make_logits",
     ["--source={images}", "--classifier={no_variables}", "--data_dir={new}"],
     "{no_variables} has classifier.json but no variables.msgpack; convert or train the classifier again "
     "into this folder"),
    ("make_logits: garbled msgpack", "biglogit.data.make_logits",
     ["--source={images}", "--classifier={garbled}", "--data_dir={new}"],
     "{garbled}/variables.msgpack does not match the variables_sha256 in classifier.json (damaged or "
     "replaced); convert or train the classifier again"),
    ("make_logits: garbled msgpack, no digest", "biglogit.data.make_logits",
     ["--source={images}", "--classifier={garbled_no_digest}", "--data_dir={new}"], None),
    ("make_logits: truncated tar.gz", "biglogit.data.make_logits",
     ["--source={truncated_tar}", "--classifier={phi}", "--data_dir={new}"], None),
    ("make_logits: missing source", "biglogit.data.make_logits",
     ["--source={root}/missing_images", "--classifier={phi}", "--data_dir={new}"],
     "image source {root}/missing_images does not exist"),
    ("make_logits: not a classifier", "biglogit.data.make_logits",
     ["--source={images}", "--classifier={images}", "--data_dir={new}"],
     "{images} is not a classifier directory (no classifier.json); convert one with python -m "
     "biglogit.convert or train one with biglogit.classifiers.fit"),
    ("evaluate: zero examples", "biglogit.evaluate", ["--workdir={run}", "--num_examples=0", "--out={new}"],
     "flag --num_examples=0: 0 is not an integer in the range [1, 10000000]; see --helpfull for the flags"),
    ("evaluate: not a run", "biglogit.evaluate", ["--workdir={images}", "--out={new}"],
     "{images} has no config.json; pass the --workdir of a biglogit.main run"),
    ("evaluate: run without checkpoint", "biglogit.evaluate", ["--workdir={config_only}", "--out={new}"],
     "{config_only} has no checkpoint yet; train first or pass another --workdir"),
    ("evaluate: export with --step", "biglogit.evaluate", ["--workdir={export}", "--step=2", "--out={new}"],
     "{export} is an export (one generator, no checkpoints); drop --step"),
    ("evaluate: damaged export", "biglogit.evaluate", ["--workdir={damaged_export}", "--out={new}"], None),
    ("export: out not empty", "biglogit.export", ["--workdir={run}", "--out={other_files}", "--hardware=cpu"],
     "{other_files} exists and is not empty; export into a fresh folder"),
    ("export: run without checkpoint", "biglogit.export",
     ["--workdir={config_only}", "--out={new}", "--hardware=cpu"],
     "{config_only} has no checkpoint yet; train first or pass another --workdir"),
    ("export: out is a file", "biglogit.export", ["--workdir={run}", "--out={existing_file}", "--hardware=cpu"],
     "--out={existing_file} is an existing file; export into a fresh folder"),
    ("evaluate: out is a file", "biglogit.evaluate", ["--workdir={run}", "--out={existing_file}"],
     "--out={existing_file} is an existing file; give a folder"),
    ("evaluate: a step rotated away", "biglogit.evaluate", ["--workdir={run}", "--step=1", "--out={new}"],
     "{run}/checkpoints has no checkpoint step 1 (it holds steps 2, 4: older steps are removed as newer "
     "ones are written, keep_checkpoints=3); pass one of those"),
    ("main: final evaluation on a missing split", "biglogit.main",
     ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={dataset}", "--config.eval.split=nosuch",
      "--config.eval.at_end=True"], None),
    ("main: final evaluation without resamples", "biglogit.main",
     ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={dataset}", "--config.eval.bootstrap=0",
      "--config.eval.at_end=True"], "eval.bootstrap=0; use an integer from 1 to 1,000,000"),
    ("main: attention where no block is", "biglogit.main",
     ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={dataset}", "--config.model.d_attention=32"],
     "model.d_attention=32 is no block's resolution at 32px (they are 8, 16); use one of them or 0 (none)"),
    ("main: a setting the run would ignore", "biglogit.main",
     ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={dataset}", "--config.release.k=3"],
     "release.k=3 is used only with release.kind=topk, which this config does not have; remove the setting or "
     "set release.kind=topk"),
    ("main: a dataset name built from another classifier", "biglogit.main",
     ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset=phi_logits",
      "--config.data.data_dir={data_root}", "--config.data.source={images}", "--config.data.classifier={phi}"], None),
    ("make_logits: a name taken by another dataset", "biglogit.data.make_logits",
     ["--source={images}", "--classifier={phi}", "--data_dir={data_root}", "--name=phi_logits"], None),
    ("make_logits: a classifier whose normalisation was edited", "biglogit.data.make_logits",
     ["--source={images}", "--classifier={edited_normalisation}", "--data_dir={new}"],
     "{edited_normalisation}/classifier.json was edited: mean no longer matches behaviour_sha256 (written with "
     "the weights); convert or train the classifier again rather than editing it"),
    ("make_logits: a name that leaves data_dir", "biglogit.data.make_logits",
     ["--source={images}", "--classifier={phi}", "--data_dir={new}", "--name=../../x"],
     "--name='../../x'; use a plain folder name (no '/', not starting with '.'): the dataset goes to "
     "DATA_DIR/logits_dataset/NAME"),
    ("report: out holds a README it did not write", "biglogit.report", ["{run}", "--out={project}"],
     "--out={project} holds README.md, which no report wrote there; give a new folder (a report writes "
     "README.md, index.html and figures/)"),
    ("baselines: unknown kind", "biglogit.baselines", ["--kind=median", "--dataset={dataset}", "--out={new}"],
     "flag --kind=median: value should be one of <constant|mean|class_mean|nearest_logits>; see --helpfull "
     "for the flags"),
    ("baselines: zero examples", "biglogit.baselines",
     ["--kind=mean", "--dataset={dataset}", "--out={new}", "--num_examples=0"],
     "flag --num_examples=0: 0 is not an integer in the range [1, 10000000]; see --helpfull for the flags"),
    ("report: no runs", "biglogit.report", ["--out={new}"],
     "give at least one run folder: python -m biglogit.report RUN [RUN ...] --out=DIR"),
    ("report: missing run", "biglogit.report", ["{root}/missing_run", "--out={new}"],
     "run folder {root}/missing_run does not exist"),
    ("learning_curve: no runs", "biglogit.report.learning_curve", ["--out={new}/curve.png"],
     "give at least one training workdir: python -m biglogit.report.learning_curve RUN [RUN ...] --out=FIGURE.png"),
    ("experiment: not a run", "biglogit.experiments.noise", ["--workdir={images}", "--out={new}"],
     "{images} has no config.json; pass the --workdir of a biglogit.main run"),
    ("classifier training: missing config", "biglogit.classifiers.fit",
     ["--config={root}/nothere.py", "--workdir={new}"], None),
    ("classifier training: unknown attack", "biglogit.classifiers.fit",
     ["--config=configs/classifier_cifar10.py:robust", "--workdir={new}", "--config.adversarial.method=fgsm"],
     "adversarial.method='fgsm'; use one of 'pgd', 'fgsm_rs'"),
    ("classifier training: guard without held-out images", "biglogit.classifiers.fit",
     ["--config=configs/classifier_cifar10.py:robust", "--workdir={new}", "--config.data.holdout=0"],
     "adversarial.guard_every needs held-out images to attack: set data.holdout=N (e.g. 500), or "
     "adversarial.guard_every=0"),
    ("subset: zero count", "biglogit.data.subset",
     ["--dataset={dataset}", "--count=0", "--name=empty", "--out_data_dir={new}"],
     "flag --count=0: 0 is not an integer in the range [1, 10000000]; see --helpfull for the flags"),
    # Issue 52's classes: the schema refuses every key's bad value (tests/test_config_schema.py walks all of
    # them); one row per listed case here, through the command a user types.
    ("main: zero-width conditioning MLP", "biglogit.main", ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={dataset}", "--config.model.cond_hidden=0"],
     "model.cond_hidden=0; use an integer from 1 to 8192"),
    ("main: negative prefetch", "biglogit.main", ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={dataset}", "--config.data.prefetch=-1"],
     "data.prefetch=-1; use an integer from 1 to 1024"),
    ("main: a DeePSiM decoder of zero width", "biglogit.main",
     ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={dataset}", "--config.method=deepsim", "--config.deepsim.hidden=0"],
     "deepsim.hidden=0; use an integer from 1 to 65,536"),
    ("main: a GAN-only setting on a DeePSiM run", "biglogit.main",
     ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={dataset}", "--config.method=deepsim", "--config.train.hybrid_pixel_weight=1.0"],
     "train.hybrid_pixel_weight=1.0 is used only with method=gan, which this config does not have; remove the "
     "setting or set method=gan"),
    ("main: FID extractor of an unknown kind", "biglogit.main", ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={dataset}", "--config.eval.fid_extractor=bogus:{phi}"],
     "eval.fid_extractor='bogus:{phi}'; use 'inception:DIR' (a converted Inception-V3) or 'classifier:DIR' (a "
     "stand-in extractor), or '' to skip FID/KID"),
    ("main: FID extractor without its kind", "biglogit.main", ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={dataset}", "--config.eval.fid_extractor={phi}"],
     "eval.fid_extractor='{phi}'; use 'inception:DIR' (a converted Inception-V3) or 'classifier:DIR' (a "
     "stand-in extractor), or '' to skip FID/KID"),
    ("main: a judge with damaged weights", "biglogit.main",
     ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={dataset}", "--config.eval.classifier={garbled}", "--config.eval.at_end=True"],
     "eval.classifier: {garbled}/variables.msgpack does not match the variables_sha256 in classifier.json "
     "(damaged or replaced); convert or train the classifier again"),
    ("main: negative baseline reference", "biglogit.main", ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={dataset}", "--config.eval.baseline_reference_examples=-5"],
     "eval.baseline_reference_examples=-5; use an integer from 0 to 100,000,000"),
    ("main: NaN or inf logits in the evaluation split", "biglogit.main",
     ["--config=configs/tiny.py", "--workdir={new}", "--config.data.dataset={nan_dataset}",
      "--config.eval.at_end=True"],
     "split 'test' of dataset {nan_dataset} holds NaN or inf logits in 1 example(s) (first: index 3); rebuild "
     "the dataset with python -m biglogit.data.make_logits, or drop those examples"),
    ("main: a process id past the process count", "biglogit.main",
     ["--config=configs/tiny.py", "--workdir={new}", "--coordinator_address=localhost:1", "--num_processes=2",
      "--process_id=5"], "--process_id=5 with --num_processes=2; use an id from 0 to 1"),
    ("main: config file with a syntax error", "biglogit.main", ["--config={syntax_config}", "--workdir={new}"],
     None),
    ("classifier training: zero epochs", "biglogit.classifiers.fit", ["--config=configs/classifier_tiny.py", "--workdir={new}", "--config.train.num_epochs=0"],
     "train.num_epochs=0; use an integer from 1 to 100,000"),
    ("classifier training: negative crop padding", "biglogit.classifiers.fit",
     ["--config=configs/classifier_tiny.py", "--workdir={new}", "--config.train.crop_padding=-4"], "train.crop_padding=-4; use an integer from 0 to 64"),
    ("classifier training: negative attack radius", "biglogit.classifiers.fit",
     ["--config=configs/classifier_tiny.py", "--workdir={new}", "--config.adversarial.enabled=True", "--config.adversarial.eps=-0.1"],
     "adversarial.eps=-0.1; use a finite number in (0, 1] (e.g. 8/255)"),
    ("classifier training: an attack of zero steps", "biglogit.classifiers.fit",
     ["--config=configs/classifier_tiny.py", "--workdir={new}", "--config.adversarial.enabled=True", "--config.adversarial.steps=0"],
     "adversarial.steps=0; use an integer from 1 to 1000"),
    ("classifier training: PGD accuracy on no examples", "biglogit.classifiers.fit",
     ["--config=configs/classifier_tiny.py", "--workdir={new}", "--config.evaluation.pgd_examples=0"],
     "evaluation.pgd_examples=0; use an integer from 1 to 10,000,000"),
    ("classifier training: a negative image limit", "biglogit.classifiers.fit", ["--config=configs/classifier_tiny.py", "--workdir={new}", "--config.data.limit=-5"],
     "data.limit=-5; use an integer from 0 to 100,000,000 (e.g. 0 (every image))"),
    ("noise experiment: zero examples", "biglogit.experiments.noise",
     ["--workdir={run}", "--out={new}", "--num_examples=0"], "flag --num_examples=0: 0 is not an integer in the range [1, 10000000]; see --helpfull for the flags"),
    ("grid experiment: zero rows", "biglogit.experiments.grid",
     ["--workdir={run}", "--out={new}", "--num_images=0"], "flag --num_images=0: 0 is not an integer in the range [1, 256]; see --helpfull for the flags"),
    ("baselines: zero batch", "biglogit.baselines",
     ["--kind=mean", "--dataset={dataset}", "--out={new}", "--batch_size=0"], "flag --batch_size=0: 0 is not an integer in the range [1, 65536]; see --helpfull for the flags"),
    ("baselines: NaN or inf logits in the split", "biglogit.baselines",
     ["--kind=mean", "--dataset={nan_dataset}", "--out={new}"],
     "split 'test' of dataset {nan_dataset} holds NaN or inf logits in 1 example(s) (first: index 3); rebuild "
     "the dataset with python -m biglogit.data.make_logits, or drop those examples"),
    ("make_logits: negative store resolution", "biglogit.data.make_logits",
     ["--source={images}", "--classifier={phi}", "--data_dir={new}", "--store_resolution=-8"],
     "flag --store_resolution=-8: -8 is not an integer in the range [8, 1024]; see --helpfull for the flags"),
    ("make_logits: a store resolution no memory holds", "biglogit.data.make_logits",
     ["--source={images}", "--classifier={phi}", "--data_dir={new}", "--store_resolution=100000"],
     "flag --store_resolution=100000: 100000 is not an integer in the range [8, 1024]; see --helpfull for the flags"),
    ("make_logits: zero batch", "biglogit.data.make_logits",
     ["--source={images}", "--classifier={phi}", "--data_dir={new}", "--batch_size=0"],
     "flag --batch_size=0: 0 is not an integer in the range [1, 65536]; see --helpfull for the flags"),
    ("make_logits: data_dir is a file", "biglogit.data.make_logits",
     ["--source={images}", "--classifier={phi}", "--data_dir={existing_file}"],
     "--data_dir={existing_file} is an existing file; give a folder"),
    ("convert: a mean that is not numbers", "biglogit.convert",
     ["--arch=cifar_resnet20", "--checkpoint={not_a_checkpoint}", "--out={new}", "--mean=a,b,c"],
     "flag --mean=['a', 'b', 'c']: takes 3 finite numbers separated by commas, one per RGB channel (e.g. "
     "0.485,0.456,0.406); see --helpfull for the flags"),
    ("report: a truncated metrics.json", "biglogit.report", ["{truncated_record}", "--out={new}"], None),
    ("report: a metrics.json without metrics", "biglogit.report", ["{keyless_record}", "--out={new}"],
     "{keyless_record}/eval/metrics.json is not an evaluation record (it lacks 'metrics' with a mean each, or "
     "'num_examples'); run python -m biglogit.evaluate (or the training's evaluation) again to rewrite it"),
    ("learning_curve: an output that is no figure", "biglogit.report.learning_curve",
     ["{run}", "--out={new}.txt"],
     "flag --out={new}.txt: is not a figure file; end it in one of .png, .pdf, .svg, .jpg, .jpeg; see "
     "--helpfull for the flags"),
    ("evaluate: a release whose config.json was edited", "biglogit.evaluate",
     ["--workdir={edited_release}", "--out={new}"],
     "{edited_release}/config.json was edited (release.kind changed since export, per generator_sha256.json); "
     "export the release again rather than editing it"),
    ("classifier evaluation: PGD on no examples", "biglogit.classifiers.accuracy",
     ["--classifier={phi}", "--source={images}", "--pgd_examples=0"], "flag --pgd_examples=0: 0 is not an integer in the range [1, 10000000]; see --helpfull for the flags"),
    ("contrast: three evaluations", "biglogit.report.contrast", ["{old_record}/eval"] * 3,
     "give 2 evaluations (A B) or 4 (A B C D), not 3: python -m biglogit.report.contrast A B [C D]"),
    ("contrast: names of another count", "biglogit.report.contrast",
     ["{old_record}/eval", "{old_record}/eval", "--names=a"], "--names has 1 names for 2 evaluations; give one each"),
    ("contrast: a record without per-example values", "biglogit.report.contrast",
     ["{old_record}/eval", "{old_record}/eval"],
     "{old_record}/eval/metrics.json keeps no per-example values (evaluated before they were kept); evaluate it again"),
    ("learning_curve: hours that are not numbers", "biglogit.report.learning_curve",
     ["{run}", "--out={new}/curve.png", "--table_hours=one"],
     "flag --table_hours=['one']: takes hours separated by commas, e.g. 0.5,1.0; see --helpfull for the flags"),
    ("classifier release: flags missing", "biglogit.classifiers.card", ["--run={run}"],
     "give --out, --config_spec, --title, --purpose, --hardware (or --table=DIR,... for a comparison table)"),
    ("classifier release: a run without a trained classifier", "biglogit.classifiers.card",
     ["--run={run}", "--out={new}", "--config_spec=c", "--title=t", "--purpose=p", "--hardware=h"],
     "{run}/classifier holds no trained classifier; finish the run first (rerun biglogit.classifiers.fit "
     "with --workdir={run})"),
    ("classifier release: out exists", "biglogit.classifiers.card",
     ["--run={fit_run}", "--out={project}", "--config_spec=c", "--title=t", "--purpose=p", "--hardware=h"],
     "--out={project} exists; a release is never overwritten: pick another --out or remove it"),
    ("classifier table: a folder that is no classifier", "biglogit.classifiers.card", ["--table={project}"],
     "{project} is not a classifier directory (no classifier.json); convert one with python -m "
     "biglogit.convert or train one with biglogit.classifiers.fit"),
]


@pytest.fixture(scope="module")
def outcomes(files):
  """{case id: (rc, stderr, files changed under the watched folders)}, all cases in one runner."""
  runs = []
  for i, (_, module, args, _) in enumerate(CASES):
    names = {**files, "new": os.path.join(files["root"], f"new_{i}")}
    cwd = files["root"] if "another folder" in CASES[i][0] else REPO
    runs.append({"argv": [module] + [a.format(**names) for a in args], "cwd": cwd,
                 "watch": [files["root"], os.path.dirname(files["run"]), files["data_root"]]})
  out = subprocess.run([sys.executable, os.path.join(REPO, "tests", "cli_runner.py")], input=json.dumps(runs),
                       capture_output=True, text=True, cwd=REPO, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  return {case[0]: result for case, result in zip(CASES, json.loads(out.stdout))}


def test_the_table_covers_every_command():
  assert len(CASES) >= 35
  modules = {c[1] for c in CASES}
  for command in ("biglogit.main", "biglogit.convert", "biglogit.data.make_logits", "biglogit.evaluate",
                  "biglogit.export", "biglogit.report", "biglogit.baselines", "biglogit.classifiers.fit",
                  "biglogit.experiments.noise", "biglogit.report.learning_curve", "biglogit.data.subset",
                  "biglogit.classifiers.card", "biglogit.report.contrast"):
    assert command in modules, command


ABSL_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ")

# Rows whose message depends on another library's wording are checked by their stable start.
STARTS = {
    "convert: not a checkpoint": "{not_a_checkpoint} is not a tensors-only PyTorch checkpoint (",
    "convert: unknown architecture": "unknown classifier architecture 'resnet7'; use one of [",
    "make_logits: garbled msgpack, no digest": "{garbled_no_digest}/variables.msgpack is not a readable "
                                               "msgpack file (",
    "make_logits: truncated tar.gz": "{truncated_tar} is not a readable tar archive (EOFError: ",
    "evaluate: damaged export": "{damaged_export} is damaged: ",
    "classifier training: missing config": "--config={root}/nothere.py cannot be loaded (",
    "main: final evaluation on a missing split": "dataset {dataset} has no split 'nosuch'; it has [",
    "make_logits: a name taken by another dataset": "dataset {data_root}/logits_dataset/phi_logits/1.0.0 already "
                                                    "exists but was built with another classifier (None, ",
    "main: a dataset name built from another classifier": "dataset {data_root}/logits_dataset/phi_logits/1.0.0 "
                                                          "already exists but was built with another classifier (None, ",
    "main: config file with a syntax error": "the config file {syntax_config} is not valid Python (line 1: ",
    "report: a truncated metrics.json": "{truncated_record}/eval/metrics.json is not valid JSON (",
}


ENDS = {"evaluate: damaged export": "export it again with python -m biglogit.export",
        "main: config file with a syntax error": "); fix the file given to --config",
        "report: a truncated metrics.json": "run python -m biglogit.evaluate (or the training's evaluation) again "
                                             "to rewrite it",
        "make_logits: truncated tar.gz": "download or pack it again",
        "classifier training: missing config": "pass a config file such as configs/classifier_tiny.py",
        "make_logits: a name taken by another dataset": "pick another --name, or remove that folder to rebuild it",
        "main: a dataset name built from another classifier": "pick another --name, or remove that folder to rebuild it"}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, files, outcomes):
  name, module, _, message = case
  if name == "convert: NaN weights" and not os.path.exists(files["nan_checkpoint"]):
    pytest.skip("needs torch (the convert extra)")
  result = outcomes[name]
  # What stays on stderr besides the error: absl's log lines of the work done before it, and library
  # warnings (not ours to silence); a traceback would leave its "Traceback ..." line.
  lines = [l for l in result["stderr"].splitlines() if l.strip() and not ABSL_LOG_LINE.match(l)
           and "Warning: " not in l and not l.startswith("  ")]
  assert result["rc"] == 2, result["stderr"][-2000:]
  assert len(lines) == 1 and lines[0].startswith("error: "), result["stderr"][-2000:]
  names = {**files, "new": os.path.join(files["root"], f"new_{CASES.index(case)}")}
  if message is not None:
    assert lines[0] == "error: " + message.format(**names)
  else:
    assert lines[0].startswith("error: " + STARTS[name].format(**names)), lines[0]
    assert lines[0].endswith(ENDS.get(name, "")), lines[0]
  assert result["changed"] == [], f"{module} modified {result['changed']}"
