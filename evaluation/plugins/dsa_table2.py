"""DSA Table 2 (Li & Mandt 2018, §4.2): speaker verification EER of the utterance-mean static and dynamic features."""
from __future__ import annotations

from evaluation.plugins.base import Context, Metric
from evaluation.published import DSA_TABLE2, DSA_TABLE2_SPEAKERS
from evaluation.speech import dsa_table2


class DSATable2(Metric):
    """Cosine-scored trials between test utterances; needs a data set that names each utterance's speaker."""

    name = "dsa_table2"
    order = 100

    def applies(self, ctx: Context) -> str | None:
        return None if hasattr(ctx.dataset, "utterance_speakers") else "the data set names no speaker per utterance"

    def compute(self, ctx: Context) -> dict:
        return dsa_table2(ctx.guide, ctx.groups, ctx.dataset, ctx.options.batch_size, ctx.device)

    def published(self, metrics: dict) -> dict[str, float]:
        row = metrics.get(self.name)  # §4.2 verifies speakers held out of training: only split_by=speaker stands beside it
        if not row or metrics.get("model") != "dsa" or row.get("split_by") != "speaker":
            return {}
        paper = DSA_TABLE2.get((metrics.get("guide"), row["static_dim"]))
        return {"dsa_table2.eer_static": paper[0], "dsa_table2.eer_dynamics": paper[1]} if paper else {}

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        return speech_section(metrics[self.name], metrics.get("guide"), paper)


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
