"""Architecture as data: per-resolution channel and attention tables (BigGAN-PyTorch's G_arch/D_arch).

Channel entries are multipliers of the config's base width `ch`. Each generator block doubles the
resolution, starting from a 4x4 bottom; each discriminator block halves it where `downsample` says.
"""
import dataclasses
from typing import Tuple

from biglogit import BiglogitError

BOTTOM_WIDTH = 4


@dataclasses.dataclass(frozen=True)
class GArch:
  in_mult: Tuple[int, ...]
  out_mult: Tuple[int, ...]
  resolution: Tuple[int, ...]  # output resolution of each block


@dataclasses.dataclass(frozen=True)
class DArch:
  in_mult: Tuple[int, ...]  # 0 means the RGB input (3 channels)
  out_mult: Tuple[int, ...]
  downsample: Tuple[bool, ...]
  resolution: Tuple[int, ...]  # output resolution of each block


G_ARCH = {
    256: GArch((16, 16, 8, 8, 4, 2), (16, 8, 8, 4, 2, 1), (8, 16, 32, 64, 128, 256)),
    128: GArch((16, 16, 8, 4, 2), (16, 8, 4, 2, 1), (8, 16, 32, 64, 128)),
    64: GArch((16, 16, 8, 4), (16, 8, 4, 2), (8, 16, 32, 64)),
    32: GArch((4, 4, 4), (4, 4, 4), (8, 16, 32)),
}

D_ARCH = {
    256: DArch((0, 1, 2, 4, 8, 8, 16), (1, 2, 4, 8, 8, 16, 16), (True,) * 6 + (False,),
               (128, 64, 32, 16, 8, 4, 4)),
    128: DArch((0, 1, 2, 4, 8, 16), (1, 2, 4, 8, 16, 16), (True,) * 5 + (False,),
               (64, 32, 16, 8, 4, 4)),
    64: DArch((0, 1, 2, 4, 8), (1, 2, 4, 8, 16), (True,) * 4 + (False,), (32, 16, 8, 4, 4)),
    32: DArch((0, 4, 4, 4), (4, 4, 4, 4), (True, True, False, False), (16, 8, 8, 8)),
}


def g_arch(resolution: int) -> GArch:
  if resolution not in G_ARCH:
    raise BiglogitError(f"resolution {resolution} has no generator table; use one of {sorted(G_ARCH)}")
  return G_ARCH[resolution]


def d_arch(resolution: int) -> DArch:
  if resolution not in D_ARCH:
    raise BiglogitError(
        f"resolution {resolution} has no discriminator table; use one of {sorted(D_ARCH)}")
  return D_ARCH[resolution]


def latent_chunks(dim_z: int, num_blocks: int) -> Tuple[int, ...]:
  """Sizes of the hierarchical-latent chunks: one for the 4x4 input layer, one per block.

  BigGAN requires dim_z to divide evenly; we let the first chunks take the remainder instead so
  any dim_z works (120 splits 30/30/30/30 at 32px and 20x6 at 128px, exactly as BigGAN).
  """
  slots = num_blocks + 1
  if dim_z < slots:
    raise BiglogitError(f"model.dim_z={dim_z} is smaller than the {slots} latent chunks; raise it")
  base, extra = divmod(dim_z, slots)
  return tuple(base + (1 if i < extra else 0) for i in range(slots))
