"""PyTorch reference implementations written from ../shared/docs/classifiers.md, to check the Flax
models and the converter against the real checkpoints (the original repos are not packages)."""
import torch.nn as tnn
import torch.nn.functional as F


class AkamasterBlock(tnn.Module):
  def __init__(self, in_planes, planes, stride):
    super().__init__()
    self.conv1 = tnn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
    self.bn1 = tnn.BatchNorm2d(planes)
    self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
    self.bn2 = tnn.BatchNorm2d(planes)
    self.pad = planes // 4 if (stride != 1 or in_planes != planes) else None

  def forward(self, x):
    out = F.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    sc = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
    return F.relu(out + sc)


class AkamasterResNet(tnn.Module):
  def __init__(self, n):
    super().__init__()
    self.conv1 = tnn.Conv2d(3, 16, 3, 1, 1, bias=False)
    self.bn1 = tnn.BatchNorm2d(16)
    in_planes = 16
    for li, (planes, stride) in enumerate(((16, 1), (32, 2), (64, 2))):
      blocks = []
      for i in range(n):
        blocks.append(AkamasterBlock(in_planes, planes, stride if i == 0 else 1))
        in_planes = planes
      setattr(self, f"layer{li + 1}", tnn.Sequential(*blocks))
    self.linear = tnn.Linear(64, 10)

  def forward(self, x):
    out = F.relu(self.bn1(self.conv1(x)))
    out = self.layer3(self.layer2(self.layer1(out)))
    return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class VnnBlock(tnn.Module):
  def __init__(self, in_planes, planes, stride):
    super().__init__()
    self.conv1 = tnn.Conv2d(in_planes, planes, 3, stride, 1, bias=True)
    self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=True)
    self.shortcut = tnn.Sequential()
    if stride != 1 or in_planes != planes:
      self.shortcut = tnn.Sequential(tnn.Conv2d(in_planes, planes, 1, stride, bias=True))

  def forward(self, x):
    return F.relu(self.conv2(F.relu(self.conv1(x))) + self.shortcut(x))


class VnnResNet(tnn.Module):
  def __init__(self, stem, layers, flat):
    super().__init__()
    self.conv1 = tnn.Conv2d(3, stem, 3, 2, 1, bias=True)
    in_planes = stem
    for li, (planes, stride, count) in enumerate(layers):
      blocks = []
      for i in range(count):
        blocks.append(VnnBlock(in_planes, planes, stride if i == 0 else 1))
        in_planes = planes
      setattr(self, f"layer{li + 1}", tnn.Sequential(*blocks))
    self.n_layers = len(layers)
    self.linear1 = tnn.Linear(flat, 100)
    self.linear2 = tnn.Linear(100, 10)

  def forward(self, x):
    out = F.relu(self.conv1(x))
    for li in range(self.n_layers):
      out = getattr(self, f"layer{li + 1}")(out)
    return self.linear2(F.relu(self.linear1(out.flatten(1))))


def vnn_resnet2b():
  return VnnResNet(8, ((16, 2, 2),), 1024)


def vnn_resnet4b():
  return VnnResNet(16, ((32, 2, 2), (32, 2, 2)), 512)
