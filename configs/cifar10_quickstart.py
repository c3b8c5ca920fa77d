"""The whole pipeline from one config -- the README's main command:

  python -m biglogit.main --config=configs/cifar10_quickstart.py --workdir=workdirs/quickstart \
      --config.data.source=../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz

source images (default tfds:cifar10, downloaded where the network allows; or a local folder /
tarball in split/class/file layout via --config.data.source) -> the released converted robust
ResNet-4B in pretrained/cifar10/resnet4b -> the logits dataset data_out/logits_dataset/
cifar10_resnet4b, built automatically if missing -> 60 steps of the CPU-sized GAN
(configs/cifar10_cpu.py) -> evaluation of the final EMA generator.
Output in WORKDIR: config.json, metrics.jsonl + tensorboard/, images/step_*.png (original |
two reconstructions), checkpoints/, eval/metrics.{json,md}.
Time on an idle 2-core CPU (measured, empty data_dir and compile cache): 1 min 47 s for the
logits dataset, 4 min 26 s of training with compilation (3.9 s per step on 4 XLA devices), 2 min of
evaluation with the baselines; 8 min 16 s.
Reproduces nothing at this length: after 60 steps the reconstructions are coloured noise, at chance
on every leakage metric. It shows the pipeline working end to end.
"""
from biglogit.config_base import sibling

cifar10_cpu = sibling(__file__, "cifar10_cpu")


def get_config():
  c = cifar10_cpu.get_config()
  c.data.dataset = "cifar10_resnet4b"
  c.data.data_dir = "data_out"
  c.data.source = "tfds:cifar10"
  c.data.classifier = "pretrained/cifar10/resnet4b"
  c.train.num_steps = 60
  c.log_every = 10
  c.checkpoint_every = 30
  c.image_every = 30
  c.eval.at_end = True
  c.eval.num_examples = 500
  c.eval.identifier = "pretrained/cifar10/resnet20"  # independent of phi (ResNet-4B)
  c.eval.robust_features = "pretrained/cifar10/resnet2b"  # robust and independent of phi
  c.eval.fid_extractor = "classifier:pretrained/cifar10/resnet20"  # stand-in: no Inception offline
  return c
