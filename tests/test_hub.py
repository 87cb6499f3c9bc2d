"""Model cards, OE settings in config.json and Hub uploads, against a local stand-in for the Hub.

`recipe_model_run` trains the SST-2 recipe once per test session on the fixtures (3 steps per stage)
with `--push_to_hub` and a stub `HfApi` that records the upload. test_detector.py and test_cli.py reuse
the same run folder.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
from pathlib import Path

import httpx2
import pytest
import torch
from huggingface_hub import HfApi, ModelCard

from oe_nlp.data import OOD_SUITES, get_dataset_spec
from oe_nlp.evaluation import comparison_markdown
from oe_nlp.hub import (
    HubPushError,
    build_model_card,
    dataset_provenance,
    load_report,
    push_folder_to_hub,
)

from .conftest import FIXTURE_DATA
from .test_experiment import load_recipe

HUB_MODEL_ID = "test-user/sst2-gru-oe"
RECIPE_ARGS = [
    "--max_steps", "3",
    "--per_device_train_batch_size", "16",
    "--oe_batch_size", "16",
    "--vocab_size", "300",
    "--embedding_dim", "8",
    "--hidden_size", "8",
    "--num_layers", "1",
    "--max_length", "48",
    "--num_resamples", "2",
    "--eval_scores", "msp",
    "--use_cpu", "true",
    "--disable_tqdm", "true",
    "--logging_steps", "50",
]  # fmt: skip


class HubStub:
    """Stand-in for the Hub API: records `create_repo` and `upload_folder` calls, or raises `error`."""

    def __init__(self, error: BaseException | None = None, fail_at: str = "create_repo") -> None:
        self.error = error
        self.fail_at = fail_at
        self.calls: list[dict] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> HubStub:
        stub = self

        def create_repo(api, repo_id, **kwargs):
            stub.calls.append({"call": "create_repo", "repo_id": repo_id, **kwargs})
            if stub.error is not None and stub.fail_at == "create_repo":
                raise stub.error
            return type("RepoUrl", (), {"repo_id": repo_id})()

        def upload_folder(api, **kwargs):
            folder = Path(kwargs["folder_path"])
            files = sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
            ignored = kwargs.get("ignore_patterns") or []
            uploaded = [name for name in files if not any(fnmatch.fnmatch(name, p) for p in ignored)]
            stub.calls.append(
                {"call": "upload_folder", "files": uploaded, **kwargs, "folder_path": str(folder)}
            )
            if stub.error is not None and stub.fail_at == "upload_folder":
                raise stub.error
            return "commit-info"

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
        return self


def recipe_model_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train the SST-2 recipe on the fixtures once per session and return its output folder.

    The run pushes with a recording stub; its calls are in `hub_calls.json` beside the run folder.
    """
    root = tmp_path_factory.getbasetemp() / "oe_nlp_recipe_run"
    run_dir = root / "sst"
    if (root / "hub_calls.json").is_file():
        return run_dir

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny GRU trains several times faster on one thread
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            stub = HubStub().install(monkeypatch)
            load_recipe("sst_oe").main(
                ["--data_dir", str(FIXTURE_DATA), "--output_dir", str(run_dir)]
                + RECIPE_ARGS
                + ["--push_to_hub", "true", "--hub_model_id", HUB_MODEL_ID]
            )
    finally:
        torch.set_num_threads(threads)
    (root / "hub_calls.json").write_text(json.dumps(stub.calls, default=str))
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return recipe_model_run(tmp_path_factory)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def card_metrics(card: ModelCard) -> dict[tuple[str, str, str], float]:
    """Map (dataset name, metric type, score) to the value of each model-index metric."""
    return {
        (result.dataset_name, result.metric_type, result.metric_config): result.metric_value
        for result in card.data.eval_results
    }


# ---- config.json records ----


def test_config_records_oe_settings(run_dir):
    from transformers import AutoConfig

    oe_config = AutoConfig.from_pretrained(run_dir / "oe")
    baseline_config = AutoConfig.from_pretrained(run_dir / "baseline")

    assert oe_config.outlier_exposure == {
        "loss": "uniform_ce",
        "weight": 1.0,
        "outlier_dataset": "wikitext2",
        "per_device_train_batch_size": 16,
        "outlier_batch_size": 16,
        "gradient_accumulation_steps": 1,
        "num_train_epochs": 2.0,
        "learning_rate": 0.01,
        "seed": 1,
    }
    assert getattr(baseline_config, "outlier_exposure", None) is None
    assert oe_config.ood_detector["score"] == "msp"
    assert oe_config.ood_detector["max_length"] == 48
    assert oe_config.ood_detector["threshold"] is None
    assert oe_config.ood_evaluation["task"] == "sst2"
    assert oe_config.ood_evaluation["num_resamples"] == 2
    assert oe_config.ood_evaluation["seed"] == 1


# ---- the model card ----


def test_card_model_index_matches_report(run_dir):
    report = load_report(run_dir / "oe" / "results.json")
    card = ModelCard.load(run_dir / "oe" / "README.md")
    values = card_metrics(card)

    assert card.data.model_name == HUB_MODEL_ID
    assert len(values) == (len(OOD_SUITES["sst2"]) + 1) * 4 + 1
    for ood_set in OOD_SUITES["sst2"]:
        metrics = report.metrics["msp"][ood_set]
        assert values[(f"{ood_set} (OOD)", "auroc", "msp")] == round(100 * metrics["auroc"]["mean"], 2)
        assert values[(f"{ood_set} (OOD)", "aupr", "msp")] == round(100 * metrics["aupr_out"]["mean"], 2)
        assert values[(f"{ood_set} (OOD)", "fpr90", "msp")] == round(100 * metrics["fpr90"]["mean"], 2)
        assert values[(f"{ood_set} (OOD)", "fpr95", "msp")] == round(100 * metrics["fpr95"]["mean"], 2)
    mean_name = "Mean over the sst2 OOD suite (10 sets)"
    assert values[(mean_name, "auroc", "msp")] == round(
        100 * report.metrics["msp"]["mean"]["auroc"]["mean"], 2
    )
    assert values[("sst2 (in-distribution)", "accuracy", None)] == round(100 * report.in_accuracy, 2)


def test_card_dataset_versions(run_dir):
    card = ModelCard.load(run_dir / "oe" / "README.md")
    by_name = {result.dataset_name: result for result in card.data.eval_results}
    multi30k = get_dataset_spec("multi30k")
    test_file = FIXTURE_DATA / get_dataset_spec("sst2").local_files["test"][0]

    assert by_name["multi30k (OOD)"].dataset_type == multi30k.hub_id
    assert by_name["multi30k (OOD)"].dataset_revision == multi30k.hub_revision
    assert by_name["multi30k (OOD)"].dataset_split == multi30k.splits["test"]
    assert card.data.datasets == ["SetFit/sst2", "Salesforce/wikitext"]
    assert hashlib.sha256(test_file.read_bytes()).hexdigest()[:12] in card.text
    assert "| outlier corpus | `wikitext2` | train |" in card.text


def test_card_body_tables(run_dir):
    card = ModelCard.load(run_dir / "oe" / "README.md")
    oe = load_report(run_dir / "oe" / "results.json")
    baseline = load_report(run_dir / "baseline" / "results.json")

    assert comparison_markdown([baseline, oe], "msp") in card.text
    assert oe.to_markdown("msp") in card.text
    assert baseline.to_markdown("msp") in card.text
    assert "| loss | `uniform_ce` |" in card.text
    assert "| weight | 1 |" in card.text
    assert "| outlier_batch_size | 16 |" in card.text


def test_baseline_card_says_no_oe(run_dir):
    card = ModelCard.load(run_dir / "baseline" / "README.md")

    assert "trained without Outlier Exposure (a baseline)" in card.text
    assert "| outlier corpus |" not in card.text


def test_custom_template_receives_variables(run_dir, tmp_path):
    from transformers import AutoConfig

    template = tmp_path / "card.md"
    template.write_text("---\n{{ card_data }}\n---\n# {{ model_name }}\nCommand: {{ command }}\n")
    card = build_model_card(
        AutoConfig.from_pretrained(run_dir / "oe"),
        load_report(run_dir / "oe" / "results.json"),
        model_name="custom",
        template_path=template,
        command="python recipes/sst_oe.py",
    )

    assert card.text.strip() == "# custom\nCommand: python recipes/sst_oe.py"
    assert card.data.model_name == "custom"


def test_load_report_rejects_comparison_file(run_dir):
    with pytest.raises(ValueError, match="lacks the key"):
        load_report(run_dir / "results.json")


def test_dataset_provenance_hub_and_local():
    hub = dataset_provenance("snli", "test", data_dir="")
    local = dataset_provenance("snli", "test", data_dir=FIXTURE_DATA)
    relative = get_dataset_spec("snli").local_files["test"][0]

    assert hub["source"] == "hub"
    assert "local_files" not in hub
    assert local["local_files"] == [
        {"path": relative, "sha256": hashlib.sha256((FIXTURE_DATA / relative).read_bytes()).hexdigest()}
    ]


# ---- pushing ----


def test_recipe_push_uploads_oe_folder(run_dir):
    calls = json.loads((run_dir.parent / "hub_calls.json").read_text())

    assert [call["call"] for call in calls] == ["create_repo", "upload_folder"]
    assert calls[0]["repo_id"] == HUB_MODEL_ID
    assert calls[1]["repo_id"] == HUB_MODEL_ID
    assert Path(calls[1]["folder_path"]) == run_dir / "oe"
    assert calls[1]["files"] == [
        "README.md",
        "config.json",
        "model.safetensors",
        "plots/histograms_msp.png",
        "plots/roc_msp.png",
        "results.json",
        "results.md",
        "tokenizer.json",
        "tokenizer_config.json",
        "training_args.bin",
    ]


def trainer_for(folder: Path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from oe_nlp.trainer import OETrainer, OETrainingArguments

    args = OETrainingArguments(
        output_dir=str(folder), hub_model_id=HUB_MODEL_ID, report_to="none", use_cpu=True, seed=1
    )
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    return OETrainer(model=model, args=args, processing_class=AutoTokenizer.from_pretrained(folder))


@pytest.fixture
def oe_copy(run_dir, tmp_path) -> Path:
    folder = tmp_path / "oe"
    shutil.copytree(run_dir / "oe", folder)
    return folder


def test_trainer_push_writes_card_and_uploads(oe_copy, run_dir, monkeypatch):
    stub = HubStub().install(monkeypatch)
    (oe_copy / "README.md").unlink()
    baseline = load_report(run_dir / "baseline" / "results.json")

    trainer_for(oe_copy).push_to_hub(baseline_report=baseline)
    report = load_report(oe_copy / "results.json")
    values = card_metrics(ModelCard.load(oe_copy / "README.md"))

    assert stub.calls[-1]["call"] == "upload_folder"
    assert "README.md" in stub.calls[-1]["files"]
    assert values[("snli (OOD)", "fpr95", "msp")] == round(
        100 * report.metrics["msp"]["snli"]["fpr95"]["mean"], 2
    )
    assert comparison_markdown([baseline, report], "msp") in (oe_copy / "README.md").read_text()


def test_failed_create_repo_keeps_files(oe_copy, monkeypatch):
    HubStub(ConnectionError("stub: network is unreachable")).install(monkeypatch)
    before = snapshot(oe_copy)

    with pytest.raises(HubPushError) as caught:
        trainer_for(oe_copy).push_to_hub()

    assert snapshot(oe_copy) == before
    message = str(caught.value)
    assert f"repository '{HUB_MODEL_ID}' failed at the create repository step" in message
    assert "stub: network is unreachable" in message
    assert f"Every local file is kept unchanged in {oe_copy.resolve()}" in message
    assert f"hf upload {HUB_MODEL_ID} {oe_copy.resolve()} ." in message


def test_failed_upload_keeps_files(oe_copy, run_dir, monkeypatch):
    baseline = load_report(run_dir / "baseline" / "results.json")
    HubStub().install(monkeypatch)
    trainer_for(oe_copy).push_to_hub(baseline_report=baseline)
    before = snapshot(oe_copy)

    HubStub(httpx2.ConnectError("stub: connection refused"), fail_at="upload_folder").install(monkeypatch)
    with pytest.raises(
        HubPushError, match="failed at the upload step: ConnectError: stub: connection refused"
    ):
        trainer_for(oe_copy).push_to_hub(baseline_report=baseline)

    assert snapshot(oe_copy) == before


def test_push_folder_uploads_and_fails_cleanly(oe_copy, monkeypatch):
    stub = HubStub().install(monkeypatch)
    before = snapshot(oe_copy)
    push_folder_to_hub(oe_copy, HUB_MODEL_ID, private=True)

    assert stub.calls[0] == {"call": "create_repo", "repo_id": HUB_MODEL_ID, "token": None, "private": True,
                             "exist_ok": True}  # fmt: skip
    assert stub.calls[1]["files"] == sorted(before)

    HubStub(ConnectionError("stub: offline"), fail_at="upload_folder").install(monkeypatch)
    with pytest.raises(HubPushError, match="upload step"):
        push_folder_to_hub(oe_copy, HUB_MODEL_ID)
    assert snapshot(oe_copy) == before


def test_push_folder_rejects_non_model_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        push_folder_to_hub(tmp_path, HUB_MODEL_ID)


def test_recipe_push_needs_model_id(tmp_path):
    from oe_nlp.experiment import parse_recipe_arguments, run_experiment

    data_args, model_args, training_args, experiment_args = parse_recipe_arguments(
        "sst2", ["--output_dir", str(tmp_path), "--push_to_hub", "true", "--data_dir", str(FIXTURE_DATA)]
    )

    with pytest.raises(ValueError, match="--push_to_hub needs --hub_model_id"):
        run_experiment(data_args, model_args, training_args, experiment_args)
    assert list(tmp_path.iterdir()) == []


def test_recipe_push_failure_exits_cleanly(monkeypatch, capsys, tmp_path):
    from oe_nlp import experiment

    def fail(*args, **kwargs):
        raise HubPushError("Pushing runs/sst/oe failed at the upload step")

    monkeypatch.setattr(experiment, "run_experiment", fail)
    with pytest.raises(SystemExit) as caught:
        experiment.recipe_main("sst2", ["--output_dir", str(tmp_path)])

    assert caught.value.code == 1
    assert capsys.readouterr().err == "error: Pushing runs/sst/oe failed at the upload step\n"


def test_publish_stops_cleanly_at_push(run_dir, tmp_path, monkeypatch, capsys):
    import importlib.util

    from .conftest import REPO_ROOT

    spec = importlib.util.spec_from_file_location("publish", REPO_ROOT / "hub" / "publish.py")
    publish = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(publish)
    entry = json.loads((REPO_ROOT / "hub" / "checkpoints.json").read_text())["checkpoints"][0]
    run_copy = tmp_path / "run"
    shutil.copytree(run_dir, run_copy)
    (tmp_path / "checkpoints.json").write_text(
        json.dumps({"checkpoints": [{**entry, "output_dir": str(run_copy)}]})
    )
    HubStub(ConnectionError("stub: no route to host")).install(monkeypatch)

    status = publish.main(
        ["--checkpoints", str(tmp_path / "checkpoints.json"), "--reuse", "--namespace", "me"]
    )
    before = snapshot(run_copy / "oe")
    card = (run_copy / "oe" / "README.md").read_text()

    assert status == 1
    assert f"repository 'me/{entry['name']}' failed at the create repository step" in capsys.readouterr().err
    assert entry["command"] in card
    assert "| +OE | expected | 42.2 | 53.7 | 81.1 | 43.8 | 78.6 |" in card
    assert snapshot(run_copy / "oe") == before
    assert snapshot(run_copy / "baseline") == snapshot(run_dir / "baseline")


def test_disk_error_is_not_hub_error(oe_copy, monkeypatch):
    import errno

    from transformers import AutoModelForSequenceClassification, Trainer

    from oe_nlp.trainer import OETrainer, OETrainingArguments

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Trainer, "push_to_hub", disk_full)
    trainer = OETrainer(
        model=AutoModelForSequenceClassification.from_pretrained(oe_copy),
        args=OETrainingArguments(str(oe_copy), report_to="none", hub_model_id="test-user/x"),
    )

    with pytest.raises(OSError, match="No space left") as raised:
        trainer.push_to_hub()
    assert not isinstance(raised.value, HubPushError)
