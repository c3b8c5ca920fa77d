"""CIFAR-10 inverter for the standard akamaster ResNet-20 (10 logits, 32x32).

Commands (hardware: one GPU; expected time: not yet measured -- time it with
python -m biglogit.benchmark --config=configs/cifar10_resnet20.py):
  python -m biglogit.data.make_logits --source=../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz \
      --classifier=pretrained/cifar10/resnet20 --data_dir=data_out
  python -m biglogit.main --config=configs/cifar10_resnet20.py --workdir=workdirs/cifar10_resnet20
Model: BigGAN-32 (ch 64 at G and D, 3 G blocks, no attention), global batch 256, 2 D steps per G step.
Reproduces on CIFAR-10 the standard-classifier column of the paper's Fig. 1.
"""
from biglogit.config_base import base_config


def get_config():
  c = base_config()
  c.model.resolution = 32
  c.model.num_classes = 10
  c.model.ch_g = 64
  c.model.ch_d = 64
  c.model.cond_hidden = 128
  c.train.global_batch = 256
  c.train.num_steps = 50_000
  c.train.ema_start = 1000
  c.data.dataset = "cifar10_resnet20"
  c.data.data_dir = "data_out"
  # Judge of the feature distance and feature-space retrieval: a robust network that is neither
  # inverted classifier (evaluation refuses phi itself).
  c.eval.robust_features = "pretrained/cifar10/resnet2b"
  c.log_every = 100
  c.checkpoint_every = 1000
  c.image_every = 1000
  return c
