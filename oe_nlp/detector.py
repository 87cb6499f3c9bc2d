"""`OODDetector`: a saved classifier plus an anomaly score and a calibrated threshold, for deployment.

The detector loads a model folder (model, tokenizer and the `config.ood_detector` record, see
`oe_nlp.hub`), classifies texts and flags those whose anomaly score lies above the threshold.
`calibrate` sets that threshold from in-distribution texts so that a chosen share of them (the true
positive rate of in-distribution inputs) passes, and `save_pretrained` stores it in `config.json`.

Only text is supported. The per-input steps (`_encode`, `_input_length`) are the places where an image
processor would plug in.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding
from transformers.utils import logging

from . import models as _models  # noqa: F401  (registers the oe_nlp models with the Auto classes)
from .data import normalize_text
from .hub import DETECTOR_CONFIG_KEY, config_record, detector_settings
from .scores import SCORES, anomaly_scores

logger = logging.get_logger(__name__)


@dataclass
class Detection:
    """The detector's output for one input.

    Attributes:
        label: Name of the predicted class.
        probabilities: Softmax probability per class name.
        anomaly_score: The configured anomaly score (higher means more anomalous).
        is_anomaly: Whether `anomaly_score` lies above the threshold.
    """

    label: str
    probabilities: dict[str, float]
    anomaly_score: float
    is_anomaly: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the detection as a JSON-serialisable dict."""
        return asdict(self)


def threshold_for_tpr(scores: np.ndarray, tpr: float) -> float:
    """Return the smallest observed score at or below which at least `tpr` of `scores` lie.

    With `n` scores sorted ascending, the threshold is the `ceil(tpr * n)`-th one. `tpr` is read as the
    decimal number it prints as (0.95 as 95/100), so a binary rounding error cannot shift the rank.
    Ties at the threshold let more than `ceil(tpr * n)` scores pass.
    """
    scores = np.sort(np.asarray(scores, dtype=np.float64))
    rank = max(1, math.ceil(Fraction(repr(float(tpr))) * len(scores)))
    return float(scores[rank - 1])


class OODDetector:
    """Classify texts and flag anomalies with a saved classifier and a calibrated threshold.

    Args:
        model: A sequence classification model returning logits.
        tokenizer: The model's tokenizer.
        score: Anomaly score name, a key of `oe_nlp.scores.SCORES`.
        threshold: Inputs with an anomaly score above it are anomalies. None until calibrated.
        temperature: Temperature of the energy score (other scores need 1.0).
        lowercase: Whether texts are lower-cased by `normalize_text`, as in training.
        max_length: Truncate texts to this many tokens; None keeps the tokenizer's own limit.
        tpr, num_calibration_texts: How the threshold was calibrated, kept for the saved config.

    Example:

    ```python
    >>> detector = OODDetector.from_pretrained("runs/sst/oe")
    >>> detector.calibrate(validation_texts, tpr=0.95)
    >>> detector(["a gripping , funny film ."])[0].is_anomaly
    False
    ```
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        score: str = "msp",
        threshold: float | None = None,
        temperature: float = 1.0,
        lowercase: bool = True,
        max_length: int | None = None,
        tpr: float | None = None,
        num_calibration_texts: int | None = None,
    ) -> None:
        if score not in SCORES:
            raise ValueError(f"Unknown anomaly score {score!r}. Choose one of {sorted(SCORES)}.")
        if max_length is not None and max_length <= 0:
            raise ValueError(f"`max_length` must be a positive integer or None, got {max_length}.")

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.score = score
        self.threshold = None if threshold is None else float(threshold)
        self.temperature = float(temperature)
        self.lowercase = lowercase
        self.max_length = max_length
        self.tpr = tpr
        self.num_calibration_texts = num_calibration_texts
        self.label_names = [
            self.model.config.id2label[index] for index in range(self.model.config.num_labels)
        ]
        self._collator = DataCollatorWithPadding(tokenizer)

    # ---- Loading and saving ----

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, device: str | torch.device | None = None, **overrides: Any
    ) -> OODDetector:
        """Load the model, tokenizer and `config.ood_detector` settings of a saved model folder.

        Args:
            path: Local model folder or Hub id.
            device: Device to run the model on, e.g. "cuda". Defaults to the CPU.
            **overrides: Detector settings that replace the saved ones, e.g. `score="energy"`.
        """
        model = AutoModelForSequenceClassification.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        if device is not None:
            model = model.to(device)

        settings = config_record(model.config, DETECTOR_CONFIG_KEY)
        if settings is None:
            logger.info("%s has no `ood_detector` settings, so the defaults apply (score msp).", path)
            settings = detector_settings()
        known = set(detector_settings())
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"Unknown detector setting(s) {unknown}. Choose from {sorted(known)}.")
        settings = {key: value for key, value in {**settings, **overrides}.items() if key in known}
        return cls(model, tokenizer, **settings)

    def settings(self) -> dict[str, Any]:
        """Return the detector settings stored as `config.ood_detector`."""
        return {
            "score": self.score,
            "temperature": self.temperature,
            "lowercase": self.lowercase,
            "max_length": self.max_length,
            "threshold": self.threshold,
            "tpr": self.tpr,
            "num_calibration_texts": self.num_calibration_texts,
        }

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Save the model, tokenizer and detector settings (with the threshold) to `path`.

        Files are written to a staging folder inside `path` and then renamed into place, so saving
        into the folder the detector was loaded from never truncates a file the model still reads.
        """
        path = Path(path)
        setattr(self.model.config, DETECTOR_CONFIG_KEY, self.settings())
        path.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=path))
        try:
            self.model.save_pretrained(staging)
            self.tokenizer.save_pretrained(staging)
            for item in staging.iterdir():
                target = path / item.name
                if target.is_dir() and item.is_dir():
                    shutil.rmtree(target)
                os.replace(item, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return path

    # ---- Inference ----

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters."""
        return next(self.model.parameters()).device

    def __call__(self, texts: Sequence[str], batch_size: int = 64) -> list[Detection]:
        """Classify `texts` and flag anomalies, returning one `Detection` per text in input order.

        Raises:
            ValueError: If no threshold is set yet (run `calibrate`), `texts` is empty, or a text is
                empty after normalisation.
            TypeError: If `texts` is a single string or contains a non-string item.
        """
        if self.threshold is None:
            raise ValueError(
                "The detector has no threshold yet, so it cannot decide `is_anomaly`. Run "
                "`detector.calibrate(in_distribution_texts, tpr=0.95)` (or `oe-nlp calibrate`) first, "
                "or pass `threshold=` to `OODDetector.from_pretrained` (`--threshold` for `oe-nlp score`)."
            )
        logits = self.logits(texts, batch_size)
        probabilities = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
        scores = self._scores(logits)
        return [
            Detection(
                label=self.label_names[int(row.argmax())],
                probabilities={name: float(value) for name, value in zip(self.label_names, row)},
                anomaly_score=float(score),
                is_anomaly=bool(score > self.threshold),
            )
            for row, score in zip(probabilities, scores)
        ]

    def anomaly_scores(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Return the configured anomaly score of each text, in input order (needs no threshold)."""
        return self._scores(self.logits(texts, batch_size))

    def logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Run the model on `texts` and return float32 logits of shape `(len(texts), num_labels)`.

        Inputs are sorted by token count and padded per batch, so a batch carries little padding. The
        rows come back in input order.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        encoded = self._encode(self._check_inputs(texts))
        order = np.argsort([self._input_length(features) for features in encoded], kind="stable")

        logits = np.empty((len(encoded), len(self.label_names)), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch_indices = order[start : start + batch_size]
                batch = self._collator([encoded[index] for index in batch_indices])
                batch = {key: value.to(self.device) for key, value in batch.items()}
                output = self.model(**batch)
                logits[batch_indices] = output.logits.float().cpu().numpy()
        return logits

    def _scores(self, logits: np.ndarray) -> np.ndarray:
        return anomaly_scores(logits, self.score, temperature=self.temperature).numpy()

    def _check_inputs(self, texts: Sequence[str]) -> Sequence[str]:
        if isinstance(texts, str):
            raise TypeError(
                f"`texts` must be a list of strings, got a single str. Wrap it: [{texts[:40]!r}]."
            )
        texts = list(texts)
        if not texts:
            raise ValueError("`texts` is empty. Pass at least one text.")
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(
                    f"texts[{index}] must be a str, got {type(text).__name__}: {text!r:.60}. "
                    "Pass raw strings, one per input."
                )
        return texts

    def _encode(self, texts: Sequence[str]) -> list[dict[str, list[int]]]:
        """Normalise texts as the data layer did in training and tokenize them in one call, unpadded."""
        normalized = [normalize_text(text, self.lowercase) for text in texts]
        truncation = {"truncation": True, "max_length": self.max_length} if self.max_length else {}
        features = self.tokenizer(normalized, **truncation)  # {name: [ids per text]}
        encoded = [dict(zip(features.keys(), values)) for values in zip(*features.values())]

        for index, row in enumerate(encoded):
            if not row["input_ids"]:
                raise ValueError(
                    f"texts[{index}] ({texts[index]!r:.60}) has no tokens after normalisation, so the model "
                    "cannot score it. Drop empty texts before calling the detector."
                )
        return encoded

    def _input_length(self, features: dict[str, list[int]]) -> int:
        return len(features["input_ids"])

    # ---- Calibration ----

    def calibrate(self, texts: Sequence[str], tpr: float = 0.95, batch_size: int = 64) -> float:
        """Set the threshold so that a share `tpr` of in-distribution `texts` pass (score <= threshold).

        The threshold is the `ceil(tpr * n)`-th smallest anomaly score of the `n` texts (see
        `threshold_for_tpr`). Call `save_pretrained` to store it with the model.

        Args:
            texts: In-distribution texts not used for training, e.g. the validation split.
            tpr: Share of in-distribution inputs that should pass, in (0, 1).
            batch_size: Texts per forward pass.

        Returns:
            The new threshold.

        Raises:
            ValueError: If `tpr` is outside (0, 1) or `texts` is empty.
        """
        if isinstance(tpr, bool) or not isinstance(tpr, (int, float)) or not 0 < tpr < 1:
            raise ValueError(
                f"`tpr` must be a fraction strictly between 0 and 1, got {tpr!r}. Use e.g. 0.95 to let "
                "95% of in-distribution inputs pass."
            )
        scores = self.anomaly_scores(texts, batch_size)
        self.threshold = threshold_for_tpr(scores, tpr)
        self.tpr = float(tpr)
        self.num_calibration_texts = len(scores)

        passed = float(np.mean(scores <= self.threshold))
        logger.info(
            "Calibrated the %s threshold to %r on %d texts: %.2f%% pass (target %.2f%%).",
            self.score,
            self.threshold,
            len(scores),
            100 * passed,
            100 * tpr,
        )
        return self.threshold


__all__ = ["Detection", "OODDetector", "threshold_for_tpr"]
