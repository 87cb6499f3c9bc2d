"""The PTB language-model recipe end to end on committed fixtures, checked against independent recomputation."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from transformers import AutoModelForCausalLM, AutoTokenizer

from oe_nlp.data.lm import build_lm_tokenizer, load_lm_datasets, load_lm_ood_suite
from oe_nlp.lm_experiment import (
    LMDataArguments,
    LMExperimentArguments,
    build_lm,
    lm_comparison_markdown,
    parse_lm_arguments,
)

from .conftest import FIXTURE_DATA
from .test_experiment import load_recipe


@pytest.fixture(scope="module")
def ptb_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("ptb")
    recipe = load_recipe("ptb_lm_oe")
    arguments = ["--data_dir", str(FIXTURE_DATA), "--output_dir", str(output_dir), "--num_train_epochs", "1"]
    arguments += ["--max_outlier_windows", "40", "--embedding_size", "16", "--hidden_size", "16"]
    arguments += ["--per_device_train_batch_size", "16", "--disable_tqdm", "true"]
    return output_dir, recipe.main(arguments)


def float64_window_nll(model, dataset) -> tuple[np.ndarray, float]:
    """Mean NLL per window and the token-weighted mean over all windows, from float64 log-softmax."""
    per_window, total, count = [], 0.0, 0
    model.eval()
    for ids in dataset["input_ids"]:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0].double()
        log_probs = torch.log_softmax(logits[:-1], dim=-1)
        nll = -log_probs.gather(-1, torch.tensor(ids[1:]).unsqueeze(-1)).squeeze(-1)
        per_window.append(float(nll.mean()))
        total, count = total + float(nll.sum()), count + len(ids) - 1
    return np.array(per_window), total / count


def test_recipe_reports_perplexity_and_auroc_of_its_saved_models(ptb_run):
    output_dir, _ = ptb_run
    summary = json.loads((output_dir / "results.json").read_text())
    assert set(summary["reports"]) == {"baseline", "oe"}

    for key in ("baseline", "oe"):
        model = AutoModelForCausalLM.from_pretrained(output_dir / key)
        tokenizer = AutoTokenizer.from_pretrained(output_dir / key)
        splits, _ = load_lm_datasets(FIXTURE_DATA, "word", tokenizer=tokenizer)
        ood = load_lm_ood_suite(tokenizer, FIXTURE_DATA, "word", mapping=summary["data"]["text_mapping"])

        in_nll, token_mean = float64_window_nll(model, splits["test"])
        reported = summary["reports"][key]["config"]["perplexity"]["test"]
        # Trainer averages per-batch means; with one eval batch that is the token-weighted mean.
        assert len(splits["test"]) <= 64
        assert reported == pytest.approx(math.exp(token_mean), rel=1e-4)

        ood_nll, _ = float64_window_nll(model, ood["ewt_email"])
        expected = roc_auc_score([0] * len(in_nll) + [1] * len(ood_nll), np.concatenate([in_nll, ood_nll]))
        metrics = summary["reports"][key]["metrics"]["nll"]["ewt_email"]
        assert metrics["auroc"]["mean"] == pytest.approx(expected, abs=1e-9)
        assert metrics["auroc"]["std"] == 0.0


def test_recipe_writes_the_comparison_with_published_rows(ptb_run):
    output_dir, _ = ptb_run
    text = (output_dir / "results.md").read_text()
    # The published rows sit under the uniform cross-entropy, the score of Hendrycks et al.'s code.
    assert text.startswith(
        "# PTB word-level language model: baseline vs Outlier Exposure\n\nText mapping: `paper`.\n"
    )
    published_table = text.split("score `uniform_cross_entropy`")[1].split("Mean over")[0]
    assert "| Baseline (published) | 48.5 | - | 81.2 | 44.0 | - |" in published_table
    assert "(published)" not in text.split("score `uniform_cross_entropy`")[0]
    assert "Test perplexity" in text


def test_comparison_omits_published_rows_for_ptb(ptb_run):
    _, reports = ptb_run
    text = lm_comparison_markdown(reports, "word", ["uniform_cross_entropy", "nll"], "ptb")

    assert text.startswith(
        "Text mapping: `ptb`. The published rows are left out: they come from the `paper` text mapping.\n"
    )
    assert "(published)" not in text


def test_recipe_evaluates_ood_score_first(ptb_run):
    output_dir, _ = ptb_run
    summary = json.loads((output_dir / "results.json").read_text())
    baseline_text = (output_dir / "baseline" / "results.md").read_text()

    assert set(summary["reports"]["oe"]["metrics"]) == {"nll", "uniform_cross_entropy", "msp"}
    assert baseline_text.index("## uniform_cross_entropy") < baseline_text.index("## nll")
    assert baseline_text.index("## nll") < baseline_text.index("## msp")


def test_level_defaults_and_argument_errors():
    data_args, _, training_args, _ = parse_lm_arguments(["--output_dir", "x"])
    assert (data_args.text_mapping, training_args.oe_weight) == ("paper", 0.1)
    assert training_args.ood_score == "uniform_cross_entropy"

    data_args, model_args, training_args, _ = parse_lm_arguments(["--level", "char", "--output_dir", "x"])
    assert data_args.text_mapping == "ptb"
    assert (data_args.level, training_args.num_train_epochs, model_args.embedding_size) == ("char", 1.0, 64)
    assert training_args.ood_score == "uniform_cross_entropy"
    assert training_args.oe_weight == 0.1
    model = build_lm(model_args, build_lm_tokenizer(["a b", "c"], "char"))
    assert model.config.tie_word_embeddings is False

    with pytest.raises(ValueError, match="Unknown `level`='bytes'"):
        LMDataArguments(level="bytes")
    with pytest.raises(ValueError, match="Unknown `text_mapping`='raw'"):
        LMDataArguments(text_mapping="raw")
    with pytest.raises(ValueError, match="word level only. Use --text_mapping ptb"):
        LMDataArguments(level="char", text_mapping="paper")
    with pytest.raises(ValueError, match=r"Unknown score\(s\) \['energy'\]"):
        LMExperimentArguments(eval_scores="nll,energy")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--level", "char", "--text_mapping", "paper"], "exists at word level only. Use --text_mapping ptb"),
        (["--text_mapping", "raw"], "invalid choice: 'raw' \\(choose from 'ptb', 'paper'\\)"),
        (["--ood_score", "energy"], "--ood_score energy has no per-sequence form for language models"),
    ],
)
def test_command_line_errors_exit_with_usage(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_lm_arguments([*argv, "--output_dir", "x"])

    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_push_to_hub_is_rejected_before_training(tmp_path):
    from oe_nlp.lm_experiment import run_lm_experiment

    arguments = parse_lm_arguments(
        ["--output_dir", str(tmp_path), "--push_to_hub", "true", "--hub_model_id", "a/b"]
    )
    with pytest.raises(ValueError, match="--push_to_hub is not supported by the language-model recipe"):
        run_lm_experiment(*arguments)
    assert not any(tmp_path.iterdir())


def test_baseline_model_is_reused_not_retrained(ptb_run, tmp_path):
    output_dir, _ = ptb_run
    recipe = load_recipe("ptb_lm_oe")
    arguments = ["--data_dir", str(FIXTURE_DATA), "--output_dir", str(tmp_path), "--num_train_epochs", "1"]
    arguments += ["--max_outlier_windows", "40", "--baseline_model", str(output_dir / "baseline")]
    arguments += ["--oe_weight", "0.5", "--disable_tqdm", "true"]

    recipe.main(arguments)

    first = json.loads((output_dir / "results.json").read_text())
    second = json.loads((tmp_path / "results.json").read_text())
    assert second["timings"]["baseline_train_seconds"] == 0.0
    assert (
        second["reports"]["baseline"]["config"]["perplexity"]
        == first["reports"]["baseline"]["config"]["perplexity"]
    )
    assert second["reports"]["baseline"]["metrics"]["nll"] == first["reports"]["baseline"]["metrics"]["nll"]
