"""OOD detection metrics on anomaly scores: AUROC, AUPR and FPR at a fixed TPR.

Inputs are anomaly scores for in-distribution examples and for OOD (test set) examples, where a
higher score means more anomalous. OOD examples are the positive class everywhere except
``aupr(..., positive="in")``. No function flips the sign of a score to guess a convention, so
negate confidence-style scores (for example the raw MSP) before calling. Every metric is returned
as a fraction in ``[0, 1]``, not a percentage. This module depends on numpy and scikit-learn only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = [
    "FPR_RULES",
    "aupr",
    "auroc",
    "fpr_at_tpr",
    "ood_metrics",
]

FPR_RULES = ("closest", "first")
"""Accepted values of ``rule`` in :func:`fpr_at_tpr`."""

AUPR_POSITIVE_CLASSES = ("ood", "in")
"""Accepted values of ``positive`` in :func:`aupr`."""


def _as_score_array(values: Any, name: str) -> np.ndarray:
    """Convert scores (array-like or torch tensor) to a validated 1-D finite float64 array."""
    if type(values).__module__.startswith("torch"):
        values = values.detach().cpu().double().numpy()

    array = np.asarray(values)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"{name} must contain numbers, got dtype {array.dtype}.")

    if array.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D with one anomaly score per example, got shape {array.shape}; "
            "flatten it or score each example separately."
        )

    if array.size == 0:
        raise ValueError(f"{name} is empty (size 0); each metric needs at least one score per class.")

    array = array.astype(np.float64)
    non_finite_count = int(np.count_nonzero(~np.isfinite(array)))
    if non_finite_count:
        raise ValueError(
            f"{name} contains {non_finite_count} non-finite values (NaN or inf) out of {array.size}; "
            "check the model outputs or drop those examples."
        )

    return array


def _labelled_scores(in_scores: Any, ood_scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate both score sets and return ``(labels, scores)`` with OOD labelled 1 and in-distribution 0."""
    in_array = _as_score_array(in_scores, "in_scores")
    ood_array = _as_score_array(ood_scores, "ood_scores")

    labels = np.concatenate(
        [np.zeros(in_array.size, dtype=np.int64), np.ones(ood_array.size, dtype=np.int64)]
    )
    scores = np.concatenate([in_array, ood_array])
    return labels, scores


def auroc(in_scores: Any, ood_scores: Any) -> float:
    """Compute the area under the ROC curve with OOD as the positive class.

    Uses :func:`sklearn.metrics.roc_auc_score`. It equals the probability that a random OOD example
    scores higher than a random in-distribution example, with ties counted as 1/2.

    Raises:
        ValueError: If either input is empty, not 1-D, or contains NaN or inf.
    """
    labels, scores = _labelled_scores(in_scores, ood_scores)

    return float(roc_auc_score(labels, scores))


def aupr(in_scores: Any, ood_scores: Any, positive: str = "ood") -> float:
    """Compute the area under the precision-recall curve as average precision.

    Uses :func:`sklearn.metrics.average_precision_score`. With ``positive="ood"`` (AUPR-Out) the
    OOD examples are the positives and higher scores rank first. With ``positive="in"`` (AUPR-In)
    the in-distribution examples are the positives, so the labels are flipped and the scores negated.

    Raises:
        ValueError: If ``positive`` is not ``"ood"`` or ``"in"``, or either input is empty, not 1-D,
            or contains NaN or inf.
    """
    if positive not in AUPR_POSITIVE_CLASSES:
        raise ValueError(f"positive must be 'ood' or 'in', got {positive!r}.")

    labels, scores = _labelled_scores(in_scores, ood_scores)

    if positive == "in":
        return float(average_precision_score(1 - labels, -scores))

    return float(average_precision_score(labels, scores))


def _validate_tpr(tpr: float) -> None:
    """Raise TypeError unless ``tpr`` is a number, and ValueError unless ``0 < tpr <= 1``."""
    if isinstance(tpr, bool) or not isinstance(tpr, (int, float, np.floating, np.integer)):
        raise TypeError(f"tpr must be a number in (0, 1], got {type(tpr).__name__}: {tpr!r}.")

    if not (0.0 < tpr <= 1.0):
        raise ValueError(f"tpr must be in (0, 1], got {tpr}; pass a fraction such as 0.95, not 95.")


def _roc_points(in_array: np.ndarray, ood_array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return TPR and FPR at every distinct score, taken as threshold from the highest down.

    An example counts as flagged at threshold ``t`` when its score is ``>= t``, so tied scores
    enter together.
    """
    thresholds = np.unique(np.concatenate([in_array, ood_array]))[::-1]

    sorted_in = np.sort(in_array)
    sorted_ood = np.sort(ood_array)
    in_flagged = in_array.size - np.searchsorted(sorted_in, thresholds, side="left")
    ood_flagged = ood_array.size - np.searchsorted(sorted_ood, thresholds, side="left")

    true_positive_rates = ood_flagged / ood_array.size
    false_positive_rates = in_flagged / in_array.size
    return true_positive_rates, false_positive_rates


def fpr_at_tpr(in_scores: Any, ood_scores: Any, tpr: float = 0.95, rule: str = "closest") -> float:
    """Compute the FPR (fraction of in-distribution scores flagged) at a target TPR of OOD examples.

    A threshold ``t`` flags every example with score ``>= t``. The candidate thresholds are the
    distinct scores of both sets, scanned from the highest down, so tied scores are flagged
    together. TPR is the fraction of OOD scores flagged and FPR the fraction of in-distribution
    scores flagged. The ``rule`` picks the threshold:

    * ``"first"``: the first (highest) threshold whose TPR is ``>= tpr``. This is the common
      definition of FPR@95TPR and gives the lowest FPR among the thresholds that reach the target.
    * ``"closest"``: the threshold whose TPR is closest to ``tpr``, ``|TPR - tpr|`` minimal in
      float64 arithmetic, which may fall below the target. Among equally close thresholds the
      lowest one is picked. Within a run of thresholds with the same TPR this is the one with the
      largest FPR. Thresholds below the highest one that reaches TPR = 1 are not considered. These
      tie rules match ``fpr_and_fdr_at_recall`` in the Outlier Exposure authors' evaluation code
      (github.com/hendrycks/outlier-exposure, ``utils/display_results.py``), so results are
      comparable with the FPR numbers published by Hendrycks, Mazeika and Dietterich (ICLR 2019).

    NOTE: "closest" compares distances in float64, so a target exactly halfway between two TPR
    levels is decided by rounding. With 10 OOD examples and ``tpr=0.95``, TPR 0.9 counts as closer
    than TPR 1.0. The authors' code behaves the same way.

    Args:
        in_scores: 1-D anomaly scores of in-distribution examples.
        ood_scores: 1-D anomaly scores of OOD examples.
        tpr: Target TPR in ``(0, 1]``, such as 0.95 for FPR@95TPR.
        rule: ``"closest"`` or ``"first"``, see above.

    Returns:
        The FPR as a fraction in ``[0, 1]``.

    Raises:
        TypeError: If ``tpr`` is not a number.
        ValueError: If ``tpr`` is outside ``(0, 1]``, ``rule`` is unknown, or either input is empty,
            not 1-D, or contains NaN or inf.
    """
    _validate_tpr(tpr)
    if rule not in FPR_RULES:
        raise ValueError(f"rule must be one of {FPR_RULES}, got {rule!r}.")

    in_array = _as_score_array(in_scores, "in_scores")
    ood_array = _as_score_array(ood_scores, "ood_scores")
    true_positive_rates, false_positive_rates = _roc_points(in_array, ood_array)

    if rule == "first":
        # The lowest threshold flags every example, so its TPR is 1 and some index always qualifies.
        index = int(np.argmax(true_positive_rates >= tpr))
        return float(false_positive_rates[index])

    last_candidate = int(np.argmax(true_positive_rates == 1.0))
    distances = np.abs(true_positive_rates[: last_candidate + 1] - tpr)

    # np.argmin returns the first minimum, so search the reversed candidates to get the lowest threshold.
    index = last_candidate - int(np.argmin(distances[::-1]))
    return float(false_positive_rates[index])


def _tpr_key(tpr: float) -> str:
    """Format a TPR as a percentage for metric keys: 0.95 -> "95", 0.995 -> "99.5"."""
    return f"{round(100 * float(tpr), 6):g}"


def ood_metrics(in_scores: Any, ood_scores: Any, tprs: Sequence[float] = (0.90, 0.95)) -> dict[str, float]:
    """Compute the standard OOD detection metrics for one in-distribution and one OOD score set.

    Keys, all values fractions in ``[0, 1]``:

    * ``"auroc"``: :func:`auroc`, OOD positive.
    * ``"aupr_out"``: :func:`aupr` with OOD (anomalies) as the positive class.
    * ``"aupr_in"``: :func:`aupr` with in-distribution as the positive class.
    * ``"fpr{P}"`` for each target TPR, with ``P`` the TPR in percent (``"fpr90"``, ``"fpr95"``):
      :func:`fpr_at_tpr` with ``rule="closest"``, the rule of the Outlier Exposure authors' code.
      Their NLP classification scripts report FPR at TPR 0.9 (``recall_level = 0.9`` in
      ``NLP_classification/eval_OOD_sst.py``), which is the ``"fpr90"`` key.
    * ``"fpr{P}_first"``: :func:`fpr_at_tpr` with ``rule="first"``, the first threshold whose TPR
      reaches the target.

    Raises:
        ValueError: If ``tprs`` is empty, contains a value outside ``(0, 1]`` or two values with the
            same key, or either score set is empty, not 1-D, or contains NaN or inf.
    """
    in_array = _as_score_array(in_scores, "in_scores")
    ood_array = _as_score_array(ood_scores, "ood_scores")

    if len(tprs) == 0:
        raise ValueError("tprs is empty; pass at least one target TPR such as (0.95,).")

    for tpr in tprs:
        _validate_tpr(tpr)

    keys = [_tpr_key(tpr) for tpr in tprs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"tprs {tuple(tprs)} contains duplicate values (keys {keys}); pass each TPR once.")

    metrics = {
        "auroc": auroc(in_array, ood_array),
        "aupr_out": aupr(in_array, ood_array, positive="ood"),
        "aupr_in": aupr(in_array, ood_array, positive="in"),
    }

    for tpr, key in zip(tprs, keys):
        metrics[f"fpr{key}"] = fpr_at_tpr(in_array, ood_array, tpr, rule="closest")
        metrics[f"fpr{key}_first"] = fpr_at_tpr(in_array, ood_array, tpr, rule="first")

    return metrics
