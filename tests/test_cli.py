"""The `oe-nlp` command on the model the SST-2 recipe trained on the fixtures (see test_hub.py)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoConfig

from oe_nlp.cli import main
from oe_nlp.data import load_text_dataset
from oe_nlp.detector import OODDetector, threshold_for_tpr

from .conftest import FIXTURE_DATA
from .test_hub import recipe_model_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return recipe_model_run(tmp_path_factory)


@pytest.fixture
def model_copy(run_dir, tmp_path) -> Path:
    folder = tmp_path / "oe"
    shutil.copytree(run_dir / "oe", folder)
    return folder


def test_evaluate_reproduces_recipe_table(run_dir, tmp_path):
    output_dir = tmp_path / "evaluation"

    status = main(
        ["evaluate", str(run_dir / "oe"), "--data_dir", str(FIXTURE_DATA), "--output_dir", str(output_dir)]
    )
    recipe_results = json.loads((run_dir / "oe" / "results.json").read_text())
    cli_results = json.loads((output_dir / "results.json").read_text())

    assert status == 0
    assert (output_dir / "results.md").read_text() == (run_dir / "oe" / "results.md").read_text()
    assert cli_results["metrics"] == recipe_results["metrics"]
    assert cli_results["in_accuracy"] == recipe_results["in_accuracy"]
    assert cli_results["config"] == recipe_results["config"]
    assert (output_dir / "plots" / "roc_msp.png").is_file()


def test_evaluate_baseline_name_and_overrides(run_dir, tmp_path):
    output_dir = tmp_path / "evaluation"

    main(["evaluate", str(run_dir / "baseline"), "--data_dir", str(FIXTURE_DATA), "--output_dir", str(output_dir),
          "--num_resamples", "1", "--seed", "7"])  # fmt: skip
    results = json.loads((output_dir / "results.json").read_text())

    assert results["name"] == "MSP baseline"
    assert (results["config"]["num_resamples"], results["config"]["seed"]) == (1, 7)
    assert (output_dir / "results.md").read_text().startswith("# MSP baseline\n")


def test_calibrate_from_registry_split(model_copy, capsys):
    texts = load_text_dataset("sst2", "validation", FIXTURE_DATA)["text"]
    scores = OODDetector.from_pretrained(model_copy).anomaly_scores(texts)

    status = main(["calibrate", str(model_copy), "--dataset", "sst2", "--split", "validation",
                   "--data_dir", str(FIXTURE_DATA), "--tpr", "0.9"])  # fmt: skip
    saved = AutoConfig.from_pretrained(model_copy).ood_detector

    assert status == 0
    assert saved["threshold"] == threshold_for_tpr(scores, 0.9)
    assert saved["tpr"] == 0.9
    assert saved["num_calibration_texts"] == len(texts)
    assert int(np.sum(scores <= saved["threshold"])) >= int(np.ceil(0.9 * len(texts)))
    assert f"Saved to {model_copy / 'config.json'}" in capsys.readouterr().out


def test_score_writes_json_lines(model_copy, tmp_path, monkeypatch, capsys):
    calibration = tmp_path / "in.txt"
    calibration.write_text("\n".join(load_text_dataset("sst2", "validation", FIXTURE_DATA)["text"]) + "\n")
    texts = ["a gripping , funny film .", "", "The soldiers marched north along the river .", "dull and slow"]
    main(["calibrate", str(model_copy), "--file", str(calibration)])
    capsys.readouterr()

    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(texts) + "\n"))
    status = main(["score", str(model_copy), "--batch_size", "2"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    detector = OODDetector.from_pretrained(model_copy)
    expected = detector([text for text in texts if text], batch_size=2)

    assert status == 0
    assert [record["line"] for record in records] == [1, 3, 4]
    assert [record["anomaly_score"] for record in records] == [d.anomaly_score for d in expected]
    assert [record["is_anomaly"] for record in records] == [
        d.anomaly_score > detector.threshold for d in expected
    ]
    assert [record["label"] for record in records] == [d.label for d in expected]
    assert set(records[0]) == {"line", "label", "probabilities", "anomaly_score", "is_anomaly"}
    assert sum(records[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)


def test_score_to_file_with_threshold_flag(model_copy, tmp_path):
    source, output = tmp_path / "texts.txt", tmp_path / "scores.jsonl"
    source.write_text("good film\nthe river city\n")

    status = main(
        ["score", str(model_copy), "--input", str(source), "--output", str(output), "--threshold", "-1"]
    )
    records = [json.loads(line) for line in output.read_text().splitlines()]

    assert status == 0
    assert [record["is_anomaly"] for record in records] == [True, True]  # every msp score is above -1


def test_score_without_threshold_says_calibrate(model_copy, tmp_path, capsys):
    source = tmp_path / "texts.txt"
    source.write_text("good film\n")

    status = main(["score", str(model_copy), "--input", str(source)])

    assert status == 2
    assert "oe-nlp score: error: The detector has no threshold yet" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["calibrate", "{model}", "--file", "{texts}", "--tpr", "1.5"],
            "`tpr` must be a fraction strictly between",
        ),
        (["score", "{model}", "--input", "{missing}"], "not found"),
        (["calibrate", "{model}", "--file", "{blank}"], "`texts` is empty"),
        (
            ["evaluate", "{model}", "--task", "mnli", "--output_dir", "{out}"],
            "Unknown or missing --task 'mnli'",
        ),
    ],
)
def test_cli_errors_are_messages(model_copy, tmp_path, capsys, arguments, message):
    (tmp_path / "texts.txt").write_text("good film\nbad film\n")
    (tmp_path / "blank.txt").write_text("\n  \n")
    paths = {"model": model_copy, "texts": tmp_path / "texts.txt", "blank": tmp_path / "blank.txt",
             "missing": tmp_path / "missing.txt", "out": tmp_path / "out"}  # fmt: skip

    status = main([argument.format(**paths) for argument in arguments])

    assert status == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("evaluate", "the same files the recipe writes"),
        ("score", "one JSON object per non-blank line"),
        ("calibrate", "Share of in-distribution texts that pass"),
    ],
)
def test_help_describes_command(capsys, command, text):
    with pytest.raises(SystemExit) as caught:
        main([command, "--help"])

    assert caught.value.code == 0
    assert text in " ".join(capsys.readouterr().out.split())


def test_cli_rejects_missing_folder_and_language_models(tmp_path, capsys):
    assert main(["score", str(tmp_path / "missing")]) == 2
    assert "is not a saved model folder (no config.json there)" in capsys.readouterr().err

    from oe_nlp.models import LSTMForCausalLM, LSTMLMConfig

    LSTMForCausalLM(
        LSTMLMConfig(vocab_size=12, embedding_size=4, hidden_size=4, num_layers=1)
    ).save_pretrained(tmp_path / "lm")
    assert main(["score", str(tmp_path / "lm")]) == 2
    assert (
        "contains a 'oe_lstm_lm' model, but oe-nlp handles text sequence classifiers only"
        in capsys.readouterr().err
    )
