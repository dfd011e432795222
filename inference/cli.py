"""What train.py does around Hydra: where a run (or a resumed run) writes, config names checked before Hydra
composes, and failed starts that leave nothing behind."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

CHECKPOINT = Path("checkpoints") / "checkpoint.pt"
STAGED_CONFIG = "staged_config.yaml"
HYDRA_OWN = {".hydra", "train.log"}  # what Hydra writes into a run directory before train.py runs


def holds_run(directory: str | Path) -> bool:
    """A directory holds a run: its checkpoint, or the config of a staged run (VDSM) whose stages hold theirs."""
    directory = Path(directory).expanduser()
    return (directory / CHECKPOINT).is_file() or (directory / STAGED_CONFIG).is_file()


def run_dir(resume: str | None, fresh: str) -> str:
    """Hydra's run dir (conf/train.yaml): ``resume=<dir>`` of a directory holding a run logs into that directory;
    anything else (a new run, or a ``resume=`` that main refuses in one line) into ``fresh``."""
    return resume if resume and holds_run(resume) else fresh


def config_dir(resume: str | None, run: str, stamp: str) -> str:
    """Where Hydra saves the composed config inside the run dir: ``.hydra`` for a new run, ``.hydra/resumed-<stamp>`` for
    each resume (the run's config history), ``.hydra/refused-<stamp>`` (removed by main) for a new run pointed at a
    directory that already holds one, so the old run's own ``.hydra`` is never overwritten."""
    if resume and holds_run(resume):
        return f".hydra/resumed-{stamp}"
    return f".hydra/refused-{stamp}" if holds_run(run) else ".hydra"


def register_resolvers() -> None:
    """The resolvers conf/train.yaml's ``hydra.run`` uses."""
    OmegaConf.register_new_resolver("run_dir", run_dir, replace=True)
    OmegaConf.register_new_resolver("config_dir", config_dir, replace=True)


def unknown_choices(overrides: Sequence[str], conf_dir: Path) -> str | None:
    """One line naming a config-group option of ``overrides`` (e.g. ``guide=ladder``) that has no file in ``conf_dir``,
    with the valid options; None when every choice exists (or an override does not parse: Hydra says why)."""
    try:
        parsed = OverridesParser.create().parse_overrides([o for o in overrides if not o.startswith("-")])
    except Exception:  # noqa: BLE001 - Hydra reports its own syntax errors
        return None
    for override in parsed:
        group = override.key_or_group
        if override.is_delete() or not (conf_dir / group).is_dir() or override.package is not None or group.startswith("hydra/"):  # hydra/*: plugins bring options
            continue
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.get_value_element_as_str()]
        valid = sorted(p.stem for p in (conf_dir / group).glob("*.yaml"))
        for value in values:
            if value not in valid and value != "null":
                return f"unknown {group} '{value}'; valid: {', '.join(valid)}"
    return None


def exit_on_unknown_choices(overrides: Sequence[str], conf_dir: Path) -> None:
    """Before Hydra composes (its own message for this is many lines and exit code 1): one line, exit code 2."""
    problem = unknown_choices(overrides, conf_dir)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)


def remove_failed_start(directory: Path, config_record: str | None) -> None:
    """After a start that failed before training: the config record Hydra wrote for it (``config_dir``) goes if it is a
    resume's or a refused start's, and a new run's directory goes if it holds only Hydra's own files; nothing else of
    a directory is touched."""
    if config_record and Path(config_record).name.startswith(("resumed-", "refused-")):
        shutil.rmtree(directory / config_record, ignore_errors=True)
    elif directory.is_dir() and {p.name for p in directory.iterdir()} <= HYDRA_OWN and not holds_run(directory):
        shutil.rmtree(directory, ignore_errors=True)
        here = Path.cwd().resolve()
        for parent in directory.resolve().parents:  # e.g. runs/dsa-factorised/ when this was its only run
            if parent == here or here not in parent.parents or any(parent.iterdir()):
                break
            parent.rmdir()


def discard_rank_outputs(directory: Path, config_record: str | None, main_dir: Path, main_record: str | None) -> None:
    """On a rank other than 0 of a data-parallel run: what its own Hydra wrote that rank 0's did not (a run directory
    of its own time stamp, or a second ``.hydra/resumed-<stamp>`` record) goes; rank 0's run is not touched."""
    if directory.resolve() != main_dir.resolve():
        remove_failed_start(directory, config_record)
    elif config_record and config_record != main_record and Path(config_record).name.startswith("resumed-"):
        shutil.rmtree(directory / config_record, ignore_errors=True)
