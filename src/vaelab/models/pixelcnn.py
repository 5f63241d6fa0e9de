"""Gated PixelCNN (van den Oord et al. 2016) with vertical and horizontal stacks (no blind spot).

p(x) = prod_i p(x_i | x_<i) in raster order; one forward pass gives every conditional.
The vertical stack sees the rows above (it is shifted down one row before it feeds the horizontal
stack); the horizontal stack sees the pixels to the left in the current row (in the first layer,
"mask A", not the pixel itself). Conditioning h enters every gate as a bias: a vector
(``cond_dim``, e.g. a latent z) or a feature map (``cond_channels``, same height and width).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Categorical

from vaelab.errors import ConfigError


def pixel_levels(likelihood: str, x_shape: tuple, model: str) -> int:
    """Pixel levels of a PixelCNN decoder: 2 (Bernoulli) or 256 (softmax); one channel."""
    if len(x_shape) != 3 or x_shape[0] != 1:
        raise ConfigError(f"{model} models single-channel images (1, H, W), not {x_shape}; "
                          "for colour images use convvae or vae")
    if likelihood not in ("bernoulli", "categorical"):
        raise ConfigError(f"{model} has Bernoulli (binary data) or 256-way categorical (8-bit) "
                          f"pixels, not --likelihood {likelihood}")
    return 2 if likelihood == "bernoulli" else 256


class GatedLayer(nn.Module):
    def __init__(self, in_ch: int, ch: int, kernel: int, first: bool, cond_dim: int = 0,
                 cond_channels: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.k, self.first, self.dropout = kernel // 2, first, dropout
        self.v = nn.Conv2d(in_ch, 2 * ch, (self.k + 1, 2 * self.k + 1))
        self.h = nn.Conv2d(in_ch, 2 * ch, (1, self.k + 1))
        self.v2h = nn.Conv2d(2 * ch, 2 * ch, 1)
        self.h_out = nn.Conv2d(ch, ch, 1)
        self.cond_vec = nn.Linear(cond_dim, 4 * ch, bias=False) if cond_dim else None
        self.cond_map = nn.Conv2d(cond_channels, 4 * ch, 1, bias=False) if cond_channels else None

    @staticmethod
    def _gate(t: torch.Tensor) -> torch.Tensor:
        f, g = t.chunk(2, dim=1)
        return torch.tanh(f) * torch.sigmoid(g)

    def forward(self, v_in, h_in, cond_vec=None, cond_map=None):
        k = self.k
        v = self.v(F.pad(v_in, (k, k, k, 0)))  # row i sees rows i-k..i      [B, 2C, H, W]
        h_src = F.pad(h_in, (1, 0))[..., :-1] if self.first else h_in  # mask A: exclude x_ij
        h = self.h(F.pad(h_src, (k, 0, 0, 0)))  # col j sees cols j-k..j of h_src
        h = h + self.v2h(F.pad(v, (0, 0, 1, 0))[:, :, :-1])  # vertical info from rows < i only
        bias = 0
        if self.cond_vec is not None:
            bias = bias + self.cond_vec(cond_vec)[:, :, None, None]
        if self.cond_map is not None:
            bias = bias + self.cond_map(cond_map)
        if torch.is_tensor(bias):
            bv, bh = bias.chunk(2, dim=1)
            v, h = v + bv, h + bh
        gated = self._gate(h)
        if self.dropout and self.training:  # elementwise: no pixel sees a later one through it
            gated = F.dropout(gated, self.dropout)
        h_out = self.h_out(gated)
        return self._gate(v), (h_out if self.first else h_out + h_in)


class PixelCNN(nn.Module):
    """Conditional gated PixelCNN over ``[B, 1, H, W]`` images.

    ``levels``: 2 for binary images (Bernoulli logits), 256 for grey levels (256-way softmax).
    With ``n_layers == 0`` it is a factorized decoder: logits from the conditioning map only.
    ``dropout``: the rate on each layer's gated horizontal features before their 1x1 output
    (training only), the regularizer of PixelCNN++ (Salimans et al. 2017).
    """

    def __init__(self, n_layers: int = 8, channels: int = 64, kernel: int = 5, levels: int = 2,
                 cond_dim: int = 0, cond_channels: int = 0, embed_dim: int = 0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        # categorical inputs (e.g. VQ codes) enter through an embedding, not as one scalar
        self.embed = nn.Embedding(levels, embed_dim) if embed_dim else None
        if n_layers == 0 and not cond_channels:
            raise ValueError("a 0-layer PixelCNN needs a conditioning map (factorized decoder)")
        self.levels, self.n_layers, self.channels = levels, n_layers, channels
        out = 1 if levels == 2 else levels
        self.layers = nn.ModuleList(
            GatedLayer(channels if i else (embed_dim or 1), channels, kernel,
                       i == 0, cond_dim, cond_channels, dropout) for i in range(n_layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(),
                                  nn.Conv2d(channels, out, 1)) if n_layers else None
        self.cond_out = nn.Conv2d(cond_channels, out, 1) if cond_channels else None

    def eval_max_samples(self, image_shape: tuple[int, ...], budget: int = 1 << 31) -> int:
        """Images per no-grad forward pass that keep its feature maps within ``budget`` bytes
        (about 8 live [2C, H, W] float32 maps per image, plus the output logits)."""
        maps = 16 * self.channels if self.n_layers else 8
        return max(1, budget // (4 * image_shape[0] * image_shape[1] * (maps + self.levels)))

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            return self.embed(x[:, 0].long()).permute(0, 3, 1, 2)
        return x if self.levels == 2 else x / (self.levels - 1) * 2 - 1

    def logits(self, x: torch.Tensor, cond_vec=None, cond_map=None) -> torch.Tensor:
        """Logits of every conditional p(x_i | x_<i, h): ``[B, H, W]`` (binary) or
        ``[B, H, W, levels]``. ``x`` holds 0/1 or integer grey levels, ``[B, 1, H, W]``."""
        terms = []
        if self.head is not None:
            v = h = self._input(x)
            for layer in self.layers:
                v, h = layer(v, h, cond_vec, cond_map)
            terms.append(self.head(h))
        if self.cond_out is not None:
            terms.append(self.cond_out(cond_map))
        out = terms[0] if len(terms) == 1 else terms[0] + terms[1]
        return out[:, 0] if self.levels == 2 else out.permute(0, 2, 3, 1)

    def distribution(self, logits: torch.Tensor):
        if self.levels == 2:
            return Bernoulli(logits=logits, validate_args=False)
        return Categorical(logits=logits, validate_args=False)

    def log_prob(self, x: torch.Tensor, cond_vec=None, cond_map=None) -> torch.Tensor:
        """Exact log p(x | h) = sum_i log p(x_i | x_<i, h), ``[B]``."""
        lg = self.logits(x, cond_vec, cond_map)
        target = x[:, 0] if self.levels == 2 else x[:, 0].long()
        return self.distribution(lg).log_prob(target).flatten(1).sum(-1)

    @torch.no_grad()
    def sample(self, n: int, shape: tuple[int, ...], cond_vec=None, cond_map=None,
               device=None) -> torch.Tensor:
        """Ancestral sampling, pixel by pixel. Row i depends only on rows <= i, so each step
        runs the network on the rows so far (and the conditioning is computed once, outside)."""
        H, W = shape
        device = device or next(self.parameters()).device
        x = torch.zeros(n, 1, H, W, device=device)
        for i in range(H):
            cm = cond_map[:, :, : i + 1] if cond_map is not None else None
            for j in range(W):
                lg = self.logits(x[:, :, : i + 1], cond_vec, cm)[:, i, j]
                x[:, 0, i, j] = self.distribution(lg).sample().float()
        return x
