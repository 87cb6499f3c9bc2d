"""Train, evaluate and push the checkpoints listed in hub/checkpoints.json to the Hugging Face Hub.

    python hub/publish.py --data_dir ../shared/data            # all checkpoints
    python hub/publish.py --only sst2-gru-oe --reuse           # reuse an existing run folder
    python hub/publish.py --namespace your-name --no_push      # write the cards, push nothing

For each checkpoint the script runs its recipe command (unless `--reuse` finds the run's results),
compares the measured suite means with the expected ones, writes the model card of the OE model from
hub/model_card_template.md, and uploads the OE model folder. Pushing needs network access and a
token with write access (`hf auth login` or $HF_TOKEN). When the Hub cannot be reached, the script
stops at the push step with exit status 1; every local file stays in the run folder for a retry.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
HUB_DIR = REPO_ROOT / "hub"
CARD_METRICS = (("fpr90", "FPR90"), ("fpr95", "FPR95"), ("auroc", "AUROC"), ("aupr_out", "AUPR"))
HARDWARE = "2 CPU cores (AMD EPYC), no GPU, torch 2.13.0 (CPU build), transformers 5.25.0"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", default=str(HUB_DIR / "checkpoints.json"), help="Checkpoint list.")
    parser.add_argument("--only", nargs="+", default=None, help="Names of the checkpoints to publish.")
    parser.add_argument(
        "--namespace", default=None, help="Hub user or organisation replacing the one in each hub_model_id."
    )
    parser.add_argument("--data_dir", default=None, help="Local data folder, replacing the command's own.")
    parser.add_argument("--reuse", action="store_true", help="Skip training when the run folder has results.")
    parser.add_argument("--no_push", action="store_true", help="Write the model cards but upload nothing.")
    parser.add_argument(
        "--token", default=None, help="Hub token (default: the logged-in token or $HF_TOKEN)."
    )
    parser.add_argument("--private", action="store_true", help="Create new Hub repositories as private.")
    parser.add_argument(
        "--tolerance", type=float, default=1.0, help="Warn when a measured mean differs by more points."
    )
    return parser.parse_args(argv)


def load_checkpoints(path: str, only: list[str] | None) -> list[dict[str, Any]]:
    checkpoints = json.loads(Path(path).read_text(encoding="utf-8"))["checkpoints"]
    if only is None:
        return checkpoints

    names = [entry["name"] for entry in checkpoints]
    unknown = sorted(set(only) - set(names))
    if unknown:
        raise SystemExit(f"error: unknown checkpoint(s) {unknown} in --only. Choose from {names}.")
    return [entry for entry in checkpoints if entry["name"] in only]


def run_command(command: str, extra_arguments: list[str]) -> None:
    """Run a checkpoint command (leading VAR=value words set the environment) from the repo root."""
    words = shlex.split(command)
    environment = dict(os.environ)
    while words and "=" in words[0] and not words[0].startswith("-"):
        key, value = words.pop(0).split("=", 1)
        environment[key] = value
    if words[0] == "python":
        words[0] = sys.executable

    print(f"Running: {command} {' '.join(extra_arguments)}".rstrip(), flush=True)
    subprocess.run(words + extra_arguments, cwd=REPO_ROOT, env=environment, check=True)


def expected_table(expected: dict[str, dict[str, float]], measured: dict[str, Any], tolerance: float) -> str:
    """Format expected and measured suite means side by side and warn about differences."""
    columns = [title for _, title in CARD_METRICS] + ["Accuracy"]
    lines = ["| Model | | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for name, report in measured.items():
        mean = report.metrics["msp"]["mean"]
        values = {key: 100 * mean[key]["mean"] for key, _ in CARD_METRICS}
        if report.in_accuracy is not None:
            values["accuracy"] = 100 * report.in_accuracy
        reference = expected.get(name, {})

        keys = [key for key, _ in CARD_METRICS] + ["accuracy"]
        lines.append(f"| {name} | measured | " + " | ".join(_cell(values.get(key)) for key in keys) + " |")
        lines.append(f"| {name} | expected | " + " | ".join(_cell(reference.get(key)) for key in keys) + " |")
        for key in keys:
            if key in reference and key in values and abs(values[key] - reference[key]) > tolerance:
                print(
                    f"warning: {name} {key} is {values[key]:.1f}, expected {reference[key]:.1f} "
                    f"(more than {tolerance} points apart).",
                    file=sys.stderr,
                )
    return "\n".join(lines) + "\n"


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def publish(entry: dict[str, Any], args: argparse.Namespace) -> None:
    """Train (or reuse), check, write the card of and push one checkpoint."""
    from transformers import AutoConfig

    from oe_nlp.experiment import TASKS
    from oe_nlp.hub import build_model_card, load_report, push_folder_to_hub, write_model_card

    run_dir = REPO_ROOT / entry["output_dir"]
    oe_dir = run_dir / "oe"
    if args.reuse and (oe_dir / "results.json").is_file():
        print(f"Reusing {run_dir}.")
    else:
        run_command(entry["command"], ["--data_dir", args.data_dir] if args.data_dir else [])

    oe_report = load_report(oe_dir / "results.json")
    baseline = load_report(run_dir / "baseline" / "results.json")
    table = expected_table(
        entry["expected"], {baseline.name: baseline, oe_report.name: oe_report}, args.tolerance
    )
    print(table)

    repo_id = entry["hub_model_id"]
    if args.namespace:
        repo_id = f"{args.namespace}/{repo_id.split('/')[-1]}"
    config = AutoConfig.from_pretrained(oe_dir)
    task = TASKS[config.ood_evaluation["task"]]
    split = task.eval_split or task.test_split
    card = build_model_card(
        config,
        oe_report,
        baseline=baseline,
        model_name=repo_id,
        repo_id=repo_id,
        template_path=HUB_DIR / "model_card_template.md",
        license="apache-2.0",
        command=entry["command"],
        hardware=HARDWARE,
        expected_table=table,
        calibration_command=f"oe-nlp calibrate MODEL --dataset {task.dataset} --split {split}",
    )
    write_model_card(oe_dir, card)
    print(f"Wrote the model card {oe_dir / 'README.md'}.")

    if args.no_push:
        return
    push_folder_to_hub(oe_dir, repo_id, token=args.token, private=args.private or None)
    print(f"Pushed {oe_dir} to https://huggingface.co/{repo_id}")


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    sys.path.insert(0, str(REPO_ROOT))
    from oe_nlp.hub import HubPushError

    print(f"Python {platform.python_version()} on {platform.machine()}.")
    for entry in load_checkpoints(args.checkpoints, args.only):
        try:
            publish(entry, args)
        except HubPushError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
