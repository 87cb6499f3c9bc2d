"""Tests for oe_nlp.scores against hand computations in float64."""

import math

import numpy as np
import pytest
import torch

from oe_nlp.scores import (
    SCORES,
    anomaly_scores,
    energy,
    entropy,
    get_score_fn,
    max_logit,
    msp,
    sequence_scores,
    uniform_cross_entropy,
)

LN2 = math.log(2.0)
LN3 = math.log(3.0)
LN4 = math.log(4.0)

# Row 0 is uniform over 2 classes. Row 1 has softmax [3/4, 1/4].
HAND_LOGITS = [[0.0, 0.0], [LN3, 0.0]]


def reference_scores(row: list[float], name: str, temperature: float = 1.0) -> float:
    """Score one row of logits in float64 with plain Python math."""
    maximum = max(row)
    lse = maximum + math.log(sum(math.exp(value - maximum) for value in row))
    probabilities = [math.exp(value - lse) for value in row]

    if name == "msp":
        return -max(probabilities)
    if name == "max_logit":
        return -maximum
    if name == "energy":
        scaled = [value / temperature for value in row]
        scaled_max = max(scaled)
        return -temperature * (scaled_max + math.log(sum(math.exp(v - scaled_max) for v in scaled)))
    if name == "uniform_cross_entropy":
        return sum(row) / len(row) - lse
    if name == "entropy":
        return -sum(p * math.log(p) for p in probabilities if p > 0)
    raise AssertionError(name)


# Hand-picked values


def test_msp_hand_values():
    result = msp(torch.tensor(HAND_LOGITS))

    assert result.tolist() == pytest.approx([-0.5, -0.75], rel=1e-6)


def test_max_logit_hand_values():
    result = max_logit(torch.tensor(HAND_LOGITS))

    assert result.tolist() == pytest.approx([0.0, -LN3], rel=1e-6)


def test_energy_hand_values():
    logits = torch.tensor(HAND_LOGITS)

    # logsumexp([ln 3, 0]) = ln 4. With T = 2, logsumexp([ln 3 / 2, 0]) = ln(sqrt(3) + 1).
    assert energy(logits).tolist() == pytest.approx([-LN2, -LN4], rel=1e-6)
    assert energy(logits, 2.0).tolist() == pytest.approx(
        [-2.0 * LN2, -2.0 * math.log(math.sqrt(3.0) + 1.0)], rel=1e-6
    )


def test_uniform_cross_entropy_hand_values():
    # -(logsumexp(z) - mean(z)): row 0 gives -ln 2, row 1 gives -(ln 4 - ln(3) / 2).
    result = uniform_cross_entropy(torch.tensor(HAND_LOGITS))

    assert result.tolist() == pytest.approx([-LN2, -(LN4 - LN3 / 2)], rel=1e-6)


def test_entropy_hand_values():
    result = entropy(torch.tensor(HAND_LOGITS))

    expected_peaked = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert result.tolist() == pytest.approx([LN2, expected_peaked], rel=1e-6)


@pytest.mark.parametrize("name", sorted(SCORES))
def test_scores_match_reference_random(name):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 5, generator=generator, dtype=torch.float64) * 4.0

    result = anomaly_scores(logits, name)

    expected = [reference_scores(row, name) for row in logits.tolist()]
    assert result.dtype == torch.float64
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12, atol=1e-12)


# Sign convention: a uniform softmax must score as more anomalous than a peaked one.


@pytest.mark.parametrize("name", sorted(SCORES))
def test_uniform_scores_higher_than_peaked(name):
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [8.0, 0.0, 0.0, 0.0]])

    uniform_score, peaked_score = anomaly_scores(logits, name).tolist()

    assert uniform_score > peaked_score


def test_uniform_ce_upper_bound():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(100, 6, generator=generator) * 3.0

    result = uniform_cross_entropy(logits)

    assert result.max().item() <= -math.log(6) + 1e-6
    assert uniform_cross_entropy(torch.zeros(1, 6)).item() == pytest.approx(-math.log(6), rel=1e-6)


# Numerical edge cases


def test_msp_large_logits_stable():
    result = msp(torch.tensor([[1000.0, 0.0], [-1000.0, -1000.0]]))

    assert result.tolist() == pytest.approx([-1.0, -0.5], rel=1e-6)


def test_uniform_ce_large_offset_precise():
    # A float32 logsumexp near -1000 has a spacing of about 6e-5, so mean(z) - logsumexp(z)
    # computed directly would be off by that much.
    # The reference uses the float32-rounded logits, widened to float64.
    logits = torch.tensor([[-1000.0, -1000.0], [1000.0 + LN3, 1000.0]])

    result = uniform_cross_entropy(logits)

    expected = [reference_scores(row, "uniform_cross_entropy") for row in logits.double().tolist()]
    assert result.tolist() == pytest.approx(expected, rel=1e-6)
    assert result[0].item() == pytest.approx(-LN2, rel=1e-6)


def test_entropy_ignores_negative_infinity():
    result = entropy(torch.tensor([[0.0, 0.0, -math.inf]]))

    assert result.item() == pytest.approx(LN2, rel=1e-6)


# Dtypes and input types


def test_numpy_float32_input():
    logits = np.array(HAND_LOGITS, dtype=np.float32)

    result = msp(logits)

    assert isinstance(result, torch.Tensor)
    assert result.dtype == torch.float32
    assert result.tolist() == pytest.approx([-0.5, -0.75], rel=1e-6)


def test_numpy_float64_input_stays_float64():
    result = uniform_cross_entropy(np.array(HAND_LOGITS, dtype=np.float64))

    assert result.dtype == torch.float64
    assert result.tolist() == pytest.approx([-LN2, -(LN4 - LN3 / 2)], rel=1e-14)


def test_numpy_float16_input_returns_float32():
    result = entropy(np.array(HAND_LOGITS, dtype=np.float16))

    assert result.dtype == torch.float32


def test_bfloat16_tensor_returns_float32_value():
    logits = torch.tensor([[2.5, -1.0, 0.75]], dtype=torch.bfloat16)

    result = energy(logits)

    assert result.dtype == torch.float32
    assert result.item() == pytest.approx(reference_scores([2.5, -1.0, 0.75], "energy"), rel=1e-6)


def test_scores_keep_leading_dims():
    logits = torch.zeros(2, 3, 4)

    result = entropy(logits)

    assert result.shape == (2, 3)
    np.testing.assert_allclose(result.numpy(), np.full((2, 3), LN4), rtol=1e-6)


def test_empty_batch_returns_empty_scores():
    assert msp(torch.zeros(0, 3)).shape == (0,)


def test_integer_logits_raise_type_error():
    with pytest.raises(TypeError, match="torch.int64"):
        msp(torch.tensor([[1, 2]]))


def test_integer_numpy_logits_raise_type_error():
    with pytest.raises(TypeError, match="numpy int"):
        msp(np.array([[1, 2]]))


def test_list_logits_raise_type_error():
    with pytest.raises(TypeError, match="list"):
        msp([[1.0, 2.0]])


def test_single_class_raises():
    with pytest.raises(ValueError, match="at least 2 classes"):
        entropy(torch.zeros(3, 1))


def test_one_dim_logits_raise():
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        max_logit(torch.zeros(3))


# Registry and dispatch


def test_scores_registry_names():
    assert SCORES == {
        "msp": msp,
        "max_logit": max_logit,
        "energy": energy,
        "uniform_cross_entropy": uniform_cross_entropy,
        "entropy": entropy,
    }


def test_get_score_fn_unknown_lists_choices():
    with pytest.raises(ValueError, match=r"Unknown anomaly score 'odin'.*'msp'.*'entropy'"):
        get_score_fn("odin")


def test_anomaly_scores_energy_temperature():
    logits = torch.tensor(HAND_LOGITS)

    result = anomaly_scores(logits, "energy", temperature=2.0)

    assert result.tolist() == pytest.approx([reference_scores(row, "energy", 2.0) for row in HAND_LOGITS])


def test_anomaly_scores_temperature_rejected_for_msp():
    with pytest.raises(ValueError, match="applies only to the 'energy' score"):
        anomaly_scores(torch.zeros(2, 3), "msp", temperature=2.0)


@pytest.mark.parametrize("temperature", [0.0, -2.0, math.nan])
def test_energy_invalid_temperature_raises(temperature):
    with pytest.raises(ValueError, match="temperature"):
        energy(torch.zeros(2, 3), temperature)


# sequence_scores


def reference_sequence_scores(
    token_logits: np.ndarray, mask: np.ndarray, name: str, reduction: str
) -> list[float]:
    """Pool float64 per-token reference scores over the kept tokens of each sequence."""
    pooled = []
    for sequence, sequence_mask in zip(token_logits.tolist(), mask.tolist()):
        kept_scores = [reference_scores(row, name) for row, keep in zip(sequence, sequence_mask) if keep]
        if reduction == "mean":
            pooled.append(sum(kept_scores) / len(kept_scores))
        else:
            pooled.append(max(kept_scores))
    return pooled


@pytest.mark.parametrize("reduction", ["mean", "max"])
@pytest.mark.parametrize("name", ["msp", "energy", "entropy"])
def test_sequence_scores_match_reference(name, reduction):
    generator = torch.Generator().manual_seed(2)
    token_logits = torch.randn(3, 4, 6, generator=generator, dtype=torch.float64) * 3.0
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 1, 0]], dtype=bool)

    result = sequence_scores(token_logits, mask, name, reduction=reduction)

    expected = reference_sequence_scores(token_logits.numpy(), mask, name, reduction)
    assert result.shape == (3,)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12)


def test_sequence_scores_hand_values():
    # Sequence 0 keeps a uniform token (MSP 1/2) and a [3/4, 1/4] token: mean -0.625, max -0.5.
    token_logits = torch.tensor([[[0.0, 0.0], [LN3, 0.0], [50.0, 0.0]]])
    mask = torch.tensor([[1, 1, 0]])

    assert sequence_scores(token_logits, mask, "msp").item() == pytest.approx(-0.625, rel=1e-6)
    assert sequence_scores(token_logits, mask, "msp", reduction="max").item() == pytest.approx(-0.5, rel=1e-6)


def test_sequence_scores_masked_nan_ignored():
    token_logits = torch.tensor([[[0.0, 0.0], [math.nan, math.nan]]])
    mask = torch.tensor([[True, False]])

    mean_score = sequence_scores(token_logits, mask, "entropy")
    max_score = sequence_scores(token_logits, mask, "entropy", reduction="max")

    assert mean_score.item() == pytest.approx(LN2, rel=1e-6)
    assert max_score.item() == pytest.approx(LN2, rel=1e-6)


def test_sequence_scores_bfloat16_returns_float32():
    token_logits = torch.zeros(2, 3, 5, dtype=torch.bfloat16)

    result = sequence_scores(token_logits, torch.ones(2, 3), "uniform_cross_entropy")

    assert result.dtype == torch.float32
    np.testing.assert_allclose(result.numpy(), [-math.log(5)] * 2, rtol=1e-6)


def test_sequence_scores_energy_temperature():
    token_logits = torch.tensor([[[LN3, 0.0], [0.0, 0.0]]])

    result = sequence_scores(token_logits, torch.ones(1, 2), "energy", temperature=2.0)

    expected = (reference_scores([LN3, 0.0], "energy", 2.0) + reference_scores([0.0, 0.0], "energy", 2.0)) / 2
    assert result.item() == pytest.approx(expected, rel=1e-6)


def test_sequence_scores_empty_sequence_names_row():
    with pytest.raises(ValueError, match=r"no token in sequences \[1\] \(of 3\)"):
        sequence_scores(torch.zeros(3, 2, 4), torch.tensor([[1, 0], [0, 0], [1, 1]]), "msp")


def test_sequence_scores_mask_shape_mismatch():
    with pytest.raises(ValueError, match=r"mask shape \(2, 3\).*\(2, 4\)"):
        sequence_scores(torch.zeros(2, 4, 5), torch.ones(2, 3), "msp")


def test_sequence_scores_non_binary_mask_raises():
    with pytest.raises(ValueError, match="only 0 and 1"):
        sequence_scores(torch.zeros(1, 2, 3), torch.tensor([[1, 3]]), "msp")


def test_sequence_scores_two_dim_logits_raise():
    with pytest.raises(ValueError, match=r"\(B, L, V\)"):
        sequence_scores(torch.zeros(2, 5), torch.ones(2), "msp")


def test_sequence_scores_unknown_reduction_raises():
    with pytest.raises(ValueError, match="Unknown reduction 'sum'"):
        sequence_scores(torch.zeros(1, 2, 3), torch.ones(1, 2), "msp", reduction="sum")
