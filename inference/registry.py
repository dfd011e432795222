"""Registries filled by discovery: every module of a package is imported and the classes it defines that fit are
collected, so a new model, guide or data set is a new file in its package and nothing else."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Callable


def discover(package: str, fits: Callable[[type], bool]) -> list[type]:
    """The classes defined in the modules of ``package`` (in module-name order) for which ``fits`` is true."""
    root = importlib.import_module(package)
    found = []
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{package}.{info.name}")
        found += [obj for obj in vars(module).values()
                  if inspect.isclass(obj) and obj.__module__ == module.__name__ and not inspect.isabstract(obj) and fits(obj)]
    return found


def named(cls: type) -> bool:
    """Whether a class carries a registry name: a non-empty string ``name``."""
    name = getattr(cls, "name", None)
    return isinstance(name, str) and name != ""


def unique_by(classes: list[type], keys: Callable[[type], list], what: str) -> list[type]:
    """``classes``, refusing two that register the same key (e.g. two files naming the same model)."""
    seen: dict[object, type] = {}
    for cls in classes:
        for key in keys(cls):
            if key in seen:
                raise ImportError(f"two {what} register {key!r}: {seen[key].__module__}.{seen[key].__name__} and {cls.__module__}.{cls.__name__}")
            seen[key] = cls
    return classes
