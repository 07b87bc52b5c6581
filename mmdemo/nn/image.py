"""Image encoders: small CNNs that turn an image into a grid of region features.

ConvGridEncoder — the region grid (VQA, captioning): the caller's attention reads the regions.
PooledImageEncoder — the region grid pooled by its own attention into one vector (classification):
its pooling softmax is the spatial map the app shows.
"""
from __future__ import annotations

import torch
from torch import nn

from .pooling import AttentionPool


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 conv + BN + ReLU, then 2x2 max-pool (halves the grid)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.MaxPool2d(2))


class ConvGridEncoder(nn.Module):
    """Image (B, C, H, W) in 0..1 -> region features (B, h*w, widths[-1]) and the grid size (h, w).

    A one-conv stem and then one conv_block per further width, each halving the grid:
    widths of length 3 turn 64x64 pixels into 8x8 regions. A last 3x3 conv widens each region's
    view (receptive field ~50 px) without shrinking the grid, so a region on the object sees its
    shape, while regions far from it do not: attention must find the object."""

    def __init__(self, in_channels: int = 3, widths=(24, 48, 96)):
        super().__init__()
        stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                             nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        w = widths[-1]
        context = nn.Sequential(nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(stem, *[conv_block(a, b) for a, b in zip(widths, widths[1:])], context)
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor):
        g = self.blocks(x - 0.5)
        b, c, h, w = g.shape
        return g.flatten(2).transpose(1, 2), (h, w)


class PooledImageEncoder(nn.Module):
    """Image (B, C, H, W) in 0..1 -> grid of region features (H/4 x W/4; 7 x 7 for MNIST) ->
    attention pooling -> (B, out_dim); the pooling softmax is the spatial map the app shows."""

    def __init__(self, in_channels: int = 1, widths=(16, 32, 64)):
        super().__init__()

        def conv(a, b):
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        w0, w1, w2 = widths
        self.cnn = nn.Sequential(*conv(in_channels, w0), nn.MaxPool2d(2), *conv(w0, w1), *conv(w1, w1),
                                 nn.MaxPool2d(2), *conv(w1, w2), *conv(w2, w2))
        self.pool = AttentionPool(w2, hidden=64)
        self.out_dim = w2

    def forward(self, x):
        g = self.cnn(x - 0.5)
        b, c, h, w = g.shape
        pooled, weights = self.pool(g.flatten(2).transpose(1, 2))
        return pooled, weights.view(b, h, w)


def with_coordinates(images: torch.Tensor) -> torch.Tensor:
    """CoordConv input: images (B, C, H, W) + two channels holding each pixel's x and y in 0..1."""
    b, _, h, w = images.shape
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.cat([images, x.expand(b, 1, h, w), y.expand(b, 1, h, w)], 1)


def grid_centres(grid: int) -> torch.Tensor:
    """(grid * grid, 2): each region's centre (x, y), row-major, in -0.5..0.5."""
    cy, cx = torch.meshgrid(torch.linspace(0, 1, grid), torch.linspace(0, 1, grid), indexing="ij")
    return torch.stack([cx.flatten(), cy.flatten()], 1) - 0.5
