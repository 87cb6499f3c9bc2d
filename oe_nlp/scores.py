"""Anomaly scores computed from classifier or language-model logits.

Every score follows one convention: a higher anomaly score means a more anomalous (more likely OOD)
input. Each score function maps logits of shape ``(N, C)``, or more generally ``(..., C)``, to a
tensor of shape ``(N,)`` (or ``(...)``). Inputs may be torch tensors or numpy arrays. Computation
runs in float64 for float64 input and in float32 for every other floating dtype, and the result
keeps that dtype. An empty batch (``N == 0``) returns an empty tensor. This module depends on torch
and numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "LM_SEQUENCE_SCORES",
    "SCORES",
    "anomaly_scores",
    "energy",
    "entropy",
    "get_score_fn",
    "lm_sequence_scores",
    "max_logit",
    "msp",
    "sequence_scores",
    "uniform_cross_entropy",
]

LogitsLike = Tensor | np.ndarray
"""Logits as a torch tensor or a numpy array."""

SEQUENCE_REDUCTIONS = ("mean", "max")
"""Accepted values of ``reduction`` in :func:`sequence_scores`."""


def _as_float_tensor(logits: LogitsLike, name: str = "logits") -> Tensor:
    """Convert logits to a float32 tensor, or a float64 tensor when the input is float64."""
    if isinstance(logits, np.ndarray):
        if not np.issubdtype(logits.dtype, np.floating):
            raise TypeError(
                f"{name} must have a floating-point dtype, got numpy {logits.dtype}. "
                "Pass the model's raw logits, not predicted class ids."
            )

        numpy_dtype = np.float64 if logits.dtype == np.float64 else np.float32
        return torch.from_numpy(np.array(logits, dtype=numpy_dtype))

    if not isinstance(logits, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(logits).__name__}.")

    if not logits.is_floating_point():
        raise TypeError(
            f"{name} must have a floating-point dtype, got {logits.dtype}. "
            "Pass the model's raw logits, not predicted class ids."
        )

    if logits.dtype == torch.float64:
        return logits

    return logits.float()


def _prepare_logits(logits: LogitsLike) -> Tensor:
    """Convert logits to float and check for shape ``(..., C)`` with at least 2 dims and ``C >= 2``."""
    logits = _as_float_tensor(logits)

    if logits.dim() < 2:
        raise ValueError(
            "logits must have shape (N, C) or (..., C) with classes on the last dim, "
            f"got shape {tuple(logits.shape)}."
        )

    if logits.shape[-1] < 2:
        raise ValueError(
            f"logits must have at least 2 classes on the last dim, got shape {tuple(logits.shape)}."
        )

    return logits


def msp(logits: LogitsLike) -> Tensor:
    """Compute the negated maximum softmax probability, ``-max_k softmax(z)_k``.

    The maximum softmax probability (MSP) baseline is from Hendrycks and Gimpel, "A Baseline for
    Detecting Misclassified and Out-of-Distribution Examples in Neural Networks" (ICLR 2017).
    In-distribution inputs tend to get a confident (high) MSP, so the MSP is negated to make a
    higher score mean more anomalous. The score lies in ``[-1, -1/C]``.
    """
    logits = _prepare_logits(logits)

    return -torch.softmax(logits, dim=-1).max(dim=-1).values


def max_logit(logits: LogitsLike) -> Tensor:
    """Compute the negated maximum logit, ``-max_k z_k``.

    The maximum logit score is from Hendrycks et al., "Scaling Out-of-Distribution Detection for
    Real-World Settings" (ICML 2022). It is negated because in-distribution inputs tend to get a
    larger maximum logit.
    """
    logits = _prepare_logits(logits)

    return -logits.max(dim=-1).values


def energy(logits: LogitsLike, temperature: float = 1.0) -> Tensor:
    """Compute the free energy ``E(z) = -T * logsumexp(z / T)``.

    From Liu, Wang, Owens and Li, "Energy-based Out-of-distribution Detection" (NeurIPS 2020).
    In-distribution inputs tend to get lower (more negative) energy, so the energy is already an
    anomaly score and is not negated.

    Raises:
        ValueError: If ``temperature`` is not a finite number > 0.
    """
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}.")

    logits = _prepare_logits(logits)

    return -temperature * torch.logsumexp(logits / temperature, dim=-1)


def uniform_cross_entropy(logits: LogitsLike) -> Tensor:
    """Compute the negated cross-entropy from softmax(z) to the uniform distribution.

    The score goes with Hendrycks, Mazeika and Dietterich, "Deep Anomaly Detection with Outlier
    Exposure" (ICLR 2019). Their SST evaluation script (github.com/hendrycks/outlier-exposure,
    ``NLP_classification/eval_OOD_sst.py``) contains it, commented out, as the mean log-softmax.
    For ``C`` classes and ``p = softmax(z)``::

        H(U, p) = -(1/C) * sum_k log p_k = logsumexp(z) - mean(z) = log(C) + KL(U || p)

    ``H(U, p)`` is smallest (``log C``) when ``p`` is uniform and grows as ``p`` becomes peaked.
    Outlier Exposure trains the model to output a near-uniform softmax on anomalies, so anomalies
    get a LOW ``H(U, p)`` and in-distribution inputs a high one. The score is therefore the
    negation, ``mean(z) - logsumexp(z)``, which is higher for anomalies and at most ``-log(C)``.
    """
    logits = _prepare_logits(logits)

    # log_softmax subtracts the maximum logit first, which keeps float32 precise for large logits.
    return torch.log_softmax(logits, dim=-1).mean(dim=-1)


def entropy(logits: LogitsLike) -> Tensor:
    """Compute the Shannon entropy of softmax(z) in nats, ``-sum_k p_k log p_k``.

    The entropy is highest (``log C``) for a uniform softmax, which is the output expected for
    anomalies, so it is already an anomaly score. Classes with ``p_k = 0`` contribute 0.
    """
    logits = _prepare_logits(logits)

    probabilities = torch.softmax(logits, dim=-1)
    return torch.special.entr(probabilities).sum(dim=-1)


SCORES: dict[str, Callable[..., Tensor]] = {
    "msp": msp,
    "max_logit": max_logit,
    "energy": energy,
    "uniform_cross_entropy": uniform_cross_entropy,
    "entropy": entropy,
}
"""Anomaly score functions by name. Only ``"energy"`` takes a ``temperature`` argument."""


def get_score_fn(name: str) -> Callable[..., Tensor]:
    """Look up an anomaly score function by name in :data:`SCORES`.

    Raises:
        TypeError: If ``name`` is not a string.
        ValueError: If ``name`` is not a known score. The message lists the choices.
    """
    if not isinstance(name, str):
        raise TypeError(f"score name must be a string, got {type(name).__name__}: {name!r}.")

    if name not in SCORES:
        choices = ", ".join(repr(key) for key in SCORES)
        raise ValueError(f"Unknown anomaly score {name!r}. Choose one of: {choices}.")

    return SCORES[name]


def anomaly_scores(logits: LogitsLike, name: str, temperature: float = 1.0) -> Tensor:
    """Compute the anomaly score ``name`` for each example (higher = more anomalous).

    Args:
        logits: Logits of shape ``(N, C)`` or ``(..., C)``, as a tensor or numpy array.
        name: A key of :data:`SCORES`.
        temperature: Energy temperature. Only the ``"energy"`` score uses it, and any other score
            requires the default 1.0.

    Returns:
        A tensor of shape ``logits.shape[:-1]``, float64 for float64 input and float32 otherwise.

    Raises:
        ValueError: If ``name`` is unknown, or ``temperature`` is not 1.0 for a score other than
            ``"energy"``.
    """
    score_fn = get_score_fn(name)

    if name == "energy":
        return score_fn(logits, temperature=temperature)

    if temperature != 1.0:
        raise ValueError(
            f"temperature={temperature} applies only to the 'energy' score, not to {name!r}; "
            "leave temperature at 1.0 or use name='energy'."
        )

    return score_fn(logits)


def _prepare_token_mask(mask: LogitsLike, expected_shape: torch.Size, device: torch.device) -> Tensor:
    """Convert a bool or 0/1 mask of ``expected_shape`` to a bool tensor on ``device``."""
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.array(mask))
    elif not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a torch.Tensor or numpy.ndarray, got {type(mask).__name__}.")

    if mask.shape != expected_shape:
        raise ValueError(
            f"mask shape {tuple(mask.shape)} must equal token_logits.shape[:-1] = {tuple(expected_shape)}; "
            "pass one mask value per token, such as the attention mask."
        )

    mask = mask.to(device)
    if mask.dtype == torch.bool:
        return mask

    is_binary = (mask == 0) | (mask == 1)
    if not bool(is_binary.all()):
        invalid_values = torch.unique(mask[~is_binary])[:5].tolist()
        raise ValueError(
            f"mask must be bool or contain only 0 and 1 (1 = keep), found values {invalid_values}."
        )

    return mask == 1


def sequence_scores(
    token_logits: LogitsLike,
    mask: LogitsLike,
    name: str,
    reduction: str = "mean",
    temperature: float = 1.0,
) -> Tensor:
    """Pool per-token anomaly scores into one anomaly score per sequence.

    Each token's logits are scored with :func:`anomaly_scores`, and the scores of the kept tokens
    of a sequence are reduced to one value. The mask decides which positions count. For a causal
    language model the logits at position ``t`` predict token ``t + 1``, so to score only the
    predictions of real next tokens pass ``token_logits[:, :-1]`` with ``attention_mask[:, 1:]``.

    Args:
        token_logits: Logits of shape ``(B, L, V)``, as a tensor or numpy array.
        mask: Bool or 0/1 tensor or array of shape ``(B, L)``, where 1 (True) marks a token to keep.
        name: A key of :data:`SCORES`.
        reduction: ``"mean"`` averages the kept tokens' scores. ``"max"`` takes the most anomalous
            kept token.
        temperature: Energy temperature, see :func:`anomaly_scores`.

    Returns:
        A tensor of shape ``(B,)``, float64 for float64 input and float32 otherwise.

    Raises:
        ValueError: If ``token_logits`` is not 3-D, the mask shape differs from ``(B, L)``, the mask
            has values other than 0/1, a sequence has no kept token, or ``reduction`` is unknown.
    """
    if reduction not in SEQUENCE_REDUCTIONS:
        raise ValueError(f"Unknown reduction {reduction!r}. Choose one of: {', '.join(SEQUENCE_REDUCTIONS)}.")

    token_logits = _as_float_tensor(token_logits, "token_logits")
    if token_logits.dim() != 3:
        raise ValueError(f"token_logits must have shape (B, L, V), got shape {tuple(token_logits.shape)}.")

    keep = _prepare_token_mask(mask, token_logits.shape[:-1], token_logits.device)
    kept_per_sequence = keep.sum(dim=-1)
    empty_rows = torch.nonzero(kept_per_sequence == 0).flatten().tolist()
    if empty_rows:
        raise ValueError(
            f"mask keeps no token in sequences {empty_rows[:10]} (of {keep.shape[0]}), so their "
            "score is undefined; drop empty sequences before scoring."
        )

    token_scores = anomaly_scores(token_logits, name, temperature)

    if reduction == "max":
        return torch.where(keep, token_scores, -math.inf).max(dim=-1).values

    kept_scores = torch.where(keep, token_scores, 0.0)
    return kept_scores.sum(dim=-1) / kept_per_sequence.to(token_scores.dtype)


LM_SEQUENCE_SCORES = ("nll", "uniform_cross_entropy", "msp")
"""Sequence anomaly scores of a causal language model, in the column order of :func:`lm_sequence_scores`."""


def lm_sequence_scores(token_logits: LogitsLike, labels: LogitsLike) -> dict[str, Tensor]:
    """Score whole sequences with a causal language model's next-token predictions.

    Position ``t`` of ``token_logits`` predicts ``labels[:, t + 1]`` (labels unshifted, as Hugging Face
    passes them), and positions whose target is -100 are skipped. Per sequence, the mean over its scored
    positions of:

    * ``"nll"``: ``logsumexp(z) - z[target]``, the negative log-likelihood per token in nats (divide by
      ``ln 2`` for bits per word or character);
    * ``"uniform_cross_entropy"``: ``mean(z) - logsumexp(z)``, the negated cross-entropy from the softmax to the
      uniform distribution (as :func:`uniform_cross_entropy`: near-uniform predictions score high);
    * ``"msp"``: ``-max softmax(z)``.

    Args:
        token_logits: Logits of shape ``(B, L, V)``.
        labels: Integer token ids of shape ``(B, L)``, -100 where there is no target.

    Returns:
        A dict from each name in :data:`LM_SEQUENCE_SCORES` to a tensor of shape ``(B,)``, float64 for
        float64 logits and float32 otherwise.

    Raises:
        ValueError: If the shapes disagree or a sequence has no position to score.
    """
    token_logits = _as_float_tensor(token_logits, "token_logits")
    labels = torch.as_tensor(labels, device=token_logits.device)
    if token_logits.dim() != 3 or labels.shape != token_logits.shape[:2]:
        raise ValueError(
            f"token_logits must have shape (B, L, V) and labels (B, L); got {tuple(token_logits.shape)} and "
            f"{tuple(labels.shape)}."
        )

    logits = token_logits[:, :-1]
    targets = labels[:, 1:]
    keep = targets != -100
    counts = keep.sum(dim=-1)
    empty_rows = torch.nonzero(counts == 0).flatten().tolist()
    if empty_rows:
        raise ValueError(
            f"Sequences {empty_rows[:10]} have no next token to score (fewer than two real tokens); drop them."
        )

    lse = torch.logsumexp(logits, dim=-1)  # (B, L - 1)
    target_logits = logits.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    per_token = {
        "nll": lse - target_logits,
        "uniform_cross_entropy": logits.mean(dim=-1) - lse,
        "msp": -torch.exp(logits.max(dim=-1).values - lse),
    }
    counts = counts.to(lse.dtype)
    return {name: torch.where(keep, values, 0.0).sum(dim=-1) / counts for name, values in per_token.items()}
