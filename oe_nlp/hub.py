"""Hub model cards with OOD results, Outlier Exposure settings in the saved config, and Hub uploads.

A model folder written by `oe_nlp` carries three records in its `config.json`, each a plain dict that
survives `from_pretrained`:

- `config.outlier_exposure`: how the model was trained with OE (loss, weight, outlier corpus, batch
  sizes). Baseline models trained without OE have none.
- `config.ood_detector`: how `oe_nlp.detector.OODDetector` scores text (anomaly score, temperature,
  text preprocessing) and, after calibration, its threshold.
- `config.ood_evaluation`: the task and the resampling protocol of the OOD evaluation, so that
  `oe-nlp evaluate` can repeat it.

The model card (`README.md` in the folder) renders these records, the data sets with their versions,
and the OOD results per OOD set and as suite means, with `model-index` metadata the Hub displays.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData
from transformers.utils import logging

from .data import OOD_SUITES, get_dataset_spec, resolve_data_dir
from .evaluation import OODReport, comparison_markdown, write_text_atomic

logger = logging.get_logger(__name__)

OE_CONFIG_KEY = "outlier_exposure"
DETECTOR_CONFIG_KEY = "ood_detector"
EVALUATION_CONFIG_KEY = "ood_evaluation"

# Metrics written to the `model-index` metadata: (key in OODReport.metrics, metric type, display name).
CARD_METRICS = (
    ("auroc", "auroc", "AUROC"),
    ("aupr_out", "aupr", "AUPR (anomalies positive)"),
    ("fpr90", "fpr90", "FPR@90TPR"),
    ("fpr95", "fpr95", "FPR@95TPR"),
)

# Files of a model folder that are never uploaded: hidden staging folders and Trainer checkpoints.
UPLOAD_IGNORE_PATTERNS = ["_*", ".*", "checkpoint-*"]

# `OSError` covers the standard `ConnectionError` and the huggingface_hub errors (HTTP errors, offline
# mode, missing token). The HTTP client's own transport errors (connection refused, timeouts) are added
# when its module can be found.
HUB_ERRORS: tuple[type[BaseException], ...] = (OSError,)
try:  # huggingface_hub 2.4 sends requests with httpx2. Other releases may use httpx.
    import httpx2 as _http_client
except ImportError:  # pragma: no cover - depends on the installed huggingface_hub
    try:
        import httpx as _http_client
    except ImportError:
        _http_client = None
if _http_client is not None:
    HUB_ERRORS = (OSError, _http_client.HTTPError)

DEFAULT_CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

{{ summary }}

## Outlier Exposure settings

{{ oe_table }}

## OOD detection results

{{ protocol }}

{% for section in result_sections %}{{ section }}
{% endfor %}
## Data

{{ data_table }}

## Use it

```python
import oe_nlp  # registers the oe_nlp model classes with the Auto classes
from oe_nlp.detector import OODDetector

detector = OODDetector.from_pretrained("{{ repo_id }}")
detector.calibrate(in_distribution_texts, tpr=0.95)  # unless the card lists a threshold
print(detector(["a text to check"]))
```
"""


class HubPushError(RuntimeError):
    """Uploading a model folder to the Hugging Face Hub failed; the local folder is unchanged."""


# ---- Records in config.json ----


def outlier_exposure_settings(args: Any, outlier_dataset: str | None = None) -> dict[str, Any]:
    """Collect the Outlier Exposure settings of a training run as a JSON-serialisable dict.

    Args:
        args: The run's `OETrainingArguments`.
        outlier_dataset: Registry name (or a description) of the outlier corpus, e.g. "wikitext2".

    Returns:
        The dict stored as `config.outlier_exposure`.
    """
    settings = {
        "loss": args.oe_loss,
        "weight": float(args.oe_weight),
        "outlier_dataset": outlier_dataset,
        "per_device_train_batch_size": int(args.per_device_train_batch_size),
        "outlier_batch_size": int(args.outlier_batch_size),
        "gradient_accumulation_steps": int(args.gradient_accumulation_steps),
        "num_train_epochs": float(args.num_train_epochs),
        "learning_rate": float(args.learning_rate),
        "seed": int(args.seed),
    }
    if args.oe_loss == "energy":
        settings.update(
            energy_m_in=float(args.energy_m_in),
            energy_m_out=float(args.energy_m_out),
            energy_temperature=float(args.energy_temperature),
        )
    return settings


def detector_settings(
    score: str = "msp", temperature: float = 1.0, lowercase: bool = True, max_length: int | None = None
) -> dict[str, Any]:
    """Build the `config.ood_detector` record of a model that has no threshold yet."""
    return {
        "score": score,
        "temperature": float(temperature),
        "lowercase": bool(lowercase),
        "max_length": max_length,
        "threshold": None,
        "tpr": None,
        "num_calibration_texts": None,
    }


def config_record(config: Any, key: str) -> dict[str, Any] | None:
    """Return one of the `oe_nlp` records of a model config as a dict, or None when it is absent."""
    record = getattr(config, key, None)
    if record is None:
        return None
    if not isinstance(record, Mapping):
        raise TypeError(
            f"`config.{key}` must be a dict, got {type(record).__name__}: {record!r}. "
            "Edit config.json or save the model again with oe_nlp."
        )
    return dict(record)


# ---- Data provenance ----


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    # The size and modification time are part of the cache key, so a changed file is hashed again.
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Return the sha256 hex digest of a file."""
    stat = os.stat(path)
    return _file_sha256(os.fspath(path), stat.st_size, stat.st_mtime_ns)


def dataset_provenance(name: str, split: str, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Describe where one split of a registered data set comes from, with a version.

    With a local data directory the version is the sha256 of each file read. Without one it is the
    pinned Hub revision.

    Args:
        name: Registry name, e.g. "sst2".
        split: Our split name, e.g. "test".
        data_dir: Local data directory, or None for the Hub (`$OE_NLP_DATA_DIR` counts as given).

    Returns:
        A dict with `name`, `split`, `hub_id`, `hub_config`, `hub_revision`, `hub_split` (the Hub split
        expression), `source` ("local" or
        "hub") and, for local data, `local_files` as `[{"path": ..., "sha256": ...}]` with paths
        relative to the data directory.
    """
    spec = get_dataset_spec(name)
    record: dict[str, Any] = {
        "name": name,
        "split": split,
        "hub_id": spec.hub_id,
        "hub_config": spec.hub_config,
        "hub_revision": spec.hub_revision,
        "hub_split": spec.splits[split],
    }
    root = resolve_data_dir(data_dir)
    if root is None:
        record["source"] = "hub"
        return record

    record["source"] = "local"
    record["local_files"] = [
        {"path": relative, "sha256": file_sha256(root / relative)} for relative in spec.local_files[split]
    ]
    return record


def experiment_provenance(
    in_dataset: str,
    test_split: str,
    ood_names: Iterable[str],
    outlier_dataset: str | None,
    data_dir: str | os.PathLike | None,
) -> dict[str, Any]:
    """Describe the in-distribution test split, the outlier corpus and the OOD sets of an evaluation."""
    provenance = {
        "in_distribution": dataset_provenance(in_dataset, test_split, data_dir),
        "ood": {name: dataset_provenance(name, "test", data_dir) for name in ood_names},
    }
    if outlier_dataset is not None:
        provenance["outlier"] = dataset_provenance(outlier_dataset, "train", data_dir)
    return provenance


# ---- Reports ----


def load_report(path: str | os.PathLike) -> OODReport:
    """Read an `OODReport` from the `results.json` that `OODReport.save_json` wrote.

    The raw anomaly scores are not stored in that file, so the report cannot draw plots. OOD sets are
    put back in their suite's order.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No OOD results file at {path}. Evaluate the model first, e.g. with `oe-nlp evaluate`, "
            "which writes results.json."
        )
    values = json.loads(path.read_text(encoding="utf-8"))
    missing = [key for key in ("name", "metrics") if key not in values]
    if missing:
        raise ValueError(
            f"{path} lacks the key(s) {missing}, so it is not a per-model results.json. Pass the "
            "results.json inside a model folder, not the comparison file beside it."
        )
    metrics = {score: _in_suite_order(per_set) for score, per_set in values["metrics"].items()}
    return OODReport(
        name=values["name"],
        metrics=metrics,
        in_accuracy=values.get("in_accuracy"),
        config=values.get("config", {}),
    )


def _in_suite_order(per_set: Mapping[str, Any]) -> dict[str, Any]:
    """Order OOD sets as their suite lists them (results.json stores them sorted), the mean last."""
    names = [name for name in per_set if name != "mean"]
    suite = next((list(sets) for sets in OOD_SUITES.values() if sorted(sets) == sorted(names)), sorted(names))
    ordered = {name: per_set[name] for name in suite}
    if "mean" in per_set:
        ordered["mean"] = per_set["mean"]
    return ordered


def eval_results(report: OODReport, ood_suite: str | None = None) -> list[EvalResult]:
    """Turn a report into `EvalResult`s for the `model-index` metadata, values in percent (2 decimals).

    Every score of the report gets the metrics of `CARD_METRICS` per OOD set and for the suite mean,
    and the in-distribution accuracy is added when known.
    """
    data = report.config.get("data", {})
    ood_data = data.get("ood", {})
    in_data = data.get("in_distribution", {})
    suite_label = ood_suite or "OOD"
    # The Hub groups results by (dataset id, config, split, revision). The five EWT genres share all
    # four, so a shared id gets the OOD set's registry name as its config to keep the sets apart.
    hub_ids = [(record.get("hub_id"), record.get("hub_config")) for record in ood_data.values()]
    results = []
    for score, per_set in report.metrics.items():
        for ood_name, values in per_set.items():
            if ood_name == "mean":
                dataset = {
                    "dataset_type": f"oe_nlp/ood-suite-{suite_label}",
                    "dataset_name": f"Mean over the {suite_label} OOD suite ({len(per_set) - 1} sets)",
                }
            else:
                source = ood_data.get(ood_name, {})
                shared = hub_ids.count((source.get("hub_id"), source.get("hub_config"))) > 1
                dataset = {
                    "dataset_type": source.get("hub_id") or ood_name,
                    "dataset_name": f"{ood_name} (OOD)",
                    "dataset_config": ood_name if shared else source.get("hub_config"),
                    "dataset_split": source.get("hub_split", "test"),
                    "dataset_revision": source.get("hub_revision"),
                }
            for key, metric_type, title in CARD_METRICS:
                if key not in values:
                    continue
                results.append(
                    EvalResult(
                        task_type="text-classification",
                        task_name="OOD detection",
                        metric_type=metric_type,
                        metric_name=f"{title}, {score} score (%)",
                        metric_value=round(100 * values[key]["mean"], 2),
                        metric_config=score,
                        **dataset,
                    )
                )

    if report.in_accuracy is not None:
        results.append(
            EvalResult(
                task_type="text-classification",
                task_name="Text classification",
                dataset_type=in_data.get("hub_id") or in_data.get("name", "in-distribution"),
                dataset_name=f"{in_data.get('name', 'in-distribution')} (in-distribution)",
                dataset_config=in_data.get("hub_config"),
                dataset_split=in_data.get("hub_split") or in_data.get("split"),
                dataset_revision=in_data.get("hub_revision"),
                metric_type="accuracy",
                metric_name="Accuracy (%)",
                metric_value=round(100 * report.in_accuracy, 2),
            )
        )
    return results


# ---- Card ----


def _markdown_table(rows: Sequence[tuple[str, str]], header: tuple[str, str]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines.extend(f"| {key} | {value} |" for key, value in rows)
    return "\n".join(lines) + "\n"


def _format_setting(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return f"`{value}`"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _oe_table(oe_settings: Mapping[str, Any] | None) -> str:
    if not oe_settings:
        return "This model was trained without Outlier Exposure (a baseline).\n"
    return _markdown_table(
        [(key, _format_setting(value)) for key, value in oe_settings.items()], ("setting", "value")
    )


def _data_rows(provenance: Mapping[str, Any]) -> list[str]:
    entries = [("in-distribution", provenance.get("in_distribution"))]
    if provenance.get("outlier"):
        entries.append(("outlier corpus", provenance["outlier"]))
    entries.extend(("OOD", record) for record in provenance.get("ood", {}).values())

    rows = []
    for role, record in entries:
        if not record:
            continue
        hub = record.get("hub_id") or "-"
        if record.get("hub_id") and record.get("hub_config"):
            hub += f" ({record['hub_config']})"
        revision = record.get("hub_revision") or "-"
        files = ", ".join(
            f"`{entry['path']}` (sha256 `{entry['sha256'][:12]}`)" for entry in record.get("local_files", [])
        )
        source = f"local: {files}" if record.get("source") == "local" else "Hub"
        rows.append(f"| {role} | `{record['name']}` | {record['split']} | {hub} | {revision} | {source} |")
    return rows


def _data_table(provenance: Mapping[str, Any] | None) -> str:
    if not provenance:
        return "No data details were recorded with the results.\n"
    header = [
        "| role | registry name | split | Hub id | Hub revision | read from |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join(header + _data_rows(provenance)) + "\n"


def _protocol_text(report: OODReport, detector: Mapping[str, Any] | None) -> str:
    config = report.config
    text = (
        "Anomalies are the positive class and a higher anomaly score means more anomalous. For each OOD "
        f"set, {config.get('num_resamples', '?')} random subsets of "
        f"{config.get('ood_to_in_ratio', '?')} x the in-distribution test size "
        f"({config.get('num_in', '?')} texts) are scored against the whole in-distribution test set "
        f"(seed {config.get('seed', '?')}), and the metrics are averaged over the subsets. The suite "
        "mean averages those over the OOD sets. FPR90 and FPR95 are the shares of in-distribution "
        "inputs flagged when 90% and 95% of anomalies are caught. All values are percentages."
    )
    if detector and detector.get("threshold") is not None:
        text += (
            f"\n\nDetector threshold: `{detector['score']}` score <= {detector['threshold']!r} passes as "
            f"in-distribution, calibrated so that {100 * detector['tpr']:g}% of "
            f"{detector.get('num_calibration_texts')} in-distribution texts pass."
        )
    return text + "\n"


def _result_sections(report: OODReport, baseline: OODReport | None) -> list[str]:
    sections = []
    for score in report.metrics:
        reports = [baseline, report] if baseline is not None and score in baseline.metrics else [report]
        sections.append(
            f"### Mean over the OOD suite, anomaly score `{score}`\n\n{comparison_markdown(reports, score)}"
        )
        sections.append(
            f"### Per OOD set, anomaly score `{score}` (mean ± std over the subsets)\n\n"
            f"{report.name}:\n\n{report.to_markdown(score)}"
        )
        if baseline is not None and score in baseline.metrics:
            sections.append(f"{baseline.name}:\n\n{baseline.to_markdown(score)}")
    return sections


def build_model_card(
    config: Any,
    report: OODReport,
    baseline: OODReport | None = None,
    model_name: str | None = None,
    repo_id: str | None = None,
    template_path: str | os.PathLike | None = None,
    license: str | None = None,
    tags: Sequence[str] = (),
    base_model: str | None = None,
    **template_kwargs: Any,
) -> ModelCard:
    """Build the model card of a model folder: OE settings, data versions and OOD results.

    Args:
        config: The model's `PretrainedConfig`, with the `oe_nlp` records (see the module docstring).
        report: OOD results of this model.
        baseline: OOD results of the same architecture trained without OE, shown beside `report`.
        model_name: Title of the card and name of the `model-index` entry. Defaults to `repo_id`.
        repo_id: Hub repository id, used in the usage example.
        template_path: Jinja template of the card. Defaults to `DEFAULT_CARD_TEMPLATE`, and any
            template receives the same variables plus `template_kwargs`.
        license: License identifier for the metadata, e.g. "apache-2.0".
        tags: Extra metadata tags.
        base_model: Hub id of the pretrained model that was fine-tuned, if any.
        **template_kwargs: Further variables for a custom template.

    Returns:
        A `huggingface_hub.ModelCard` whose metadata contains the `model-index` results.
    """
    oe_settings = config_record(config, OE_CONFIG_KEY)
    detector = config_record(config, DETECTOR_CONFIG_KEY)
    evaluation = config_record(config, EVALUATION_CONFIG_KEY) or {}
    provenance = report.config.get("data")
    model_name = model_name or repo_id or report.name
    task = evaluation.get("task")

    hub_datasets = []
    for role in ("in_distribution", "outlier"):
        hub_id = (provenance or {}).get(role, {}).get("hub_id")
        if hub_id and hub_id not in hub_datasets:
            hub_datasets.append(hub_id)

    card_tags = ["oe_nlp", "outlier-exposure", "ood-detection", getattr(config, "model_type", "model")]
    card_tags += [tag for tag in tags if tag not in card_tags]
    card_data = ModelCardData(
        model_name=model_name,
        library_name="transformers",
        pipeline_tag="text-classification",
        license=license,
        tags=card_tags,
        datasets=hub_datasets or None,
        base_model=base_model,
        eval_results=eval_results(report, evaluation.get("ood_suite") or task),
    )

    kind = "with Outlier Exposure" if oe_settings else "without Outlier Exposure (baseline)"
    summary = (
        f"A `{getattr(config, 'model_type', 'model')}` text classifier"
        + (f" for the `{task}` task" if task else "")
        + f", trained {kind} with `oe_nlp` and evaluated as an OOD detector."
    )
    variables = {
        "model_name": model_name,
        "repo_id": repo_id or "path/to/model-folder",
        "summary": summary,
        "oe_table": _oe_table(oe_settings),
        "protocol": _protocol_text(report, detector),
        "result_sections": _result_sections(report, baseline),
        "data_table": _data_table(provenance),
        "report": report,
        "baseline": baseline,
        **template_kwargs,
    }
    if template_path is not None:
        return ModelCard.from_template(card_data, template_path=str(template_path), **variables)
    return ModelCard.from_template(card_data, template_str=DEFAULT_CARD_TEMPLATE, **variables)


def write_model_card(folder: str | os.PathLike, card: ModelCard) -> Path:
    """Write `card` as `README.md` in `folder`, atomically."""
    return write_text_atomic(Path(folder) / "README.md", str(card))


# ---- Upload ----


def hub_push_error(error: BaseException, folder: str | os.PathLike, repo_id: str, step: str) -> HubPushError:
    """Build the error raised when a Hub upload fails: what failed, where the files are, how to retry."""
    folder = Path(folder).resolve()
    return HubPushError(
        f"Pushing {folder} to the Hugging Face Hub repository {repo_id!r} failed at the {step} step: "
        f"{type(error).__name__}: {error}. Every local file is kept unchanged in {folder} (model, "
        "tokenizer, config.json, README.md model card, results). Once the Hub is reachable and you are "
        "logged in (`hf auth login`, or a write token in $HF_TOKEN), retry with "
        f"`hf upload {repo_id} {folder} . --exclude '.*'`."
    )


def push_folder_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = "Upload model, model card and OOD results with oe_nlp",
    revision: str | None = None,
) -> Any:
    """Create the Hub repository if needed and upload a model folder to it, reading the folder only.

    Args:
        folder: Model folder with `config.json` and, normally, the `README.md` model card.
        repo_id: Hub repository id, e.g. "your-name/sst2-gru-oe".
        token: Hub token with write access. Defaults to the logged-in token or $HF_TOKEN.
        private: Whether a newly created repository is private.
        commit_message: Message of the upload commit.
        revision: Branch to commit to. Defaults to the main branch.

    Returns:
        The `CommitInfo` of the upload.

    Raises:
        FileNotFoundError: If `folder` has no `config.json`.
        HubPushError: If the Hub cannot be reached or rejects the upload. The message gives the retry command.
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder} has no config.json, so it is not a saved model folder. Pass the folder that "
            "`save_pretrained` or the recipe wrote, e.g. runs/sst/oe."
        )
    if not (folder / "README.md").is_file():
        logger.warning("%s has no README.md model card; the Hub repository will have none.", folder)

    api = HfApi()
    step = "create repository"
    try:
        api.create_repo(repo_id, token=token, private=private, exist_ok=True)
        step = "upload"
        return api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            commit_message=commit_message,
            token=token,
            revision=revision,
            ignore_patterns=UPLOAD_IGNORE_PATTERNS,
        )
    except HUB_ERRORS as error:
        logger.error("Hub %s step failed for %s: %s", step, repo_id, error)
        raise hub_push_error(error, folder, repo_id, step) from error


__all__ = [
    "CARD_METRICS",
    "DETECTOR_CONFIG_KEY",
    "EVALUATION_CONFIG_KEY",
    "HUB_ERRORS",
    "OE_CONFIG_KEY",
    "HubPushError",
    "build_model_card",
    "config_record",
    "dataset_provenance",
    "detector_settings",
    "eval_results",
    "experiment_provenance",
    "file_sha256",
    "hub_push_error",
    "load_report",
    "outlier_exposure_settings",
    "push_folder_to_hub",
    "write_model_card",
]
