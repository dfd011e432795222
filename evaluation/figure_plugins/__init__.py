"""Registry of the papers' figures: every ``Figure`` subclass with a ``name`` in this package's modules, in report order.

A new figure is a new file here (a ``Figure`` subclass: ``applies``, ``draw``) plus its test; evaluate.py draws it
and the report lists it with its caption, and with the numbers it checks about itself.
"""
from __future__ import annotations

import logging
import zlib

import pyro

from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from inference.latents import motion_groups
from inference.registry import discover, named, unique_by

log = logging.getLogger(__name__)
NO_IMAGES = "the frames of this data set are not images"


def _is_figure(cls: type) -> bool:
    """A figure plug-in: a concrete ``Figure`` subclass with a registry ``name``."""
    return issubclass(cls, Figure) and named(cls)


FIGURES: dict[str, Figure] = {
    cls.name: cls() for cls in sorted(unique_by(discover(__name__, _is_figure), lambda cls: [cls.name], "figures"), key=lambda cls: cls.order)
}


def why_not(figure: Figure, ctx: FigureContext) -> str | None:
    """None when ``figure`` is drawn for this run, else why not."""
    if figure.needs_images and ctx.preview is None:
        return NO_IMAGES
    if figure.needs_judge and ctx.judge is None:
        return "no judge is loaded for this data set"
    if figure.needs_static_and_motion and ("static" not in ctx.groups.names or not motion_groups(ctx.groups)):
        return "the model has no static and motion latent groups"
    return figure.applies(ctx)


def draw_figures(ctx: FigureContext) -> tuple[dict[str, str], dict[str, dict]]:
    """Every figure that applies: ({file: caption}, {figure: its checks}); keys of the first starting with '-' say why
    figures were not drawn. Each figure draws from its own seeded stream, whichever others ran before it."""
    files: dict[str, str] = {}
    checks: dict[str, dict] = {}
    without_images = []
    for name, figure in FIGURES.items():
        if (reason := why_not(figure, ctx)) is not None:
            if reason == NO_IMAGES:
                without_images.append(name)
            else:
                files[f"-{name}"] = f"{name} not drawn: {reason}"
            continue
        pyro.set_rng_seed(zlib.crc32(name.encode()))
        drawn = figure.draw(ctx)
        files.update(drawn.files)
        if drawn.checks:
            checks[name] = drawn.checks
        log.debug("figure %s: %s", name, ", ".join(drawn.files))
    if without_images:
        files["-pictures"] = f"not drawn, {NO_IMAGES}: {', '.join(without_images)}"
    return files, checks


__all__ = ["Drawn", "FIGURES", "Figure", "FigureContext", "draw_figures"]
