"""Compare OE losses and anomaly scores on one task: a losses x scores table of mean AUROC and FPR90.

Trains the task's baseline, fine-tunes it once with each OE loss, and evaluates every model with
every anomaly score on the task's OOD suite:

    python benchmarks/loss_score_table.py --data_dir ../shared/data --output_dir runs/loss_score

The energy loss runs with weight 0.1 and margins -25 / -7, the settings Liu et al. (NeurIPS 2020) used
for fine-tuning; the uniform cross-entropy loss runs with the recipe default, weight 1.0. Extra flags
after `--` go to every run (e.g. `-- --energy_m_in -15`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from oe_nlp.experiment import parse_recipe_arguments, run_experiment

SCORES = ("msp", "max_logit", "energy", "uniform_cross_entropy", "entropy")
LOSS_RUNS = {
    "uniform_ce": ["--oe_loss", "uniform_ce"],
    "energy": ["--oe_loss", "energy", "--oe_weight", "0.1"],
}


def run_all(arguments: argparse.Namespace, extra: list[str]) -> dict[str, dict]:
    """Run one experiment per OE loss and return the parsed `results.json` of each."""
    summaries = {}
    for loss, flags in LOSS_RUNS.items():
        output_dir = Path(arguments.output_dir) / loss
        argv = ["--output_dir", str(output_dir), "--eval_scores", ",".join(SCORES), "--disable_tqdm", "true"]
        if arguments.data_dir:
            argv += ["--data_dir", arguments.data_dir]
        run_experiment(*parse_recipe_arguments(arguments.task, argv + flags + extra))
        summaries[loss] = json.loads((output_dir / "results.json").read_text(encoding="utf-8"))
    return summaries


def render(summaries: dict[str, dict]) -> str:
    """Format mean AUROC / FPR90 (percent) for the baseline and each OE loss under every score."""
    header = "| Training | " + " | ".join(f"`{score}`" for score in SCORES) + " |"
    lines = [header, "|---" * (len(SCORES) + 1) + "|"]
    rows = [("MSP baseline", summaries["uniform_ce"]["reports"]["baseline"])]
    rows += [(f"+OE, `{loss}` loss", summary["reports"]["oe"]) for loss, summary in summaries.items()]
    for label, report in rows:
        cells = []
        for score in SCORES:
            mean = report["metrics"][score]["mean"]
            cells.append(f"{100 * mean['auroc']['mean']:.1f} / {100 * mean['fpr90']['mean']:.1f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="sst2", help="Task to run.")
    parser.add_argument("--data_dir", default=None, help="Local data folder; the Hub when unset.")
    parser.add_argument("--output_dir", default="runs/loss_score", help="Folder for the runs.")
    arguments = parser.parse_args(own)

    table = render(run_all(arguments, extra))
    print("Mean over the OOD suite, AUROC / FPR90 (percent):\n")
    print(table)


if __name__ == "__main__":
    main()
