"""Tests for oe_nlp.metrics against scikit-learn, pairwise counts and hand-worked cases."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from oe_nlp.metrics import aupr, auroc, fpr_at_tpr, ood_metrics

SEEDS = range(6)


def tied_scores(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw in-distribution and OOD scores on a coarse grid, so many scores tie within and across sets."""
    rng = np.random.default_rng(seed)
    in_scores = rng.integers(0, 20, size=40 + seed) / 4.0
    ood_scores = rng.integers(6, 26, size=25 + 2 * seed) / 4.0
    return in_scores, ood_scores


def pairwise_auroc(in_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    """P(OOD score > in-distribution score) + P(tie) / 2, over all pairs."""
    wins = 0.0
    for ood in ood_scores:
        for value in in_scores:
            if ood > value:
                wins += 1.0
            elif ood == value:
                wins += 0.5
    return wins / (len(in_scores) * len(ood_scores))


def step_average_precision(positive_scores: np.ndarray, negative_scores: np.ndarray) -> float:
    """Sum of (recall step) * precision over distinct thresholds, higher score ranked first."""
    thresholds = sorted(set(positive_scores.tolist()) | set(negative_scores.tolist()), reverse=True)
    total = 0.0
    previous_recall = 0.0
    for threshold in thresholds:
        true_positives = int((positive_scores >= threshold).sum())
        false_positives = int((negative_scores >= threshold).sum())
        recall = true_positives / len(positive_scores)
        if true_positives:
            total += (recall - previous_recall) * true_positives / (true_positives + false_positives)
        previous_recall = recall
    return total


def brute_force_fpr(in_scores: np.ndarray, ood_scores: np.ndarray, tpr: float, rule: str) -> float:
    """Apply the threshold rules literally with Python loops over the distinct scores."""
    thresholds = sorted(set(in_scores.tolist()) | set(ood_scores.tolist()), reverse=True)
    points = []
    for threshold in thresholds:
        points.append(
            (
                sum(s >= threshold for s in ood_scores) / len(ood_scores),
                sum(s >= threshold for s in in_scores) / len(in_scores),
            )
        )

    if rule == "first":
        return next(fpr for point_tpr, fpr in points if point_tpr >= tpr)

    # "closest": stop at the first threshold with TPR 1. On equal distance keep the later (lower) one.
    best_distance, best_fpr = math.inf, None
    for point_tpr, fpr in points:
        distance = abs(point_tpr - tpr)
        if distance <= best_distance:
            best_distance, best_fpr = distance, fpr
        if point_tpr == 1.0:
            break
    return best_fpr


# AUROC


@pytest.mark.parametrize("seed", SEEDS)
def test_auroc_matches_sklearn_and_pairwise(seed):
    in_scores, ood_scores = tied_scores(seed)
    labels = np.r_[np.zeros(in_scores.size), np.ones(ood_scores.size)]

    result = auroc(in_scores, ood_scores)

    assert result == pytest.approx(roc_auc_score(labels, np.r_[in_scores, ood_scores]), abs=1e-12)
    assert result == pytest.approx(pairwise_auroc(in_scores, ood_scores), abs=1e-12)


def test_auroc_hand_case():
    # Pairs (ood, in): 0.9 beats all 4, 0.8 beats 3, 0.4 beats 2, so AUROC = 9 / 12.
    assert auroc([0.85, 0.6, 0.3, 0.2], [0.9, 0.8, 0.4]) == pytest.approx(9 / 12, abs=1e-15)


def test_auroc_all_tied_is_half():
    assert auroc([1.0, 1.0], [1.0, 1.0, 1.0]) == 0.5


def test_auroc_reversed_scores_is_zero():
    assert auroc([5.0, 6.0], [1.0, 2.0]) == 0.0


# AUPR


@pytest.mark.parametrize("seed", SEEDS)
def test_aupr_out_matches_sklearn_and_steps(seed):
    in_scores, ood_scores = tied_scores(seed)
    labels = np.r_[np.zeros(in_scores.size), np.ones(ood_scores.size)]

    result = aupr(in_scores, ood_scores, positive="ood")

    assert result == pytest.approx(average_precision_score(labels, np.r_[in_scores, ood_scores]), abs=1e-12)
    assert result == pytest.approx(step_average_precision(ood_scores, in_scores), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_aupr_in_matches_sklearn_and_steps(seed):
    in_scores, ood_scores = tied_scores(seed)
    in_labels = np.r_[np.ones(in_scores.size), np.zeros(ood_scores.size)]

    result = aupr(in_scores, ood_scores, positive="in")

    sklearn_value = average_precision_score(in_labels, -np.r_[in_scores, ood_scores])
    assert result == pytest.approx(sklearn_value, abs=1e-12)
    assert result == pytest.approx(step_average_precision(-in_scores, -ood_scores), abs=1e-12)


def test_aupr_hand_case():
    # OOD positive, ranking 0.9(+) 0.85(-) 0.8(+) 0.6(-) 0.4(+) ...: AP = (1 + 2/3 + 3/5) / 3.
    result = aupr([0.85, 0.6, 0.3, 0.2], [0.9, 0.8, 0.4])

    assert result == pytest.approx((1 + 2 / 3 + 3 / 5) / 3, abs=1e-15)


def test_aupr_in_hand_case():
    # In-distribution positive, lower score first: 0.2(+) 0.3(+) 0.4(-) 0.6(+) 0.8(-) 0.85(+):
    # AP = (1 + 1 + 3/4 + 4/6) / 4.
    result = aupr([0.85, 0.6, 0.3, 0.2], [0.9, 0.8, 0.4], positive="in")

    assert result == pytest.approx((1 + 1 + 3 / 4 + 4 / 6) / 4, abs=1e-15)


# FPR at TPR, hand-worked cases

# Case A, thresholds from the highest down as (threshold, TPR, FPR):
# 0.9 (1/3, 0), 0.85 (1/3, 1/4), 0.8 (2/3, 1/4), 0.6 (2/3, 2/4), 0.4 (1, 2/4), 0.3 (1, 3/4), 0.2 (1, 1).
CASE_A_IN = [0.85, 0.6, 0.3, 0.2]
CASE_A_OOD = [0.9, 0.8, 0.4]


def test_fpr_rules_differ_within_tpr_run():
    # Target 0.6: TPR 2/3 is closest, reached at thresholds 0.8 and 0.6. "first" takes 0.8
    # (FPR 1/4), "closest" takes the lowest threshold of the run, 0.6 (FPR 2/4).
    assert fpr_at_tpr(CASE_A_IN, CASE_A_OOD, tpr=0.6, rule="first") == 0.25
    assert fpr_at_tpr(CASE_A_IN, CASE_A_OOD, tpr=0.6, rule="closest") == 0.5


def test_fpr_closest_stops_at_first_full_tpr():
    # Target 0.95: TPR 1 is closest. Thresholds 0.4, 0.3 and 0.2 all have TPR 1, but only 0.4,
    # the first to reach it, is a candidate, so the FPR is 2/4 and not 1.
    assert fpr_at_tpr(CASE_A_IN, CASE_A_OOD, tpr=0.95, rule="closest") == 0.5
    assert fpr_at_tpr(CASE_A_IN, CASE_A_OOD, tpr=0.95, rule="first") == 0.5


def test_fpr_target_one_third():
    # Target 0.3: "first" stops at 0.9 (TPR 1/3, FPR 0), and "closest" takes 0.85 (TPR 1/3, FPR 1/4).
    assert fpr_at_tpr(CASE_A_IN, CASE_A_OOD, tpr=0.3, rule="first") == 0.0
    assert fpr_at_tpr(CASE_A_IN, CASE_A_OOD, tpr=0.3, rule="closest") == 0.25


def test_fpr_target_one():
    assert fpr_at_tpr(CASE_A_IN, CASE_A_OOD, tpr=1.0, rule="first") == 0.5
    assert fpr_at_tpr(CASE_A_IN, CASE_A_OOD, tpr=1.0, rule="closest") == 0.5


# Case B has ties across the sets. Thresholds as (threshold, TPR, FPR):
# 3 (1/4, 0), 2 (3/4, 1/4), 1 (1, 3/4), 0 (1, 1).
CASE_B_IN = [2.0, 1.0, 1.0, 0.0]
CASE_B_OOD = [3.0, 2.0, 2.0, 1.0]


def test_fpr_ties_flag_together():
    # At threshold 1 both in-distribution scores equal to 1 are flagged with the OOD score 1.
    assert fpr_at_tpr(CASE_B_IN, CASE_B_OOD, tpr=0.95, rule="first") == 0.75
    assert fpr_at_tpr(CASE_B_IN, CASE_B_OOD, tpr=0.95, rule="closest") == 0.75


def test_fpr_closest_below_target():
    # Target 0.8: TPR 3/4 (distance 0.05) beats TPR 1 (distance 0.2), so "closest" falls below
    # the target with FPR 1/4, while "first" needs threshold 1 and FPR 3/4.
    assert fpr_at_tpr(CASE_B_IN, CASE_B_OOD, tpr=0.8, rule="closest") == 0.25
    assert fpr_at_tpr(CASE_B_IN, CASE_B_OOD, tpr=0.8, rule="first") == 0.75


def test_fpr_closest_tie_lower_threshold():
    # Target 0.5: TPR 1/4 (threshold 3) and TPR 3/4 (threshold 2) are both 0.25 away.
    # The lower threshold 2 wins, so the FPR is 1/4 and not 0.
    assert fpr_at_tpr(CASE_B_IN, CASE_B_OOD, tpr=0.5, rule="closest") == 0.25


def test_fpr_closest_halfway_float_rounding():
    # With 10 OOD scores the TPR levels are multiples of 0.1. In float64, |0.9 - 0.95| is
    # slightly smaller than |1.0 - 0.95|, so "closest" stops at TPR 0.9 (FPR 0). The tenth OOD
    # score ties with an in-distribution score, so TPR 1.0 comes with FPR 1/2.
    in_scores = [0.45, 0.2]
    ood_scores = [1.0, 0.9, 0.8, 0.7, 0.65, 0.64, 0.63, 0.62, 0.61, 0.45]

    assert fpr_at_tpr(in_scores, ood_scores, tpr=0.95, rule="closest") == 0.0
    assert fpr_at_tpr(in_scores, ood_scores, tpr=0.95, rule="first") == 0.5


def test_perfect_separation():
    in_scores = [0.0, 1.0, 2.0]
    ood_scores = [3.0, 4.0]

    assert auroc(in_scores, ood_scores) == 1.0
    assert aupr(in_scores, ood_scores) == 1.0
    assert aupr(in_scores, ood_scores, positive="in") == 1.0
    for tpr in (0.5, 0.9, 0.95, 1.0):
        assert fpr_at_tpr(in_scores, ood_scores, tpr, rule="closest") == 0.0
        assert fpr_at_tpr(in_scores, ood_scores, tpr, rule="first") == 0.0


def test_fpr_all_tied_is_one():
    assert fpr_at_tpr([1.0, 1.0], [1.0, 1.0, 1.0], rule="closest") == 1.0
    assert fpr_at_tpr([1.0, 1.0], [1.0, 1.0, 1.0], rule="first") == 1.0


# FPR at TPR, random cases with ties


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tpr", [0.3, 0.5, 0.9, 0.95, 1.0])
def test_fpr_matches_brute_force(seed, tpr):
    in_scores, ood_scores = tied_scores(seed)

    for rule in ("closest", "first"):
        expected = brute_force_fpr(in_scores, ood_scores, tpr, rule)
        assert fpr_at_tpr(in_scores, ood_scores, tpr, rule=rule) == expected, rule


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tpr", [0.5, 0.9, 0.95])
def test_fpr_first_matches_sklearn_roc_curve(seed, tpr):
    in_scores, ood_scores = tied_scores(seed)
    labels = np.r_[np.zeros(in_scores.size), np.ones(ood_scores.size)]

    curve_fpr, curve_tpr, _ = roc_curve(labels, np.r_[in_scores, ood_scores], drop_intermediate=False)

    expected = curve_fpr[np.argmax(curve_tpr >= tpr)]
    assert fpr_at_tpr(in_scores, ood_scores, tpr, rule="first") == pytest.approx(expected, abs=1e-15)


# ood_metrics


def test_ood_metrics_keys_and_values():
    result = ood_metrics(CASE_A_IN, CASE_A_OOD)

    assert set(result) == {"auroc", "aupr_out", "aupr_in", "fpr90", "fpr95", "fpr90_first", "fpr95_first"}
    assert result["auroc"] == pytest.approx(9 / 12, abs=1e-15)
    assert result["aupr_out"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3, abs=1e-15)
    assert result["aupr_in"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 6) / 4, abs=1e-15)
    assert result["fpr95"] == 0.5
    assert result["fpr95_first"] == 0.5
    assert all(isinstance(value, float) for value in result.values())


def test_ood_metrics_custom_tprs_keys():
    result = ood_metrics(CASE_A_IN, CASE_A_OOD, tprs=(0.6, 0.995))

    assert set(result) == {"auroc", "aupr_out", "aupr_in", "fpr60", "fpr60_first", "fpr99.5", "fpr99.5_first"}
    assert result["fpr60"] == 0.5
    assert result["fpr60_first"] == 0.25


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_ood_metrics_match_single_metrics(seed):
    in_scores, ood_scores = tied_scores(seed)

    result = ood_metrics(in_scores, ood_scores)

    assert result["auroc"] == auroc(in_scores, ood_scores)
    assert result["aupr_in"] == aupr(in_scores, ood_scores, positive="in")
    assert result["fpr90"] == fpr_at_tpr(in_scores, ood_scores, 0.9, rule="closest")
    assert result["fpr90_first"] == fpr_at_tpr(in_scores, ood_scores, 0.9, rule="first")


# Input types and errors


def test_torch_tensor_inputs_accepted():
    in_scores = torch.tensor(CASE_A_IN, dtype=torch.float32, requires_grad=True)
    ood_scores = torch.tensor(CASE_A_OOD, dtype=torch.bfloat16)

    assert auroc(in_scores, ood_scores) == pytest.approx(9 / 12, abs=1e-15)


def test_empty_in_scores_named():
    with pytest.raises(ValueError, match=r"in_scores is empty \(size 0\)"):
        auroc([], [1.0])


def test_empty_ood_scores_named():
    with pytest.raises(ValueError, match=r"ood_scores is empty \(size 0\)"):
        fpr_at_tpr([1.0], np.array([]))


def test_non_finite_scores_counted():
    with pytest.raises(ValueError, match=r"ood_scores contains 2 non-finite values \(NaN or inf\) out of 3"):
        ood_metrics([0.0, 1.0], [0.5, math.nan, -math.inf])


def test_two_dim_scores_raise():
    with pytest.raises(ValueError, match=r"in_scores must be 1-D.*\(2, 2\)"):
        aupr(np.zeros((2, 2)), [1.0])


def test_string_scores_raise_type_error():
    with pytest.raises(TypeError, match="in_scores must contain numbers"):
        auroc(["a", "b"], [1.0])


@pytest.mark.parametrize("tpr", [0.0, -0.1, 1.5, 95, math.nan])
def test_invalid_tpr_raises(tpr):
    with pytest.raises(ValueError, match=r"tpr must be in \(0, 1\]"):
        fpr_at_tpr([0.0], [1.0], tpr=tpr)


def test_non_numeric_tpr_raises_type_error():
    with pytest.raises(TypeError, match="tpr must be a number"):
        fpr_at_tpr([0.0], [1.0], tpr="0.95")


def test_unknown_rule_raises():
    with pytest.raises(ValueError, match="rule must be one of.*'last'"):
        fpr_at_tpr([0.0], [1.0], rule="last")


def test_unknown_positive_class_raises():
    with pytest.raises(ValueError, match="positive must be 'ood' or 'in', got 'both'"):
        aupr([0.0], [1.0], positive="both")


def test_ood_metrics_duplicate_tprs_raise():
    with pytest.raises(ValueError, match="duplicate"):
        ood_metrics([0.0], [1.0], tprs=(0.95, 0.95))


def test_ood_metrics_empty_tprs_raise():
    with pytest.raises(ValueError, match="tprs is empty"):
        ood_metrics([0.0], [1.0], tprs=())


def test_ood_metrics_invalid_tpr_raises():
    with pytest.raises(ValueError, match=r"tpr must be in \(0, 1\], got 90"):
        ood_metrics([0.0], [1.0], tprs=(90,))
