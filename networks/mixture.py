"""Mixture-of-experts frame decoder (VDSM §3.1): a bank of decoders whose weights are blended per sequence."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from networks.frames import FrameDecoder


class MoEDecoder(nn.Module):
    """N_E transposed-conv decoders with the layout of :class:`FrameDecoder`; the weights and biases of every
    layer are the mixture-weighted average of the experts' (one mixture per sequence), as VDSM blends them.

    Deviation (README, "Deviations from the papers"): VDSM §3.1 blends the transposed convolutions; the first, fully
    connected layer of each expert (code -> first 4x4 map) is blended here too.
    """

    def __init__(self, in_dim: int, image_size: int, channels: int, experts: int, width: int = 32) -> None:
        super().__init__()
        if experts < 1:
            raise ValueError(f"MoEDecoder needs >= 1 expert, got {experts}")
        bank = [FrameDecoder(in_dim, image_size, channels, width) for _ in range(experts)]  # same init as one decoder
        self.fc_weight = nn.Parameter(torch.stack([d.fc[0].weight.detach().t() for d in bank]))  # (E, in, out)
        self.fc_bias = nn.Parameter(torch.stack([d.fc[0].bias.detach() for d in bank]))
        deconvs = [[m for m in d.deconv if isinstance(m, nn.ConvTranspose2d)] for d in bank]
        self.weights = nn.ParameterList([nn.Parameter(torch.stack([layers[i].weight.detach() for layers in deconvs])) for i in range(len(deconvs[0]))])
        self.biases = nn.ParameterList([nn.Parameter(torch.stack([layers[i].bias.detach() for layers in deconvs])) for i in range(len(deconvs[0]))])
        self.top_ch, self.in_dim, self.experts = bank[0].top_ch, in_dim, experts
        self.frame_shape = (channels, image_size, image_size)

    def forward(self, code: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """code (B, T, in_dim), mixture (B, E) summing to 1 -> decoder parameters (B, T, C, H, W)."""
        batch, frames = code.shape[:2]
        weight = torch.einsum("be,eio->bio", mixture, self.fc_weight)
        hidden = F.leaky_relu(torch.einsum("bti,bio->bto", code, weight) + (mixture @ self.fc_bias)[:, None], 0.2)
        # frames as the conv batch, sequences as groups: every sequence convolves with its own blended kernel
        hidden = hidden.reshape(batch, frames, self.top_ch, 4, 4).transpose(0, 1).reshape(frames, batch * self.top_ch, 4, 4)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            blended = torch.einsum("be,eiokl->biokl", mixture, w).reshape(batch * w.shape[1], w.shape[2], 4, 4)
            hidden = F.conv_transpose2d(hidden, blended, (mixture @ b).reshape(-1), stride=2, padding=1, groups=batch)
            if i < len(self.weights) - 1:
                hidden = F.leaky_relu(hidden, 0.2)
        return hidden.reshape(frames, batch, *self.frame_shape).transpose(0, 1)
