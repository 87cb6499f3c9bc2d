"""Wide residual network (Zagoruyko and Komodakis, "Wide Residual Networks", BMVC 2016) as a HF model.

Hendrycks, Mazeika and Dietterich ("Deep Anomaly Detection with Outlier Exposure", ICLR 2019) used a
WRN-40-2 with dropout 0.3 for their CIFAR experiments. The network starts with a 3x3 stem convolution.
Three groups of pre-activation basic blocks follow, with 16k, 32k and 64k channels (k is the widen
factor) and strides 1, 2 and 2. Batch norm, ReLU, global average pooling and a linear layer close it. A depth d gives
n = (d - 4) / 6 blocks per group. Global average pooling lets the same network take 28x28 or 32x32
images.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.utils import logging

logger = logging.get_logger(__name__)

# BatchNorm settings of the reference WRN code: PyTorch's default momentum and epsilon.
_BATCH_NORM_MOMENTUM = 0.1


class WideResNetConfig(PretrainedConfig):
    """Configuration of `WideResNetForImageClassification`; the defaults are a WRN-40-2.

    Args:
        depth: Number of weighted layers, 6n + 4 for n blocks per group (10, 16, 22, 28, 40, ...).
        widen_factor: Channel multiplier k of the three groups (16k, 32k, 64k channels).
        dropout: Dropout probability between the two convolutions of each block.
        num_channels: Channels of the input images (1 for grey, 3 for RGB).
        num_labels: Number of classes. When None, the count comes from `id2label` if given, else 2.
        **kwargs: Other `PretrainedConfig` arguments, such as `id2label`.

    Raises:
        ValueError: If `depth` is not 6n + 4 with n >= 1, or another value is out of range.
    """

    model_type = "oe_wide_resnet"

    def __init__(
        self,
        depth: int = 40,
        widen_factor: int = 2,
        dropout: float = 0.0,
        num_channels: int = 3,
        num_labels: int | None = None,
        **kwargs,
    ) -> None:
        _validate_config_values(depth, widen_factor, dropout, num_channels)
        self.depth = depth
        self.widen_factor = widen_factor
        self.dropout = dropout
        self.num_channels = num_channels

        # Forwarded only when given: a saved config stores `id2label` but no `num_labels`, and a default
        # of 2 would make transformers rebuild `id2label` with 2 entries on loading.
        if num_labels is not None:
            kwargs["num_labels"] = num_labels
        super().__init__(**kwargs)

    @property
    def blocks_per_group(self) -> int:
        """Residual blocks in each of the three groups, n = (depth - 4) / 6."""
        return (self.depth - 4) // 6


def _validate_config_values(depth: int, widen_factor: int, dropout: float, num_channels: int) -> None:
    """Raise ValueError naming the first invalid `WideResNetConfig` argument."""
    for name, value in {"depth": depth, "widen_factor": widen_factor, "num_channels": num_channels}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if depth < 10 or (depth - 4) % 6 != 0:
        lower = max(10, depth - (depth - 4) % 6)
        raise ValueError(
            f"depth must be 6n + 4 with n >= 1 blocks per group (10, 16, 22, 28, 40, ...), got {depth}. "
            f"Use e.g. depth={lower} or depth={lower + 6}."
        )
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}.")


class WideBasicBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv3x3, dropout, BN-ReLU-conv3x3, plus the shortcut.

    When the channel count or stride changes, the shortcut is a 1x1 convolution of the activated input.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels, momentum=_BATCH_NORM_MOMENTUM)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels, momentum=_BATCH_NORM_MOMENTUM)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.dropout = dropout
        self.shortcut = None
        if in_channels != out_channels or stride != 1:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(hidden))
        residual = hidden if self.shortcut is None else self.shortcut(activated)
        output = self.conv1(activated)
        output = F.relu(self.bn2(output))
        if self.dropout > 0:
            output = F.dropout(output, p=self.dropout, training=self.training)
        return self.conv2(output) + residual


class WideResNetForImageClassification(PreTrainedModel):
    """Wide residual network image classifier taking `pixel_values` (N, C, H, W).

    Importing `oe_nlp.models` registers it with `AutoModelForImageClassification`.
    """

    config_class = WideResNetConfig
    base_model_prefix = "wide_resnet"
    main_input_name = "pixel_values"
    _no_split_modules: ClassVar[list[str]] = ["WideBasicBlock"]

    # The loss is a batch mean, so the Trainer must divide it by the accumulation steps itself.
    accepts_loss_kwargs = False

    def __init__(self, config: WideResNetConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        widths = [16, 16 * config.widen_factor, 32 * config.widen_factor, 64 * config.widen_factor]

        self.stem = nn.Conv2d(config.num_channels, widths[0], 3, stride=1, padding=1, bias=False)
        blocks = []
        in_channels = widths[0]
        for group, stride in enumerate((1, 2, 2)):
            for index in range(config.blocks_per_group):
                block_stride = stride if index == 0 else 1
                blocks.append(WideBasicBlock(in_channels, widths[group + 1], block_stride, config.dropout))
                in_channels = widths[group + 1]
        self.blocks = nn.Sequential(*blocks)
        self.final_norm = nn.BatchNorm2d(in_channels, momentum=_BATCH_NORM_MOMENTUM)
        self.classifier = nn.Linear(in_channels, config.num_labels)

        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Initialize as the reference WRN code does: He-normal convolutions (fan out), unit BN, zero biases.

        `from_pretrained` calls this only for modules with weights missing from a checkpoint.
        """
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            module.reset_parameters()
            nn.init.zeros_(module.bias)

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> ImageClassifierOutput | tuple[torch.Tensor, ...]:
        """Compute class logits and, when labels are given, the mean cross-entropy loss.

        Args:
            pixel_values: Float images of shape (N, num_channels, H, W), normalised.
            labels: Class ids of shape (N,). Rows labelled -100 are left out of the loss.
            return_dict: Whether to return an `ImageClassifierOutput` or a tuple. Defaults to
                `config.return_dict`.

        Returns:
            `ImageClassifierOutput` with `logits` (N, num_labels) and `loss` (None without labels), or
            the tuple `(loss, logits)` (`(logits,)` without labels).
        """
        if pixel_values.ndim != 4 or pixel_values.shape[1] != self.config.num_channels:
            raise ValueError(
                f"pixel_values must have shape (N, {self.config.num_channels}, H, W), got "
                f"{tuple(pixel_values.shape)}. Convert the images to {self.config.num_channels} channel(s)."
            )
        hidden = self.blocks(self.stem(pixel_values))
        hidden = F.relu(self.final_norm(hidden))
        logits = self.classifier(hidden.mean(dim=(2, 3)))  # (N, num_labels)

        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float(), labels.to(logits.device), ignore_index=-100)

        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return (logits,) if loss is None else (loss, logits)
        return ImageClassifierOutput(loss=loss, logits=logits)
