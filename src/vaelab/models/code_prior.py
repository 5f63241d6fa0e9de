"""PixelCNN priors over VQ code maps, optionally conditioned on labels: a class ``[B]`` or several
factors ``[B, F]`` (each one-hot, concatenated). For VQ-VAE-2 the top prior models the 7x7 top
codes and the bottom prior the 14x14 bottom codes conditioned on the top."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from vaelab.models.pixelcnn import PixelCNN


@dataclass
class PriorConfig:
    num_codes: int = 128
    code_shapes: tuple = ((7, 7),)
    label_sizes: tuple = ()   # values of each label column: (10,) for digits, one per factor
    layers: int = 6
    channels: int = 64
    embed_dim: int = 32


class CodePrior(nn.Module):
    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        c = self.config = config
        self.levels = nn.ModuleList()
        for i in range(len(c.code_shapes)):
            self.levels.append(PixelCNN(c.layers, c.channels, 5, c.num_codes,
                                        cond_dim=sum(c.label_sizes),
                                        cond_channels=c.embed_dim if i else 0,
                                        embed_dim=c.embed_dim))
        self.top_embed = nn.Embedding(c.num_codes, c.embed_dim) if len(c.code_shapes) > 1 else None

    @property
    def nets(self) -> list[PixelCNN]:
        """One PixelCNN a level, top first."""
        return [cast(PixelCNN, m) for m in self.levels]

    def _conditions(self, i: int, indices: list[torch.Tensor], labels):
        vec = None
        if self.config.label_sizes:
            lab = labels if labels.ndim == 2 else labels[:, None]
            vec = torch.cat([F.one_hot(lab[:, j].long(), n) for j, n in
                             enumerate(self.config.label_sizes)], -1).float()
        cmap = None
        if i > 0 and self.top_embed is not None:  # bottom level: embedded top codes, upsampled
            cmap = self.top_embed(indices[0]).permute(0, 3, 1, 2)
            cmap = F.interpolate(cmap, size=self.config.code_shapes[i], mode="nearest")
        return vec, cmap

    def log_prob(self, indices: list[torch.Tensor], labels=None) -> torch.Tensor:
        """log p(c) = sum over levels of the PixelCNN log-likelihoods, ``[B]`` (nats)."""
        terms = []
        for i, (net, idx) in enumerate(zip(self.nets, indices)):
            vec, cmap = self._conditions(i, indices, labels)
            terms.append(net.log_prob(idx[:, None].float(), cond_vec=vec, cond_map=cmap))
        return torch.stack(terms).sum(0)

    @torch.no_grad()
    def sample(self, n: int, labels=None) -> list[torch.Tensor]:
        dev = next(self.parameters()).device
        if self.config.label_sizes and labels is None:  # cycle through every label's values
            labels = torch.stack([torch.arange(n, device=dev) % k
                                  for k in self.config.label_sizes], 1)
        out: list[torch.Tensor] = []
        for i, (net, shape) in enumerate(zip(self.nets, self.config.code_shapes)):
            vec, cmap = self._conditions(i, out, labels)
            out.append(net.sample(n, tuple(shape), cond_vec=vec, cond_map=cmap,
                                  device=dev)[:, 0].long())
        return out

    def config_dict(self) -> dict:
        return asdict(self.config)
