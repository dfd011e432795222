"""Deterministic-dynamics baselines of DSA §4.3 (Li & Mandt 2018, ``papers/dsa2018.txt``): LSTM-f and LSTM-c.

Generative story (§4.3):

    f             ~ N(0, I)                          static content, one per sequence
    z             ~ N(0, I)                          ONE global dynamics code per sequence
    h_1:T         = a deterministic LSTM driven by z (below)
    x_t | z, f    ~ likelihood(NN(h_t, f))           t = 1..T

* **LSTM-f** (``lstm_f``): "h_0 = z, h_t = LSTM(h_{t-1})" — z is the initial state and the LSTM runs with
  no input (an input of size 0, i.e. only its biases drive it). The paper's z (64) and LSTM state (512)
  differ in size, so when ``dynamics_dim != hidden_dim`` a linear layer maps z to the initial hidden and
  cell states (h_0, c_0); when the sizes are equal h_0 = z exactly and c_0 = 0.
* **LSTM-c** (``lstm_c``): "h_0 = 0, h_t = LSTM(h_{t-1}, z)" — zero initial state, z fed as the input at
  every step (the FHVAE transition of Hsu et al. 2017).

Sites: ``f`` (group ``static``) and ``z`` (group ``dynamics``), both (B, dim) in one ``pyro.plate("sequences")``;
observed ``x`` (B, T, C, H, W). §4.3's sizes: dim z = 64, LSTM state 512 (dim f is not given; we use 64, as the
stochastic model's config). ``forward(x, seq_len=S)`` with S > x.shape[1] observes the given frames and decodes
S frames (prediction of the missing tail, the imputation task of §4.3).
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import pyro
import torch
from torch import nn

from models.base import SequenceModel
from models.shapes import sequence_sizes
from networks import FrameDecoder, LSTMStep

State = tuple[torch.Tensor, torch.Tensor]


class DeterministicDynamics(SequenceModel, ABC):
    """p(f) p(z) prod_t p(x_t | z, f) with h_t from a deterministic LSTM (§4.3); subclasses choose how z drives it."""

    latent_groups = {"static": r"f", "dynamics": r"z"}
    latent_layout = {"static": "sequence", "dynamics": "sequence"}  # z is the initial state: the LSTM unrolls the rest

    def __init__(
        self,
        frame_shape: tuple[int, int, int],
        seq_len: int,
        static_dim: int = 64,
        dynamics_dim: int = 64,
        hidden_dim: int = 512,
        width: int = 32,
        likelihood: str = "bernoulli",
        likelihood_scale: float = 0.7071,
    ) -> None:
        super().__init__(frame_shape, seq_len, likelihood, likelihood_scale)
        if min(static_dim, dynamics_dim, hidden_dim, width) < 1:
            raise ValueError(f"{self.name}: sizes static_dim, dynamics_dim, hidden_dim and width must be >= 1")
        channels, height, width_px = frame_shape
        if height != width_px:
            raise ValueError(f"{self.name} expects square frames, got {frame_shape}")
        self.static_dim, self.dynamics_dim, self.hidden_dim = static_dim, dynamics_dim, hidden_dim
        self.rnn = LSTMStep(self.rnn_input_dim(), hidden_dim)
        self.decoder = FrameDecoder(hidden_dim + static_dim, height, channels, width)  # NN(h_t, f)

    @abstractmethod
    def rnn_input_dim(self) -> int:
        """Size of the LSTM's input at each step."""

    @abstractmethod
    def initial_state(self, z: torch.Tensor) -> State:
        """(h_0, c_0) given z."""

    @abstractmethod
    def step_input(self, z: torch.Tensor) -> torch.Tensor:
        """The LSTM's input at every step given z."""

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None, seq_len: int | None = None) -> torch.Tensor:
        """Run §4.3's model; observes ``x`` (B, T, C, H, W) when given, else generates. Returns (B, seq_len, C, H, W) pixel means."""
        pyro.module("model", self)
        batch_size, observed, horizon, device = self._sizes(x, batch_size, seq_len)
        with pyro.plate("sequences", batch_size, device=device):
            f = pyro.sample("f", self.standard_normal(batch_size, self.static_dim, device))
            z = pyro.sample("z", self.standard_normal(batch_size, self.dynamics_dim, device))
            decoded = self.decode(f, z, horizon)
            self.observe(decoded[:, :observed], x)
        return self.likelihood.mean(decoded)

    def hidden_states(self, z: torch.Tensor, seq_len: int) -> torch.Tensor:
        """h_1 .. h_T (B, T, hidden_dim): deterministic given z."""
        state, inputs = self.initial_state(z), self.step_input(z)
        states = []
        for _ in range(seq_len):
            state = self.rnn(inputs, state)
            states.append(state[0])
        return torch.stack(states, dim=1)

    def decode(self, f: torch.Tensor, z: torch.Tensor, seq_len: int) -> torch.Tensor:
        """Decoder outputs NN(h_t, f) for t = 1..seq_len, shape (B, seq_len, C, H, W)."""
        hidden = self.hidden_states(z, seq_len)
        f_per_frame = f.unsqueeze(1).expand(*hidden.shape[:2], f.shape[-1])
        return self.decoder(torch.cat([hidden, f_per_frame], dim=-1))

    def _sizes(self, x: torch.Tensor | None, batch_size: int | None, seq_len: int | None) -> tuple[int, int, int, torch.device]:
        """Batch size, observed length, decoded length and device (decoded >= observed)."""
        if x is None:
            length = seq_len or self.seq_len
            return batch_size or 1, length, length, next(self.parameters()).device
        sequence_sizes(self, x, batch_size, seq_len)  # checks the shape of x
        horizon = seq_len or x.shape[1]
        if horizon < x.shape[1]:
            raise ValueError(f"{self.name}: seq_len={horizon} is shorter than the {x.shape[1]} observed frames")
        return x.shape[0], x.shape[1], horizon, x.device


class LSTMF(DeterministicDynamics):
    """LSTM-f (§4.3): h_0 = z (linearly projected to (h_0, c_0) when sizes differ), h_t = LSTM(h_{t-1}) with no input."""

    name = "lstm_f"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        same_size = self.dynamics_dim == self.hidden_dim
        self.z_to_state = None if same_size else nn.Linear(self.dynamics_dim, 2 * self.hidden_dim)

    def rnn_input_dim(self) -> int:
        return 0

    def initial_state(self, z: torch.Tensor) -> State:
        if self.z_to_state is None:
            return z, torch.zeros_like(z)
        h_0, c_0 = self.z_to_state(z).chunk(2, dim=-1)
        return h_0, c_0

    def step_input(self, z: torch.Tensor) -> torch.Tensor:
        return z.new_zeros(z.shape[0], 0)


class LSTMC(DeterministicDynamics):
    """LSTM-c (§4.3): h_0 = 0, h_t = LSTM(h_{t-1}, z) — z is the input at every step."""

    name = "lstm_c"

    def rnn_input_dim(self) -> int:
        return self.dynamics_dim

    def initial_state(self, z: torch.Tensor) -> State:
        return self.rnn.initial_state(z.shape[0], z)

    def step_input(self, z: torch.Tensor) -> torch.Tensor:
        return z
