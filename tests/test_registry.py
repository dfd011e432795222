"""Registries by discovery: a model, guide or data set is registered by the file that defines it, nothing else."""
import sys
import textwrap

import pytest

from data import DATASETS
from guides import GUIDES, valid_guides
from inference.registry import discover, named, unique_by
from models import MODELS


def write_package(root, name, modules):
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in modules.items():
        (package / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("zoo_extra")]:
        del sys.modules[name]


def test_a_new_file_is_found_with_its_classes_and_not_its_imports_or_bases(on_path):
    write_package(on_path, "zoo_extra", {
        "base": '''
            import abc
            class Base(abc.ABC):
                name = ""
                @abc.abstractmethod
                def run(self): ...
            class Abstract(Base):
                name = "abstract"
        ''',
        "new_model": '''
            from zoo_extra.base import Base
            class NewModel(Base):
                name = "new"
                def run(self): return 1
            class Helper:
                pass
        ''',
    })
    found = discover("zoo_extra", named)
    assert [cls.__name__ for cls in found] == ["NewModel"]  # Base unnamed, Abstract abstract, Base not re-found in new_model


def test_two_files_registering_one_name_are_refused(on_path):
    write_package(on_path, "zoo_extra", {"a": "class A:\n    name = 'twin'\n", "b": "class B:\n    name = 'twin'\n"})
    with pytest.raises(ImportError, match=r"two models register 'twin': zoo_extra.a.A and zoo_extra.b.B"):
        unique_by(discover("zoo_extra", named), lambda cls: [cls.name], "models")


def test_the_zoo_registries_hold_every_paper_model_guide_and_data_set():
    assert set(MODELS) >= {"dsa", "lstm_f", "lstm_c", "hierarchical_vae", "frame_vae", "slow_vae", "unordered", "vdsm_pretrain", "vdsm"}
    assert {(g.name, m) for g in GUIDES for m in g.fits} >= {("factorised", "dsa"), ("full", "dsa"), ("full", "vdsm"), ("full", "unordered")}
    assert all(valid_guides(model) for model in MODELS)  # every model has a guide
    assert set(DATASETS) >= {"sprites", "sprites_vdsm", "sprites_helminger", "moving_mnist", "bouncing_mnist", "bouncing_ball",
                             "pendulum", "spoken_digits", "video_folder"}
