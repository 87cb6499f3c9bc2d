"""Reproduce Table 6 of Hendrycks et al. (ICLR 2019): OE for PTB language models, word and character level.

Runs `recipes/ptb_lm_oe.py` at each level (unless its run folder already contains a `results.json`) and writes
the `language_models` section of `docs/results.md`:

    OMP_NUM_THREADS=1 python benchmarks/reproduce_table6.py --data_dir ../shared/data --runs_dir runs
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reproduce_table2 import hardware_description

from oe_nlp.evaluation import TABLE_METRICS, write_markdown_section
from oe_nlp.lm_experiment import PUBLISHED_SCORE, PUBLISHED_SOURCE, PUBLISHED_TABLE6

REPO_ROOT = Path(__file__).resolve().parents[1]
LEVEL_TITLES = {"word": "Word level", "char": "Character level"}
MODEL_LABELS = {"baseline": "Baseline", "oe": "+OE"}
SCORE_TITLES = {
    "nll": "negative log-likelihood (bits per token)",
    "uniform_cross_entropy": "negated uniform cross-entropy",
    "msp": "maximum softmax probability",
}


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", default=None, help="Folder in the layout of shared/data.")
    parser.add_argument("--runs_dir", default="runs", help="Run folders go to <runs_dir>/ptb_<level>.")
    parser.add_argument("--levels", default="word,char", help="Comma-separated levels to run.")
    parser.add_argument("--results_path", default="docs/results.md", help="Markdown page to update.")
    return parser.parse_args(argv)


def run_level(level: str, arguments: argparse.Namespace) -> tuple[dict, str, float | None]:
    """Run the recipe at one level unless its results exist; return the summary, command and minutes."""
    output_dir = Path(arguments.runs_dir) / f"ptb_{level}"
    command = [sys.executable, str(REPO_ROOT / "recipes" / "ptb_lm_oe.py"), "--level", level]
    command += ["--output_dir", str(output_dir), "--disable_tqdm", "true"]
    if arguments.data_dir:
        command += ["--data_dir", arguments.data_dir]

    minutes = None
    if not (output_dir / "results.json").is_file():
        start = time.perf_counter()
        subprocess.run(command, check=True)
        minutes = (time.perf_counter() - start) / 60
    summary = json.loads((output_dir / "results.json").read_text(encoding="utf-8"))
    shown = "python recipes/ptb_lm_oe.py " + shlex.join(command[2:])
    return summary, shown, minutes


def level_table(level: str, summary: dict) -> str:
    """Format one level's baseline and OE rows (mean over the EWT genres) beside the published ones."""
    score = PUBLISHED_SCORE
    columns = [title for _, title in TABLE_METRICS] + ["Test perplexity"]
    lines = ["| Model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for key, report in summary["reports"].items():
        mean = report["metrics"][score]["mean"]
        cells = [f"{100 * mean[metric]['mean']:.1f}" for metric, _ in TABLE_METRICS]
        cells.append(f"{report['config']['perplexity']['test']:.1f}")
        lines.append(f"| {MODEL_LABELS[key]} (ours) | " + " | ".join(cells) + " |")
    for label, values in PUBLISHED_TABLE6[level].items():
        cells = [f"{values[key]:.1f}" if key in values else "-" for key, _ in TABLE_METRICS] + ["-"]
        lines.append(f"| {label} (published) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def all_scores_table(summary: dict) -> str:
    """Format the EWT mean of every evaluated score for the baseline and OE models."""
    reports = summary["reports"]
    lines = ["| Score | FPR90 baseline | FPR90 +OE | AUROC baseline | AUROC +OE |", "|---|---|---|---|---|"]
    for score in reports["baseline"]["metrics"]:
        values = [reports[key]["metrics"][score]["mean"][metric]["mean"] for metric in ("fpr90", "auroc")
                  for key in ("baseline", "oe")]  # fmt: skip
        lines.append(
            f"| {SCORE_TITLES[score]} | " + " | ".join(f"{100 * value:.1f}" for value in values) + " |"
        )
    return "\n".join(lines) + "\n"


def per_genre_table(summary: dict) -> str:
    """Format AUROC and FPR90 per EWT genre for the baseline and OE models."""
    score = PUBLISHED_SCORE
    reports = summary["reports"]
    genres = [name for name in reports["baseline"]["metrics"][score] if name != "mean"]
    lines = [
        "| EWT genre | AUROC baseline | AUROC +OE | FPR90 baseline | FPR90 +OE |",
        "|---|---|---|---|---|",
    ]
    for genre in genres:
        values = [reports[key]["metrics"][score][genre][metric]["mean"] for metric in ("auroc", "fpr90")
                  for key in ("baseline", "oe")]  # fmt: skip
        lines.append(f"| {genre} | " + " | ".join(f"{100 * value:.1f}" for value in values) + " |")
    return "\n".join(lines) + "\n"


def render_section(results: dict[str, tuple[dict, str, float | None]]) -> str:
    """Build the markdown section with one table per level, the commands and the hardware."""
    parts = [
        "## Language models: Table 6 of Hendrycks et al., reproduced\n",
        "This section is written by `benchmarks/reproduce_table6.py`; edit the script, not the page.\n",
        f"Hardware: {hardware_description()}. Times are wall-clock and include any other load on the machine.\n",
        (
            "Setup: an LSTM language model (1 layer, hidden size 256, dropout 0.3) trains on Penn Treebank "
            "windows of 70 words or 150 characters, each scored on its own with a fresh hidden state. Words: "
            "tied 256-wide embeddings, Adam at 3e-3, 20 windows a batch, 2 epochs. Characters: untied 64-wide "
            "embeddings, Adam at 2e-3, 64 windows a batch, 1 epoch. A copy is fine-tuned for half an epoch with "
            "OE (weight 0.1) on WikiText-2 windows in PTB's vocabulary, as many outlier windows as "
            "in-distribution ones a batch. OOD sets are the five English Web Treebank genres (UD English-EWT "
            "dev and test sentences, in place of the LDC release), cut the same way, each compared with all "
            "PTB test windows. Values are percentages.\n"
        ),
        (
            "Text mapping and score: at word level, WikiText-2 and EWT tokens are looked up as written, as the "
            "code of Hendrycks et al. did (`--text_mapping paper`). Capitals, numbers and punctuation then "
            "become `<unk>`. At character level, text is lower-cased and characters PTB lacks are dropped "
            "(`--text_mapping ptb`), as theirs was. The first table of each level uses the negated uniform "
            "cross-entropy, the score of their released evaluation code, although Table 6 names bits per "
            "word or character. The second table lists every score. docs/experiments.md shows why, and what "
            "the word level gives with PTB-style text.\n"
        ),
    ]
    for level, (summary, command, minutes) in results.items():
        timing = f" Wall time: {minutes:.1f} min." if minutes is not None else ""
        training = summary["timings"]
        parts += [
            f"### {LEVEL_TITLES[level]}\n",
            f"```bash\n{command}\n```\n",
            (
                f"Training time: baseline {training['baseline_train_seconds'] / 60:.1f} min, OE "
                f"{training['oe_train_seconds'] / 60:.1f} min.{timing} Test perplexity change after OE: "
                f"{100 * summary['test_perplexity_change']:+.1f}%.\n"
            ),
            f"Mean over the EWT genres, score: {SCORE_TITLES[PUBLISHED_SCORE]}.\n",
            level_table(level, summary),
            "Every evaluated score, mean over the EWT genres:\n",
            all_scores_table(summary),
            f"Per genre, score: {SCORE_TITLES[PUBLISHED_SCORE]}.\n",
            per_genre_table(summary),
        ]
    parts.append(f"Published rows: {PUBLISHED_SOURCE}.\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    if "OMP_NUM_THREADS" not in os.environ:
        print("Tip: OMP_NUM_THREADS=1 is the faster setting for these LSTMs on 2 CPU cores.", flush=True)
    results = {level: run_level(level, arguments) for level in arguments.levels.split(",")}
    write_markdown_section(arguments.results_path, "language_models", render_section(results))
    print(f"Wrote the language_models section of {arguments.results_path}")


if __name__ == "__main__":
    main()
