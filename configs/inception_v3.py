"""ImageNet inverter for a standard torchvision Inception-V3 (paper Fig. 1 col. 5).

Commands (hardware and time as configs/robust_r152.py; the torchvision checkpoint file):
  python -m biglogit.convert --arch=inception_v3 --checkpoint=inception_v3_google-0cc3c7bd.pth --out=CONVERTED_DIR
  python -m biglogit.data.make_logits --source=tfds:imagenet2012 --classifier=CONVERTED_DIR \
      --data_dir=gs://BUCKET/data --store_resolution=128 --name=imagenet2012_inception_v3
  python -m biglogit.main --config=configs/inception_v3.py --workdir=gs://BUCKET/runs/inception_v3 \
      --config.data.data_dir=gs://BUCKET/data
The logits dataset is built at the classifier's 299x299 input and stored at 128x128 for the GAN.
Reproduces: ResNet logits keep more geometric detail than Inception logits (paper Sec. 4).
"""
from biglogit.config_base import sibling

robust_r152 = sibling(__file__, "robust_r152")


def get_config():
  c = robust_r152.get_config()
  c.data.dataset = "imagenet2012_inception_v3"
  return c
