"""End-to-end wall time and peak memory of the main job and of the Table 2 reproduction, with a stage profile.

- Main job: `recipes/sst_oe.py --data_dir ...`, run as users run it, `--repeats` times (median wall time,
  max peak RSS).
- Reproduction: `benchmarks/reproduce_table2.py`, run once in a child process that wraps the pipeline
  functions of `oe_nlp.experiment` with timers and then calls the script's `main()`. The wrappers add
  a few function calls per stage, nothing per step. Stages: data loading, tokenizer build, tokenization,
  training (baseline and OE), evaluation (inference and metrics) and plotting; "other" is the rest.

Results go to temporary folders, so `docs/results.md` and `runs/` stay untouched.

`--variant` times a candidate speed-up without editing the library, by patching it in the child:

- `unpacked_gru`: the recurrent classifier runs its GRU over every padded batch without packing (its
  `dense_batch_share` set to 0), where by default it does so only for batches of mostly real tokens.
- `group_by_length`: `--train_sampling_strategy group_by_length`. This changes which examples share a
  batch, so it changes the trained models and the published-protocol numbers.

    OMP_NUM_THREADS=1 python benchmarks/bench_end_to_end.py --data_dir ../shared/data
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_common

VARIANTS = ("none", "unpacked_gru", "group_by_length")
QUICK_RECIPE_FLAGS = ["--num_train_epochs", "0.2", "--oe_num_train_epochs", "0.2", "--num_resamples", "2"]


class StageTimer:
    """Accumulates wall seconds per (task, stage) from wrapped functions."""

    def __init__(self) -> None:
        self.task = "all"
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def wrap(self, function: Callable[..., Any], stage: str | Callable[..., str]) -> Callable[..., Any]:
        """Return `function` wrapped so each call adds its duration to `stage` of the current task.

        `stage` may be a callable that picks the stage name from the call's arguments.
        """

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            name = stage(*args, **kwargs) if callable(stage) else stage
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[self.task][name] += time.perf_counter() - start

        return timed


def _training_stage_name(*args: Any, **kwargs: Any) -> str:
    # `train_stage(model, args, data, outliers=None, ...)`: OE training is the call with outliers.
    outliers = kwargs.get("outliers", args[3] if len(args) > 3 else None)
    return "training (baseline)" if outliers is None else "training (OE)"


def install_stage_timers(timer: StageTimer, reproduce: Any) -> None:
    """Wrap the pipeline functions that `reproduce_table2` calls with `timer`.

    Top-level stages add up to less than the task's wall time. Stages named `evaluation: ...` are parts
    of `evaluation (inference + metrics)`.
    """
    from oe_nlp import evaluation, experiment
    from oe_nlp.trainer import OETrainer

    experiment.load_task_data = timer.wrap(experiment.load_task_data, "data loading")
    experiment.build_tokenizer = timer.wrap(experiment.build_tokenizer, "tokenizer build")
    experiment.tokenize = timer.wrap(experiment.tokenize, "tokenization")
    experiment.train_stage = timer.wrap(experiment.train_stage, _training_stage_name)
    experiment.evaluate_ood_suite = timer.wrap(
        experiment.evaluate_ood_suite, "evaluation (inference + metrics)"
    )
    OETrainer.predict_logits = timer.wrap(OETrainer.predict_logits, "evaluation: inference")
    evaluation.resampled_metrics = timer.wrap(evaluation.resampled_metrics, "evaluation: metrics")
    evaluation.OODReport.save_plots = timer.wrap(evaluation.OODReport.save_plots, "plotting")

    original_run_task = reproduce.run_task

    def run_task(task: str, arguments: Any) -> Any:
        timer.task = task
        start = time.perf_counter()
        try:
            return original_run_task(task, arguments)
        finally:
            timer.seconds[task]["total"] += time.perf_counter() - start

    reproduce.run_task = run_task


def apply_variant(variant: str, reproduce: Any) -> None:
    """Patch the library or the reproduction's flags for one `--variant` (see the module docstring)."""
    if variant == "unpacked_gru":
        from oe_nlp.models import RecurrentForSequenceClassification

        RecurrentForSequenceClassification.dense_batch_share = 0.0
    elif variant == "group_by_length":
        from oe_nlp.experiment import TASKS

        flags = ["--train_sampling_strategy", "group_by_length"]
        reproduce.TASK_FLAGS = {task: reproduce.TASK_FLAGS.get(task, []) + flags for task in TASKS}


def run_reproduction_child(arguments: argparse.Namespace) -> None:
    """Child process: install the stage timers and the variant, run the reproduction, write the stages."""
    bench_common.pin_threads(1)
    spec = importlib.util.spec_from_file_location(
        "reproduce_table2", bench_common.REPO_ROOT / "benchmarks" / "reproduce_table2.py"
    )
    reproduce = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reproduce)

    timer = StageTimer()
    install_stage_timers(timer, reproduce)
    apply_variant(arguments.variant, reproduce)
    reproduce.main(arguments.reproduce_args)

    stages = {task: dict(values) for task, values in timer.seconds.items()}
    bench_common.write_json(arguments.stages_json, stages)


def measure_main_job(data_dir: str, repeats: int, quick: bool) -> dict[str, Any]:
    """Run `recipes/sst_oe.py` `repeats` times and return the median wall time and the max peak RSS."""
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="oe_bench_sst_") as output_dir:
            command = [
                sys.executable, "recipes/sst_oe.py", "--data_dir", data_dir, "--output_dir", output_dir,
                "--disable_tqdm", "true", *(QUICK_RECIPE_FLAGS if quick else []),
            ]  # fmt: skip
            runs.append(bench_common.run_measured(command, env={"OMP_NUM_THREADS": "1"}))
    return {
        "command": "OMP_NUM_THREADS=1 python recipes/sst_oe.py --data_dir DATA_DIR --output_dir TMP"
        + (" " + " ".join(QUICK_RECIPE_FLAGS) if quick else ""),
        "repeats": repeats,
        "wall_seconds": [run.wall_seconds for run in runs],
        "median_wall_seconds": bench_common.median([run.wall_seconds for run in runs]),
        "peak_rss_mib": max(run.peak_rss_mib for run in runs),
    }


def measure_reproduction(data_dir: str, tasks: str, variant: str = "none") -> dict[str, Any]:
    """Run the reproduction once in a timed child and return its wall time, peak RSS and stage seconds."""
    with tempfile.TemporaryDirectory(prefix="oe_bench_table2_") as output_dir:
        stages_json = Path(output_dir) / "stages.json"
        reproduce_args = [
            "--data_dir", data_dir, "--tasks", tasks, "--output_dir", str(Path(output_dir) / "runs"),
            "--results_path", str(Path(output_dir) / "results.md"),
        ]  # fmt: skip
        command = [
            sys.executable, str(Path(__file__).resolve()), "--child_reproduce", "--variant", variant,
            "--stages_json", str(stages_json), "--", *reproduce_args,
        ]  # fmt: skip
        run = bench_common.run_measured(command, env={"OMP_NUM_THREADS": "1"})
        stages = json.loads(stages_json.read_text(encoding="utf-8"))
    return {
        "command": f"OMP_NUM_THREADS=1 python benchmarks/reproduce_table2.py --data_dir DATA_DIR --tasks {tasks}",
        "variant": variant,
        "wall_seconds": run.wall_seconds,
        "peak_rss_mib": run.peak_rss_mib,
        "stages": stages,
    }


def format_stage_table(reproduction: dict[str, Any]) -> str:
    """Format the stage seconds per task as a markdown table with each stage's share of the task."""
    stages = reproduction["stages"]
    names = sorted({name for values in stages.values() for name in values if name != "total"})
    top_level = [name for name in names if not name.startswith("evaluation: ")]
    rows = []
    for task, values in stages.items():
        total = values.get("total", 0.0)
        other = total - sum(values.get(name, 0.0) for name in top_level)
        for name in [*names, "other"]:
            seconds = other if name == "other" else values.get(name, 0.0)
            share = f"{100 * seconds / total:.0f}%" if total > 0 else "-"
            rows.append([task, name, bench_common.format_seconds(max(seconds, 0.0)), share])
        rows.append([task, "**total**", bench_common.format_seconds(total), "100%"])
    return bench_common.markdown_table(["Task", "Stage", "Wall time", "Share of task"], rows)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", default=str(bench_common.DEFAULT_DATA_DIR), help="Local data folder.")
    parser.add_argument("--repeats", type=int, default=2, help="Runs of the main job (median wall time).")
    parser.add_argument("--tasks", default="sst2,newsgroups20,trec", help="Tasks of the reproduction.")
    parser.add_argument("--variant", default="none", choices=VARIANTS, help="Candidate speed-up to time.")
    parser.add_argument("--skip_main_job", action="store_true", help="Time only the reproduction.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 0.2 epochs main job, TREC only.")
    parser.add_argument("--json", default=None, help="Write the results to this JSON file.")
    parser.add_argument("--child_reproduce", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stages_json", default=None, help=argparse.SUPPRESS)
    parser.add_argument("reproduce_args", nargs="*", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.repeats, arguments.tasks = 1, "trec"
    if arguments.repeats < 1:
        parser.error(f"--repeats must be a positive integer, got {arguments.repeats}")
    return arguments


def main(argv: list[str] | None = None) -> dict[str, Any]:
    arguments = parse_arguments(argv)
    if arguments.child_reproduce:
        run_reproduction_child(arguments)
        return {}

    results: dict[str, Any] = {"hardware": bench_common.hardware_summary()}
    if not arguments.skip_main_job:
        results["main_job"] = measure_main_job(arguments.data_dir, arguments.repeats, arguments.quick)
        main_job = results["main_job"]
        print(
            f"Main job: median {bench_common.format_seconds(main_job['median_wall_seconds'])} over "
            f"{main_job['repeats']} runs, peak RSS {main_job['peak_rss_mib']:.0f} MiB"
        )
    results["reproduction"] = measure_reproduction(arguments.data_dir, arguments.tasks, arguments.variant)
    reproduction = results["reproduction"]
    print(
        f"Reproduction ({arguments.tasks}, variant {arguments.variant}): "
        f"{bench_common.format_seconds(reproduction['wall_seconds'])}, "
        f"peak RSS {reproduction['peak_rss_mib']:.0f} MiB"
    )
    print(format_stage_table(reproduction))
    if arguments.json:
        bench_common.write_json(arguments.json, {"end_to_end": results})
    return results


if __name__ == "__main__":
    main()
