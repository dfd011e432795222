"""report.md of an evaluated run: the ELBO terms, every paper metric that applies beside the published number, figures."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from evaluation.published import DSA_TABLE2_SPEAKERS, fixed_motion_rows, published


def report(run_dir: Path, train_cfg: DictConfig, metrics: dict) -> str:
    """A short human-readable report of one run."""
    model = train_cfg.model._target_.rsplit(".", 1)[-1]
    lines = [
        f"# Evaluation of `{run_dir}`",
        "",
        f"Model {model}, guide `{train_cfg.guide.name}`, data `{train_cfg.data.name}`, likelihood `{train_cfg.model.get('likelihood', '?')}`, "
        f"seed {train_cfg.seed}, trained {metrics['step']} steps.",
        "",
        f"Values on {metrics['sequences']} {metrics['split']} sequences: ELBO terms per sequence in nats (analytic KL, unannealed, "
        "one posterior sample); pixel_mse is the mean squared error per pixel of the posterior-mean reconstruction.",
        "",
        "| quantity | value |",
        "| --- | --- |",
        *[f"| {k} | {v:.5g} |" for k, v in metrics.items() if isinstance(v, float)],
        "",
        *paper_sections(metrics),
        *[f"Not computed: {name} ({reason})." for name, reason in metrics.get("not_applicable", {}).items()],
        "",
        *figure_section(metrics.get("figures", {})),
    ]
    return "\n".join(lines)


def paper_sections(metrics: dict) -> list[str]:
    """Markdown for the papers' metrics present in ``metrics``, with published numbers beside ours."""
    lines: list[str] = []
    paper = published(metrics)

    def paper_cell(key: str, spec: str = ".2%") -> str:
        return format(paper[key], spec) if key in paper else "-"

    if "judge_skipped" in metrics:
        lines += [f"No judged metrics: {metrics['judge_skipped']}.", ""]
    if "judge" in metrics:
        judge = metrics["judge"]
        lines += [f"## Judge `{judge['name']}`", "", "Accuracy on the held-out test split (real data; clean and 3x3-blurred where measured): "
                  + "; ".join(f"{c}: " + ", ".join(f"{h} {v:.1%}" for h, v in heads.items()) for c, heads in judge["held_out_accuracy"].items()), ""]
    if "dsa_table1" in metrics:
        lines += ["## DSA Table 1 (judge on fix-f / fix-z generations of the test sequences)", "",
                  "Static heads: f encoded, z_1:T from the prior; motion heads: the motion latents encoded, f from the prior.", "",
                  "| head | disagreement | KL-recon | KL-random | paper (factorised q): disagreement / KL-recon / KL-random |",
                  "| --- | --- | --- | --- | --- |"]
        for head, row in metrics["dsa_table1"].items():
            keys = [f"dsa_table1.{head}.{name}" for name in ("disagreement", "kl_recon", "kl_random")]
            published_row = f"{paper[keys[0]]:.2%} / {paper[keys[1]]:.4f} / {paper[keys[2]]:.4f}" if keys[0] in paper else "-"
            lines.append(f"| {head} | {row['disagreement']:.2%} | {row['kl_recon']:.4f} | {row['kl_random']:.4f} | {published_row} |")
        lines.append("")
    if "generation" in metrics:
        lines += ["## Generation from the prior (VDSM Table 2 protocol)", "", "| head | IS | H(y|x) | H(y) | classes |", "| --- | --- | --- | --- | --- |"]
        for head, row in metrics["generation"].items():
            lines.append(f"| {head} | {row['inception_score']:.3f} | {row['intra_entropy']:.3f} | {row['inter_entropy']:.3f} | {row['classes']} |")
        lines.append("")
    if "consistency" in metrics and "embedding_accuracy" not in metrics:  # else it is a column of the VDSM Table 1 section
        lines += ["## Accuracy consistency (VDSM §4 protocol: the judge's class of a sampled sequence that keeps the factor's latent "
                  "and draws the other, against its class of the real sequence)", "",
                  ", ".join(f"{head} {value:.2%}" for head, value in metrics["consistency"].items()), ""]
    lines += reconstruction_section(metrics)
    lines += swap_section(metrics)
    lines += fixed_motion_section(metrics)
    lines += vdsm_sections(metrics)
    if "gw_disentanglement" in metrics:
        row = metrics["gw_disentanglement"]
        lines += ["## Grathwohl & Wilson eq. 19 (linear SVMs on encoded test frames; static = digit, temporal = 3x3 location)", "",
                  f"D-score {row['d_score']:.3f} (a_s {row['a_static']:.3f}, a_t {row['a_temporal']:.3f}); static-feature accuracy "
                  f"{row['static_feature_accuracy']:.3f}. Paper, Table 1 (4 features, same model and beta): {paper_cell('gw_disentanglement.d_score', '.2f')} "
                  "(all rows: hierarchical 6.71-6.82, slow 4.70-6.38, VAE 1.08-1.71).", ""]
    if "dsa_table2" in metrics:
        lines += speech_section(metrics["dsa_table2"], metrics.get("guide"), paper)
    if "imputation" in metrics:
        lines += imputation_section(metrics["imputation"])
    return lines


def speech_section(row: dict, guide: str | None, paper: dict[str, float]) -> list[str]:
    """DSA Table 2: the EERs, which speakers they verify, and the paper's numbers only beside held-out speakers."""
    held_out = row.get("split_by") == "speaker"
    who = (f"{row.get('speakers', '?')} speakers held out of training (split_by=speaker), as §4.2 verifies held-out speakers "
           f"(the paper: {DSA_TABLE2_SPEAKERS} TIMIT test speakers)") if held_out else (
           f"{row.get('speakers', '?')} speakers seen in training (split_by={row.get('split_by', '?')}: other takes of the same speakers); "
           "the paper verifies held-out speakers, so no paper column here")
    header = f"| feature | EER | paper (TIMIT, {guide} q, same dims) |" if held_out else "| feature | EER |"

    def cell(key: str) -> str:
        return (f" {paper[key]:.2%} |" if key in paper else " - |") if held_out else ""

    return ["## DSA Table 2 (speaker verification, cosine scores of utterance-mean features; EER, lower = more speaker information)", "",
            f"Test utterances of {who}. {row['trials']} trials ({row['same_speaker_trials']} same-speaker) over "
            f"{row['utterances']} test utterances ({row['segments']} segments).", "",
            header, "| --- | --- |" + (" --- |" if held_out else ""),
            f"| mu_f (static, {row['static_dim']}-d) | {row['eer_static']:.2%} |" + cell("dsa_table2.eer_static"),
            f"| mu_z (dynamics, {row['dynamics_dim']}-d) | {row['eer_dynamics']:.2%} |" + cell("dsa_table2.eer_dynamics"), "",
            *content_lines(row.get("eer_static_by_content"))]


def content_lines(by_content: dict | None) -> list[str]:
    """The mu_f EER split by whether a trial's two utterances say the same word (a diagnostic, no paper number)."""
    if not by_content:
        return []
    return [f"Diagnostic (no paper number): mu_f EER {by_content['same_content']:.2%} over trials whose two utterances say the same "
            f"word, {by_content['different_content']:.2%} over those that say different words; an FSDD utterance is one word, "
            "so the gap is the word held in f.", ""]


def per_factor_section(metrics: dict, key: str, heading: str) -> list[str]:
    """One of our per-factor checks (no paper reports it, so no paper column): a heading and one share per factor."""
    if key not in metrics:
        return []
    return [f"## {heading}", "", ", ".join(f"{head} {value:.2%}" for head, value in metrics[key].items()), ""]


def reconstruction_section(metrics: dict) -> list[str]:
    """The reconstruction check (ours): an upper bound for the accuracy consistency."""
    return per_factor_section(metrics, "reconstruction_consistency", "Reconstruction consistency (ours, not a paper metric: the judge's "
                              "class of the posterior-mean reconstruction against its class of the real sequence; an upper bound for the "
                              "accuracy consistency)")


def swap_section(metrics: dict) -> list[str]:
    """The swap check (ours): does each factor follow the latent that should hold it?"""
    return per_factor_section(metrics, "swap_consistency", "Swap consistency (ours, not a paper metric: each sequence's motion latents "
                              "decoded with the previous test sequence's static latent; the share judged in the class of the factor's "
                              "donor, the static one for identity, the motion one for the action)")


def fixed_motion_section(metrics: dict) -> list[str]:
    """The later papers' Sprites protocol: our row per motion head, then the published rows of other models."""
    if "fixed_motion" not in metrics:
        return []
    lines = ["## Fixed motion, static from the prior (the later papers' Sprites protocol: S3VAE, C-DSVAE, SKD, SPYL, DBSE)", "",
             "The motion latents of each test sequence are kept, the static latent is drawn from the prior, and the judge classifies "
             "the generated motion against the sequence's true label, on a class-balanced test set; natural logs (H(y) <= ln K).", "",
             "| method | head | sequences | accuracy | IS | H(y|x) | H(y) | source |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for head, row in metrics["fixed_motion"].items():
        lines.append(f"| ours ({metrics.get('model')}, {metrics.get('guide')} q) | {head} ({row['classes']} classes) | {row['sequences']} | "
                     f"{row['accuracy']:.2%} | {row['inception_score']:.3f} | {row['intra_entropy']:.3f} | {row['inter_entropy']:.3f} | this run |")
    for row in fixed_motion_rows(metrics.get("data")):
        spread = " | ".join("-" if v is None else f"{v:{spec}}" for v, spec in ((row.inception_score, ".3f"), (row.intra_entropy, ".3g"), (row.inter_entropy, ".3f")))
        lines.append(f"| {row.method} | action (9 classes) | - | {row.accuracy:.2%} | {spread} | {row.source} |")
    return lines + [""]


def vdsm_sections(metrics: dict) -> list[str]:
    """VDSM Table 1 (consistency, embedding accuracies) and the FVD-judge, when present."""
    lines: list[str] = []
    if "embedding_accuracy" in metrics:
        found = metrics["embedding_accuracy"]
        consistency = metrics.get("consistency", {})
        groups = list(found["accuracy"])
        lines += ["## VDSM Table 1 (linear SVM on each latent group's posterior-mean embedding, test sequences split by character)", "",
                  f"Trained on {found['sequences']['train']} sequences, tested on {found['sequences']['test']} of other characters; "
                  f"per-frame latents {found['pooling']}ed over time. Acc. Cons. (VDSM §4): the judge's class of a sampled sequence that keeps the "
                  "factor's latent (static for attributes, motion for the action) and draws the other equals its class of the real sequence.", "",
                  "| factor | Acc. Cons. | " + " | ".join(f"{g} emb. acc." for g in groups) + " | chance | paper: Acc. Cons. / ID / Dyn. |",
                  "|" + " --- |" * (len(groups) + 4)]
        paper = published(metrics)  # Acc. Cons., then the groups the paper reports (identity, dynamics), in our column order
        for factor in dict.fromkeys([*found["chance"], *consistency]):  # scored factors, then any only Acc. Cons. has
            keys = [f"consistency.{factor}", *[f"embedding_accuracy.accuracy.{g}.{factor}" for g in groups]]
            published_row = " / ".join(f"{paper[k]:.2%}" for k in keys if k in paper) or "-"
            cons = f"{consistency[factor]:.2%}" if factor in consistency else "-"
            accs = " | ".join(f"{found['accuracy'][g][factor]:.2%}" if factor in found["accuracy"][g] else "-" for g in groups)
            chance = f"{found['chance'][factor]:.2%}" if factor in found["chance"] else "-"
            lines.append(f"| {factor} | {cons} | {accs} | {chance} | {published_row} |")
        lines += ["", *[f"Not scored: {factor} ({reason})." for factor, reason in found["skipped"].items()], ""]
    if "fvd" in metrics:
        row = metrics["fvd"]
        lines += [f"## {row['metric']} (VDSM Table 3 in spirit; Fréchet distance of per-sequence features, prior generations vs real test sequences)", "",
                  "Not comparable with the paper's FID (a 3D ResNeXt-101 on MUG): only with runs using the same features and counts.", "",
                  "| generated vs real | generated half vs real half | real half vs real half (floor) | sequences | features |", "| --- | --- | --- | --- | --- |",
                  f"| {row['fvd']:.4g} | {row['fvd_half']:.4g} | {row['real_vs_real']:.4g} | {row['sequences']} | {row['features']} |", ""]
        if row["features"] >= row["sequences"] // 2:
            lines += [f"**Not meaningful:** {row['features']} features from {row['sequences'] // 2} sequences per half give singular covariance "
                      "estimates (the floor can exceed the distance itself); it needs more sequences per half than features (`fvd_sequences`, a larger "
                      "test split, or an extractor with fewer features).", ""]
    return lines


def imputation_section(found: dict) -> list[str]:
    """DSA Fig. 8 as a table: wrongly predicted pixels against the number of missing frames."""
    lines = ["## DSA Fig. 8 (imputation: observe the first frames, predict the rest with the prior dynamics)", "",
             "Fraction of wrong pixels (binarised at 0.5) against the number of missing final frames.", "",
             "| missing frames | " + " | ".join(found) + " |", "|" + " --- |" * (len(found) + 1)]
    missing = sorted({int(n) for curve in found.values() for n in curve})
    for n in missing:
        lines.append(f"| {n} | " + " | ".join(f"{curve.get(n, curve.get(str(n), float('nan'))):.4f}" for curve in found.values()) + " |")
    return lines + [""]


def figure_section(figures: dict[str, str]) -> list[str]:
    """Every figure with its caption; figures that do not apply say why."""
    lines = ["## Figures", ""]
    for name, caption in figures.items():
        lines += [f"_{caption}_", ""] if name.startswith("-") else [f"**{caption}**", "", f"![{caption}]({name})", ""]
    return lines
