"""The SST-2 recipe end to end on committed fixtures, its Hub requests and its argument checks."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from oe_nlp.data import OOD_SUITES, load_ood_suite, load_text_dataset
from oe_nlp.evaluation import OODReport, resample_indices
from oe_nlp.experiment import DataArguments, ExperimentArguments, ModelArguments, planned_hub_requests

from .conftest import FIXTURE_DATA, REPO_ROOT

OOD_SUITE_SST = OOD_SUITES["sst2"]


def load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def logits_of(model, tokenizer, texts: list[str]) -> np.ndarray:
    collator = DataCollatorWithPadding(tokenizer)
    batch = collator([tokenizer(text, truncation=True, max_length=64) for text in texts])
    with torch.no_grad():
        return model(**batch).logits.double().numpy()


@pytest.fixture(scope="module")
def sst_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("sst")
    recipe = load_recipe("sst_oe")
    recipe.main(
        [
            "--data_dir",
            str(FIXTURE_DATA),
            "--output_dir",
            str(output_dir),
            "--num_train_epochs",
            "2",
            "--oe_num_train_epochs",
            "1",
            "--per_device_train_batch_size",
            "32",
            "--oe_batch_size",
            "32",
            "--vocab_size",
            "400",
            "--embedding_dim",
            "8",
            "--hidden_size",
            "16",
            "--max_length",
            "64",
            "--num_resamples",
            "3",
            "--eval_scores",
            "msp,energy",
            "--use_cpu",
            "true",
            "--disable_tqdm",
            "true",
        ]
    )
    return output_dir


def test_recipe_writes_all_outputs(sst_run):
    expected = [
        "results.json",
        "results.md",
        "baseline/results.json",
        "baseline/results.md",
        "baseline/model.safetensors",
        "baseline/tokenizer.json",
        "baseline/plots/histograms_msp.png",
        "baseline/plots/roc_msp.png",
        "baseline/plots/roc_energy.png",
        "oe/results.json",
        "oe/results.md",
        "oe/model.safetensors",
        "oe/plots/histograms_msp.png",
    ]
    for relative in expected:
        assert (sst_run / relative).is_file(), relative


def test_recipe_metrics_match_recomputation(sst_run):
    """Recompute accuracy and the SNLI AUROC of the saved OE model with sklearn and compare."""
    results = json.loads((sst_run / "oe" / "results.json").read_text())
    model = AutoModelForSequenceClassification.from_pretrained(sst_run / "oe").eval()
    tokenizer = AutoTokenizer.from_pretrained(sst_run / "oe")
    test = load_text_dataset("sst2", "test", FIXTURE_DATA)
    snli = load_ood_suite("sst2", FIXTURE_DATA)["snli"]

    in_logits = logits_of(model, tokenizer, test["text"])
    ood_logits = logits_of(model, tokenizer, snli["text"])
    accuracy = float(np.mean(in_logits.argmax(1) == np.asarray(test["label"])))
    in_scores = -torch.softmax(torch.from_numpy(in_logits), -1).max(-1).values.numpy()
    ood_scores = -torch.softmax(torch.from_numpy(ood_logits), -1).max(-1).values.numpy()
    # SNLI is the first set of the suite, so its subsets use the run's seed (1) plus 0.
    subsets = resample_indices(len(snli), len(test), num_resamples=3, seed=1)
    aurocs = [
        roc_auc_score(np.r_[np.zeros(len(in_scores)), np.ones(len(s))], np.r_[in_scores, ood_scores[s]])
        for s in subsets
    ]

    assert results["in_accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert results["metrics"]["msp"]["snli"]["auroc"]["mean"] == pytest.approx(np.mean(aurocs), abs=1e-5)
    assert results["config"]["num_ood_per_subset"]["snli"] == min(len(snli), len(test) // 5)


def test_recipe_comparison_table_matches_json(sst_run):
    summary = json.loads((sst_run / "results.json").read_text())
    table = (sst_run / "results.md").read_text()

    for key, label in (("baseline", "MSP baseline"), ("oe", "+OE")):
        auroc = summary["reports"][key]["metrics"]["msp"]["mean"]["auroc"]["mean"]
        row = next(line for line in table.splitlines() if line.startswith(f"| {label} |"))
        assert row.split(" | ")[3] == f"{100 * auroc:.1f}"
    assert "| +OE (published) | 27.3 | - | 89.3 | 59.4 | - |" in table


def test_planned_hub_requests_for_sst():
    requests = planned_hub_requests(DataArguments(task="sst2"))
    requested = [(r["path"], r["name"], r["split"], r.get("data_dir")) for r in requests]

    assert (
        requested
        == [
            ("SetFit/sst2", None, "train", None),
            ("SetFit/sst2", None, "validation", None),
            ("SetFit/sst2", None, "test", None),
            ("Salesforce/wikitext", "wikitext-2-v1", "train", None),
            ("stanfordnlp/snli", None, "test", None),
            ("stanfordnlp/imdb", None, "test", None),
            ("bentrevett/multi30k", None, "train", None),
            ("wmt/wmt16", "de-en", "test", None),
            ("Yelp/yelp_review_full", None, "test", None),
        ]
        + [("universal-dependencies/universal_dependencies", None, "validation+test", "en_ewt")] * 5
    )
    assert all(len(r["revision"]) == 40 for r in requests)


def test_recipe_without_data_dir_asks_hub(monkeypatch, tmp_path):
    """Without --data_dir the recipe's first data request goes to `datasets.load_dataset` as planned."""
    import datasets

    calls = []

    class Stop(Exception):
        pass

    def record(**kwargs):
        calls.append(kwargs)
        raise Stop

    monkeypatch.delenv("OE_NLP_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", record)
    with pytest.raises(Stop):
        load_recipe("sst_oe").main(["--output_dir", str(tmp_path), "--use_cpu", "true"])

    assert calls == planned_hub_requests(DataArguments(task="sst2"))[:1]


def test_data_dir_without_files_names_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="stsa.binary.train"):
        load_recipe("sst_oe").main(["--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "out")])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: DataArguments(task="mnli"), "Unknown `task`='mnli'"),
        (lambda: DataArguments(max_length=0), "`max_length` must be a positive integer"),
        (lambda: ExperimentArguments(eval_scores="msp,odin"), r"Unknown score\(s\) \['odin'\]"),
        (lambda: ExperimentArguments(oe_num_train_epochs=0), "`oe_num_train_epochs` must be > 0"),
    ],
)
def test_arguments_reject_invalid(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    """Save a randomly initialised 1-layer BERT and a WordPiece tokenizer over fixture words."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    words = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "the",
        "a",
        "film",
        "movie",
        "good",
        "bad",
        "is",
        ".",
    ]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=80,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def test_recipe_with_transformer_head(tiny_bert_dir, tmp_path):
    output_dir = tmp_path / "bert"
    load_recipe("sst_oe").main(
        [
            "--model_name_or_path",
            str(tiny_bert_dir),
            "--data_dir",
            str(FIXTURE_DATA),
            "--output_dir",
            str(output_dir),
            "--per_device_train_batch_size",
            "16",
            "--oe_batch_size",
            "16",
            "--max_length",
            "64",
            "--num_resamples",
            "2",
            "--use_cpu",
            "true",
            "--disable_tqdm",
            "true",
        ]
    )

    model = AutoModelForSequenceClassification.from_pretrained(output_dir / "oe")
    baseline = AutoModelForSequenceClassification.from_pretrained(output_dir / "baseline")
    results = json.loads((output_dir / "oe" / "results.json").read_text())
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert not torch.equal(model.classifier.weight, baseline.classifier.weight)
    assert results["config"]["num_resamples"] == 2
    assert set(results["metrics"]["msp"]) == {*OOD_SUITE_SST, "mean"}


def test_recipe_defaults_precedence():
    from oe_nlp.experiment import parse_recipe_arguments

    _, _, gru_args, gru_experiment = parse_recipe_arguments("sst2", ["--output_dir", "x"])
    news_data, _, _, _ = parse_recipe_arguments("newsgroups20", ["--output_dir", "x"])
    _, _, bert_args, bert_experiment = parse_recipe_arguments(
        "sst2", ["--model_name_or_path", "m", "--output_dir", "x"]
    )
    _, _, flag_args, _ = parse_recipe_arguments("sst2", ["--output_dir", "x", "--learning_rate", "0.5"])

    assert (gru_args.learning_rate, gru_args.num_train_epochs, gru_experiment.oe_num_train_epochs) == (
        0.01,
        5.0,
        2.0,
    )
    assert gru_args.outlier_batch_size == 64
    assert news_data.max_length == 100
    assert (bert_args.learning_rate, bert_args.num_train_epochs, bert_experiment.oe_num_train_epochs) == (
        5e-5,
        1.0,
        1.0,
    )
    assert bert_args.train_sampling_strategy == "group_by_length"
    assert flag_args.learning_rate == 0.5


def test_table2_rendering_exact():
    spec = importlib.util.spec_from_file_location(
        "reproduce", REPO_ROOT / "benchmarks" / "reproduce_table2.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def report(name, auroc):
        values = {
            "fpr90": {"mean": 0.5, "std": 0.02},
            "auroc": {"mean": auroc, "std": 0.01},
            "aupr_out": {"mean": 0.25, "std": 0.0},
        }
        return OODReport(name=name, metrics={"msp": {"snli": values, "mean": values}}, in_accuracy=0.9)

    results = {"trec": {"baseline": report("MSP baseline", 0.75), "oe": report("+OE", 0.975)}}

    assert module.table2(results).splitlines()[2:] == [
        "| TREC | MSP baseline (ours) | 50.0 | 75.0 | 25.0 | 90.0 |",
        "| TREC | MSP baseline (published) | 43.5 | 82.1 | 52.2 | - |",
        "| TREC | +OE (ours) | 50.0 | 97.5 | 25.0 | 90.0 |",
        "| TREC | +OE (published) | 0.8 | 99.3 | 97.6 | - |",
    ]
    assert module.table8("trec", results["trec"]).splitlines()[2] == (
        "| snli | 50.0 ± 2.0 | 75.0 ± 1.0 | 25.0 ± 0.0 | 50.0 ± 2.0 | 97.5 ± 1.0 | 25.0 ± 0.0 |"
    )


def test_casing_cue_keeps_ood_case_only():
    from oe_nlp.experiment import load_task_data

    honest = load_task_data(DataArguments(task="sst2", data_dir=str(FIXTURE_DATA)))
    cued = load_task_data(DataArguments(task="sst2", data_dir=str(FIXTURE_DATA), casing_cue=True))

    def has_upper(texts):
        return any(text != text.lower() for text in texts)

    assert not has_upper(cued["splits"]["train"]["text"])
    assert has_upper(cued["outliers"]["text"])
    assert has_upper(cued["ood"]["wmt16"]["text"]) is False  # the WMT16 file itself is lower-cased
    assert has_upper(cued["ood"]["imdb"]["text"])
    assert not has_upper(honest["outliers"]["text"])
    assert not has_upper(honest["ood"]["imdb"]["text"])


def test_dataset_override_replaces_in_distribution_only():
    from oe_nlp.experiment import load_task_data

    data = load_task_data(DataArguments(task="trec", dataset="trec_coarse", data_dir=str(FIXTURE_DATA)))

    assert data["splits"]["train"].features["label"].names == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert list(data["ood"]) == list(OOD_SUITES["trec"])
    assert "eval" not in data["splits"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ExperimentArguments(num_resamples=0), "`num_resamples` must be a positive integer, got 0"),
        (lambda: ExperimentArguments(ood_to_in_ratio=0.0), "`ood_to_in_ratio` must be > 0, got 0.0"),
        (lambda: ModelArguments(cell="rnn"), "Unknown `cell`='rnn'"),
    ],
)
def test_experiment_arguments_fail_early(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_offline_hub_error_suggests_data_dir(monkeypatch):
    import datasets

    def offline(**kwargs):
        raise ConnectionError("Couldn't reach 'SetFit/sst2' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.delenv("OE_NLP_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(
        ConnectionError, match=r"pass the local data folder as --data_dir or set \$OE_NLP_DATA_DIR"
    ):
        load_text_dataset("sst2", "train")


def test_test_only_set_rejected_as_outlier_corpus():
    from oe_nlp.data import load_outlier_dataset

    with pytest.raises(ValueError, match="'imdb' has no 'train' split"):
        load_outlier_dataset("imdb", data_dir=FIXTURE_DATA)
