"""OOD evaluation with the protocol of Hendrycks et al. (2019), results files and plots.

The in-distribution test set is scored once. For each OOD set, `num_resamples` random subsets of
`ood_to_in_ratio * len(in-distribution test set)` examples (1:5 by default) are drawn, and the metrics
of each subset against the whole in-distribution test set are averaged. The suite's summary is the mean
over OOD sets of those averages.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from transformers.utils import logging

from .metrics import ood_metrics
from .scores import anomaly_scores

logger = logging.get_logger(__name__)

# Order and headers of the metrics in markdown tables; values are shown in percent.
TABLE_METRICS = (("fpr90", "FPR90"), ("fpr95", "FPR95"), ("auroc", "AUROC"), ("aupr_out", "AUPR"))


@dataclass
class OODReport:
    """OOD detection results of one model on one suite.

    Attributes:
        name: Label of the model in tables, e.g. "baseline" or "OE".
        metrics: `metrics[score][ood_set][metric] = {"mean": ..., "std": ...}`, fractions in [0, 1].
            The key `"mean"` in place of an OOD set is the mean over the suite.
        in_accuracy: Accuracy on the in-distribution test set, if it has labels.
        config: Settings that produced the numbers (resamples, ratio, seed, model and data details).
        in_scores, ood_scores: Raw anomaly scores per score name, kept for plots; not written to JSON.
    """

    name: str
    metrics: dict[str, dict[str, dict[str, dict[str, float]]]]
    in_accuracy: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    in_scores: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    ood_scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-serialisable part of the report."""
        return {
            "name": self.name,
            "in_accuracy": self.in_accuracy,
            "config": self.config,
            "metrics": self.metrics,
        }

    def save_json(self, path: str | os.PathLike) -> Path:
        """Write the report as JSON, atomically (a reader never sees a half-written file)."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    def to_markdown(self, score: str | None = None) -> str:
        """Format one score's per-OOD-set metrics as a markdown table (percent, mean ± std)."""
        score = score or next(iter(self.metrics))
        header = "| OOD set | " + " | ".join(title for _, title in TABLE_METRICS) + " |"
        lines = [header, "|---" * (len(TABLE_METRICS) + 1) + "|"]
        for ood_set, values in self.metrics[score].items():
            label = "**Mean**" if ood_set == "mean" else ood_set
            cells = [_format_cell(values[key]) for key, _ in TABLE_METRICS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def save_plots(self, directory: str | os.PathLike, score: str | None = None) -> list[Path]:
        """Save score histograms per OOD set and ROC curves as PNG files in `directory`."""
        score = score or next(iter(self.in_scores))
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        histogram = plot_score_histograms(
            self.in_scores[score],
            self.ood_scores[score],
            directory / f"histograms_{score}.png",
            title=self.name,
        )
        roc = plot_roc_curves(
            self.in_scores[score], self.ood_scores[score], directory / f"roc_{score}.png", title=self.name
        )
        return [histogram, roc]


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        # mkstemp creates the file readable by its owner only; give it the usual mode of a new file.
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: setting and restoring the umask later could race with files other threads create.
_UMASK = _read_umask()


def write_markdown_section(path: str | os.PathLike, section: str, text: str) -> Path:
    """Replace one marked section of a markdown page, or append it, keeping the rest of the page.

    A section runs from the line `<!-- begin: SECTION -->` to the line `<!-- end: SECTION -->`. Several
    scripts can so share one page (e.g. `docs/results.md`), each rewriting only its own part. The page is
    written atomically.

    Args:
        path: The markdown page; created if missing.
        section: Name of the section, e.g. `"table2"`.
        text: The new body of the section.

    Returns:
        The path written.
    """
    begin, end = f"<!-- begin: {section} -->", f"<!-- end: {section} -->"
    block = f"{begin}\n{text.strip()}\n{end}\n"
    path = Path(path)
    page = path.read_text(encoding="utf-8") if path.exists() else ""

    start = page.find(begin)
    if start == -1:
        separator = "\n" if page and not page.endswith("\n\n") else ""
        return write_text_atomic(path, page + separator + block)

    stop = page.find(end, start)
    if stop == -1:
        raise ValueError(f"{path} has the line {begin!r} but no {end!r}. Add it where the section ends.")
    stop = page.find("\n", stop)
    stop = len(page) if stop == -1 else stop + 1
    return write_text_atomic(path, page[:start] + block + page[stop:])


def _format_cell(value: Mapping[str, float]) -> str:
    return f"{100 * value['mean']:.1f} ± {100 * value['std']:.1f}"


def resample_indices(
    num_ood: int, num_in: int, num_resamples: int = 10, ood_to_in_ratio: float = 0.2, seed: int = 0
) -> list[np.ndarray]:
    """Draw the OOD subsets of the protocol: `num_resamples` subsets without replacement.

    Each subset has `int(num_in * ood_to_in_ratio)` examples (at least 1), or all `num_ood` examples when
    the OOD set is smaller.
    """
    if num_ood <= 0 or num_in <= 0:
        raise ValueError(
            f"Both sets must be non-empty, got {num_in} in-distribution and {num_ood} OOD examples."
        )
    if num_resamples <= 0:
        raise ValueError(f"`num_resamples` must be a positive integer, got {num_resamples}.")
    if not 0 < ood_to_in_ratio:
        raise ValueError(f"`ood_to_in_ratio` must be > 0, got {ood_to_in_ratio}.")

    size = max(1, int(num_in * ood_to_in_ratio))
    if size > num_ood:
        logger.warning(
            "Only %d OOD examples for a subset size of %d: every resample uses all of them.", num_ood, size
        )
        size = num_ood
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(num_ood, size=size, replace=False)) for _ in range(num_resamples)]


def resampled_metrics(
    in_scores: np.ndarray, ood_scores: np.ndarray, subsets: Sequence[np.ndarray]
) -> dict[str, dict[str, float]]:
    """Average `ood_metrics` over OOD subsets: `{metric: {"mean": ..., "std": ...}}` (population std)."""
    runs = [ood_metrics(in_scores, ood_scores[subset]) for subset in subsets]
    return {
        metric: {
            "mean": float(np.mean([run[metric] for run in runs])),
            "std": float(np.std([run[metric] for run in runs])),
        }
        for metric in runs[0]
    }


def suite_mean(per_set: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """Average each metric's resample mean and std over the OOD sets of a suite."""
    names = list(per_set)
    metrics = per_set[names[0]]
    return {
        metric: {
            stat: float(np.mean([per_set[name][metric][stat] for name in names])) for stat in ("mean", "std")
        }
        for metric in metrics
    }


def evaluate_ood_suite(
    trainer: Any,
    in_dataset: Any,
    ood_datasets: Mapping[str, Any],
    name: str = "model",
    scores: Sequence[str] = ("msp",),
    num_resamples: int = 10,
    ood_to_in_ratio: float = 0.2,
    seed: int = 0,
    temperature: float = 1.0,
) -> OODReport:
    """Evaluate a trained model on an OOD suite with the resampling protocol.

    Only the OOD examples that some subset draws are run through the model, so a large OOD set costs no
    more than `num_resamples` subsets.

    Args:
        trainer: An `OETrainer` holding the model (its `predict_logits` runs inference).
        in_dataset: Tokenized in-distribution test set; with a `label` column, accuracy is reported too.
        ood_datasets: Tokenized OOD test sets by name.
        name: Label of the model in tables.
        scores: Anomaly scores to evaluate (see `oe_nlp.scores.SCORES`).
        num_resamples, ood_to_in_ratio, seed: The resampling protocol (10, 0.2 and 0 by default).
        temperature: Temperature of the energy score.

    Returns:
        An `OODReport` with per-set and mean metrics for every score.
    """
    if not ood_datasets:
        raise ValueError(
            "`ood_datasets` is empty. Pass at least one OOD test set, e.g. from `load_ood_suite`."
        )

    in_logits = trainer.predict_logits(in_dataset, description="In-distribution test")
    in_accuracy = _accuracy(in_logits, in_dataset)
    ood_logits, subsets = {}, {}
    for index, (ood_name, dataset) in enumerate(ood_datasets.items()):
        drawn = resample_indices(len(dataset), len(in_logits), num_resamples, ood_to_in_ratio, seed + index)
        union = np.unique(np.concatenate(drawn))
        ood_logits[ood_name] = trainer.predict_logits(dataset.select(union), description=f"OOD {ood_name}")
        subsets[ood_name] = [np.searchsorted(union, subset) for subset in drawn]

    report = OODReport(name=name, metrics={}, in_accuracy=in_accuracy)
    for score in scores:
        in_scores = np.asarray(anomaly_scores(in_logits, score, temperature=temperature), dtype=np.float64)
        per_set, raw = {}, {}
        for ood_name, logits in ood_logits.items():
            raw[ood_name] = np.asarray(
                anomaly_scores(logits, score, temperature=temperature), dtype=np.float64
            )
            per_set[ood_name] = resampled_metrics(in_scores, raw[ood_name], subsets[ood_name])
        report.metrics[score] = {**per_set, "mean": suite_mean(per_set)}
        report.in_scores[score], report.ood_scores[score] = in_scores, raw

    report.config = {
        "num_resamples": num_resamples,
        "ood_to_in_ratio": ood_to_in_ratio,
        "seed": seed,
        "temperature": temperature,
        "num_in": len(in_logits),
        "num_ood_per_subset": {ood_name: len(subsets[ood_name][0]) for ood_name in subsets},
        "ood_set_sizes": {ood_name: len(dataset) for ood_name, dataset in ood_datasets.items()},
    }
    return report


def evaluate_lm_ood_suite(
    trainer: Any,
    in_dataset: Any,
    ood_datasets: Mapping[str, Any],
    name: str = "model",
    scores: Sequence[str] = ("nll", "uniform_cross_entropy", "msp"),
) -> OODReport:
    """Evaluate a causal language model on an OOD suite of token windows.

    Every window of the in-distribution test set and of each OOD set is scored (see
    `OETrainer.predict_sequence_scores`). Each OOD set is compared with the whole test set once, because
    the OOD sets of language models are small and there is nothing to resample. Every standard deviation
    is 0.

    Args:
        trainer: An `OETrainer` holding a causal language model.
        in_dataset: In-distribution test windows (`input_ids`, collated with labels).
        ood_datasets: OOD windows by name.
        name: Label of the model in tables.
        scores: Sequence scores to evaluate, from `oe_nlp.scores.LM_SEQUENCE_SCORES`.

    Returns:
        An `OODReport` with per-set and mean metrics for every score.
    """
    if not ood_datasets:
        raise ValueError("`ood_datasets` is empty. Pass at least one OOD set, e.g. from `load_lm_ood_suite`.")

    in_scores = trainer.predict_sequence_scores(in_dataset, description="In-distribution test")
    ood_scores = {
        ood_name: trainer.predict_sequence_scores(dataset, description=f"OOD {ood_name}")
        for ood_name, dataset in ood_datasets.items()
    }

    report = OODReport(name=name, metrics={})
    for score in scores:
        in_values = in_scores[score].astype(np.float64)
        raw = {ood_name: values[score].astype(np.float64) for ood_name, values in ood_scores.items()}
        per_set = {
            ood_name: resampled_metrics(in_values, values, [np.arange(len(values))])
            for ood_name, values in raw.items()
        }
        report.metrics[score] = {**per_set, "mean": suite_mean(per_set)}
        report.in_scores[score], report.ood_scores[score] = in_values, raw

    report.config = {
        "num_resamples": 1,
        "num_in": len(in_scores[scores[0]]),
        "ood_set_sizes": {ood_name: len(dataset) for ood_name, dataset in ood_datasets.items()},
        "in_mean_nll": float(np.mean(in_scores["nll"])),
    }
    return report


def _accuracy(logits: np.ndarray, dataset: Any) -> float | None:
    """Return the accuracy over the labelled rows of `dataset`, or None when it has no labelled row.

    Negative labels mark rows without a label: -100 is the loss's ignore index and -1 the placeholder
    of unlabelled splits such as the GLUE test split. Those rows are left out. When no row is left,
    accuracy is undefined, so the result is None and a warning is logged.
    """
    columns = getattr(dataset, "column_names", [])
    label_column = next((name for name in ("label", "labels") if name in columns), None)
    if label_column is None:
        return None

    labels = np.asarray(dataset[label_column])
    labelled = labels >= 0
    if not labelled.any():
        logger.warning(
            "In-distribution accuracy is undefined: all %d labels in column %r are negative (%s), so no row "
            "has a class id. Reporting accuracy as None. Evaluate on a labelled split to get it.",
            len(labels),
            label_column,
            sorted(set(np.unique(labels).tolist()))[:5],
        )
        return None

    return float(np.mean(logits.argmax(axis=-1)[labelled] == labels[labelled]))


def comparison_markdown(
    reports: Sequence[OODReport],
    score: str = "msp",
    reference: Mapping[str, Mapping[str, float]] | None = None,
    reference_label: str = "reference",
) -> str:
    """Format the suite means of several reports side by side (percent), with optional reference rows.

    Args:
        reports: Reports of models evaluated on the same suite.
        score: Which anomaly score's results to show.
        reference: Published numbers by row label, each `{metric key: percent}`; missing metrics show "-".
        reference_label: Text appended to reference row labels.
    """
    columns = [title for _, title in TABLE_METRICS] + ["Accuracy"]
    lines = ["| Model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for report in reports:
        mean = report.metrics[score]["mean"]
        cells = [f"{100 * mean[key]['mean']:.1f}" for key, _ in TABLE_METRICS]
        accuracy = "-" if report.in_accuracy is None else f"{100 * report.in_accuracy:.1f}"
        lines.append(f"| {report.name} | " + " | ".join(cells + [accuracy]) + " |")
    for label, values in (reference or {}).items():
        cells = [f"{values[key]:.1f}" if key in values else "-" for key, _ in TABLE_METRICS]
        accuracy = f"{values['accuracy']:.1f}" if "accuracy" in values else "-"
        lines.append(f"| {label} ({reference_label}) | " + " | ".join(cells + [accuracy]) + " |")
    return "\n".join(lines) + "\n"


def plot_score_histograms(
    in_scores: np.ndarray, ood_scores: Mapping[str, np.ndarray], path: str | os.PathLike, title: str = ""
) -> Path:
    """Save one histogram panel per OOD set, its scores against the in-distribution scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(5, len(ood_scores))
    rows = -(-len(ood_scores) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    bins = np.histogram_bin_edges(np.concatenate([in_scores, *ood_scores.values()]), bins=40)
    for axis, (ood_name, scores) in zip(axes.flat, ood_scores.items()):
        axis.hist(in_scores, bins=bins, density=True, alpha=0.55, label="in-distribution")
        axis.hist(scores, bins=bins, density=True, alpha=0.55, label="OOD")
        axis.set_title(ood_name, fontsize=9)
        axis.set_xlabel("anomaly score", fontsize=8)
    for axis in list(axes.flat)[len(ood_scores) :]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return _save_figure(figure, path)


def plot_roc_curves(
    in_scores: np.ndarray, ood_scores: Mapping[str, np.ndarray], path: str | os.PathLike, title: str = ""
) -> Path:
    """Save the ROC curve of every OOD set (anomalies positive) in one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    figure, axis = plt.subplots(figsize=(5, 5))
    for ood_name, scores in ood_scores.items():
        labels = np.concatenate([np.zeros(len(in_scores)), np.ones(len(scores))])
        fpr, tpr, _ = roc_curve(labels, np.concatenate([in_scores, scores]))
        axis.plot(fpr, tpr, label=ood_name, linewidth=1.2)
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axis.set_xlabel("false positive rate (in-distribution flagged)")
    axis.set_ylabel("true positive rate (anomalies flagged)")
    axis.set_title(title)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return _save_figure(figure, path)


def _save_figure(figure: Any, path: str | os.PathLike) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    os.replace(temporary, path)
    return path
