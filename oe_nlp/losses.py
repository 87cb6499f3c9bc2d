"""Outlier Exposure training losses computed on logits.

Two auxiliary losses are provided for the outlier (training corpus) batch:

* ``"uniform_ce"``: the cross-entropy from the model's softmax to the uniform distribution, from
  Hendrycks, Mazeika and Dietterich, "Deep Anomaly Detection with Outlier Exposure" (ICLR 2019).
* ``"energy"``: the squared-hinge energy margin loss from Liu, Wang, Owens and Li, "Energy-based
  Out-of-distribution Detection" (NeurIPS 2020).

Both cast the logits to float32 before the log-sum-exp, so bf16 or fp16 logits from mixed-precision
training lose no range, and both return a float32 scalar. The weight that multiplies the auxiliary loss is
applied by the caller. This module depends on torch only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "OE_LOSSES",
    "causal_lm_oe_losses",
    "chunked_logsumexp",
    "energy",
    "energy_margin_loss",
    "get_oe_loss",
    "outlier_exposure_loss",
    "validate_oe_loss_name",
]


def _validate_logits(logits: Tensor, name: str = "logits") -> None:
    """Raise unless ``logits`` is a non-empty floating-point tensor of shape ``(..., C)`` with ``C >= 2``."""
    if not isinstance(logits, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(logits).__name__}.")

    if not logits.is_floating_point():
        raise TypeError(
            f"{name} must have a floating-point dtype, got {logits.dtype}. "
            "Pass the model's raw logits, not predicted class ids."
        )

    if logits.dim() < 2:
        raise ValueError(
            f"{name} must have shape (N, C) or (..., C) with classes on the last dim, "
            f"got shape {tuple(logits.shape)}."
        )

    if logits.shape[-1] < 2:
        raise ValueError(
            f"{name} must have at least 2 classes on the last dim, got shape {tuple(logits.shape)}."
        )

    if logits.shape[:-1].numel() == 0:
        raise ValueError(f"{name} contain no examples (shape {tuple(logits.shape)}); pass a non-empty batch.")


def _validate_temperature(temperature: float) -> None:
    """Raise ValueError unless the temperature is a finite number > 0."""
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}.")


def _mask_to_bool(mask: Tensor, logits: Tensor) -> Tensor:
    """Convert a bool or 0/1 mask with shape ``logits.shape[:-1]`` to a bool tensor on the logits' device."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}.")

    if mask.shape != logits.shape[:-1]:
        raise ValueError(
            f"mask shape {tuple(mask.shape)} must equal logits.shape[:-1] = {tuple(logits.shape[:-1])}; "
            "pass one mask value per example or token."
        )

    mask = mask.to(logits.device)
    if mask.dtype == torch.bool:
        return mask

    is_binary = (mask == 0) | (mask == 1)
    if not bool(is_binary.all()):
        invalid_values = torch.unique(mask[~is_binary])[:5].tolist()
        raise ValueError(
            f"mask must be bool or contain only 0 and 1 (1 = keep), found values {invalid_values}."
        )

    return mask == 1


def outlier_exposure_loss(logits: Tensor, mask: Tensor | None = None) -> Tensor:
    """Compute the Outlier Exposure loss: cross-entropy from softmax(logits) to the uniform distribution.

    From Hendrycks, Mazeika and Dietterich, "Deep Anomaly Detection with Outlier Exposure" (ICLR 2019).
    For logits ``z`` over ``C`` classes, the cross-entropy from the uniform distribution ``U`` to
    ``p = softmax(z)`` is::

        H(U, p) = -(1/C) * sum_k log p_k = logsumexp(z) - mean(z)

    It is at least ``log(C)``, with equality when ``p`` is uniform, so minimising it on outlier
    examples pushes their softmax towards uniform.

    Args:
        logits: Outlier logits, shape ``(N, C)`` for classifiers or ``(..., C)`` for per-token logits.
        mask: Optional bool or 0/1 tensor of shape ``logits.shape[:-1]``, where 1 (True) marks a
            position to keep. Without a mask every position counts.

    Returns:
        The float32 scalar mean of ``logsumexp(z) - mean(z)`` over the kept positions.

    Raises:
        TypeError: If ``logits`` is not a floating-point tensor or ``mask`` is not a tensor.
        ValueError: If ``logits`` has fewer than 2 classes or no examples, the mask shape differs
            from ``logits.shape[:-1]``, the mask has values other than 0/1, or every position is masked.
    """
    _validate_logits(logits)
    logits = logits.float()

    # -mean(log_softmax(z)) equals logsumexp(z) - mean(z). log_softmax subtracts the maximum logit
    # first, which avoids the cancellation that costs float32 precision for large logits.
    per_position = -torch.log_softmax(logits, dim=-1).mean(dim=-1)

    if mask is None:
        return per_position.mean()

    keep = _mask_to_bool(mask, logits)
    kept_count = int(keep.sum())
    if kept_count == 0:
        raise ValueError(
            f"mask removes every position (mask shape {tuple(keep.shape)}), so the Outlier Exposure loss "
            "is undefined; keep at least one example or token per batch."
        )

    return per_position[keep].sum() / kept_count


def chunked_logsumexp(logits: Tensor, chunk_rows: int = 2048) -> Tensor:
    """Compute ``logsumexp`` over the last dim in float32, a block of rows at a time.

    ``torch.logsumexp`` on a whole ``(B, L, V)`` tensor builds a temporary ``exp`` of the same size. Taking
    ``chunk_rows`` rows of ``B * L`` at a time bounds that temporary to ``chunk_rows * V`` values, and for
    float32 logits nothing of full size is copied: autograd keeps views of the logits and recomputes the
    ``exp`` in the backward pass.

    Args:
        logits: Tensor of shape ``(..., V)``.
        chunk_rows: Rows per block.

    Returns:
        A float32 tensor of shape ``logits.shape[:-1]``.
    """
    rows = logits.reshape(-1, logits.shape[-1])  # a view for contiguous logits
    blocks = [torch.logsumexp(block.float(), dim=-1) for block in rows.split(chunk_rows)]
    return torch.cat(blocks).view(logits.shape[:-1])


def causal_lm_oe_losses(
    logits: Tensor, in_labels: Tensor, out_mask: Tensor, chunk_rows: int = 2048
) -> tuple[Tensor, Tensor]:
    """Compute the next-token loss of in-distribution sequences and the OE loss of outlier sequences.

    The logits of one forward pass over ``B_in`` in-distribution rows followed by ``B_out`` outlier rows
    give, at position ``t``, the model's distribution over token ``t + 1``. Both terms share one
    log-sum-exp per position, so for float32 logits no full-size copy is made (``log_softmax`` would keep
    one for the backward pass):

    * ``loss_in``: mean over in-distribution predictions of ``logsumexp(z) - z[target]``, where the
      target of position ``t`` is ``in_labels[:, t + 1]`` and targets equal to -100 are skipped (the
      Hugging Face convention: labels are the unshifted input ids);
    * ``loss_oe``: mean over outlier predictions of ``logsumexp(z) - mean(z)``, the cross-entropy to the
      uniform distribution over the vocabulary. Position ``t`` counts when ``out_mask[:, t + 1]`` marks
      token ``t + 1`` as real.

    Args:
        logits: Shape ``(B_in + B_out, L, V)``.
        in_labels: Integer tensor ``(B_in, L)``, -100 for positions without a target (padding).
        out_mask: Bool or 0/1 tensor ``(B_out, L)``, 1 for real outlier tokens (the attention mask).
        chunk_rows: Rows per block of the log-sum-exp, see :func:`chunked_logsumexp`.

    Returns:
        ``(loss_in, loss_oe)``, float32 scalars.

    Raises:
        ValueError: If the shapes disagree, or either part has no prediction to score.
    """
    _validate_logits(logits)
    if logits.dim() != 3:
        raise ValueError(f"logits must have shape (B, L, V) for a language model, got {tuple(logits.shape)}.")
    num_in = in_labels.shape[0]
    if in_labels.shape[1] != logits.shape[1] or num_in + out_mask.shape[0] != logits.shape[0]:
        raise ValueError(
            f"in_labels {tuple(in_labels.shape)} and out_mask {tuple(out_mask.shape)} must together cover "
            f"the logits' rows and length {tuple(logits.shape[:2])}: B_in + B_out rows of length L."
        )
    keep_out = _mask_to_bool(out_mask, logits[num_in:])[:, 1:]
    keep_in = in_labels[:, 1:] != -100
    if not bool(keep_in.any()) or not bool(keep_out.any()):
        raise ValueError(
            "A language-model batch has no next-token prediction to score in its "
            f"{'in-distribution' if not bool(keep_in.any()) else 'outlier'} part: no sequence there has two "
            "real tokens. Drop windows shorter than two tokens."
        )

    # Per-position weights of each term: 1 / count at the scored positions, 0 elsewhere (the last position
    # predicts nothing). Position t of an in-distribution row is scored against in_labels[:, t + 1].
    num_rows, length, _ = logits.shape
    in_weight = torch.zeros(num_rows, length, device=logits.device)
    out_weight = torch.zeros(num_rows, length, device=logits.device)
    in_weight[:num_in, :-1] = keep_in / keep_in.sum()
    out_weight[num_in:, :-1] = keep_out / keep_out.sum()
    targets = torch.zeros(num_rows, length, dtype=torch.long, device=logits.device)
    targets[:num_in, :-1] = in_labels[:, 1:].clamp_min(0)
    return _CausalLMOELoss.apply(logits, in_weight, out_weight, targets, chunk_rows)


class _CausalLMOELoss(torch.autograd.Function):
    """Both language-model loss terms with a hand-written backward pass that fills the gradient in blocks.

    Autograd through `logsumexp`, `gather` and `mean` keeps a full-size gradient per term before summing
    them, and `log_softmax` keeps a full-size output. Here the backward pass writes
    `softmax(z) * (w_in + w_out) - w_in * onehot(target) - w_out / V` into one gradient tensor, a block of
    rows at a time, so the only full-size tensor is the gradient itself.
    """

    @staticmethod
    def forward(
        ctx: Any, logits: Tensor, in_weight: Tensor, out_weight: Tensor, targets: Tensor, chunk_rows: int
    ) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            lse = chunked_logsumexp(logits, chunk_rows)  # (B, L)
            target_logits = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1).float()
            mean_logits = logits.mean(dim=-1, dtype=torch.float32)
            loss_in = (in_weight * (lse - target_logits)).sum()
            loss_oe = (out_weight * (lse - mean_logits)).sum()
        ctx.save_for_backward(logits, lse, in_weight, out_weight, targets)
        ctx.chunk_rows = chunk_rows
        return loss_in, loss_oe

    @staticmethod
    def backward(ctx: Any, grad_in: Tensor, grad_oe: Tensor) -> tuple[Tensor | None, ...]:
        logits, lse, in_weight, out_weight, targets = ctx.saved_tensors
        vocab_size = logits.shape[-1]
        in_weight = (in_weight * grad_in).flatten()
        out_weight = (out_weight * grad_oe).flatten()
        weight = in_weight + out_weight
        lse, targets = lse.flatten(), targets.flatten()

        rows = logits.reshape(-1, vocab_size)
        grad = torch.empty_like(rows)
        for start in range(0, rows.shape[0], ctx.chunk_rows):
            block = slice(start, start + ctx.chunk_rows)
            probabilities = torch.exp(rows[block].float() - lse[block, None])
            probabilities.mul_(weight[block, None]).sub_(out_weight[block, None] / vocab_size)
            grad[block] = probabilities

        scored = torch.nonzero(in_weight).flatten()
        grad.index_put_((scored, targets[scored]), -in_weight[scored].to(grad.dtype), accumulate=True)
        return grad.view_as(logits), None, None, None, None


def energy(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Compute the free energy ``E(z) = -T * logsumexp(z / T)`` over the last dim in float32.

    From Liu, Wang, Owens and Li, "Energy-based Out-of-distribution Detection" (NeurIPS 2020).
    In-distribution inputs tend to get lower (more negative) energy than OOD inputs.

    Args:
        logits: Floating-point logits of shape ``(..., C)`` with ``C >= 2``.
        temperature: Temperature ``T > 0``.

    Returns:
        A float32 tensor of shape ``logits.shape[:-1]``.

    Raises:
        TypeError: If ``logits`` is not a floating-point tensor.
        ValueError: If ``logits`` has fewer than 2 classes or no examples, or ``temperature <= 0``.
    """
    _validate_logits(logits)
    _validate_temperature(temperature)

    logits = logits.float()
    return -temperature * torch.logsumexp(logits / temperature, dim=-1)


def energy_margin_loss(
    in_logits: Tensor,
    out_logits: Tensor,
    m_in: float = -25.0,
    m_out: float = -7.0,
    temperature: float = 1.0,
) -> Tensor:
    """Compute the energy margin loss of Liu et al. on an in-distribution and an outlier batch.

    From Liu, Wang, Owens and Li, "Energy-based Out-of-distribution Detection" (NeurIPS 2020)::

        L = mean(relu(E(x_in) - m_in) ** 2) + mean(relu(m_out - E(x_out)) ** 2)

    with ``E`` from :func:`energy`. The first term penalises in-distribution energies above
    ``m_in``, and the second penalises outlier energies below ``m_out``. The defaults -25 and -7 are the
    argparse defaults of the authors' CIFAR training script (github.com/wetliu/energy_ood,
    ``CIFAR/train.py``), whose run script passes -23/-5 for CIFAR-10 and -27/-5 for CIFAR-100.
    Good margins depend on the scale of the model's logits, so tune them per model and task.

    Args:
        in_logits: In-distribution logits, shape ``(N, C)`` or ``(..., C)``.
        out_logits: Outlier logits, shape ``(M, C)`` or ``(..., C)``.
        m_in: Margin for in-distribution energies.
        m_out: Margin for outlier energies. Must be >= ``m_in``.
        temperature: Temperature ``T > 0`` of the energy.

    Returns:
        A float32 scalar. Each mean runs over all positions of its batch.

    Raises:
        TypeError: If either logits tensor is not floating point.
        ValueError: If either batch is empty or has fewer than 2 classes, a margin is not finite,
            ``m_in > m_out``, or ``temperature <= 0``.
    """
    _validate_logits(in_logits, "in_logits")
    _validate_logits(out_logits, "out_logits")
    _validate_margins(m_in, m_out)

    in_energy = energy(in_logits, temperature)
    out_energy = energy(out_logits, temperature)

    in_term = torch.relu(in_energy - m_in).pow(2).mean()
    out_term = torch.relu(m_out - out_energy).pow(2).mean()
    return in_term + out_term


def _validate_margins(m_in: float, m_out: float) -> None:
    """Raise ValueError unless both energy margins are finite and ``m_in <= m_out``."""
    if not (math.isfinite(m_in) and math.isfinite(m_out)):
        raise ValueError(f"energy margins must be finite, got m_in={m_in} and m_out={m_out}.")

    if m_in > m_out:
        raise ValueError(
            f"m_in={m_in} is greater than m_out={m_out}, so the loss asks for no separation between "
            "in-distribution and outlier energies; choose m_in <= m_out (the defaults are -25 and -7)."
        )


OE_LOSSES: dict[str, Callable[..., Tensor]] = {
    "uniform_ce": outlier_exposure_loss,
    "energy": energy_margin_loss,
}
"""Outlier Exposure losses by name.

``"uniform_ce"`` maps to :func:`outlier_exposure_loss`, which takes the outlier logits only.
``"energy"`` maps to :func:`energy_margin_loss`, which takes in-distribution and outlier logits.
"""


def validate_oe_loss_name(name: str) -> str:
    """Return ``name`` unchanged if it is a key of :data:`OE_LOSSES`, else raise.

    Raises:
        TypeError: If ``name`` is not a string.
        ValueError: If ``name`` is not a known loss. The message lists the choices.
    """
    if not isinstance(name, str):
        raise TypeError(f"OE loss name must be a string, got {type(name).__name__}: {name!r}.")

    if name not in OE_LOSSES:
        choices = ", ".join(repr(key) for key in sorted(OE_LOSSES))
        raise ValueError(f"Unknown OE loss {name!r}. Choose one of: {choices}.")

    return name


def get_oe_loss(name: str) -> Callable[..., Tensor]:
    """Look up an Outlier Exposure loss function by name in :data:`OE_LOSSES`.

    Raises:
        TypeError: If ``name`` is not a string.
        ValueError: If ``name`` is not a known loss. The message lists the choices.
    """
    return OE_LOSSES[validate_oe_loss_name(name)]
