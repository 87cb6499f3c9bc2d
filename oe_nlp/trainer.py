"""`OETrainer`: a `transformers.Trainer` that adds Outlier Exposure to classification training.

Beside every in-distribution batch the trainer draws a batch of auxiliary outliers and runs both
through the model in one forward pass. A loss term then pushes the outliers' softmax towards the
uniform distribution (Hendrycks, Mazeika and Dietterich, "Deep Anomaly Detection with Outlier
Exposure", ICLR 2019). With no outlier dataset it is exactly `Trainer`.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import Trainer, TrainingArguments
from transformers.utils import logging

from .data.checks import check_label_values, check_sequence_lengths
from .losses import OE_LOSSES, causal_lm_oe_losses, energy_margin_loss, outlier_exposure_loss
from .metrics import ood_metrics
from .scores import LM_SEQUENCE_SCORES, SCORES, anomaly_scores, lm_sequence_scores

logger = logging.get_logger(__name__)

# Default weight of the outlier term per loss: Hendrycks et al. (text) and Liu et al. (energy).
DEFAULT_OE_WEIGHTS = {"uniform_ce": 1.0, "energy": 0.1}

# Kinds of training `oe_task` accepts; "auto" picks one from the model's class.
OE_TASKS = ("auto", "classification", "causal_lm")

# Model inputs that carry targets. Outlier examples have none, so these are never taken from them.
_LABEL_COLUMNS = ("label", "labels", "label_ids")


@dataclass
class OETrainingArguments(TrainingArguments):
    """Training arguments with the Outlier Exposure fields.

    Parameters:
        oe_loss (`str`, defaults to `"uniform_ce"`):
            Loss on the outlier logits. `"uniform_ce"` is the cross-entropy from the softmax to the uniform
            distribution (Hendrycks et al. 2019). `"energy"` is the squared-hinge energy margin loss of
            Liu et al. 2020, which uses the in-distribution logits as well.
        oe_weight (`float`, *optional*):
            Weight of the outlier term: `loss = loss_in + oe_weight * loss_oe`. Defaults to 1.0 for
            `"uniform_ce"` (Hendrycks et al. used 1.0 for text and 0.5 for image classifiers) and to 0.1
            for `"energy"`, the weight Liu et al. fine-tuned with.
        oe_batch_size (`int`, *optional*):
            Outlier examples per device and per in-distribution batch. Defaults to
            `per_device_train_batch_size`.
        energy_m_in (`float`, defaults to -25.0), energy_m_out (`float`, defaults to -7.0):
            Energy margins of the `"energy"` loss: in-distribution energies above `energy_m_in` and
            outlier energies below `energy_m_out` are penalised.
        energy_temperature (`float`, defaults to 1.0):
            Temperature T in E(x) = -T logsumexp(f(x) / T), used by the `"energy"` loss and score.
        ood_score (`str`, defaults to `"msp"`):
            Anomaly score used by `evaluate()` for the OOD metrics (see `oe_nlp.scores.SCORES`). For a
            causal language model, `"nll"` (mean negative log-likelihood per token) is also accepted.
        oe_task (`str`, defaults to `"auto"`):
            `"classification"` (text or image classifiers: one target per example) or `"causal_lm"`
            (next-token prediction; the outlier target is the uniform distribution over the vocabulary at
            every real token). `"auto"` chooses `"causal_lm"` for models registered with
            `AutoModelForCausalLM` and `"classification"` otherwise.
    """

    oe_loss: str = field(
        default="uniform_ce",
        metadata={"help": f"Outlier loss, one of {sorted(OE_LOSSES)}."},
    )
    oe_weight: float | None = field(
        default=None,
        metadata={
            "help": "Weight of the outlier loss term (>= 0). Defaults to 1.0 for uniform_ce, 0.1 for energy."
        },
    )
    oe_batch_size: int | None = field(
        default=None,
        metadata={"help": "Outlier examples per device and step. Defaults to per_device_train_batch_size."},
    )
    energy_m_in: float = field(default=-25.0, metadata={"help": "In-distribution energy margin."})
    energy_m_out: float = field(default=-7.0, metadata={"help": "Outlier energy margin."})
    energy_temperature: float = field(default=1.0, metadata={"help": "Energy temperature T (> 0)."})
    ood_score: str = field(
        default="msp",
        metadata={"help": f"Anomaly score for OOD evaluation, one of {sorted(SCORES)} (or 'nll' for an LM)."},
    )
    oe_task: str = field(
        default="auto",
        metadata={"help": f"Training task, one of {list(OE_TASKS)}; 'auto' detects it from the model."},
    )

    def __post_init__(self) -> None:
        if self.oe_loss not in OE_LOSSES:
            raise ValueError(f"Unknown `oe_loss`={self.oe_loss!r}. Choose one of {sorted(OE_LOSSES)}.")
        if self.ood_score not in SCORES and self.ood_score != "nll":
            raise ValueError(
                f"Unknown `ood_score`={self.ood_score!r}. Choose one of {sorted(SCORES)}, or 'nll' for a "
                "language model."
            )
        if self.oe_task not in OE_TASKS:
            raise ValueError(f"Unknown `oe_task`={self.oe_task!r}. Choose one of {list(OE_TASKS)}.")
        if self.oe_weight is None:
            self.oe_weight = DEFAULT_OE_WEIGHTS[self.oe_loss]
        if self.oe_weight < 0:
            raise ValueError(
                f"`oe_weight` must be >= 0, got {self.oe_weight}. Use 0 to switch the outlier term off."
            )
        if self.oe_batch_size is not None and self.oe_batch_size <= 0:
            raise ValueError(
                f"`oe_batch_size` must be a positive integer, got {self.oe_batch_size}. "
                "Leave it unset to use `per_device_train_batch_size`."
            )
        if self.energy_temperature <= 0:
            raise ValueError(f"`energy_temperature` must be > 0, got {self.energy_temperature}.")
        super().__post_init__()

    @property
    def outlier_batch_size(self) -> int:
        """Outlier examples drawn per device for each in-distribution micro-batch."""
        return self.oe_batch_size or self.per_device_train_batch_size


def outlier_batch_indices(num_outliers: int, batch_size: int, seed: int, batch_number: int) -> np.ndarray:
    """Select the outlier examples of one batch as a pure function of its position in the stream.

    The outlier stream is an endless sequence of passes over the corpus, each pass a fresh permutation
    seeded by `(seed, pass number)`. Batch `batch_number` is the slice
    `[batch_number * batch_size, (batch_number + 1) * batch_size)` of that stream. Because nothing else
    enters, a resumed run, gradient accumulation and several processes need no saved sampler state.

    Args:
        num_outliers: Size of the outlier corpus.
        batch_size: Examples per batch.
        seed: Base seed of the permutations.
        batch_number: Global index of the batch in the stream (see `OETrainer._outlier_batch_number`).

    Returns:
        An int64 array of `batch_size` indices into the outlier corpus.
    """
    start = batch_number * batch_size
    indices: list[np.ndarray] = []
    num_selected = 0
    while num_selected < batch_size:
        pass_number, offset = divmod(start + num_selected, num_outliers)
        permutation = np.random.default_rng([seed, pass_number]).permutation(num_outliers)
        chunk = permutation[offset : offset + batch_size - num_selected]
        indices.append(chunk)
        num_selected += len(chunk)
    return np.concatenate(indices).astype(np.int64)


def concatenate_batches(
    in_batch: dict[str, torch.Tensor],
    out_batch: dict[str, torch.Tensor],
    pad_values: dict[str, int],
    padding_side: str = "right",
) -> dict[str, torch.Tensor]:
    """Stack an in-distribution and an outlier batch along the batch dimension.

    Sequence inputs of different lengths are padded to the longer one on `padding_side`, with the value
    `pad_values[key]` (0 for keys not listed). Both batches must have the same inputs and no labels:
    the caller keeps the in-distribution labels aside.

    Args:
        in_batch: Model inputs of the in-distribution batch, without labels.
        out_batch: Model inputs of the outlier batch.
        pad_values: Padding value per input name, e.g. `{"input_ids": tokenizer.pad_token_id}`.
        padding_side: `"right"` or `"left"`.

    Returns:
        The concatenated inputs, in-distribution rows first.
    """
    if set(in_batch) != set(out_batch):
        raise ValueError(
            f"The in-distribution batch has inputs {sorted(in_batch)} but the outlier batch has "
            f"{sorted(out_batch)}. Tokenize the outlier dataset with the same tokenizer and settings as the "
            "training dataset."
        )

    combined = {}
    for key, out_tensor in out_batch.items():
        in_tensor = in_batch[key]
        if in_tensor.dim() == 2 and in_tensor.shape[1] != out_tensor.shape[1]:
            length = max(in_tensor.shape[1], out_tensor.shape[1])
            value = pad_values.get(key, 0)
            in_tensor = _pad_to_length(in_tensor, length, value, padding_side)
            out_tensor = _pad_to_length(out_tensor, length, value, padding_side)
        if in_tensor.shape[1:] != out_tensor.shape[1:]:
            raise ValueError(
                f"Cannot concatenate input `{key}`: in-distribution shape {tuple(in_tensor.shape)} and "
                f"outlier shape {tuple(out_tensor.shape)} differ beyond the batch dimension."
            )
        combined[key] = torch.cat([in_tensor, out_tensor.to(in_tensor.device, in_tensor.dtype)], dim=0)
    return combined


def _pad_to_length(tensor: torch.Tensor, length: int, value: int, padding_side: str) -> torch.Tensor:
    missing = length - tensor.shape[1]
    if missing == 0:
        return tensor
    padding = (missing, 0) if padding_side == "left" else (0, missing)
    return F.pad(tensor, padding, value=value)


class OETrainer(Trainer):
    """A `Trainer` that mixes an outlier batch into every training step and reports OOD metrics.

    Args:
        outlier_dataset (`datasets.Dataset`, *optional*):
            Tokenized auxiliary outliers (e.g. WikiText-2 sentences), without a label column. Without it,
            `OETrainer` trains exactly like `Trainer`: use that for the baseline.
        ood_eval_datasets (`dict[str, datasets.Dataset]`, *optional*):
            Tokenized OOD test sets. `evaluate()` scores them against the in-distribution eval set and adds
            `eval_ood_<name>_<metric>` and `eval_ood_mean_<metric>` to its metrics.
        outlier_data_collator (*optional*):
            Collator for outlier examples. Defaults to the trainer's `data_collator`.
        **kwargs: Everything `transformers.Trainer` takes.

    Example:

    ```python
    >>> trainer = OETrainer(model=model, args=OETrainingArguments("out"), train_dataset=train,
    ...                     outlier_dataset=wikitext, processing_class=tokenizer)
    >>> trainer.train()
    ```
    """

    def __init__(
        self,
        *args: Any,
        outlier_dataset: Any = None,
        ood_eval_datasets: dict[str, Any] | None = None,
        outlier_data_collator: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)

        # ---- Loss scaling ----
        if self.model_accepts_loss_kwargs and _is_classification_head(
            self.accelerator.unwrap_model(self.model)
        ):
            # Trainer takes a forward with **kwargs to mean a loss normalised by `num_items_in_batch`, so it
            # skips the division by the accumulation steps and multiplies by the process count. The
            # transformers classification heads return a plain batch mean instead, which needs both.
            self.model_accepts_loss_kwargs = False

        # ---- Outlier Exposure settings ----
        if not isinstance(self.args, OETrainingArguments):
            raise TypeError(
                f"`args` must be an `OETrainingArguments`, got {type(self.args).__name__}. "
                "Build it with `OETrainingArguments(...)`, which takes every `TrainingArguments` field."
            )
        self.oe_task = self._resolve_task()
        self.outlier_dataset = self._prepare_outlier_dataset(outlier_dataset)
        self.outlier_data_collator = outlier_data_collator or self.data_collator
        self.ood_eval_datasets = _check_ood_eval_datasets(ood_eval_datasets)
        self._check_datasets_fit_model()
        if self.outlier_dataset is not None:
            self._check_oe_training_inputs()

        # ---- State for the separate loss terms and the outlier stream ----
        self._oe_term_sums = {"loss_in": 0.0, "loss_oe": 0.0}
        self._oe_term_count = 0
        self._micro_step = 0
        self._micro_step_of = -1
        if self.outlier_dataset is not None:
            # The OE loss is a per-batch mean, so Trainer must divide it by the accumulation steps.
            self.loss_is_scaled_for_ga = False

    def _resolve_task(self) -> str:
        task = self.args.oe_task
        if task == "auto":
            task = (
                "causal_lm" if _is_causal_lm(self.accelerator.unwrap_model(self.model)) else "classification"
            )
        if task == "causal_lm" and self.args.oe_loss != "uniform_ce":
            raise ValueError(
                f"`oe_loss`={self.args.oe_loss!r} is not defined for language models. Use `oe_loss='uniform_ce'`, "
                "the cross-entropy to the uniform distribution over the vocabulary."
            )
        if task == "causal_lm" and self.args.ood_score not in LM_SEQUENCE_SCORES:
            raise ValueError(
                f"`ood_score`={self.args.ood_score!r} has no per-sequence form for language models here. "
                f"Choose one of {list(LM_SEQUENCE_SCORES)}."
            )
        if task == "classification" and self.args.ood_score == "nll":
            raise ValueError(
                "`ood_score='nll'` needs a causal language model, but this is a classification task. Choose "
                f"one of {sorted(SCORES)}, or set `oe_task='causal_lm'` if the model is a language model."
            )
        logger.info("Outlier Exposure task: %s", task)
        return task

    def _prepare_outlier_dataset(self, dataset: Any) -> Any:
        if dataset is None:
            return None
        if isinstance(dataset, dict):
            raise TypeError(
                f"`outlier_dataset` must be a `datasets.Dataset`, got a {type(dataset).__name__} with keys "
                f"{list(dataset.keys())}. Pass one split, e.g. `outlier_dataset=dataset['train']`."
            )
        if len(dataset) == 0:
            raise ValueError(
                "`outlier_dataset` is empty. Check the outlier corpus and its length filters, or pass "
                "`outlier_dataset=None` to train without Outlier Exposure."
            )
        columns = getattr(dataset, "column_names", None)
        if columns is None:
            return dataset

        labelled = [name for name in _LABEL_COLUMNS if name in columns]
        if labelled:
            raise ValueError(
                f"`outlier_dataset` has label column(s) {labelled}, but outliers have no labels: their "
                "target is the uniform distribution. Remove them with `dataset.remove_columns(...)`."
            )
        _check_model_inputs(dataset, "`outlier_dataset`")
        self._set_signature_columns_if_needed()
        unused = [name for name in columns if name not in self._signature_columns]
        if unused:
            logger.info("Outlier columns not used by the model: %s", ", ".join(unused))
            dataset = dataset.remove_columns(unused)
        return dataset

    # ---- Checks run once, before the first step ----

    def _check_datasets_fit_model(self) -> None:
        """Check the labels against `num_labels` and the sequence lengths against the model's positions."""
        config = getattr(self.model, "config", None)
        num_labels = getattr(config, "num_labels", None)
        if getattr(config, "problem_type", None) == "regression" or num_labels == 1:
            num_labels = None
        for name in ("label", "labels"):
            check_label_values(self.train_dataset, name, num_labels, "`train_dataset`")

        # NOTE: RoBERTa-style models offset position ids by `pad_token_id + 1`, so they accept
        # two tokens fewer than `max_position_embeddings`. This check misses those two lengths.
        max_positions = getattr(config, "max_position_embeddings", None)
        if not isinstance(max_positions, int):
            return
        named_sets = {"`train_dataset`": self.train_dataset, "`outlier_dataset`": self.outlier_dataset}
        if isinstance(self.eval_dataset, dict):
            for key, dataset in self.eval_dataset.items():
                named_sets[f"`eval_dataset` {key!r}"] = dataset
        else:
            named_sets["`eval_dataset`"] = self.eval_dataset
        for key, dataset in self.ood_eval_datasets.items():
            named_sets[f"OOD set {key!r}"] = dataset

        for role, dataset in named_sets.items():
            check_sequence_lengths(dataset, max_positions, role)

    def _check_oe_training_inputs(self) -> None:
        """Check that Outlier Exposure finds the labels and can pad the two batches to one length."""
        unknown_names = [name for name in self.args.label_names or () if name not in _LABEL_COLUMNS]
        if unknown_names:
            raise ValueError(
                f"`label_names`={self.args.label_names}, but Outlier Exposure reads the in-distribution "
                f"labels only from a column named one of {list(_LABEL_COLUMNS)}. Rename the label column, e.g. "
                f"`dataset.rename_column({unknown_names[0]!r}, 'labels')`, and leave `label_names` unset."
            )

        columns = getattr(self.train_dataset, "column_names", None)
        labels_needed = self.oe_task == "classification"
        if labels_needed and columns is not None and not any(name in columns for name in _LABEL_COLUMNS):
            raise ValueError(
                f"`train_dataset` has no label column (columns: {columns}). Outlier Exposure needs one named "
                f"`label` or `labels`, and `remove_unused_columns` would drop any other name because the "
                "model's forward does not take it. Rename it, e.g. `dataset.rename_column('<name>', 'label')`."
            )

        needs_padding = columns is None or "input_ids" in columns
        if needs_padding and self._input_pad_id() is None:
            raise ValueError(
                "Outlier Exposure pads the in-distribution and outlier batches to one length, so it needs a pad "
                f"token id, but the tokenizer ({type(self.processing_class).__name__}) has no `pad_token` and "
                "`model.config.pad_token_id` is None. Set one, e.g. `tokenizer.pad_token = tokenizer.eos_token` "
                "and `model.config.pad_token_id = tokenizer.pad_token_id`."
            )

    # ---- Outlier stream ----

    def _outlier_batch_number(self) -> int:
        """Return the global index of the current outlier batch: (optimizer step, micro-step, rank)."""
        if self.state.global_step != self._micro_step_of:
            self._micro_step_of = self.state.global_step
            self._micro_step = 0
        else:
            self._micro_step += 1
        accumulation = self.args.gradient_accumulation_steps
        world_size = self.args.world_size
        micro_batch = self.state.global_step * accumulation + self._micro_step
        return micro_batch * world_size + self.args.process_index

    def _next_outlier_batch(self) -> dict[str, torch.Tensor]:
        indices = outlier_batch_indices(
            num_outliers=len(self.outlier_dataset),
            batch_size=self.args.outlier_batch_size,
            seed=self.args.seed,
            batch_number=self._outlier_batch_number(),
        )
        features = _rows(self.outlier_dataset, indices)
        batch = self.outlier_data_collator(features)
        batch = {key: value for key, value in batch.items() if key not in _LABEL_COLUMNS}
        return self._prepare_inputs(batch)

    def _input_pad_id(self) -> int | None:
        pad_id = getattr(self.processing_class, "pad_token_id", None)
        if pad_id is None:
            pad_id = getattr(getattr(self.model, "config", None), "pad_token_id", None)
        return pad_id

    def _pad_values(self) -> tuple[dict[str, int], str]:
        side = getattr(self.processing_class, "padding_side", "right")
        return {"input_ids": self._input_pad_id(), "attention_mask": 0, "token_type_ids": 0}, side

    # ---- Loss ----

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """Compute the in-distribution loss plus `oe_weight` times the outlier loss.

        Outside training, or without an outlier dataset, this is `Trainer.compute_loss` unchanged.
        """
        if self.outlier_dataset is None or not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

        if self.oe_task == "causal_lm":
            return self._causal_lm_loss(model, inputs, return_outputs)

        labels = _pop_labels(inputs)
        out_batch = self._next_outlier_batch()
        pad_values, padding_side = self._pad_values()
        combined = concatenate_batches(inputs, out_batch, pad_values, padding_side)

        outputs = model(**combined)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        num_in = labels.shape[0]
        in_logits, out_logits = logits[:num_in], logits[num_in:]  # (batch_in, C), (batch_out, C)

        loss_in = F.cross_entropy(in_logits.float(), labels, ignore_index=-100)
        loss_oe = self._outlier_loss(in_logits, out_logits)
        loss = loss_in + self.args.oe_weight * loss_oe

        self._record_terms(loss_in, loss_oe)
        if return_outputs:
            return loss, _with_logits(outputs, in_logits)
        return loss

    def _causal_lm_loss(
        self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """Next-token cross-entropy on in-distribution tokens plus the OE loss on every real outlier token."""
        pad_id = self._input_pad_id()
        labels = _pop_lm_labels(inputs, pad_id)
        out_batch = self._next_outlier_batch()
        out_mask = _token_mask(out_batch, pad_id)
        pad_values, padding_side = self._pad_values()
        combined = concatenate_batches(inputs, out_batch, pad_values, padding_side)
        num_in = labels.shape[0]
        length = combined["input_ids"].shape[1]
        labels = _pad_to_length(labels, length, -100, padding_side)
        out_mask = _pad_to_length(out_mask, length, 0, padding_side).bool()  # bool skips a 0/1 check per step

        outputs = model(**combined)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]  # (B_in + B_out, L, V)
        loss_in, loss_oe = causal_lm_oe_losses(logits, labels, out_mask)
        loss = loss_in + self.args.oe_weight * loss_oe

        self._record_terms(loss_in, loss_oe)
        if return_outputs:
            return loss, _with_logits(outputs, logits[:num_in])
        return loss

    def _outlier_loss(self, in_logits: torch.Tensor, out_logits: torch.Tensor) -> torch.Tensor:
        if self.args.oe_loss == "energy":
            return energy_margin_loss(
                in_logits,
                out_logits,
                m_in=self.args.energy_m_in,
                m_out=self.args.energy_m_out,
                temperature=self.args.energy_temperature,
            )
        return outlier_exposure_loss(out_logits)

    def _record_terms(self, loss_in: torch.Tensor, loss_oe: torch.Tensor) -> None:
        # Sums stay on the device until the next log, so a step never waits for a device-to-host copy.
        self._oe_term_sums["loss_in"] += loss_in.detach().double()
        self._oe_term_sums["loss_oe"] += loss_oe.detach().double()
        self._oe_term_count += 1

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Log as `Trainer` does, adding the mean in-distribution and outlier loss terms to training logs.

        Like Trainer's `loss`, the terms are averaged over the logging window and over all processes.
        """
        if "loss" in logs and self._oe_term_count > 0:
            logs.update(self._pop_mean_terms())
        super().log(logs, start_time)

    def _pop_mean_terms(self) -> dict[str, float]:
        names = list(self._oe_term_sums)
        totals = [float(self._oe_term_sums[name]) for name in names] + [float(self._oe_term_count)]
        if self.args.world_size > 1:
            # Every process logs at the same steps, so each one joins this gather.
            local = torch.tensor([totals], dtype=torch.float64, device=self.args.device)  # (1, terms + 1)
            totals = self.accelerator.gather(local).sum(dim=0).tolist()

        for name in names:
            self._oe_term_sums[name] = 0.0
        self._oe_term_count = 0
        return {name: round(total / totals[-1], 6) for name, total in zip(names, totals)}

    # ---- Saving ----

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Save as `Trainer` does, through a staging folder, so no saved file is ever half-written.

        Each file is written in full to a hidden folder inside `output_dir`, then moved into place with
        an atomic rename. An interrupted save leaves every file either as it was before or as it is new.
        """
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            super()._save(output_dir, state_dict)
            return

        os.makedirs(output_dir, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".saving-", dir=output_dir)
        try:
            super()._save(staging, state_dict)
            for name in os.listdir(staging):
                target = os.path.join(output_dir, name)
                if os.path.isdir(target) and os.path.isdir(os.path.join(staging, name)):
                    shutil.rmtree(target)
                os.replace(os.path.join(staging, name), target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # ---- Hub ----

    def record_outlier_exposure(self, outlier_dataset_name: str | None = None) -> dict[str, Any] | None:
        """Store the OE settings in `model.config.outlier_exposure`, so the saved config.json keeps them.

        Does nothing (and returns None) without an outlier dataset. A name recorded earlier is kept when
        `outlier_dataset_name` is None.
        """
        if self.outlier_dataset is None:
            return None
        from .hub import OE_CONFIG_KEY, config_record, outlier_exposure_settings

        config = self.accelerator.unwrap_model(self.model).config
        previous = config_record(config, OE_CONFIG_KEY) or {}
        name = outlier_dataset_name or previous.get("outlier_dataset")
        settings = outlier_exposure_settings(self.args, name)
        setattr(config, OE_CONFIG_KEY, settings)
        return settings

    def create_model_card(
        self,
        model_name: str | None = None,
        ood_report: Any = None,
        baseline_report: Any = None,
        template_path: str | None = None,
        license: str | None = None,
        tags: str | list[str] | None = None,
        finetuned_from: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Write the Outlier Exposure model card (`README.md`) into `args.output_dir`.

        Replaces the `Trainer` card with one that records the OE settings, the data sets and the OOD
        results (see `oe_nlp.hub.build_model_card`). `ood_report` defaults to the `results.json` in
        `args.output_dir`; without either, the card is not written and a warning gives the reason. Other
        `Trainer.create_model_card` arguments (language, tasks, dataset tags) are ignored.
        """
        if not self.is_world_process_zero():
            return
        from .hub import build_model_card, load_report, write_model_card

        output_dir = self.args.output_dir
        if ood_report is None:
            results_path = os.path.join(output_dir, "results.json")
            if not os.path.isfile(results_path):
                logger.warning(
                    "No OOD results for the model card: pass `ood_report=` or write %s first "
                    "(e.g. with `oe-nlp evaluate`). The card is not written.",
                    results_path,
                )
                return
            ood_report = load_report(results_path)
        if kwargs:
            logger.info("Model card arguments not used by the OE card: %s", sorted(kwargs))

        card = build_model_card(
            self.accelerator.unwrap_model(self.model).config,
            ood_report,
            baseline=baseline_report,
            model_name=model_name,
            repo_id=self.args.hub_model_id,
            template_path=template_path,
            license=license,
            tags=[tags] if isinstance(tags, str) else list(tags or []),
            base_model=finetuned_from,
        )
        write_model_card(output_dir, card)

    def push_to_hub(
        self,
        commit_message: str | None = "End of training",
        blocking: bool = True,
        token: str | None = None,
        revision: str | None = None,
        private: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Save the model with its OE settings and model card, then upload `args.output_dir` to the Hub.

        Works as `Trainer.push_to_hub`, with the card of `create_model_card` (pass `ood_report=` and
        `baseline_report=` through `kwargs`). When the Hub cannot be reached or rejects the upload, a
        `HubPushError` names the failed step and the retry command. The repository is created before anything
        is written, so a failure there leaves every local file as it was.

        NOTE: with `blocking=False` the upload runs in the background, and its errors surface only
        from the returned future, without the retry message.
        """
        from .hub import HUB_ERRORS, hub_push_error

        self.record_outlier_exposure()
        repo_id = self.args.hub_model_id or os.path.basename(os.path.abspath(self.args.output_dir))
        try:
            return super().push_to_hub(commit_message, blocking, token, revision, private, **kwargs)
        except HUB_ERRORS as error:
            if getattr(error, "errno", None) in _LOCAL_WRITE_ERRNOS:
                raise  # a local save failed (disk full, permissions): not a Hub problem
            step = "create repository" if self.hub_model_id is None else "upload"
            logger.error("Hub %s step failed for %s: %s", step, repo_id, error)
            raise hub_push_error(error, self.args.output_dir, repo_id, step) from error

    # ---- Evaluation ----

    def evaluate(
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """Run `Trainer.evaluate`, then add OOD metrics for each set in `ood_eval_datasets`.

        The in-distribution eval set and each OOD set are scored with `args.ood_score`. Keys are
        `<prefix>_ood_<name>_<metric>` per set and `<prefix>_ood_mean_<metric>` over the sets, with
        metrics as in `oe_nlp.metrics.ood_metrics` (fractions, not percentages).
        """
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        if self.oe_task == "causal_lm" and f"{metric_key_prefix}_loss" in metrics:
            metrics[f"{metric_key_prefix}_perplexity"] = math.exp(metrics[f"{metric_key_prefix}_loss"])
        if not self.ood_eval_datasets:
            return metrics

        in_dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if isinstance(in_dataset, dict):
            raise TypeError(
                "OOD evaluation needs one in-distribution eval set, but `eval_dataset` is a dict with keys "
                f"{list(in_dataset)}. Pass `eval_dataset=<one dataset>` to `evaluate()`."
            )
        ood_results = self.evaluate_ood(in_dataset, metric_key_prefix)
        self.log(ood_results)
        metrics.update(ood_results)
        return metrics

    def _get_eval_sampler(self, eval_dataset: Any) -> torch.utils.data.Sampler | None:
        # transformers 5.25 also groups evaluation batches by length when
        # `train_sampling_strategy="group_by_length"`, which shuffles the order of predictions.
        # OOD scores must stay aligned with their examples, so evaluation always runs in order.
        # With several processes, returning None lets accelerate shard the set in order.
        if eval_dataset is None or self.args.world_size > 1 or not hasattr(eval_dataset, "__len__"):
            return None
        return torch.utils.data.SequentialSampler(eval_dataset)

    def predict_logits(self, dataset: Any, description: str = "Prediction") -> np.ndarray:
        """Return the model's logits on `dataset` as a float32 array, gathered across processes.

        Token sequences run sorted by length, so batches carry little padding; the logits come back in
        the dataset's order.
        """
        order = None
        if "input_ids" in getattr(dataset, "column_names", []):
            order = np.argsort(_sequence_lengths(dataset), kind="stable")
            dataset = dataset.select(order)

        dataloader = self.get_test_dataloader(dataset)
        output = self.evaluation_loop(dataloader, description=description, prediction_loss_only=False)
        # Trainer.predict closes its progress bar through this event, so each call gets a fresh one.
        self.control = self.callback_handler.on_predict(self.args, self.state, self.control, output.metrics)
        predictions = output.predictions
        if isinstance(predictions, tuple):
            predictions = predictions[0]
        logits = np.asarray(predictions, dtype=np.float32)

        if order is not None:
            restored = np.empty_like(logits)
            restored[order] = logits
            logits = restored
        return logits

    def predict_sequence_scores(self, dataset: Any, description: str = "Prediction") -> dict[str, np.ndarray]:
        """Score each sequence of `dataset` with a causal language model, without keeping its logits.

        Position `t` predicts token `t + 1`; positions whose target label is -100 (padding) are skipped.
        Returns, per score of `oe_nlp.scores.LM_SEQUENCE_SCORES`, a float32 array with one value per
        sequence in the dataset's order. `"nll"` is the mean negative log-likelihood per token in nats
        (divide by ln 2 for bits per token); `"uniform_cross_entropy"` and `"msp"` follow. Higher means
        more anomalous.

        Each batch's `(B, L, V)` logits are reduced to `(B, 3)` scores before they are gathered, so memory
        does not grow with the dataset.
        """
        previous = self.preprocess_logits_for_metrics
        self.preprocess_logits_for_metrics = _stack_lm_sequence_scores
        try:
            dataloader = self.get_test_dataloader(dataset)
            output = self.evaluation_loop(dataloader, description=description, prediction_loss_only=False)
        finally:
            self.preprocess_logits_for_metrics = previous
        self.control = self.callback_handler.on_predict(self.args, self.state, self.control, output.metrics)
        scores = np.asarray(output.predictions, dtype=np.float32)  # (N, len(LM_SEQUENCE_SCORES))
        return {name: scores[:, index] for index, name in enumerate(LM_SEQUENCE_SCORES)}

    def _anomaly_scores(self, dataset: Any, description: str) -> np.ndarray:
        score = self.args.ood_score
        if self.oe_task == "causal_lm":
            return self.predict_sequence_scores(dataset, description)[score]
        logits = self.predict_logits(dataset, description=description)
        return np.asarray(anomaly_scores(logits, score, temperature=self.args.energy_temperature))

    def evaluate_ood(self, in_dataset: Any, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Score `in_dataset` and every OOD set once and return the flat OOD metrics."""
        in_scores = self._anomaly_scores(in_dataset, "In-distribution")

        results: dict[str, float] = {}
        per_set = []
        for name, dataset in self.ood_eval_datasets.items():
            ood_scores = self._anomaly_scores(dataset, f"OOD {name}")
            values = ood_metrics(in_scores, ood_scores)
            per_set.append(values)
            for metric, value in values.items():
                results[f"{metric_key_prefix}_ood_{name}_{metric}"] = value

        for metric in per_set[0]:
            results[f"{metric_key_prefix}_ood_mean_{metric}"] = float(np.mean([v[metric] for v in per_set]))
        return results


def _sequence_lengths(dataset: Any) -> np.ndarray:
    """Return the length of every `input_ids` row, read from the Arrow column without building lists."""
    if hasattr(dataset, "with_format"):
        import pyarrow.compute as pc

        column = dataset.with_format("arrow")["input_ids"]
        return pc.list_value_length(column).to_numpy(zero_copy_only=False)
    return np.array([len(ids) for ids in dataset["input_ids"]])


def _stack_lm_sequence_scores(logits: Any, labels: torch.Tensor | None) -> torch.Tensor:
    """Reduce a batch of language-model logits to its `(B, 3)` sequence scores (see `predict_sequence_scores`)."""
    if labels is None:
        raise ValueError(
            "No labels reached the language model, so next tokens cannot be scored. Collate language-model "
            "sets with `DataCollatorForLanguageModeling(tokenizer, mlm=False)`, which adds them."
        )
    if isinstance(logits, tuple):
        logits = logits[0]
    scores = lm_sequence_scores(logits, labels)
    return torch.stack([scores[name] for name in LM_SEQUENCE_SCORES], dim=-1)


def _is_causal_lm(model: Any) -> bool:
    """Return whether `model`'s class is a transformers causal LM or one registered with AutoModelForCausalLM."""
    from transformers import AutoModelForCausalLM
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    names: set[str] = set()
    for value in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values():
        names.update([value] if isinstance(value, str) else value)
    registered = getattr(AutoModelForCausalLM._model_mapping, "_extra_content", {})
    return type(model).__name__ in names or type(model) in set(registered.values())


def _is_classification_head(model: Any) -> bool:
    """Return whether `model` is one of the transformers sequence or image classification classes."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES,
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    names: set[str] = set()
    for mapping in (
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
        MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES,
    ):
        for value in mapping.values():
            names.update([value] if isinstance(value, str) else value)
    return type(model).__name__ in names


def _rows(dataset: Any, indices: np.ndarray) -> list[dict[str, Any]]:
    """Fetch rows as a list of feature dicts, with one batched read for a `datasets.Dataset`."""
    if not hasattr(dataset, "column_names"):
        return [dataset[int(index)] for index in indices]
    columns = dataset[indices.tolist()]  # {column: [value per row]}
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def _check_ood_eval_datasets(ood_eval_datasets: Any) -> dict[str, Any]:
    if ood_eval_datasets is None:
        return {}
    if not isinstance(ood_eval_datasets, dict):
        raise TypeError(
            f"`ood_eval_datasets` must be a dict of name -> dataset, got {type(ood_eval_datasets).__name__}. "
            "Pass e.g. `ood_eval_datasets={'imdb': imdb_tokenized}`."
        )
    for name, dataset in ood_eval_datasets.items():
        if len(dataset) == 0:
            raise ValueError(
                f"OOD set {name!r} in `ood_eval_datasets` is empty. Remove it or pass a non-empty set."
            )
        _check_model_inputs(dataset, f"OOD set {name!r}")
    return dict(ood_eval_datasets)


def _check_model_inputs(dataset: Any, role: str) -> None:
    columns = getattr(dataset, "column_names", None)
    if columns is not None and "input_ids" not in columns and "pixel_values" not in columns:
        raise ValueError(
            f"{role} has no model inputs (columns: {columns}). Tokenize it first, with the training tokenizer, "
            "e.g. `dataset.map(lambda batch: tokenizer(batch['text'], truncation=True), batched=True)`. "
            "Image datasets need a `pixel_values` column (see `oe_nlp.data.images.images_to_dataset`)."
        )


# errno values of local write failures, which push_to_hub re-raises as they are instead of as Hub errors.
_LOCAL_WRITE_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EPERM}


def _with_logits(outputs: Any, logits: torch.Tensor) -> Any:
    """Return the model outputs with their logits replaced, for dict and tuple outputs alike."""
    if isinstance(outputs, dict):
        outputs["logits"] = logits
        return outputs
    return (logits, *outputs[1:])


def _token_mask(batch: dict[str, torch.Tensor], pad_id: int | None) -> torch.Tensor:
    """Return the attention mask of a token batch, or `input_ids != pad_id` when it has none."""
    if "attention_mask" in batch:
        return batch["attention_mask"]
    return (batch["input_ids"] != pad_id).long()


def _pop_lm_labels(inputs: dict[str, Any], pad_id: int | None) -> torch.Tensor:
    """Take the next-token labels out of a language-model batch (unshifted, -100 = no target).

    Without a label column the labels are the input ids, with padding (attention mask 0) set to -100.
    """
    labels = next((inputs.pop(name) for name in _LABEL_COLUMNS if name in inputs), None)
    if labels is None:
        labels = inputs["input_ids"].masked_fill(_token_mask(inputs, pad_id) == 0, -100)
    if labels.dtype.is_floating_point:
        raise TypeError(f"Language-model labels must be token ids, got dtype {labels.dtype}.")
    if labels.shape != inputs["input_ids"].shape:
        raise ValueError(
            f"Language-model labels have shape {tuple(labels.shape)} but input_ids {tuple(inputs['input_ids'].shape)}."
            " Labels are the unshifted input ids (the model predicts labels[:, t + 1] at position t); "
            "`DataCollatorForLanguageModeling(tokenizer, mlm=False)` builds them."
        )
    return labels


def _pop_labels(inputs: dict[str, Any]) -> torch.Tensor:
    for name in _LABEL_COLUMNS:
        if name in inputs:
            labels = inputs.pop(name)
            break
    else:
        raise ValueError(
            f"The in-distribution batch has no labels (inputs: {sorted(inputs)}). Outlier Exposure trains a "
            "classifier, so the training dataset needs a `label` or `labels` column."
        )
    if labels.dtype.is_floating_point:
        raise TypeError(
            f"Labels must be integer class ids, got dtype {labels.dtype}. Cast the label column to int "
            "(e.g. `dataset.cast_column('label', ClassLabel(names=...))`)."
        )
    return labels
