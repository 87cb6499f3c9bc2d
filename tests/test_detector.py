"""`OODDetector` on the model the SST-2 recipe trained on the fixtures (see test_hub.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from oe_nlp.data import load_ood_suite, load_text_dataset, normalize_text
from oe_nlp.detector import OODDetector, threshold_for_tpr
from oe_nlp.scores import anomaly_scores

from .conftest import FIXTURE_DATA
from .test_hub import recipe_model_run

RAW_TEXTS = [
    "A Gripping, FUNNY film -LRB- at last -RRB- .",
    "the plot is thin",
    "The 1 @,@ 000 soldiers marched north along the river towards the city .",
    "bad",
    "an uneven but often touching portrait of a family that will not stay together for long",
]


@pytest.fixture(scope="module")
def oe_dir(tmp_path_factory) -> Path:
    return recipe_model_run(tmp_path_factory) / "oe"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    test = load_text_dataset("sst2", "test", FIXTURE_DATA)["text"][:25]
    snli = load_ood_suite("sst2", FIXTURE_DATA)["snli"]["text"][:10]
    return RAW_TEXTS + test + snli


@pytest.fixture(scope="module")
def logits(oe_dir, texts) -> np.ndarray:
    return reference_logits(oe_dir, texts)


def reference_logits(folder: Path, texts: list[str]) -> np.ndarray:
    """Logits of the Auto-loaded model, one text at a time, with the recipe's normalisation and length."""
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = []
    with torch.no_grad():
        for text in texts:
            inputs = tokenizer(normalize_text(text), truncation=True, max_length=48, return_tensors="pt")
            rows.append(model(**inputs).logits[0].numpy())
    return np.stack(rows)


def test_auto_class_loads_gru_after_import(oe_dir):
    code = (
        "import oe_nlp; from transformers import AutoModelForSequenceClassification as A; "
        f"m = A.from_pretrained({str(oe_dir)!r}); print(type(m).__name__, m.config.cell)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "RecurrentForSequenceClassification gru"


def test_detector_scores_equal_raw_logit_scores(oe_dir, texts, logits):
    detector = OODDetector.from_pretrained(oe_dir, threshold=-0.75)

    detections = detector(texts, batch_size=1)
    expected_scores = anomaly_scores(logits, "msp").numpy()
    expected_probabilities = torch.softmax(torch.from_numpy(logits), -1).numpy()

    np.testing.assert_array_equal(detector.logits(texts, batch_size=1), logits)
    assert [d.anomaly_score for d in detections] == [float(s) for s in expected_scores]
    assert [d.is_anomaly for d in detections] == [bool(s > -0.75) for s in expected_scores]
    assert [d.label for d in detections] == [["negative", "positive"][i] for i in logits.argmax(1)]
    assert detections[0].probabilities == {
        "negative": float(expected_probabilities[0, 0]),
        "positive": float(expected_probabilities[0, 1]),
    }


def test_energy_score_override(oe_dir, texts, logits):
    detector = OODDetector.from_pretrained(oe_dir, score="energy")

    np.testing.assert_array_equal(
        detector.anomaly_scores(texts, batch_size=1), anomaly_scores(logits, "energy").numpy()
    )


def test_sorted_batches_match_one_by_one(oe_dir, texts):
    detector = OODDetector.from_pretrained(oe_dir, threshold=-0.75)
    lengths = [len(detector.tokenizer(normalize_text(text))["input_ids"]) for text in texts]

    batched = detector(texts, batch_size=4)
    single = detector(texts, batch_size=1)

    batched_scores = np.array([d.anomaly_score for d in batched])
    single_scores = np.array([d.anomaly_score for d in single])
    batched_probabilities = np.array([list(d.probabilities.values()) for d in batched])
    single_probabilities = np.array([list(d.probabilities.values()) for d in single])

    assert lengths != sorted(lengths)  # the inputs are not already in length order
    assert np.ptp(single_scores) > 1e-2  # rows out of order would differ far beyond the tolerance
    # Another batch composition changes float32 rounding in the GRU, by a few units in the last place.
    np.testing.assert_allclose(batched_scores, single_scores, rtol=0, atol=1e-6)
    np.testing.assert_allclose(batched_probabilities, single_probabilities, rtol=0, atol=1e-6)
    assert [d.label for d in batched] == [d.label for d in single]
    assert [d.is_anomaly for d in batched] == [d.is_anomaly for d in single]


@pytest.mark.parametrize(
    ("tpr", "count", "expected_passing"),
    [(0.7, 10, 7), (0.95, 20, 19), (0.9, 37, 34), (0.5, 37, 19), (0.01, 37, 1)],
)
def test_calibration_passes_expected_count(oe_dir, texts, logits, tpr, count, expected_passing):
    scores = anomaly_scores(logits[:count], "msp").numpy()
    detector = OODDetector.from_pretrained(oe_dir)

    # One text per batch gives bit-identical scores to the reference logits.
    threshold = detector.calibrate(texts[:count], tpr=tpr, batch_size=1)

    assert len(set(scores.tolist())) == count  # no ties, so the count is exact
    assert threshold == float(np.sort(scores)[expected_passing - 1])
    assert int(np.sum(scores <= threshold)) == expected_passing
    assert (detector.tpr, detector.num_calibration_texts) == (tpr, count)


def test_threshold_for_tpr_with_ties():
    scores = np.array([0.3, 0.1, 0.2, 0.2, 0.4])

    assert threshold_for_tpr(scores, 0.6) == 0.2  # rank ceil(3.0) = 3 of [0.1, 0.2, 0.2, 0.3, 0.4]
    assert threshold_for_tpr(scores, 0.61) == 0.3  # rank ceil(3.05) = 4


def test_threshold_saved_in_config(oe_dir, texts, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(oe_dir, folder)
    detector = OODDetector.from_pretrained(folder)
    threshold = detector.calibrate(texts, tpr=0.95)
    logits_before = detector.logits(texts)

    detector.save_pretrained(folder)  # into the folder it was loaded from
    reloaded = OODDetector.from_pretrained(folder)

    assert reloaded.threshold == threshold
    assert reloaded.settings()["tpr"] == 0.95
    assert reloaded.settings()["num_calibration_texts"] == len(texts)
    np.testing.assert_array_equal(reloaded.logits(texts), logits_before)
    assert not [path for path in folder.iterdir() if path.name.startswith(".saving-")]


def test_detector_without_threshold_says_calibrate(oe_dir):
    detector = OODDetector.from_pretrained(oe_dir)

    with pytest.raises(ValueError, match=r"no threshold yet.*detector\.calibrate"):
        detector(["a fine film"])


@pytest.mark.parametrize(
    ("inputs", "error", "message"),
    [
        ([], ValueError, "`texts` is empty"),
        (["good", 3], TypeError, r"texts\[1\] must be a str, got int"),
        ("good film", TypeError, "got a single str"),
        (["good", "   "], ValueError, r"texts\[1\] .* has no tokens after normalisation"),
    ],
)
def test_detector_rejects_bad_inputs(oe_dir, inputs, error, message):
    detector = OODDetector.from_pretrained(oe_dir, threshold=0.0)

    with pytest.raises(error, match=message):
        detector(inputs)


@pytest.mark.parametrize("tpr", [0, 1, 1.5, -0.1, True])
def test_calibrate_rejects_tpr_outside_unit_interval(oe_dir, tpr):
    detector = OODDetector.from_pretrained(oe_dir)

    with pytest.raises(ValueError, match=rf"got {tpr!r}.*e\.g\. 0\.95"):
        detector.calibrate(["good film", "bad film"], tpr=tpr)


def test_detector_rejects_bad_settings(oe_dir):
    with pytest.raises(ValueError, match="Unknown anomaly score 'odin'"):
        OODDetector.from_pretrained(oe_dir, score="odin")
    with pytest.raises(TypeError, match=r"Unknown detector setting\(s\) \['treshold'\]"):
        OODDetector.from_pretrained(oe_dir, treshold=0.1)
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer, got 0"):
        OODDetector.from_pretrained(oe_dir).logits(["good"], batch_size=0)
