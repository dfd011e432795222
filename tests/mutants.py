"""Mutation check of the tests that guard the papers' protocols: `python tests/mutants.py [name ...]`.

Each mutant is a small deliberate bug (a protocol that keeps the wrong latent, a network that is not the paper's
equation, a published number under the wrong key). For each, the working tree is copied to a scratch directory,
the one patch is applied there, and the tests covering that code are run; a mutant the tests still pass is
"missed" and names a weak test. Not part of the default test run (pytest collects only test_*.py): run it after
changing a protocol or its tests. Exit status 1 when a mutant is missed or a patch no longer applies.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv", "runs", "outputs", "multirun", "__pycache__", ".pytest_cache", "*.egg-info", "eval_logs")


@dataclass(frozen=True)
class Mutant:
    """One deliberate bug: replace ``old`` (must occur exactly once in ``path``) by ``new``; ``tests`` must then fail."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = (
    Mutant("generate_keeping keeps the other groups", "inference/latents.py",
           "kept = group_latents(groups, posterior_means(guide, x), keep)",
           "kept = group_latents(groups, posterior_means(guide, x), set(groups.names) - set(keep))",
           ("tests/test_protocol_fidelity.py",)),
    Mutant("DSA Table 1 keeps the motion for the static heads", "evaluation/protocols.py",
           'for keep, heads in ((("static",), judge.static_heads), (motion_groups(groups), judge.motion_heads)):',
           'for keep, heads in ((motion_groups(groups), judge.static_heads), (("static",), judge.motion_heads)):',
           ("tests/test_protocol_fidelity.py",)),
    Mutant("Acc. Cons. keeps the wrong factor", "evaluation/protocols.py",
           'kept[head] = ("static",)', "kept[head] = motion_groups(groups)",
           ("tests/test_protocol_fidelity.py",)),
    Mutant("fixed-motion protocol keeps the static latent", "evaluation/protocols.py",
           "generate_keeping(model, guide, groups, x, motion_groups(groups)))[head]",
           'generate_keeping(model, guide, groups, x, ("static",)))[head]',
           ("tests/test_protocol_fidelity.py",)),
    Mutant("BiLSTM summary reads the backward state at the last step", "networks/recurrent.py",
           "backward_first = states[:, 0, self.hidden_dim :]", "backward_first = states[:, -1, self.hidden_dim :]",
           ("tests/test_networks.py",)),
    Mutant("hierarchical VAE with static and temporal priors swapped", "models/hierarchical_vae.py",
           'if site == "h_static":', 'if site == "h_temporal":',
           ("tests/test_hierarchical_vae.py",)),
    Mutant("VDSM eq. 6 gate replaced by a plain MLP", "networks/state_space.py",
           "loc = gate * proposal + (1 - gate) * self.linear_mean(inputs)", "loc = proposal",
           ("tests/test_vdsm.py",)),
    Mutant("VDSM eq. 5 combiner replaced by a sum", "networks/state_space.py",
           "combined = 0.5 * (torch.tanh(self.from_z(z_prev)) + state)", "combined = self.from_z(z_prev) + state",
           ("tests/test_vdsm.py",)),
    Mutant("speaker EERs of mu_f and mu_z swapped", "evaluation/speech.py",
           '"eer_static": speaker_verification_eer(utterance_means(static, utterances), trials),',
           '"eer_static": speaker_verification_eer(utterance_means(dynamics, utterances), trials),',
           ("tests/test_protocol_fidelity.py", "tests/test_speech_model.py")),
    Mutant("VDSM Table 1 keyed by the other Sprites variant's names", "evaluation/published.py",
           '"shirt": (0.9967, 0.9967, 0.4733),', '"topwear": (0.9967, 0.9967, 0.4733),',
           ("tests/test_published.py",)),
    Mutant("DSA Table 2 paper column beside speakers seen in training", "evaluation/plugins/dsa_table2.py",
           'row.get("split_by") != "speaker":', 'row.get("split_by") not in ("speaker", "take"):',
           ("tests/test_published.py",)),
    Mutant("embedding accuracy splits by sequence, not by the declared identity", "evaluation/plugins/embedding_accuracy.py",
           "factors=ctx.facts.factors, identity=ctx.facts.identity)", "factors=ctx.facts.factors)",
           ("tests/test_metric_plugins.py",)),
    Mutant("a metric's number depends on the metrics run before it", "evaluation/suite.py",
           "        pyro.set_rng_seed(metric_seed(name))\n", "",
           ("tests/test_metric_plugins.py",)),
    Mutant("frames-last blocks read as frames-first", "inference/layout.py",
           'parts = [v.transpose(1, 2) if layout == "frames_last" else v for v in sites.values()]', "parts = list(sites.values())",
           ("tests/test_layout.py", "tests/test_protocol_fidelity.py")),
    Mutant("per-step latents stacked in name order, not time order", "inference/layout.py",
           "for name in sorted(sites, key=lambda n: step_of(n)[1])], dim=1)", "for name in sites], dim=1)",
           ("tests/test_layout.py",)),
    Mutant("predictive imputation scores one draw, not the mean of the draws", "evaluation/imputation.py",
           "return predicted.reshape(draws, batch, *predicted.shape[1:]).mean(dim=0)",
           "return predicted.reshape(draws, batch, *predicted.shape[1:])[0]",
           ("tests/test_imputation.py",)),
    Mutant("predictive imputation plugin scores the prior means", "evaluation/plugins/imputation_predictive.py",
           "sample, draws = True, 16", "sample, draws = False, 1",
           ("tests/test_imputation.py",)),
    Mutant("imputation conditions a frame-block group on the prefix", "evaluation/imputation.py",
           '        elif layout == "steps":', '        elif layout in ("steps", "frames", "frames_last"):',
           ("tests/test_imputation.py",)),
    Mutant("the mnist judge reads two-digit frames", "evaluation/judges/mnist.py",
           "return {} if digits == 1 else", "return {} if digits >= 1 else",
           ("tests/test_metric_plugins.py",)),
    Mutant("checkpoints unpickled with weights_only=False", "inference/checkpoint.py",
           "state = torch.load(path, map_location=map_location, weights_only=True)", "state = torch.load(path, map_location=map_location, weights_only=False)",
           ("tests/test_checkpoint_safety.py",)),
    Mutant("eval_every evaluates on the training RNG", "inference/trainer.py",
           "            if evaluate:\n                terms |= self._evaluate()",
           "        if evaluate:\n            terms |= self.evaluator(self.model, self.guide)",
           ("tests/test_training_eval.py",)),
    Mutant("bf16 networks hand back bfloat16", "inference/precision.py",
           "return _to_float32(forward(*args, **kwargs))", "return forward(*args, **kwargs)",
           ("tests/test_precision.py",)),
    Mutant("checkpoints keep mkstemp's 0600 instead of the umask", "inference/checkpoint.py",
           "os.chmod(tmp_name, 0o666 & ~current_umask())", "pass",
           ("tests/test_disk_faults.py",)),
    Mutant("a failed cache write surfaces as a raw OSError", "data/cache.py",
           "raise CacheWriteFailed(entry, err) from None\n    try:", "raise\n    try:",
           ("tests/test_disk_faults.py",)),
    Mutant("resume does not restore the RNG streams", "inference/trainer.py",
           'set_rng_state(state["rng"])', "pass",
           ("tests/test_hard_kill.py::test_sigkill_then_resume_is_bit_identical",)),
    Mutant("a resumed run logs into a fresh directory", "inference/cli.py",
           "return resume if resume and holds_run(resume) else fresh", "return fresh",
           ("tests/test_config.py::test_cli_train_then_resume_continues",)),
    Mutant("a failed start leaves its stub directory", "train.py",
           "remove_failed_start(out, config_record)", "pass",
           ("tests/test_bad_inputs.py::test_bad_command_line_is_one_line_exit_2_and_no_stub",)),
    Mutant("a new run may overwrite an existing run directory", "train.py",
           "if checkpoint is None and holds_run(run_dir):", "if False:",
           ("tests/test_bad_inputs.py::test_existing_run_dir_keeps_its_config_record",)),
    Mutant("data parallelism averages the ranks' gradients instead of summing them", "inference/distributed.py",
           "(loss * self.cluster.world_size).backward()", "loss.backward()",
           ("tests/test_distributed.py::test_two_processes_equal_one_accumulating_the_two_half_batches",)),
    Mutant("every rank draws the same latents", "inference/distributed.py",
           "step * 65_537 + rank * 7_919", "step * 65_537",
           ("tests/test_distributed.py",)),
    Mutant("a rank reads the whole batch, not its share", "inference/trainer.py",
           "self.parallel_step(self.batch(step, shard=True)", "self.parallel_step(self.batch(step)",
           ("tests/test_distributed.py::test_two_processes_equal_one_accumulating_the_two_half_batches",)),
    Mutant("a failed job takes its sweep down", "train.py",
           "        if sweeping:  # the sweep goes on", "        if False:  # the sweep goes on",
           ("tests/test_sweeps.py::test_joblib_sweep_outlives_a_failed_job_and_tables_it",)),
    Mutant("swap check compares the attributes with the motion donor", "evaluation/protocols.py",
           'source = real_donor if kept == ("static",) else real', "source = real",
           ("tests/test_protocol_fidelity.py",)),
    Mutant("lr_scale matches any name containing the prefix", "inference/optim.py",
           'matches = [prefix for prefix in self.scales if name == prefix or name.startswith(prefix + ".")]',
           "matches = [prefix for prefix in self.scales if prefix in name]",
           ("tests/test_optim.py",)),
    Mutant("Run.swap decodes the motion donor's static latent", "inference/run.py",
           "swap(self.model, self.guide, self.groups, self.sequences(content), self.sequences(motion), motion_groups(self.groups))",
           "swap(self.model, self.guide, self.groups, self.sequences(motion), self.sequences(content), motion_groups(self.groups))",
           ("tests/test_run.py",)),
    Mutant("a loss term is subtracted from the objective", "inference/objective.py",
           "surrogate - bonus", "surrogate + bonus",
           ("tests/test_loss_terms.py",)),
    Mutant("a loss term takes a latent group's weight", "inference/objective.py",
           "weights[self.latent_count + k]", "weights[k]",
           ("tests/test_loss_terms.py",)),
    Mutant("the logged objective leaves the terms out", "inference/latents.py",
           '"objective": terms["elbo"] + sum(extra.values())', '"objective": terms["elbo"]',
           ("tests/test_loss_terms.py",)),
    Mutant("a guide's batch keys go to the model too", "inference/batch.py",
           "return {key: extras[key] for key in takes(fn) if extras and key in extras}",
           "return {key: value for key, value in (extras or {}).items() if key in takes(fn) or takes(fn)}",
           ("tests/test_batch_keys.py",)),
    Mutant("C-DSVAE compares s on the motion view", "models/cdsvae.py",
           "s_content, _ = guide.posterior_means(content_view(x))", "s_content, _ = guide.posterior_means(motion_view(x))",
           ("tests/test_cdsvae.py",)),
    Mutant("C-DSVAE's I(s; z) leaves out the joint's static part", "models/cdsvae.py",
           "joint = torch.logsumexp(log_s.unsqueeze(-1) + log_z, dim=1) - norm", "joint = torch.logsumexp(log_z, dim=1) - norm",
           ("tests/test_cdsvae.py",)),
    Mutant("the Sprites judges' heads learn the wrong attribute columns", "evaluation/judges/sprites.py",
           'targets: dict[str, tuple[str, int | None]] = {a: ("attributes", i) for i, a in enumerate(variant.attributes)}',
           'targets: dict[str, tuple[str, int | None]] = {a: ("attributes", 3 - i) for i, a in enumerate(variant.attributes)}',
           ("tests/test_judges.py",)),
    Mutant("the sheet judge reads the DSA sequences", "evaluation/judges/sprites_sheet.py",
           "if data.get(\"name\") != VARIANT.name:", "if data.get(\"name\") not in (VARIANT.name, \"sprites\"):",
           ("tests/test_judges.py",)),
    Mutant("the interpolation blends the groups it should hold", "evaluation/figure_plugins/interpolation.py",
           "blended = set(group_latents(groups, start, moving))", "blended = set(start) - set(group_latents(groups, start, moving))",
           ("tests/test_figure_plugins.py",)),
    Mutant("the prior swap exchanges the motion latents", "evaluation/figure_plugins/prior_swap.py",
           'static = set(group_latents(groups, drawn, ("static",)))', 'static = set(drawn) - set(group_latents(groups, drawn, ("static",)))',
           ("tests/test_figure_plugins.py",)),
    Mutant("the interpolation check judges the wrong heads as carried", "evaluation/figure_plugins/interpolation.py",
           "if head in carried:", "if head not in carried:",
           ("tests/test_figure_plugins.py",)),
    Mutant("the prior-swap check credits the draw itself for static heads", "evaluation/figure_plugins/prior_swap.py",
           "donor = classes.roll(pairs, 0) if head in judge.static_heads else classes", "donor = classes",
           ("tests/test_figure_plugins.py",)),
    Mutant("the unseen action splices B's motion from the first frame", "evaluation/figure_plugins/unseen_action.py",
           "torch.cat([first[:, :switch], second[:, switch:]], 1)", "torch.cat([second[:, :switch], second[:, switch:]], 1)",
           ("tests/test_figure_plugins.py",)),
    Mutant("the shared-motion rows take the donor's look", "evaluation/figure_plugins/shared_motion.py",
           "return swap(model, guide, groups, looks, motion.expand_as(looks), motion_groups(groups))",
           "return swap(model, guide, groups, motion.expand_as(looks), looks, motion_groups(groups))",
           ("tests/test_figure_plugins.py",)),
    Mutant("the figures' judge read-out drops the Sprites attributes (their <factor>_sequence heads)", "evaluation/protocols.py",
           'probabilities = {head.removesuffix("_sequence"): p for head, p in judge.predict_sequences(x).items()}',
           "probabilities = dict(judge.predict_sequences(x))",
           ("tests/test_figure_plugins.py",)),
    Mutant("voice conversion scored against the words donor's speaker", "evaluation/plugins/voice_conversion.py",
           "converted = heard_voice == speakers[voice]", "converted = heard_voice == speakers[words]",
           ("tests/test_voice_conversion.py",)),
    Mutant("voice conversion pairs a segment with its own speaker", "evaluation/plugins/voice_conversion.py",
           "            if s != own:", "            if s == own or s != own:",
           ("tests/test_voice_conversion.py",)),
    Mutant("the voice figure takes the static latents of the words", "evaluation/figure_plugins/voice_conversion.py",
           'group_latents(groups, posterior_means(guide, voice), ("static",))', 'group_latents(groups, posterior_means(guide, words), ("static",))',
           ("tests/test_voice_conversion.py",)),
    Mutant("spectrogram magnitudes forget the normalisation", "data/audio.py",
           "np.exp(frames * self.std + self.mean)", "np.exp(frames)",
           ("tests/test_voice_conversion.py",)),
    Mutant("the voice figure picks the two highest-pitched speakers", "evaluation/figure_plugins/voice_conversion.py",
           "high, low = max(pitch, key=pitch.get), min(pitch, key=pitch.get)", "high, low = sorted(pitch, key=pitch.get)[-1], sorted(pitch, key=pitch.get)[-2]",
           ("tests/test_voice_conversion.py",)),
    Mutant("an utterance's segments come back in reverse time order", "data/fsdd.py",
           'return rows[np.argsort(self.labels["segment"][rows], kind="stable")]', 'return rows[np.argsort(-self.labels["segment"][rows], kind="stable")]',
           ("tests/test_voice_conversion.py",)),
    Mutant("Griffin-Lim told the wrong hop", "data/audio.py",
           "magnitudes.T, n_iter=iterations, hop_length=self.hop,", "magnitudes.T, n_iter=iterations, hop_length=2 * self.hop,",
           ("tests/test_voice_conversion.py",)),
    Mutant("the voice figure picks the least voiced utterance", "evaluation/figure_plugins/voice_conversion.py",
           "utterance, digit, _ = max(allowed,", "utterance, digit, _ = min(allowed,",
           ("tests/test_voice_conversion.py",)),
    Mutant("the words leak is scored against the words donor's digit", "evaluation/plugins/voice_conversion.py",
           "(heard_words[differ] == digits[voice][differ])", "(heard_words[differ] == digits[words][differ])",
           ("tests/test_voice_conversion.py",)),
    Mutant("the voice figure is drawn without librosa", "evaluation/figure_plugins/voice_conversion.py",
           "        except AudioUnavailable as err:\n            return str(err)", "        except AudioUnavailable:\n            pass",
           ("tests/test_voice_conversion.py",)),
    Mutant("voice conversion converts every test segment, whatever max_sequences says", "evaluation/plugins/voice_conversion.py",
           "for b, own in enumerate(speakers[:count]):", "for b, own in enumerate(speakers):",
           ("tests/test_voice_conversion.py",)),
    Mutant("the report embeds sound files as images", "evaluation/report.py",
           "elif name.lower().endswith(PICTURES):", "elif True:",
           ("tests/test_figure_plugins.py",)),
    Mutant("rotating objects: the facing sector read from the wrong axis", "data/rotating_objects.py",
           "angle = np.arctan2(front[1], front[0]) % (2 * np.pi)", "angle = np.arctan2(front[0], front[1]) % (2 * np.pi)",
           ("tests/test_data_rotating_objects.py",)),
    Mutant("rotating objects: objects not scaled to fit the frame", "data/rotating_objects.py",
           "scale = FIT_RADIUS / np.linalg.norm(corners - middle, axis=1).max()", "scale = 1.6 * FIT_RADIUS / np.linalg.norm(corners - middle, axis=1).max()",
           ("tests/test_data_rotating_objects.py",)),
    Mutant("rotating objects: the cylinder meets rays at its far side", "data/rotating_objects.py",
           "side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * np.maximum(a, EPS))", "side = (-b + np.sqrt(np.maximum(disc, 0))) / (2 * np.maximum(a, EPS))",
           ("tests/test_data_rotating_objects.py",)),
)


def apply(mutant: Mutant, tree: Path) -> None:
    """Write the mutant into the scratch tree; raise if its anchor text is not found exactly once."""
    target = tree / mutant.path
    text = target.read_text()
    if text.count(mutant.old) != 1:
        raise ValueError(f"{mutant.name}: the text to mutate occurs {text.count(mutant.old)} times in {mutant.path} (expected once)")
    target.write_text(text.replace(mutant.old, mutant.new))


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[bool, str]:
    """Run pytest on ``tests`` inside ``tree``: (passed, the first failing test or the last output line)."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests], cwd=tree, capture_output=True, text=True)
    failed = next((line for line in result.stdout.splitlines() if line.startswith("FAILED") or line.startswith("ERROR")), "")
    return result.returncode == 0, failed or (result.stdout.strip().splitlines() or [""])[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="substrings of mutant names to run (default: all)")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.names or any(n.lower() in m.name.lower() for n in args.names)]
    missed = 0
    with tempfile.TemporaryDirectory(prefix="seqzoo-mutants-") as scratch:
        clean = Path(scratch) / "clean"
        shutil.copytree(ROOT, clean, ignore=SKIP)
        for tests in sorted({m.tests for m in chosen}):
            passed, detail = run_tests(clean, tests)
            if not passed:
                print(f"baseline fails, fix it first: {' '.join(tests)}: {detail}")
                return 1
        for mutant in chosen:
            tree = Path(scratch) / "mutant"
            shutil.rmtree(tree, ignore_errors=True)
            shutil.copytree(clean, tree)
            start = time.perf_counter()
            try:
                apply(mutant, tree)
            except ValueError as err:
                print(f"STALE   {err}")
                missed += 1
                continue
            passed, detail = run_tests(tree, mutant.tests)
            missed += passed
            verdict = "MISSED " if passed else "caught "
            print(f"{verdict} {mutant.name} ({time.perf_counter() - start:.0f} s): {detail}", flush=True)
    print(f"{len(chosen) - missed} of {len(chosen)} mutants caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
