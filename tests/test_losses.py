"""Tests for oe_nlp.losses against float64 numpy and hand computations."""

import math

import numpy as np
import pytest
import torch

from oe_nlp.losses import (
    OE_LOSSES,
    energy,
    energy_margin_loss,
    get_oe_loss,
    outlier_exposure_loss,
    validate_oe_loss_name,
)


def logsumexp64(values: np.ndarray) -> np.ndarray:
    """Float64 log-sum-exp over the last axis."""
    values = np.asarray(values, dtype=np.float64)
    maximum = values.max(axis=-1, keepdims=True)
    return (maximum + np.log(np.exp(values - maximum).sum(axis=-1, keepdims=True)))[..., 0]


def uniform_ce64(values: np.ndarray) -> np.ndarray:
    """Float64 cross-entropy from softmax to uniform, -(1/C) sum_k log p_k, per row."""
    values = np.asarray(values, dtype=np.float64)
    log_probabilities = values - logsumexp64(values)[..., None]
    return -log_probabilities.mean(axis=-1)


# outlier_exposure_loss


def test_oe_loss_matches_float64_reference():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 5, generator=generator) * 3.0

    loss = outlier_exposure_loss(logits)

    expected = uniform_ce64(logits.numpy()).mean()
    assert loss.dtype == torch.float32
    assert loss.shape == ()
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_oe_loss_hand_computed_two_classes():
    # softmax([ln 3, 0]) = [3/4, 1/4], so H(U, p) = -(ln 3/4 + ln 1/4) / 2 = ln 4 - ln(3) / 2.
    logits = torch.tensor([[math.log(3.0), 0.0]])

    loss = outlier_exposure_loss(logits)

    assert loss.item() == pytest.approx(math.log(4.0) - math.log(3.0) / 2, rel=1e-6)


@pytest.mark.parametrize("num_classes", [2, 10, 1000])
def test_oe_loss_uniform_logits_log_c(num_classes):
    # Each row is constant, so logsumexp(z) - mean(z) = (c + ln C) - c = ln C.
    offsets = torch.tensor([[-3.0], [0.0], [12.5]])
    logits = offsets.expand(3, num_classes).contiguous()

    loss = outlier_exposure_loss(logits)

    assert loss.item() == pytest.approx(math.log(num_classes), abs=1e-5)


def test_oe_loss_large_offset_precise():
    # Near 5000 the float32 spacing is about 5e-4, so logsumexp(z) - mean(z) computed directly
    # would miss the tolerance below. The reference uses the float32-rounded logits.
    logits = torch.tensor([[5000.0 + math.log(3.0), 5000.0], [-5000.0, -5000.0]])

    loss = outlier_exposure_loss(logits)

    assert loss.item() == pytest.approx(uniform_ce64(logits.numpy()).mean(), rel=1e-6)


def test_oe_loss_is_at_least_log_classes():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(50, 4, generator=generator) * 5.0

    per_row = [outlier_exposure_loss(row[None]).item() for row in logits]

    assert min(per_row) >= math.log(4) - 1e-6


def test_oe_loss_masked_tokens():
    generator = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 3, 6, generator=generator) * 2.0
    mask = torch.tensor([[True, True, False], [True, False, False]])

    loss = outlier_exposure_loss(logits, mask)

    per_token = uniform_ce64(logits.numpy())
    expected = (per_token[0, 0] + per_token[0, 1] + per_token[1, 0]) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_oe_loss_masked_ignores_nan_padding():
    logits = torch.tensor([[[math.log(3.0), 0.0], [float("nan"), float("nan")]]])
    mask = torch.tensor([[1, 0]])

    loss = outlier_exposure_loss(logits, mask)

    assert loss.item() == pytest.approx(math.log(4.0) - math.log(3.0) / 2, rel=1e-6)


@pytest.mark.parametrize("mask_dtype", [torch.int64, torch.float32, torch.uint8])
def test_oe_loss_numeric_mask_equals_bool_mask(mask_dtype):
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 4, 5, generator=generator)
    bool_mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0]], dtype=torch.bool)

    numeric_loss = outlier_exposure_loss(logits, bool_mask.to(mask_dtype))

    assert numeric_loss.item() == outlier_exposure_loss(logits, bool_mask).item()


def test_oe_loss_full_mask_equals_unmasked():
    generator = torch.Generator().manual_seed(4)
    logits = torch.randn(4, 3, generator=generator)

    masked_loss = outlier_exposure_loss(logits, torch.ones(4, dtype=torch.bool))

    assert masked_loss.item() == pytest.approx(outlier_exposure_loss(logits).item(), rel=1e-7)


@pytest.mark.parametrize("low_precision", [torch.bfloat16, torch.float16])
def test_oe_loss_low_precision_returns_float32(low_precision):
    generator = torch.Generator().manual_seed(5)
    logits = (torch.randn(16, 8, generator=generator) * 4.0).to(low_precision)

    loss = outlier_exposure_loss(logits)

    # The reference uses the low-precision values exactly, widened to float64.
    expected = uniform_ce64(logits.to(torch.float64).numpy()).mean()
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_oe_loss_gradient_values():
    # d/dz [logsumexp(z) - mean(z)] = softmax(z) - 1/C, and the batch mean divides by N.
    generator = torch.Generator().manual_seed(6)
    logits = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    logits.requires_grad_(True)

    outlier_exposure_loss(logits).backward()

    values = logits.detach().numpy()
    softmax = np.exp(values - logsumexp64(values)[:, None])
    expected = (softmax - 1.0 / 4) / 3
    np.testing.assert_allclose(logits.grad.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_oe_loss_integer_logits_raise_type_error():
    with pytest.raises(TypeError, match="torch.int64"):
        outlier_exposure_loss(torch.tensor([[1, 2], [3, 4]]))


def test_oe_loss_non_tensor_raises_type_error():
    with pytest.raises(TypeError, match="list"):
        outlier_exposure_loss([[1.0, 2.0]])


def test_oe_loss_single_class_raises():
    with pytest.raises(ValueError, match="at least 2 classes"):
        outlier_exposure_loss(torch.zeros(4, 1))


def test_oe_loss_one_dim_logits_raise():
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        outlier_exposure_loss(torch.zeros(5))


def test_oe_loss_empty_batch_raises():
    with pytest.raises(ValueError, match="no examples"):
        outlier_exposure_loss(torch.zeros(0, 3))


def test_oe_loss_mask_shape_mismatch_names_both():
    logits = torch.zeros(2, 3, 4)

    with pytest.raises(ValueError, match=r"mask shape \(2, 4\).*\(2, 3\)"):
        outlier_exposure_loss(logits, torch.ones(2, 4))


def test_oe_loss_all_masked_raises():
    with pytest.raises(ValueError, match="removes every position"):
        outlier_exposure_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3))


def test_oe_loss_non_binary_mask_raises():
    with pytest.raises(ValueError, match=r"only 0 and 1.*\[2\]"):
        outlier_exposure_loss(torch.zeros(2, 4), torch.tensor([1, 2]))


# energy


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.5])
def test_energy_matches_float64_reference(temperature):
    generator = torch.Generator().manual_seed(7)
    logits = torch.randn(6, 5, generator=generator) * 3.0

    result = energy(logits, temperature)

    expected = -temperature * logsumexp64(logits.numpy().astype(np.float64) / temperature)
    assert result.dtype == torch.float32
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6)


def test_energy_hand_computed():
    # E([a, a]) = -(a + ln 2). With T = 2, E([2, 0]) = -2 ln(e + 1).
    logits = torch.tensor([[3.0, 3.0], [2.0, 0.0]])

    at_one = energy(logits)
    at_two = energy(logits, temperature=2.0)

    assert at_one[0].item() == pytest.approx(-(3.0 + math.log(2.0)), rel=1e-6)
    assert at_two[1].item() == pytest.approx(-2.0 * math.log(math.e + 1.0), rel=1e-6)


def test_energy_bfloat16_returns_float32():
    logits = torch.tensor([[1.5, -0.25, 3.0]], dtype=torch.bfloat16)

    result = energy(logits)

    assert result.dtype == torch.float32
    assert result.item() == pytest.approx(-logsumexp64(np.array([1.5, -0.25, 3.0]))[()], rel=1e-6)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf")])
def test_energy_invalid_temperature_raises(temperature):
    with pytest.raises(ValueError, match="temperature"):
        energy(torch.zeros(2, 3), temperature)


# energy_margin_loss


def test_energy_margin_only_in_term_active():
    # In energies: -(10 + ln 2) is above m_in = -25, -(30 + ln 2) is below it.
    # Out energy -ln 2 is above m_out = -7, so the outlier term is 0.
    in_logits = torch.tensor([[10.0, 10.0], [30.0, 30.0]])
    out_logits = torch.tensor([[0.0, 0.0]])

    loss = energy_margin_loss(in_logits, out_logits, m_in=-25.0, m_out=-7.0)

    expected = (15.0 - math.log(2.0)) ** 2 / 2
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_energy_margin_only_out_term_active():
    # In energy -(40 + ln 2) is below m_in, so the in-distribution term is 0.
    # Out energies: -(5 + ln 2) is above m_out = -7, -(9 + ln 2) is below it by 2 + ln 2.
    in_logits = torch.tensor([[40.0, 40.0]])
    out_logits = torch.tensor([[5.0, 5.0], [9.0, 9.0]])

    loss = energy_margin_loss(in_logits, out_logits, m_in=-25.0, m_out=-7.0)

    expected = (2.0 + math.log(2.0)) ** 2 / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_energy_margin_both_terms_and_temperature():
    # T = 2: E([2a, 2a]) = -2 (a + ln 2). In: a = 5 -> E = -10 - 2 ln 2, above m_in = -20.
    # Out: a = 4 -> E = -8 - 2 ln 2, below m_out = -3.
    in_logits = torch.tensor([[10.0, 10.0]])
    out_logits = torch.tensor([[8.0, 8.0]])

    loss = energy_margin_loss(in_logits, out_logits, m_in=-20.0, m_out=-3.0, temperature=2.0)

    in_term = (10.0 - 2.0 * math.log(2.0)) ** 2
    out_term = (5.0 + 2.0 * math.log(2.0)) ** 2
    assert loss.item() == pytest.approx(in_term + out_term, rel=1e-6)


def test_energy_margin_matches_float64_reference():
    generator = torch.Generator().manual_seed(8)
    in_logits = (torch.randn(9, 4, generator=generator) * 8.0).to(torch.bfloat16)
    out_logits = (torch.randn(5, 4, generator=generator) * 8.0).to(torch.bfloat16)

    loss = energy_margin_loss(in_logits, out_logits, m_in=-6.0, m_out=-2.0)

    in_energy = -logsumexp64(in_logits.to(torch.float64).numpy())
    out_energy = -logsumexp64(out_logits.to(torch.float64).numpy())
    expected = (np.maximum(in_energy + 6.0, 0.0) ** 2).mean() + (
        np.maximum(-2.0 - out_energy, 0.0) ** 2
    ).mean()
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_energy_margin_inverted_margins_raise():
    with pytest.raises(ValueError, match="m_in=-5.0 is greater than m_out=-7.0"):
        energy_margin_loss(torch.zeros(1, 2), torch.zeros(1, 2), m_in=-5.0, m_out=-7.0)


def test_energy_margin_infinite_margin_raises():
    with pytest.raises(ValueError, match="finite"):
        energy_margin_loss(torch.zeros(1, 2), torch.zeros(1, 2), m_in=-math.inf)


def test_energy_margin_empty_out_batch_raises():
    with pytest.raises(ValueError, match="out_logits contain no examples"):
        energy_margin_loss(torch.zeros(2, 3), torch.zeros(0, 3))


def test_energy_margin_integer_logits_raise():
    with pytest.raises(TypeError, match="in_logits.*torch.int64"):
        energy_margin_loss(torch.zeros(2, 3, dtype=torch.int64), torch.zeros(2, 3))


# Loss registry


def test_oe_losses_registry_maps_names():
    assert OE_LOSSES == {"uniform_ce": outlier_exposure_loss, "energy": energy_margin_loss}
    assert get_oe_loss("uniform_ce") is outlier_exposure_loss
    assert get_oe_loss("energy") is energy_margin_loss


def test_validate_oe_loss_name_returns_name():
    assert validate_oe_loss_name("energy") == "energy"


def test_unknown_oe_loss_lists_choices():
    with pytest.raises(ValueError, match=r"Unknown OE loss 'uniform'.*'energy', 'uniform_ce'"):
        get_oe_loss("uniform")


def test_oe_loss_name_non_string_raises():
    with pytest.raises(TypeError, match="string"):
        validate_oe_loss_name(None)
