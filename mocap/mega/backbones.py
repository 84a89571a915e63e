"""Image backbones of the official MEGA models, written here with the checkpoint key layouts (no torchvision).

Each maps an ImageNet-normalised RGB crop (B, 3, H, W) to a feature map (B, C, h, w):
- ``resnet50``: torchvision ResNet-50 minus avgpool/fc as ``nn.Sequential`` (keys ``0`` conv1, ``1`` bn1,
  ``4``-``7`` layer1-4): 2048 x 7 x 7 at 224 x 224.
- ``hrnet_w48``: PoseHighResolutionNet (conv1/bn1/conv2/bn2, layer1, transition1-3, stage2-4, final_layer) with
  MEGA's strided-conv downsampling of branches 0-2 to the 1/32 grid: 720 x 7 x 7 at 224 x 224.
- ``vit_h``: the ViTPose/HMR2.0 ViT-H (``patch_embed.proj`` with padding 2, ``pos_embed``, ``blocks.N``,
  ``last_norm``): 1280 x 16 x 12 at 256 x 192.
Widths and depths are config fields so tests can build the same key layout at reduced size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

import torch
from torch import nn

from mocap.mega.transformer import Block

BackboneKind = Literal["resnet50", "hrnet_w48", "vit_h"]


@dataclass(frozen=True)
class BackboneConfig:
    """Which backbone, its input crop (H, W) px, and its size (defaults = the official networks)."""

    kind: BackboneKind
    image_size_hw: tuple[int, int] = (224, 224)
    hrnet_width: int = 48  # branch widths c, 2c, 4c, 8c; output 15c channels
    vit_dim: int = 1280
    vit_depth: int = 32
    vit_heads: int = 16
    mean_rgb: tuple[float, float, float] = (0.485, 0.456, 0.406)  # ImageNet, as all three official models
    std_rgb: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @property
    def out_channels(self) -> int:
        return {"resnet50": 2048, "hrnet_w48": 15 * self.hrnet_width, "vit_h": self.vit_dim}[self.kind]

    @property
    def num_tokens(self) -> int:
        """Feature-map cells h * w for ``image_size_hw`` (stride 32, or 16 for the ViT)."""
        H, W = self.image_size_hw
        if self.kind == "vit_h":
            return ((H + 4 - 16) // 16 + 1) * ((W + 4 - 16) // 16 + 1)
        return -(-H // 32) * -(-W // 32)


def normalize_crops(crops_rgb: torch.Tensor, config: BackboneConfig) -> torch.Tensor:
    """uint8 crops (B, H, W, 3) RGB, already ``config.image_size_hw`` -> float (B, 3, H, W) normalised input."""
    if tuple(crops_rgb.shape[1:3]) != config.image_size_hw:
        raise ValueError(f"{config.kind} expects {config.image_size_hw} crops, got {tuple(crops_rgb.shape[1:3])}")
    images = crops_rgb.permute(0, 3, 1, 2).float() / 255.0  # (B, 3, H, W) in [0, 1]
    mean = torch.tensor(config.mean_rgb, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(config.std_rgb, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm [-> ReLU]; keys ``0``, ``1``."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3x3 conv), expansion 4."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = conv_bn(cin, cout, 1, stride, relu=False) if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class BasicBlock(nn.Module):
    """Two 3x3 convs with identity shortcut (HRNet branches keep their width)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


def bottleneck_layer(cin: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(Bottleneck(cin, planes, stride), *[Bottleneck(planes * 4, planes) for _ in range(blocks - 1)])


def resnet50() -> nn.Sequential:
    """ResNet-50 trunk with torchvision's child order: 0 conv1, 1 bn1, 2 relu, 3 maxpool, 4-7 layer1-4."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
        bottleneck_layer(64, 64, 3, 1),
        bottleneck_layer(256, 128, 4, 2),
        bottleneck_layer(512, 256, 6, 2),
        bottleneck_layer(1024, 512, 3, 2),
    )


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks, then every output branch sums all inputs resampled to its scale."""

    def __init__(self, channels: list[int], num_blocks: int = 4) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(*[BasicBlock(c) for _ in range(num_blocks)]) for c in channels)
        fuse: list[nn.ModuleList] = []
        for i, c_out in enumerate(channels):
            row: list[nn.Module | None] = []
            for j, c_in in enumerate(channels):
                if j > i:  # coarser input: 1x1 conv then nearest upsampling by 2^(j-i)
                    row.append(
                        nn.Sequential(*conv_bn(c_in, c_out, 1, relu=False), nn.Upsample(scale_factor=2 ** (j - i)))
                    )
                elif j == i:
                    row.append(None)
                else:  # finer input: i-j strided 3x3 convs, the last one changes width and has no ReLU
                    steps = [conv_bn(c_in, c_in, 3, 2) for _ in range(i - j - 1)]
                    row.append(nn.Sequential(*steps, conv_bn(c_in, c_out, 3, 2, relu=False)))
            fuse.append(nn.ModuleList(row))  # type: ignore[arg-type]  # None slots keep the checkpoint indices
        self.fuse_layers = nn.ModuleList(fuse)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        outs = []
        for i, row in enumerate(cast(list[nn.ModuleList], self.fuse_layers)):
            total = xs[i]
            for j, layer in enumerate(row):
                if j != i:
                    total = total + layer(xs[j])
            outs.append(self.relu(total))
        return outs


def transition(pre: list[int], cur: list[int]) -> nn.ModuleList:
    """HRNet transition: re-width existing branches, add a new one by strided convs from the coarsest."""
    layers: list[nn.Module | None] = []
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(conv_bn(pre[i], c, 3) if pre[i] != c else None)
        else:
            steps = [conv_bn(pre[-1], c if k == i - len(pre) else pre[-1], 3, 2) for k in range(i + 1 - len(pre))]
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)  # type: ignore[arg-type]  # None = branch passes through


class HRNet(nn.Module):
    """HRNet-W48 (PoseHighResolutionNet key names) returning all four branches concatenated on the 1/32 grid."""

    def __init__(self, width: int = 48, num_joints: int = 24) -> None:
        super().__init__()
        c = [width, 2 * width, 4 * width, 8 * width]
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = bottleneck_layer(64, 64, 4, 1)
        self.transition1 = transition([256], c[:2])
        self.stage2 = nn.Sequential(HighResolutionModule(c[:2]))
        self.transition2 = transition(c[:2], c[:3])
        self.stage3 = nn.Sequential(*[HighResolutionModule(c[:3]) for _ in range(4)])
        self.transition3 = transition(c[:3], c)
        self.stage4 = nn.Sequential(*[HighResolutionModule(c) for _ in range(3)])
        self.final_layer = nn.Conv2d(c[0], num_joints, 1)  # unused by MEGA, kept for the key layout
        # Branches 0-2 (1/4, 1/8, 1/16) to 1/32 by 3, 2, 1 strided convs (keys .0,.1 / .3,.4 / .6,.7).
        self.downsample_stage_1 = nn.Sequential(*[m for _ in range(3) for m in conv_bn(c[0], c[0], 3, 2)])
        self.downsample_stage_2 = nn.Sequential(*[m for _ in range(2) for m in conv_bn(c[1], c[1], 3, 2)])
        self.downsample_stage_3 = nn.Sequential(*conv_bn(c[2], c[2], 3, 2))

    @staticmethod
    def _enter(layers: nn.ModuleList, ys: list[torch.Tensor]) -> list[torch.Tensor]:
        """Inputs of the next stage: existing branches (re-widened where needed), new ones from the coarsest."""
        xs = []
        for i, layer in enumerate(layers):
            y = ys[i] if i < len(ys) else ys[-1]
            xs.append(y if layer is None else layer(y))
        return xs

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(image)))
        x = self.layer1(self.relu(self.bn2(self.conv2(x))))  # (B, 256, H/4, W/4)
        ys = self.stage2(self._enter(self.transition1, [x]))
        ys = self.stage3(self._enter(self.transition2, ys))
        ys = self.stage4(self._enter(self.transition3, ys))
        down = [self.downsample_stage_1(ys[0]), self.downsample_stage_2(ys[1]), self.downsample_stage_3(ys[2])]
        return torch.cat([*down, ys[3]], dim=1)  # (B, 15 width, H/32, W/32)


class PatchEmbed(nn.Module):
    """16x16 patches by a strided conv with padding 2 (ViTPose): 256 x 192 -> 16 x 12."""

    def __init__(self, dim: int, patch: int = 16) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch, padding=2)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.proj(image)  # (B, D, h, w)


class ViT(nn.Module):
    """ViTPose/HMR2.0 ViT: patch tokens + pos_embed (its extra leading slot is added to all), blocks, last_norm."""

    def __init__(self, num_patches: int, dim: int = 1280, depth: int = 32, heads: int = 16) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, qkv_bias=True, eps=1e-6) for _ in range(depth))
        self.last_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(image)  # (B, D, h, w)
        B, D, h, w = x.shape
        if h * w + 1 != self.pos_embed.shape[1]:
            raise ValueError(
                f"a {tuple(image.shape[2:])} crop gives {h * w} patches, pos_embed has {self.pos_embed.shape[1] - 1}"
            )
        x = x.flatten(2).transpose(1, 2)  # (B, h*w, D)
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        for block in self.blocks:
            x = block(x)
        return self.last_norm(x).transpose(1, 2).reshape(B, D, h, w)  # (B, D, h, w)


def build_backbone(config: BackboneConfig) -> nn.Module:
    """The backbone for ``config`` with freshly initialised weights (load official ones via ``mocap.mega.official``)."""
    if config.kind == "resnet50":
        return resnet50()
    if config.kind == "hrnet_w48":
        return HRNet(config.hrnet_width)
    if config.kind == "vit_h":
        return ViT(config.num_tokens, config.vit_dim, config.vit_depth, config.vit_heads)
    raise ValueError(f"unknown backbone {config.kind!r}; use resnet50, hrnet_w48 or vit_h")
