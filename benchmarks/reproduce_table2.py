"""Reproduce the text classification results of Hendrycks et al. (ICLR 2019, Tables 2 and 8).

For SST-2, 20 Newsgroups and TREC this trains the GRU baseline, fine-tunes it with Outlier Exposure on
WikiText-2, evaluates both on the 10 OOD sets with 10 resamples, and writes `docs/results.md` with our
numbers beside the published ones:

    python benchmarks/reproduce_table2.py --data_dir ../shared/data

Each task's models, per-model results and plots go to `<output_dir>/<task>/`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import platform
import shlex
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import torch
import transformers

from oe_nlp.evaluation import OODReport, write_markdown_section
from oe_nlp.experiment import TASKS, parse_recipe_arguments, run_experiment

TASK_TITLES = {"sst2": "SST-2", "newsgroups20": "20 Newsgroups", "trec": "TREC"}
METRICS = (("fpr90", "FPR90 ↓"), ("auroc", "AUROC ↑"), ("aupr_out", "AUPR ↑"))

# Hendrycks et al. trained on Cachopo's "no-short" 20 Newsgroups text, so the reproduction does too.
TASK_FLAGS = {"newsgroups20": ["--dataset", "newsgroups20_noshort"]}

DATA_NOTES = """\
### Why our numbers differ from the published ones

- **One text normalisation for every source.** The published SST code kept SST in its original casing
  but lower-cased outlier and OOD text, so casing alone could separate them. We lower-case all text
  alike (`oe_nlp.data.normalize_text`), which removes that cue. See `docs/experiments.md` for the
  ablation that restores it.
- **20 Newsgroups text.** Hendrycks et al. used Cachopo's "no-short" version of the bydate split
  (words shorter than 3 characters removed, posts cut to 100 tokens). We rebuild it from the raw
  bydate posts: email headers (except the subject), quoted replies and signatures are removed, then
  short words, then the post is cut to 100 words (`newsgroups20_noshort`). Cachopo's files may differ
  in details we could not check. `docs/experiments.md` compares this with the cleaned posts that keep
  short words (the recipe's default) and with raw posts, whose email headers no OOD set has.
- **English Web Treebank.** The published numbers use the LDC release (dev files per genre). We use the
  same source text from UD English-EWT v2.15 (dev and test sentences together), tokenised the UD way.
- **Yelp.** The published numbers use the 50,000-review `yelp_review_full` test set. The local data
  folder has a real 1,000-review subset of the Yelp polarity test set.
- **Tokenization.** Hendrycks et al. split on whitespace with torchtext; we use a word-level tokenizer
  over whitespace-split words as well, with the 10,000 most frequent training words. Text from other
  pipelines (IMDB, EWT, Yelp) is tokenised differently from SST's PTB tokenization, which is itself a
  cue the model can pick up.
- **Single run.** Each row is one training run (seed 1); the ± values are the standard deviation over
  the 10 OOD subsets, not over training runs.
"""


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", default=os.environ.get("OE_NLP_DATA_DIR"), help="Local data folder.")
    parser.add_argument("--output_dir", default="runs/table2", help="Folder for models and per-task results.")
    parser.add_argument("--results_path", default="docs/results.md", help="Markdown page to write.")
    parser.add_argument("--tasks", default="sst2,newsgroups20,trec", help="Comma-separated tasks to run.")
    parser.add_argument("--num_resamples", type=int, default=10, help="OOD subsets per OOD set.")
    parser.add_argument("--seed", type=int, default=1, help="Training and resampling seed.")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="Tasks run at once, each in its own process (use the number of CPU cores). Each task is seeded "
        "on its own, so the results do not depend on this.",
    )
    arguments = parser.parse_args(argv)
    if arguments.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {arguments.jobs}")

    unknown = [task for task in arguments.tasks.split(",") if task not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {unknown}; choose from {sorted(TASKS)}")
    return arguments


def run_task(task: str, arguments: argparse.Namespace) -> tuple[dict[str, OODReport], float]:
    """Run one task's baseline and OE experiment and return its reports and wall time in seconds."""
    argv = [
        "--output_dir", str(Path(arguments.output_dir) / task),
        "--num_resamples", str(arguments.num_resamples),
        "--seed", str(arguments.seed),
        "--disable_tqdm", "true",
        *TASK_FLAGS.get(task, []),
    ]  # fmt: skip
    if arguments.data_dir:
        argv += ["--data_dir", arguments.data_dir]

    start = time.perf_counter()
    reports = run_experiment(*parse_recipe_arguments(task, argv))
    return reports, time.perf_counter() - start


def hardware_description() -> str:
    """Describe the CPU, core count and library versions of this machine in one line."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line
        ]
        model = names[0] if names else model
    return (
        f"{os.cpu_count()} CPU cores ({model}), no GPU used, Python {platform.python_version()}, "
        f"torch {torch.__version__}, transformers {transformers.__version__}"
    )


def table2(results: Mapping[str, Mapping[str, OODReport]]) -> str:
    """Format the suite means of every task, ours and published, in percent."""
    header = "| Task | Model | " + " | ".join(title for _, title in METRICS) + " | Accuracy |"
    lines = [header, "|---" * (len(METRICS) + 3) + "|"]
    for task, reports in results.items():
        for key, label in (("baseline", "MSP baseline"), ("oe", "+OE")):
            report = reports[key]
            mean = report.metrics["msp"]["mean"]
            cells = [f"{100 * mean[metric]['mean']:.1f}" for metric, _ in METRICS]
            published = TASKS[task].reference[label]
            published_cells = [f"{published[metric]:.1f}" for metric, _ in METRICS]
            accuracy = f"{100 * report.in_accuracy:.1f}"
            lines.append(
                f"| {TASK_TITLES[task]} | {label} (ours) | " + " | ".join(cells) + f" | {accuracy} |"
            )
            lines.append(
                f"| {TASK_TITLES[task]} | {label} (published) | " + " | ".join(published_cells) + " | - |"
            )
    return "\n".join(lines) + "\n"


def table8(task: str, reports: Mapping[str, OODReport]) -> str:
    """Format one task's per-OOD-set results, baseline and OE, in percent (mean ± std over subsets)."""
    titles = [f"{title} {model}" for model in ("baseline", "+OE") for _, title in METRICS]
    lines = ["| OOD set | " + " | ".join(titles) + " |", "|---" * (len(titles) + 1) + "|"]
    for ood_set in reports["baseline"].metrics["msp"]:
        cells = []
        for key in ("baseline", "oe"):
            values = reports[key].metrics["msp"][ood_set]
            cells += [f"{100 * values[m]['mean']:.1f} ± {100 * values[m]['std']:.1f}" for m, _ in METRICS]
        label = "**Mean**" if ood_set == "mean" else ood_set
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_page(
    results: Mapping[str, Mapping[str, OODReport]],
    seconds: Mapping[str, float],
    command: str,
    wall_seconds: float | None = None,
) -> str:
    """Build the markdown page with Table 2, Table 8 and the notes on data differences."""
    total = sum(seconds.values()) if wall_seconds is None else wall_seconds
    timing = ", ".join(f"{TASK_TITLES[task]} {value / 60:.1f} min" for task, value in seconds.items())
    sections = [
        "## Text classification: Table 2 of Hendrycks et al., reproduced\n",
        "This section is written by the command below; edit the script, not the page.\n",
        f"```bash\n{command}\n```\n",
        f"Hardware: {hardware_description()}. Wall time: {total / 60:.1f} min in all (per task: {timing}).\n",
        (
            "Setup of Hendrycks et al. (ICLR 2019): a 2-layer GRU classifier (embedding 50, hidden 128) reads "
            "the 10,000 most frequent training words. It trains 5 epochs with Adam (learning rate 0.01, "
            "cosine decay, batch 64), then a copy is fine-tuned 2 epochs with OE on WikiText-2 sentences (64 "
            "per batch, weight 1.0). Each in-distribution test set is scored against 10 random subsets of "
            "each OOD set, one OOD example per five test examples, with the maximum softmax probability "
            "as the anomaly score. Anomalies are the positive class; FPR90 is the share of in-distribution "
            "inputs flagged when 90% of anomalies are caught. All values are percentages.\n"
        ),
        (
            "`recipes/sst_oe.py`, `recipes/newsgroups_oe.py` and `recipes/trec_oe.py` run one task each with the "
            "same settings. One thread per process (`OMP_NUM_THREADS=1`) is the faster setting for these small "
            "recurrent models on a CPU.\n"
        ),
        "### Table 2: mean over the 10 OOD sets\n",
        table2(results),
        "Published rows: " + TASKS[next(iter(results))].reference_source.split(", Table")[0] + ", Table 2.\n",
        "### Table 8: per OOD set (mean ± standard deviation over the 10 subsets)\n",
        "Sets smaller than the subset size are used whole in every resample, so their deviation is 0.\n",
        # NOTE: the published per-set numbers (Table 8 of Hendrycks et al.) are missing here. No copy of
        # that table could be read offline, so only the published means appear.
        "The published per-set numbers are not included here; compare the means in Table 2.\n",
    ]
    for task, reports in results.items():
        sections += [f"#### {TASK_TITLES[task]}\n", table8(task, reports)]
    sections.append(DATA_NOTES)
    return "\n".join(sections)


def run_tasks(
    tasks: list[str], arguments: argparse.Namespace
) -> tuple[dict[str, dict[str, OODReport]], dict[str, float]]:
    """Run the tasks, `arguments.jobs` at a time in separate processes, longest first; keep their order."""
    results, seconds = {}, {}
    if arguments.jobs == 1:
        for task in tasks:
            results[task], seconds[task] = run_task(task, arguments)
            print(f"{task}: done in {seconds[task] / 60:.1f} min", flush=True)
        return results, seconds

    # 20 Newsgroups takes longest, so it starts first and the shorter tasks share the other workers.
    by_length = sorted(tasks, key=lambda task: task != "newsgroups20")
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=arguments.jobs, mp_context=context) as pool:
        futures = {task: pool.submit(run_task, task, arguments) for task in by_length}
        for future in concurrent.futures.as_completed(futures.values()):
            task = next(name for name, value in futures.items() if value is future)
            results[task], seconds[task] = future.result()
            print(f"{task}: done in {seconds[task] / 60:.1f} min", flush=True)
    return {task: results[task] for task in tasks}, {task: seconds[task] for task in tasks}


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    command = "python benchmarks/reproduce_table2.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    if "OMP_NUM_THREADS" in os.environ:
        command = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} {command}"

    start = time.perf_counter()
    results, seconds = run_tasks(arguments.tasks.split(","), arguments)
    wall_seconds = time.perf_counter() - start

    page = render_page(results, seconds, command.strip(), wall_seconds)
    write_markdown_section(arguments.results_path, "text_classification", page)
    print(f"Wrote {arguments.results_path}")


if __name__ == "__main__":
    main()
