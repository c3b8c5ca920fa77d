"""ImageNet inverter for a standard (non-robust) torchvision ResNet-152 (paper Fig. 1 col. 4).

Commands (hardware and time as configs/robust_r152.py; the torchvision checkpoint file):
  python -m biglogit.convert --arch=resnet152 --checkpoint=resnet152-394f9c45.pth --out=CONVERTED_DIR
  python -m biglogit.data.make_logits --source=tfds:imagenet2012 --classifier=CONVERTED_DIR \
      --data_dir=gs://BUCKET/data --store_resolution=128 --name=imagenet2012_standard_r152
  python -m biglogit.main --config=configs/standard_r152.py --workdir=gs://BUCKET/runs/standard_r152 \
      --config.data.data_dir=gs://BUCKET/data
Same GAN as configs/robust_r152.py; only the classifier's logits differ, so the two runs isolate the
effect of robust training. Reproduces: blurrier, less faithful reconstructions and larger variation
under eps resampling than for robust logits (paper Fig. 1, 3).
"""
from biglogit.config_base import sibling

robust_r152 = sibling(__file__, "robust_r152")


def get_config():
  c = robust_r152.get_config()
  c.data.dataset = "imagenet2012_standard_r152"
  return c
