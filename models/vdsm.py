"""VDSM, Video Disentanglement via State-Space Modeling (Vowels et al. 2021, ``papers/vdsm2021.txt``).

Generative story, eq. (1) and §3.1:

    s   ~ N(0, I)                        identity; s~ = softmax(s / tau_s) blends a bank of N_E = dim(s) decoders
    d   ~ N(0, I)                        action dynamics, one per sequence
    z_1 ~ N(0, I)
    z_t ~ N(mu_tr(z_{t-1}, d), sigma_tr(z_{t-1}, d))      gated transition, eq. (6)
    x_t ~ Bernoulli(DEC_MoE(s~, [s, z_t]))

Training has two stages (§3.2). ``vdsm_pretrain`` is stage 1: no sequence model, the frames of a sequence are
a group of images of one identity with i.i.d. poses z_t ~ N(0, I) (the objective of eq. 7). ``vdsm`` is stage 2,
the full model above; it has the same decoder and so loads stage 1's weights. tau_s follows a schedule of the
training step (the trainer calls ``set_step``); eq. (1) divides by tau_s, so annealing tau_s *down* sharpens
s~ from uniform towards one expert per identity, the shift §3.2 describes.
Sites: ``s`` (group ``static``), ``d`` (group ``action``), ``z_1 .. z_T`` (stage 2) or ``z`` with shape
(B, T, z_dim) (stage 1) (group ``dynamics``), observed ``x``.
"""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch

from inference.schedules import Linear
from models.base import SequenceModel
from networks import GatedTransition, MoEDecoder


class VDSMPretrain(SequenceModel):
    """Stage 1 (§3.2, eq. 7): identity s with the MoE decoder and i.i.d. poses; the frames need no order."""

    name = "vdsm_pretrain"
    latent_groups = {"static": r"s", "dynamics": r"z(_\d+)?"}
    latent_layout = {"static": "sequence", "dynamics": "frames"}  # stage 1: z (B, T, D), frames independent

    def __init__(
        self,
        frame_shape: tuple[int, int, int],
        seq_len: int,
        static_dim: int = 16,
        action_dim: int = 8,
        dynamics_dim: int = 8,
        hidden_dim: int = 64,
        width: int = 32,
        temperature: float = 1.0,
        final_temperature: float | None = None,
        temperature_steps: int = 1,
        likelihood: str = "bernoulli",
        likelihood_scale: float = 0.7071,
        pool_identity_frames: bool = False,
        identity_group_size: int = 0,
    ) -> None:
        super().__init__(frame_shape, seq_len, likelihood, likelihood_scale)
        if min(static_dim, action_dim, dynamics_dim, hidden_dim, width) < 1:
            raise ValueError("VDSM sizes must all be >= 1")
        if identity_group_size and not pool_identity_frames:  # its size is checked where the groups are drawn (IdentityFrames)
            raise ValueError(f"identity_group_size={identity_group_size} sizes pooled identity groups: set pool_identity_frames=true, or leave it 0")
        # §3.2: stage 1 trains on "images from the same individuals/identities" grouped, in no order; true: each
        # training item pools frames of every sequence of one identity (data/identity_frames.py), false: one sequence
        self.pools_identity_frames = bool(pool_identity_frames)
        self.identity_group_size = identity_group_size  # frames per pooled item (§3.2 leaves the group size open); 0: seq_len
        channels, size, _ = frame_shape
        self.static_dim, self.action_dim, self.dynamics_dim = static_dim, action_dim, dynamics_dim
        self.decoder = MoEDecoder(static_dim + dynamics_dim, size, channels, experts=static_dim, width=width)
        final = temperature if final_temperature is None else final_temperature
        if min(temperature, final) <= 0:
            raise ValueError("VDSM temperatures must be > 0")
        self.temperature_schedule = Linear(temperature, final, max(1, temperature_steps))  # tau_s of eq. (1) over training
        self.temperature = self.temperature_schedule(0)
        self.hidden_dim = hidden_dim

    def set_step(self, step: int) -> None:
        """Follow the temperature schedule (called by the trainer before each step)."""
        self.temperature = self.temperature_schedule(step)

    def mixture(self, s: torch.Tensor) -> torch.Tensor:
        """s~ = softmax(s / tau_s), eq. (1): the experts' blending weights, summing to 1."""
        return torch.softmax(s / self.temperature, dim=-1)

    def decode(self, s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """DEC_MoE(s~, [s, z_t]) for every frame: decoder parameters (B, T, C, H, W)."""
        s_per_frame = s.unsqueeze(1).expand(*z.shape[:2], s.shape[-1])
        return self.decoder(torch.cat([s_per_frame, z], dim=-1), self.mixture(s))

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None, seq_len: int | None = None) -> torch.Tensor:
        """Stage 1: s, i.i.d. z_t ~ N(0, I), x_t ~ Bernoulli(DEC_MoE(s~, [s, z_t]))."""
        pyro.module("model", self)
        batch_size, seq_len, device = self.sizes(x, batch_size, seq_len)
        with pyro.plate("sequences", batch_size, device=device):
            s = pyro.sample("s", self.standard_normal(batch_size, self.static_dim, device))
            z = self.sample_poses(batch_size, seq_len, device)
            decoded = self.decode(s, z)
            self.observe(decoded, x)
        return self.likelihood.mean(decoded)

    def sample_poses(self, batch_size: int, seq_len: int, device: torch.device) -> torch.Tensor:
        """Stage 1 poses: z_t ~ N(0, I) independently, one site of shape (B, T, z_dim)."""
        zeros = torch.zeros(batch_size, seq_len, self.dynamics_dim, device=device)
        return pyro.sample("z", dist.Normal(zeros, 1.0).to_event(2))

class VDSM(VDSMPretrain):
    """Stage 2, the full model of eq. (1): adds the action d and the gated transition over poses."""

    name = "vdsm"
    latent_groups = {"static": r"s", "action": r"d", "dynamics": r"z(_\d+)?"}
    latent_layout = {"static": "sequence", "action": "sequence", "dynamics": "steps"}  # s, d per sequence; z_1 .. z_T

    def __init__(self, frame_shape, seq_len, **kwargs) -> None:
        if kwargs.get("pool_identity_frames") or kwargs.get("identity_group_size"):
            raise ValueError("pool_identity_frames and identity_group_size are for stage 1 (vdsm_pretrain): stage 2 models the frames' order")
        super().__init__(frame_shape, seq_len, **kwargs)
        self.transition = GatedTransition(self.dynamics_dim, self.action_dim, self.hidden_dim)

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None, seq_len: int | None = None) -> torch.Tensor:
        """Eq. (1): s, d, z_1 ~ N(0, I), z_t | z_{t-1}, d from eq. (6), x_t from the MoE decoder."""
        pyro.module("model", self)
        batch_size, seq_len, device = self.sizes(x, batch_size, seq_len)
        with pyro.plate("sequences", batch_size, device=device):
            s = pyro.sample("s", self.standard_normal(batch_size, self.static_dim, device))
            d = pyro.sample("d", self.standard_normal(batch_size, self.action_dim, device))
            z = self.sample_dynamics(d, seq_len)
            decoded = self.decode(s, z)
            self.observe(decoded, x)
        return self.likelihood.mean(decoded)

    def sample_dynamics(self, d: torch.Tensor, seq_len: int) -> torch.Tensor:
        """z_1 ~ N(0, I), then the gated transition p(z_t | z_{t-1}, d) of eq. (6); returns (B, T, z_dim)."""
        loc, scale = torch.zeros(d.shape[0], self.dynamics_dim, device=d.device), torch.ones(d.shape[0], self.dynamics_dim, device=d.device)
        zs = []
        for t in pyro.markov(range(1, seq_len + 1)):
            z = pyro.sample(f"z_{t}", dist.Normal(loc, scale).to_event(1))
            zs.append(z)
            loc, scale = self.transition(z, d)
        return torch.stack(zs, dim=1)
