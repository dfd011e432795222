"""Recurrent blocks: a batch-first bidirectional LSTM and a stepwise LSTM cell for priors."""
from __future__ import annotations

import torch
from torch import nn


class BiLSTM(nn.Module):
    """Bidirectional LSTM over (B, T, D); returns per-step states (B, T, 2H) and a sequence summary (B, 2H).

    The summary concatenates the forward direction's last state and the backward direction's
    first state, i.e. each direction after it has read the whole sequence.
    """

    def __init__(self, in_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.hidden_dim = hidden_dim

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        states, _ = self.lstm(inputs)
        forward_last = states[:, -1, : self.hidden_dim]
        backward_first = states[:, 0, self.hidden_dim :]
        return states, torch.cat([forward_last, backward_first], dim=-1)


class LSTMStep(nn.Module):
    """One LSTM cell stepped by hand, for autoregressive priors that feed back their own samples."""

    def __init__(self, in_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(in_dim, hidden_dim)
        self.hidden_dim = hidden_dim

    def initial_state(self, batch_size: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c) on the device and dtype of ``like``."""
        zeros = like.new_zeros(batch_size, self.hidden_dim)
        return zeros, zeros

    def forward(self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cell(inputs, state)
