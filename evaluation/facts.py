"""What a data set tells the evaluation about itself, declared in its data config's ``evaluation:`` block.

Metrics (evaluation/plugins/) read these facts instead of data-set names: which judge classifies its sequences,
which label says who a sequence shows (never in both halves of an embedding split), which per-sequence factors the
embedding accuracy predicts, whether frames are binary (DSA Fig. 8's wrong pixels), and eq. 19's two targets.
Runs trained before data configs declared the block read it from the repository's ``conf/data/<name>.yaml``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from inference.errors import ConfigError

DATA_CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "data"


@dataclass(frozen=True)
class DataFacts:
    """A data set's evaluation facts; every field defaults to 'not declared', which switches the metrics needing it off."""

    judge: str | None = None  # conf/judge/<name>.yaml and evaluation/judges/<name>.py
    identity: str | None = None  # label naming who a sequence shows (character, utterance, source digit)
    factors: tuple[str, ...] = ()  # per-sequence factors the latent embeddings should predict (VDSM Table 1)
    binary_frames: bool = False  # frames are black and white: wrong-pixel fractions apply (DSA Fig. 8)
    static_target: str | None = None  # eq. 19 (G&W): the label the static features should predict ...
    temporal_target: str | None = None  # ... and the per-frame label the temporal ones should


def _from_block(block: Mapping[str, Any], where: str) -> DataFacts:
    """Checked DataFacts from one ``evaluation:`` mapping; unknown keys and wrong types are one-line ConfigErrors."""
    known = {f.name for f in fields(DataFacts)}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown evaluation key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    values = dict(block)
    for key in ("judge", "identity", "static_target", "temporal_target"):
        if values.get(key) is not None and not isinstance(values[key], str):
            raise ConfigError(f"{where}: evaluation.{key} must be a label name or null, got {values[key]!r}")
    factors = values.get("factors") or ()
    if isinstance(factors, str) or not all(isinstance(f, str) for f in factors):
        raise ConfigError(f"{where}: evaluation.factors must be a list of label names, got {factors!r}")
    values["factors"] = tuple(factors)
    if not isinstance(values.get("binary_frames", False), bool):
        raise ConfigError(f"{where}: evaluation.binary_frames must be true or false, got {values['binary_frames']!r}")
    return DataFacts(**values)


@functools.cache
def _declared_in_repository(name: str) -> Mapping[str, Any] | None:
    """The ``evaluation:`` block of conf/data/<name>.yaml, for runs whose saved config predates the block (read once)."""
    path = DATA_CONF_DIR / f"{name}.yaml"
    if not path.is_file():
        return None
    block = OmegaConf.load(path).get("evaluation")
    return None if block is None else OmegaConf.to_container(block)


def data_facts(data_cfg: DictConfig | Mapping[str, Any]) -> DataFacts:
    """The evaluation facts of a run's data config: its ``evaluation:`` block, or the repository's for its data name."""
    block = data_cfg.get("evaluation")
    where = f"data '{data_cfg.get('name')}'"
    if block is None:
        block = _declared_in_repository(str(data_cfg.get("name")))
        where += " (conf/data evaluation block)"
    if block is None:
        return DataFacts()
    return _from_block(OmegaConf.to_container(block) if isinstance(block, DictConfig) else block, where)
