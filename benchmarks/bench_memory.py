"""Peak memory: resident set size of the main job, plus a slot for the PTB language-model OE step.

Peak RSS comes from `os.wait4` on the child process (`ru_maxrss`, which covers the child and the
descendants it waited for). With `--from_json`, the figures of a `bench_end_to_end.py` run are reused, so
`run_all.py` does not run the main job twice.

    OMP_NUM_THREADS=1 python benchmarks/bench_memory.py --data_dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import bench_common
import bench_end_to_end

MAIN_JOB_GOAL_MIB = 2048.0


def measure_ptb_vocabulary_oe_step() -> dict[str, Any] | None:
    """Measure the peak RSS of one PTB language-model OE step with the vocabulary-wide uniform term.

    Runs `bench_lm_memory.py` (child processes): the word-level LSTM LM of the PTB recipe, 64 + 64
    windows of 71 tokens over the 10,001-token vocabulary, with the library's chunked loss and, for
    comparison, with `log_softmax`.
    """
    import bench_lm_memory

    results = bench_lm_memory.main([])
    return {
        "command": "python benchmarks/bench_lm_memory.py",
        "peak_rss_mib": results["chunked"]["peak_rss_mb"],
        "log_softmax_peak_rss_mib": results["log_softmax"]["peak_rss_mb"],
        "loss_overhead_mib": results["chunked"]["overhead_mb"],
        "log_softmax_loss_overhead_mib": results["log_softmax"]["overhead_mb"],
    }


def memory_figures(end_to_end: dict[str, Any]) -> dict[str, Any]:
    """Collect the memory figures from `bench_end_to_end` results and the PTB slot."""
    figures: dict[str, Any] = {"goal_mib": MAIN_JOB_GOAL_MIB}
    if "main_job" in end_to_end:
        figures["main_job"] = {
            "command": end_to_end["main_job"]["command"],
            "peak_rss_mib": end_to_end["main_job"]["peak_rss_mib"],
        }
    if "reproduction" in end_to_end:
        figures["reproduction"] = {
            "command": end_to_end["reproduction"]["command"],
            "peak_rss_mib": end_to_end["reproduction"]["peak_rss_mib"],
        }
    figures["ptb_vocabulary_oe_step"] = measure_ptb_vocabulary_oe_step()
    return figures


def format_results(figures: dict[str, Any]) -> str:
    """Format the memory figures as a markdown table."""
    rows = []
    for key, label in (("main_job", "Main job (SST-2 recipe)"), ("reproduction", "Table 2 reproduction")):
        if key in figures:
            peak = figures[key]["peak_rss_mib"]
            goal = f"<= {figures['goal_mib']:.0f} MiB: {'met' if peak <= figures['goal_mib'] else 'not met'}"
            rows.append([label, f"{peak:.0f} MiB", goal if key == "main_job" else "-"])
    ptb = figures.get("ptb_vocabulary_oe_step")
    if ptb:
        rows.append(
            [
                "PTB LSTM LM OE step (64 + 64 windows), chunked loss",
                f"{ptb['peak_rss_mib']:.0f} MiB (loss beyond the logits' gradient: {ptb['loss_overhead_mib']:.0f} MiB)",
                "-",
            ]
        )
        rows.append([
            "The same step with log_softmax, for comparison",
            f"{ptb['log_softmax_peak_rss_mib']:.0f} MiB (loss: {ptb['log_softmax_loss_overhead_mib']:.0f} MiB)",
            "-",
        ])  # fmt: skip
    return bench_common.markdown_table(["Process", "Peak RSS", "Goal"], rows)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", default=str(bench_common.DEFAULT_DATA_DIR), help="Local data folder.")
    parser.add_argument("--from_json", default=None, help="JSON written by bench_end_to_end.py --json.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 0.2 epochs of the main job.")
    parser.add_argument("--json", default=None, help="Write the results to this JSON file.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    arguments = parse_arguments(argv)
    if arguments.from_json:
        end_to_end = json.loads(Path(arguments.from_json).read_text(encoding="utf-8"))["end_to_end"]
    else:
        end_to_end = {"main_job": bench_end_to_end.measure_main_job(arguments.data_dir, 1, arguments.quick)}

    figures = memory_figures(end_to_end)
    print(format_results(figures))
    if arguments.json:
        bench_common.write_json(arguments.json, {"memory": figures})
    return figures


if __name__ == "__main__":
    main()
