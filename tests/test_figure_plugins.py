"""Figure plug-ins (evaluation/figure_plugins/): the registry, and each new figure's claimed property on tiny sizes."""
import importlib
import pkgutil

import pyro
import pytest
import torch
from torch import nn

import evaluation.figure_plugins as figure_plugins
from evaluation.facts import DataFacts
from evaluation.figure_plugins import FIGURES, Figure, FigureContext, draw_figures
from evaluation.protocols import judged_classes
from evaluation.figure_plugins.interpolation import centres_of_mass, interpolate, judged_path, monotone_share
from evaluation.figure_plugins.prior_swap import decode, kept_share, prior_swap
from evaluation.figure_plugins.shared_motion import shared_motion
from evaluation.figure_plugins.unseen_action import FixedInTime, check, choose_pairs, splice_motion
from guides.deterministic_dynamics import GlobalDynamicsFactorisedGuide
from evaluation.report import figure_section
from inference.anneal import SiteGroups
from inference.latents import motion_groups, reconstruct, swap
from models.deterministic_dynamics import LSTMF
from models.hierarchical_vae import FrameVAE
from tests.conftest import FRAME, SEQ_LEN, MovingSquares, tiny_guide, tiny_model

pyro.enable_validation(True)
SHARED = {"base"}


def test_every_figure_module_registers_its_figures_once():
    modules = {info.name for info in pkgutil.iter_modules(figure_plugins.__path__)} - SHARED
    for module in modules:
        defined = [obj for obj in vars(importlib.import_module(f"evaluation.figure_plugins.{module}")).values()
                   if isinstance(obj, type) and issubclass(obj, Figure) and obj.__module__.endswith(module)]
        assert defined and all(cls.name in FIGURES for cls in defined), module
    orders = [figure.order for figure in FIGURES.values()]
    assert orders == sorted(orders) and {"interpolation", "prior_swap", "progress"} <= set(FIGURES)


def tiny_pair():
    model = tiny_model()
    guide, groups = tiny_guide(model), SiteGroups.of(model)
    data = MovingSquares(4)
    x = torch.stack([data[i]["x"] for i in range(4)])
    return model, guide, groups, x[:2], x[2:]


def test_interpolation_paths_start_at_a_and_end_at_the_swap_that_moves_only_their_groups():
    model, guide, groups, a, b = tiny_pair()
    static = interpolate(model, guide, groups, a, b, ("static",), steps=5)
    motion = interpolate(model, guide, groups, a, b, motion_groups(groups), steps=5)
    assert static.shape == (2, 5, SEQ_LEN, *a.shape[2:])
    for path in (static, motion):
        assert torch.allclose(path[:, 0], reconstruct(model, guide, a), atol=1e-5)  # w = 0: A itself
    assert torch.allclose(static[:, -1], swap(model, guide, groups, b, a), atol=1e-5)  # static of B, motion of A
    assert torch.allclose(motion[:, -1], swap(model, guide, groups, a, b), atol=1e-5)  # static of A, motion of B
    assert not torch.allclose(static[:, 2], static[:, 0]) and not torch.allclose(static[:, 2], static[:, -1])


class ThresholdJudge(nn.Module):
    """Static head: is the first pixel of the first frame bright; motion head: is the first pixel of the last frame."""

    static_heads, motion_heads = ("look",), ("move",)

    def predict_sequences(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        def classes(values):
            return nn.functional.one_hot((values > 0.5).long(), 2).float()
        return {"look": classes(x[:, 0, 0, 0, 0]), "move": classes(x[:, -1, 0, 0, 0])}


def paths_of(look: list[list[float]], move: list[list[float]]) -> torch.Tensor:
    """(N, K, T=2, 1, 1, 1) paths whose judged classes are the given first-pixel values along each path."""
    paths = torch.zeros(len(look), len(look[0]), 2, 1, 1, 1)
    paths[:, :, 0, 0, 0, 0], paths[:, :, 1, 0, 0, 0] = torch.tensor(look), torch.tensor(move)
    return paths


class TwinJudge:
    """A Sprites-like judge: the attribute answers per sequence through its ``<factor>_sequence`` twin."""

    static_heads, motion_heads = ("body",), ("action",)

    def predict_sequences(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        bright = nn.functional.one_hot((x[:, 0, 0, 0, 0] > 0.5).long(), 2).float()
        return {"body_sequence": bright, "action": 1 - bright}


def test_judged_classes_name_the_sequence_twin_of_a_frame_head_by_its_factor():
    x = torch.zeros(3, 2, 1, 1, 1)
    x[1, 0, 0, 0, 0] = 0.9
    found = judged_classes(TwinJudge(), x)
    assert set(found) == {"body", "action"} and found["body"].tolist() == [0, 1, 0] and found["action"].tolist() == [1, 0, 1]


def test_judged_path_counts_single_changes_of_carried_heads_and_no_change_of_the_others():
    paths = paths_of(look=[[0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 0]], move=[[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 1]])
    found = judged_path(ThresholdJudge(), paths, ("look",))
    assert found["look"] == {"changes_once": 0.5, "paths": 2}  # path 0 changes once, path 1 three times; path 2's ends agree
    assert found["move"] == {"never_changes": pytest.approx(2 / 3), "paths": 3}  # path 2's motion class changes


def square_at(row: float, col: float, size: int = 16) -> torch.Tensor:
    """A (1, size, size) frame with a 2x2 square whose top-left corner is at (row, col)."""
    frame = torch.zeros(1, size, size)
    frame[0, int(row) : int(row) + 2, int(col) : int(col) + 2] = 1.0
    return frame


def test_location_monotonicity_tells_a_steady_move_from_a_back_and_forth():
    steady = torch.stack([torch.stack([square_at(4, c), square_at(8, c)]) for c in (2, 4, 6, 8)])  # (K, T, 1, H, W)
    wobbly = torch.stack([torch.stack([square_at(4, c), square_at(8, c)]) for c in (2, 8, 3, 9)])
    assert torch.allclose(centres_of_mass(square_at(4, 6)), torch.tensor([4.5, 6.5]))
    assert monotone_share(steady[None]) == 1.0 and monotone_share(wobbly[None]) == 0.0
    assert monotone_share(torch.stack([steady, wobbly])) == 0.5


def test_prior_swap_exchanges_exactly_the_static_latents_and_decodes_them():
    model = tiny_model()
    groups = SiteGroups.of(model)
    drawn, swapped = prior_swap(model, groups, pairs=2, seq_len=SEQ_LEN)
    assert set(drawn) == {"f", *[f"z_{t}" for t in range(1, SEQ_LEN + 1)]}
    assert torch.equal(swapped["f"], drawn["f"][[2, 3, 0, 1]])  # draw i takes the static latent of draw i + 2 (mod 4)
    assert all(torch.equal(swapped[f"z_{t}"], drawn[f"z_{t}"]) for t in range(1, SEQ_LEN + 1))
    by_hand = {"f": drawn["f"][2:3], **{f"z_{t}": drawn[f"z_{t}"][0:1] for t in range(1, SEQ_LEN + 1)}}
    assert torch.allclose(decode(model, swapped, SEQ_LEN)[0], decode(model, by_hand, SEQ_LEN)[0], atol=1e-6)
    trace = pyro.poutine.trace(pyro.poutine.condition(model, data=swapped)).get_trace(None, batch_size=4, seq_len=SEQ_LEN)
    assert torch.equal(trace.nodes["f"]["value"], swapped["f"])  # the decoder reads the exchanged static latent


def test_kept_share_credits_the_static_donor_for_static_heads_and_the_draw_for_motion_heads():
    looks, moves = [0.9, 0.1, 0.1, 0.9], [0.9, 0.9, 0.1, 0.1]
    decoded = paths_of([looks], [moves])[0]  # 4 draws of 2 frames
    right = paths_of([[looks[2], looks[3], looks[0], looks[1]]], [moves])[0]  # static from draw i + 2, motion own
    wrong = paths_of([looks], [[moves[2], moves[3], moves[0], moves[1]]])[0]  # nothing exchanged but the motion
    judge = ThresholdJudge()
    assert kept_share(judge, decoded, right, pairs=2) == {"look": 1.0, "move": 1.0}
    assert kept_share(judge, decoded, wrong, pairs=2) == {"look": 0.0, "move": 0.0}


def figure_context(tmp_path, model, guide, judge=None, facts=DataFacts()) -> FigureContext:
    data = MovingSquares(8)
    preview = torch.stack([data[i]["x"] for i in range(4)])
    return FigureContext(tmp_path, tmp_path, model, guide, SiteGroups.of(model), data, preview, facts, judge, {})


def test_draw_figures_writes_each_file_it_names_and_the_report_lists_the_checks(tmp_path):
    model = tiny_model()
    ctx = figure_context(tmp_path, model, tiny_guide(model), facts=DataFacts(temporal_target="location"))
    files, checks = draw_figures(ctx)
    drawn = [name for name in files if not name.startswith("-")]
    assert {"interpolation_static.png", "interpolation_motion.png", "prior_swap.png", "swap_grid.png"} <= set(drawn)
    assert all((tmp_path / name).stat().st_size > 0 for name in drawn)
    assert files["-judge_over_time"].endswith("no judge is loaded for this data set") and "-progress" in files  # no metrics.csv here
    assert set(checks) == {"interpolation"} and 0.0 <= checks["interpolation"]["motion_path_location_monotone"] <= 1.0
    assert checks["interpolation"]["pairs"] == 4  # 8 test sequences
    text = "\n".join(figure_section(files, checks))
    assert "(G&W Fig. 4)" in text and "(G&W Fig. 2)" in text and "interpolation.motion_path_location_monotone:" in text.replace("- ", "interpolation.")


def test_models_without_a_static_group_get_no_interpolation_and_say_why(tmp_path):
    model = FrameVAE(frame_shape=(1, 16, 16), seq_len=SEQ_LEN, latent_dim=2)
    ctx = figure_context(tmp_path, model, None)
    assert "no static and motion latent groups" in figures_not_drawn(ctx)["interpolation"]
    assert "no static and motion latent groups" in figures_not_drawn(ctx)["prior_swap"]


def figures_not_drawn(ctx: FigureContext) -> dict[str, str]:
    from evaluation.figure_plugins import why_not
    return {name: reason for name, figure in FIGURES.items() if (reason := why_not(figure, ctx)) is not None}


def test_figures_that_need_images_are_listed_once_when_the_frames_are_not_images(tmp_path):
    model = tiny_model()
    ctx = figure_context(tmp_path, model, tiny_guide(model))
    ctx = FigureContext(**{**ctx.__dict__, "preview": None})
    files, checks = draw_figures(ctx)
    assert not checks and [name for name in files if not name.startswith("-")] == []
    assert "interpolation" in files["-pictures"] and "prior_swap" in files["-pictures"] and "-interpolation" not in files


# -- DSA Fig. 5: an unseen action spliced from two sequences' motion latents

class Labelled(MovingSquares):
    """MovingSquares with an identity label: sequences 0-2 show person 0, 3-5 person 1, ..."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "person": torch.tensor(index // 3)}


def test_splice_keeps_a_motion_before_the_switch_and_b_motion_after_it():
    model, guide, groups, a, b = tiny_pair()
    spliced = splice_motion(model, guide, groups, a, b, switch=2)
    # DSA decodes each frame from [f, z_t]: frames before the switch are A's reconstruction, after it A's look with B's z_t
    assert torch.allclose(spliced[:, :2], reconstruct(model, guide, a)[:, :2], atol=1e-5)
    assert torch.allclose(spliced[:, 2:], swap(model, guide, groups, a, b)[:, 2:], atol=1e-5)
    assert not torch.allclose(spliced[:, 2:], reconstruct(model, guide, a)[:, 2:])


def test_splice_refuses_a_motion_latent_that_is_one_value_per_sequence():
    model = LSTMF(FRAME, SEQ_LEN, static_dim=2, dynamics_dim=2, hidden_dim=8, width=4)
    guide = GlobalDynamicsFactorisedGuide(model, feature_dim=8, hidden_dim=8, width=4)
    x = MovingSquares(2).x
    with pytest.raises(FixedInTime, match="do not vary over frames"):
        splice_motion(model, guide, SiteGroups.of(model), x[:1], x[1:], switch=2)


def test_pairs_share_an_identity_and_differ_in_judged_motion(tmp_path):
    model = tiny_model()
    ctx = figure_context(tmp_path, model, tiny_guide(model), facts=DataFacts(identity="person"))
    ctx = FigureContext(**{**ctx.__dict__, "dataset": Labelled(9)})
    a, b = choose_pairs(ctx, None, count=10)
    assert a.shape[0] == 6  # (0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8): never across persons
    assert torch.equal(a[2], Labelled(9).x[3]) and torch.equal(b[2], Labelled(9).x[4])


def test_unseen_action_check_reads_each_half_against_its_donor():
    # ThresholdJudge reads the look from a sequence's first frame and the motion from its last: the first pixel of each
    a, b = torch.zeros(2, 4, 1, 1, 1), torch.zeros(2, 4, 1, 1, 1)
    a[:, :, 0, 0, 0] = torch.tensor([[0.9, 0.1, 0.9, 0.1], [0.1, 0.1, 0.1, 0.1]])
    b[:, :, 0, 0, 0] = torch.tensor([[0.1, 0.9, 0.1, 0.9], [0.9, 0.9, 0.9, 0.9]])
    right = torch.cat([a[:, :2], b[:, 2:]], 1)  # A's frames, then B's from the switch
    found = check(ThresholdJudge(), a, b, right, switch=2)
    assert found["move"] == {"first_half_follows_a": 1.0, "second_half_follows_b": 1.0, "changes_mid_sequence": 1.0, "real_halves_agree": 1.0}
    assert found["look"] == {"kept": 1.0} and found["pairs"] == 2
    wrong = check(ThresholdJudge(), a, b, a.clone(), switch=2)  # A's motion throughout
    assert wrong["move"]["second_half_follows_b"] == 0.0 and wrong["move"]["changes_mid_sequence"] == 0.0


def test_shared_motion_rows_take_their_look_from_each_sequence_and_their_motion_from_the_donor():
    model, guide, groups, a, b = tiny_pair()
    rows = shared_motion(model, guide, groups, a[:1], torch.cat([a[1:], b]))
    assert rows.shape == (3, SEQ_LEN, *a.shape[2:])
    assert torch.allclose(rows[0], swap(model, guide, groups, a[1:], a[:1])[0], atol=1e-5)  # look of a[1], motion of a[0]
    assert torch.allclose(rows[2], swap(model, guide, groups, b[1:], a[:1])[0], atol=1e-5)
    assert not torch.allclose(rows[1], rows[2])


def test_the_report_shows_pictures_inline_and_links_sound():
    text = "\n".join(figure_section({"a.png": "a picture", "b.wav": "a sound", "-c": "c not drawn: why"}))
    assert "![a picture](a.png)" in text and "- [b.wav](b.wav): a sound" in text and "![a sound]" not in text
    assert "_c not drawn: why_" in text
