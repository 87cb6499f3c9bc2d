"""Run every benchmark, print each figure and write `docs/benchmarks.md`.

Each benchmark runs in its own child process with `OMP_NUM_THREADS=1`, writes JSON to a temporary
folder, and this script builds the page from those files:

    python benchmarks/run_all.py --data_dir ../shared/data            # full run
    python benchmarks/run_all.py --data_dir ../shared/data --quick    # smoke run, about 3.5 min

The full run took 15.6 min on 2 idle cores (training 2.4, inference 3.9, end to end 8.9, memory 0.5).
`--variants unpacked_gru` also reruns 20 Newsgroups with a candidate speed-up (about 4 min more).
Timings depend on other load on the machine: run it when the machine is otherwise idle.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_common
import bench_end_to_end
import bench_inference
import bench_memory
import bench_training

BENCHMARKS = ("training", "inference", "end_to_end")
VARIANT_TASKS = "newsgroups20"


def run_benchmark(script: str, arguments: list[str], json_path: Path) -> tuple[dict[str, Any], float]:
    """Run one benchmark script as a child process and return its JSON results and wall seconds."""
    command = [sys.executable, str(Path(__file__).parent / script), *arguments, "--json", str(json_path)]
    print(f"\n$ OMP_NUM_THREADS=1 {shlex.join(command[1:])}", flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - start
    return json.loads(json_path.read_text(encoding="utf-8")), seconds


def run_all(arguments: argparse.Namespace, folder: Path) -> tuple[dict[str, Any], dict[str, float]]:
    """Run the selected benchmarks and return their merged results and the wall seconds of each."""
    common = ["--data_dir", arguments.data_dir] + (["--quick"] if arguments.quick else [])
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    scripts = {
        "training": ("bench_training.py", common),
        "inference": ("bench_inference.py", common),
        "end_to_end": ("bench_end_to_end.py", common),
    }
    for name in arguments.benchmarks:
        script, script_arguments = scripts[name]
        payload, seconds[name] = run_benchmark(script, script_arguments, folder / f"{name}.json")
        results.update(payload)

    if "end_to_end" in results:
        payload, seconds["memory"] = run_benchmark(
            "bench_memory.py", ["--from_json", str(folder / "end_to_end.json")], folder / "memory.json"
        )
        results.update(payload)

    for variant in arguments.variants:
        variant_arguments = ["--data_dir", arguments.data_dir, "--skip_main_job", "--tasks", VARIANT_TASKS]
        payload, seconds[f"variant {variant}"] = run_benchmark(
            "bench_end_to_end.py",
            [*variant_arguments, "--variant", variant],
            folder / f"variant_{variant}.json",
        )
        results.setdefault("variants", {})[variant] = payload["end_to_end"]["reproduction"]
    return results, seconds


def render_page(results: dict[str, Any], seconds: dict[str, float], command: str, quick: bool = False) -> str:
    """Build the markdown page from the merged benchmark results."""
    hardware = results.get("end_to_end", {}).get("hardware") or bench_common.hardware_summary()
    total_minutes = sum(seconds.values()) / 60
    sections = [
        "# Benchmarks\n",
        "Written by the command below; edit `benchmarks/`, not this page.\n",
        f"```bash\n{command}\n```\n",
        (
            f"Date: {datetime.date.today().isoformat()}. Hardware: {hardware['cores']} CPU cores "
            f"({hardware['cpu']}), no GPU, Python {hardware['python']}, torch {hardware['torch']}, "
            f"transformers {hardware['transformers']}, one thread per process (`OMP_NUM_THREADS=1`). "
            f"`run_all.py` took {total_minutes:.1f} min "
            f"({', '.join(f'{name} {value / 60:.1f} min' for name, value in seconds.items())}).\n"
        ),
        (
            "Timings on a shared machine move with its other load. Figures are medians of repeated runs; "
            "compare ratios taken in one process rather than absolute times from different runs.\n"
        ),
    ]
    if quick:
        sections.append(
            "**Smoke run (`--quick`)**: few steps, small sets and a 0.2-epoch main job, so these figures only "
            "show that the scripts run. Rerun without `--quick` for the figures to quote.\n"
        )
    if "training" in results:
        sections += _training_section(results["training"])
    if "inference" in results:
        sections += _inference_section(results["inference"])
    if "end_to_end" in results:
        sections += _end_to_end_section(results["end_to_end"], results.get("variants", {}))
    if "memory" in results:
        sections += [
            "## Peak memory\n",
            "Peak resident set size from `os.wait4` on the child process (`bench_memory.py`).\n",
            bench_memory.format_results(results["memory"]),
        ]
    return "\n".join(sections)


def _training_section(training: list[dict[str, Any]]) -> list[str]:
    steps = ", ".join(
        f"{result['model']}: {result['timed_steps']['trainer_oe']} timed steps per contender"
        for result in training
    )
    return [
        "## Training overhead\n",
        (
            "`python benchmarks/bench_training.py`: one `OETrainer` optimizer step against a hand-written PyTorch "
            "loop on the same batches and model (Adam at 0.01, cosine schedule, gradient clipping at 1.0). GRU: the "
            "SST-2 classifier (embedding 50, hidden 128, 2 layers, 10,002 words), 64 SST-2 sentences + 64 "
            "WikiText-2 outlier sentences per step. BERT: 4 layers, hidden 256, vocabulary 30,522, 32 + 32 rows "
            "of random ids of length 64. A trainer step is the interval between two `on_step_end` callbacks, so it "
            f"includes fetching both batches. Medians over interleaved rounds ({steps}).\n"
        ),
        bench_training.format_results(training),
        (
            "The second table sets the OE step against the in-distribution-only step of the same loop. "
            "Rows: (in-distribution + outlier rows) / in-distribution rows. Real tokens: tokens of both batches over those of the in-distribution batch, "
            "the cost driver of the packed GRU.\n"
        ),
    ]


def _inference_section(inference: list[dict[str, Any]]) -> list[str]:
    return [
        "## Inference throughput\n",
        (
            "`python benchmarks/bench_inference.py`: sentences per second at batch 256 (median of "
            f"{inference[0]['repeats']} pass(es)). `predict_logits` sorts by length and pads per batch; raw sorted "
            "is the bare forward on pre-built length-sorted batches; raw fixed pads every row to the set's max "
            "length. IMDB reviews are truncated to 400 tokens. The detector column, when present, is "
            "`OODDetector` on raw text, so it includes tokenization.\n"
        ),
        bench_inference.format_results(inference),
    ]


def _end_to_end_section(end_to_end: dict[str, Any], variants: dict[str, Any]) -> list[str]:
    sections = ["## End to end\n"]
    if "main_job" in end_to_end:
        main_job = end_to_end["main_job"]
        runs = ", ".join(bench_common.format_seconds(value) for value in main_job["wall_seconds"])
        sections += [
            (
                f"Main job: `{main_job['command']}`: median "
                f"{bench_common.format_seconds(main_job['median_wall_seconds'])} over {main_job['repeats']} run(s) "
                f"({runs}).\n"
            )
        ]
    reproduction = end_to_end["reproduction"]
    all_tasks = set(reproduction["stages"]) == {"sst2", "newsgroups20", "trec"}
    sections += [
        (
            f"Table 2 reproduction: `{reproduction['command']}`: "
            f"{bench_common.format_seconds(reproduction['wall_seconds'])} "
            f"(one run{', goal under 5 min' if all_tasks else ''}). Stages "
            "from timers around the pipeline functions (`bench_end_to_end.py`); `evaluation: ...` rows are parts "
            "of the evaluation row. This is one task after another in one process; with `--jobs 2` the tasks run "
            "side by side, and that command's wall time is in `docs/results.md` (written by it).\n"
        ),
        bench_end_to_end.format_stage_table(reproduction),
    ]
    if variants:
        rows = []
        for variant, result in variants.items():
            for task, values in result["stages"].items():
                before = reproduction["stages"].get(task, {}).get("total")
                after = values["total"]
                gain = bench_common.format_ratio(before / after) if before else "-"
                rows.append([variant, task, bench_common.format_seconds(before or 0.0),
                             bench_common.format_seconds(after), gain])  # fmt: skip
        sections += [
            "### Candidate speed-ups\n",
            (
                "Each variant reruns the task with a patch applied in the benchmark process (see "
                "`bench_end_to_end.py --variant`); the speed-up is the task's wall time before over after.\n"
            ),
            bench_common.markdown_table(["Variant", "Task", "Before", "After", "Speed-up"], rows),
        ]
    return sections


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", default=str(bench_common.DEFAULT_DATA_DIR), help="Local data folder.")
    parser.add_argument("--quick", action="store_true", help="Short smoke run of every benchmark.")
    parser.add_argument(
        "--benchmarks", default=",".join(BENCHMARKS), help=f"Comma-separated subset of {list(BENCHMARKS)}."
    )
    parser.add_argument(
        "--variants",
        default="",
        help=f"Comma-separated speed-up variants from {list(bench_end_to_end.VARIANTS)}.",
    )
    parser.add_argument("--output", default="docs/benchmarks.md", help="Markdown page to write.")
    arguments = parser.parse_args(argv)

    arguments.benchmarks = [name.strip() for name in arguments.benchmarks.split(",") if name.strip()]
    arguments.variants = [name.strip() for name in arguments.variants.split(",") if name.strip()]
    unknown = [name for name in arguments.benchmarks if name not in BENCHMARKS]
    unknown += [
        name for name in arguments.variants if name not in bench_end_to_end.VARIANTS or name == "none"
    ]
    if unknown:
        parser.error(f"unknown benchmark(s) or variant(s) {unknown}")
    if arguments.variants and "end_to_end" not in arguments.benchmarks:
        parser.error("--variants compares against the end_to_end benchmark; keep end_to_end in --benchmarks")
    return arguments


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    command = "python benchmarks/run_all.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="oe_bench_all_") as folder:
        results, seconds = run_all(arguments, Path(folder))

    from oe_nlp.evaluation import write_text_atomic

    page = render_page(results, seconds, command.strip(), quick=arguments.quick)
    write_text_atomic(bench_common.REPO_ROOT / arguments.output, page)
    print(f"\nrun_all.py: {sum(seconds.values()) / 60:.1f} min in all. Wrote {arguments.output}")


if __name__ == "__main__":
    main()
