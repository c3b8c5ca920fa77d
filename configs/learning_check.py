"""Learning check: can the inverter point back at the very images it trained on?

A fixed 256-image subset of the CIFAR-10 training split with the robust ResNet-4B's logits (its
train and test splits are the same 256 images), the CPU-sized GAN trained on it, and retrieval of each
reconstruction's own original among the 256 (chance 1/256) evaluated on those images. The same
config with --config.release.kind=top1 (one-hot label only) is the control: class information alone.
A broken conditioning path cannot beat the control.

Commands (2 CPU cores):
  python -m biglogit.data.subset --dataset=cifar10_resnet4b --data_dir=data_out --count=256 \
      --name=cifar10_resnet4b_first256
  python -m biglogit.main --config=configs/learning_check.py --workdir=workdirs/check_full
  python -m biglogit.main --config=configs/learning_check.py --workdir=workdirs/check_top1 \
      --config.release.kind=top1
tests/test_learning_check.py (slow) runs the same at a test's budget.
"""
from configs import cifar10_cpu


def get_config():
  c = cifar10_cpu.get_config()
  c.data.dataset = "cifar10_resnet4b_first256"
  c.train.num_steps = 400
  c.eval.num_examples = 256
  c.eval.every = 100
  c.eval.noise_samples = 0
  c.eval.baselines = "class_mean"  # nearest_logits on its own training images is trivially perfect
  c.eval.fid_extractor = ""
  c.checkpoint_every = 100
  c.image_every = 100
  return c
