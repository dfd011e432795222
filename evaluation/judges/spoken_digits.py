"""The spoken-digits judge: speaker and digit of a 200 ms segment of normalised log spectra."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from data import fsdd
from data.fsdd import SpokenDigitsDataset
from evaluation.judges.base import Judge, JudgeSpec, LabelledData



class SpokenDigitsJudge(Judge):
    """Speaker and digit of a segment (B, T, 129): two temporal convolutions, mean and max over time."""

    name = "spoken_digits"
    input_ndim = 3
    input_tail = (fsdd.N_BINS,)
    image_ndim = 2
    heads = {"speaker": len(fsdd.SPEAKERS), "digit": fsdd.N_DIGITS}
    levels = {"speaker": "sequence", "digit": "sequence"}
    loss_heads = ("speaker", "digit")
    static_heads = ("speaker",)  # DSA §4.2: f carries the speaker ...
    motion_heads = ("digit",)  # ... and z_1:T what is said
    bounded = False  # normalised log spectra are unbounded reals

    def __init__(self, hidden_dim: int = 128, dropout: float = 0.2) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(fsdd.N_BINS, hidden_dim, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv1d(hidden_dim, hidden_dim, 3, padding=1),
            nn.LeakyReLU(0.2),
        )
        self.dropout = nn.Dropout(dropout)
        self.out = nn.ModuleDict({h: nn.Linear(2 * hidden_dim, k) for h, k in self.heads.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return logits {"speaker": (B, 6), "digit": (B, 10)} for segments (B, T, 129)."""
        pooled = self.dropout(self.sequence_features(x))
        return {h: head(pooled) for h, head in self.out.items()}

    def sequence_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2H): what both heads read, the temporal convolution's mean and max over time (before dropout)."""
        hidden = self.conv(x.transpose(1, 2))  # (B, H, T)
        return torch.cat([hidden.mean(-1), hidden.amax(-1)], -1)


def _speech_fit(data: Mapping[str, Any]) -> dict[str, Any] | str:
    """The judge normalises with the training statistics of its data settings: they must be the evaluated data's."""
    if data.get("split_by") != "take" or not data.get("normalise", True) or data.get("short_utterances") != "pad":
        return "the spoken-digits judge reads the take split's normalised, padded segments (split_by=take, normalise, pad)"
    return {"takes": data.get("takes"), "test_takes": data.get("test_takes"), "segment_hop": data.get("segment_hop")}


def _speech_key(split: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Return the features' cache entry and settings plus what selects and normalises the split."""
    takes = fsdd.check_takes(settings["takes"])
    features = fsdd.feature_settings(takes, settings["segment_hop"], "pad")
    test_takes = sorted(fsdd.check_takes(settings["test_takes"]))
    split_rule = {"split_by": "take", "test_takes": test_takes, "normalise": True}
    return {"entry": "spoken_digits", "settings": features, "split": split, **split_rule}


def _speech_load(split: str, settings: dict[str, Any], cache_dir: Any) -> LabelledData:
    """Load a split of normalised 200 ms segments with speaker, digit, utterance and take labels."""
    dataset = SpokenDigitsDataset(
        split,
        split_by="take",
        test_takes=settings["test_takes"],
        takes=settings["takes"],
        segment_hop=settings["segment_hop"],
        cache_dir=cache_dir,
    )
    raw = np.asarray(dataset.features[dataset.rows], dtype=np.float32)
    inputs = ((raw - dataset.mean) / dataset.std).astype(np.float32)
    labels = {key: np.asarray(dataset.labels[key]) for key in ("speaker", "digit", "utterance", "take")}
    return LabelledData(split, inputs, labels, None)


SPEC = JudgeSpec(
    name="spoken_digits",
    data_key=_speech_key,
    load=_speech_load,
    build=lambda settings: SpokenDigitsJudge(settings["hidden_dim"], settings["dropout"]),
    targets=lambda settings: {"speaker": ("speaker", None), "digit": ("digit", None)},
    check_heads=lambda settings: ("speaker", "digit"),
    fit=_speech_fit,
    value_range=None,
)

