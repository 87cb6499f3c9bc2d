"""Image data for Outlier Exposure: readers, torch transforms, a collator, synthetic noise and a registry.

Images are stored in `datasets.Dataset`s as raw uint8 pixels in a column `pixel_values` of shape
(channels, height, width), with an optional `label` column. Channel conversion and resizing happen once,
at load time. Scaling to [0, 1], augmentation and normalisation happen per batch, through
`dataset.with_transform(ImageTransform(...))`, and `collate_images` stacks the transformed rows into
the float32 `pixel_values` (N, C, H, W) batch an image classifier takes. Nothing here imports torchvision.

The synthetic OOD sets follow the noise sets of Hendrycks, Mazeika and Dietterich, "Deep Anomaly
Detection with Outlier Exposure" (ICLR 2019): Gaussian, Rademacher, Bernoulli and blobs.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
import torch.nn.functional as F
from transformers.utils import logging

from oe_nlp.data.loading import DATA_DIR_ENV, resolve_data_dir

logger = logging.get_logger(__name__)

PathLike = str | os.PathLike

PIXEL_COLUMN = "pixel_values"

# idx magic numbers (LeCun's MNIST format): 0x08 = unsigned byte data, then the number of dimensions.
IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801

# Per-channel means and standard deviations of the training pixels in [0, 1]. The MNIST values are the
# usual ones for the 60,000 training digits, and the CIFAR-10 values those of its 50,000 training images.
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

# ITU-R BT.601 luma weights, the usual RGB-to-grey conversion (Pillow's "L" mode uses them too).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

SYNTHETIC_KINDS = ("gaussian", "rademacher", "bernoulli", "blobs")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


# ---- Readers ----


def read_idx(path: PathLike) -> np.ndarray:
    """Read an idx file (the MNIST format), gzip-compressed or not.

    The header is big-endian: a magic number (0x803 for images, 0x801 for labels), then one 32-bit size
    per dimension. Unsigned bytes follow.

    Args:
        path: The `.gz` or uncompressed idx file.

    Returns:
        uint8 array of shape (N, rows, columns) for images or (N,) for labels.

    Raises:
        ValueError: If the magic number is neither image nor label idx, or the file is shorter than
            its header declares.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            data = file.read()
    except (EOFError, gzip.BadGzipFile) as error:
        raise ValueError(f"{path} is not a complete gzip file ({error}). Download it again.") from error

    if len(data) < 4:
        raise ValueError(f"{path} is truncated: {len(data)} bytes, shorter than the 4-byte idx magic number.")
    magic = struct.unpack(">I", data[:4])[0]
    if magic not in (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC):
        raise ValueError(
            f"{path} has the magic number {magic:#010x}, but idx files of unsigned bytes start with "
            f"{IDX_IMAGES_MAGIC:#010x} (images) or {IDX_LABELS_MAGIC:#010x} (labels). Check that it is an "
            "MNIST-format idx file (a gzip file needs the .gz suffix)."
        )

    num_dims = magic & 0xFF
    header_size = 4 + 4 * num_dims
    if len(data) < header_size:
        raise ValueError(
            f"{path} is truncated: {len(data)} bytes, shorter than its {header_size}-byte header."
        )
    shape = struct.unpack(f">{num_dims}I", data[4:header_size])

    expected = header_size + int(np.prod(shape))
    if len(data) < expected:
        raise ValueError(
            f"{path} is truncated: the header declares shape {shape} ({expected} bytes with the header), "
            f"but the file has {len(data)} bytes. Download it again."
        )
    return np.frombuffer(data, dtype=np.uint8, count=expected - header_size, offset=header_size).reshape(
        shape
    )


def read_cifar_npz(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read CIFAR images from an `.npz` file with the keys `images` (N, 32, 32, 3) uint8 and `labels` (N,).

    Returns:
        Images as uint8 (N, 3, 32, 32) and labels as int64 (N,).

    Raises:
        ValueError: If a key is missing or the arrays have the wrong shape or dtype.
    """
    with np.load(path, allow_pickle=False) as archive:
        missing = [key for key in ("images", "labels") if key not in archive.files]
        if missing:
            raise ValueError(f"{path} lacks the key(s) {missing}; its keys are {archive.files}.")
        images, labels = archive["images"], archive["labels"]

    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"{path}: `images` must be uint8 of shape (N, H, W, 3), got {images.dtype} {images.shape}."
        )
    if labels.shape != (len(images),):
        raise ValueError(f"{path}: `labels` has shape {labels.shape}, expected ({len(images)},).")
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)), labels.astype(np.int64)


def read_idx_pair(paths: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Read an (images, labels) idx pair as uint8 (N, 1, H, W) images and int64 labels."""
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(
            f"Expected an image idx file and a label idx file, got shapes {images.shape} ({paths[0]}) and "
            f"{labels.shape} ({paths[1]})."
        )
    if len(images) != len(labels):
        raise ValueError(f"{paths[0]} has {len(images)} images but {paths[1]} has {len(labels)} labels.")
    return images[:, None], labels.astype(np.int64)


def read_image_folder(folder: PathLike) -> np.ndarray:
    """Read every image file under `folder` (sorted by path) as uint8 RGB (N, 3, H, W).

    All images must have one size; resize them with `convert_images` afterwards for another size.
    """
    from PIL import Image

    paths = sorted(path for path in Path(folder).rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"No image files ({', '.join(IMAGE_SUFFIXES)}) found under {folder}.")

    arrays = []
    for path in paths:
        with Image.open(path) as image:
            arrays.append(np.asarray(image.convert("RGB")).transpose(2, 0, 1))
    sizes = {array.shape for array in arrays}
    if len(sizes) > 1:
        raise ValueError(f"Images under {folder} have several sizes {sorted(sizes)}; give them one size.")
    return np.stack(arrays)


# ---- Pixel conversions (torch ops) ----


def to_channels_first(images: np.ndarray) -> np.ndarray:
    """Return uint8 images as (N, C, H, W): (N, H, W) gets one channel, (N, H, W, C) is transposed."""
    if images.ndim == 3:
        return images[:, None]
    if images.ndim == 4 and images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    if images.ndim == 4:
        return images
    raise ValueError(f"Expected images of shape (N, H, W), (N, H, W, C) or (N, C, H, W), got {images.shape}.")


def to_grayscale(images: torch.Tensor) -> torch.Tensor:
    """Convert float RGB images (N, 3, H, W) to one luma channel (N, 1, H, W) with the BT.601 weights."""
    if images.shape[1] != 3:
        raise ValueError(f"to_grayscale expects 3 channels, got shape {tuple(images.shape)}.")
    weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def resize_images(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize float images (N, C, H, W) bilinearly, with antialiasing when shrinking."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)


def convert_images(
    images: np.ndarray, num_channels: int | None = None, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Convert uint8 images (N, C, H, W) to `num_channels` (1 or 3) and `size`, staying uint8.

    RGB becomes grey through `to_grayscale`, grey becomes RGB by repeating the channel, and `size` is
    reached with `resize_images`. Results are rounded back to uint8.
    """
    images = to_channels_first(images)
    channels = images.shape[1]
    same_size = size is None or tuple(images.shape[-2:]) == tuple(size)
    if (num_channels is None or num_channels == channels) and same_size:
        return images
    if num_channels not in (None, 1, 3):
        raise ValueError(f"num_channels must be 1 or 3, got {num_channels}.")

    tensor = torch.from_numpy(np.ascontiguousarray(images)).float()
    if num_channels == 1 and channels == 3:
        tensor = to_grayscale(tensor)
    elif num_channels == 3 and channels == 1:
        tensor = tensor.repeat(1, 3, 1, 1)
    if size is not None:
        tensor = resize_images(tensor, size)
    return tensor.round().clamp(0, 255).to(torch.uint8).numpy()


def normalize_images(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Return `(images - mean) / std` per channel for float images (N, C, H, W)."""
    if len(mean) != images.shape[1] or len(std) != images.shape[1]:
        raise ValueError(
            f"mean {tuple(mean)} and std {tuple(std)} need one value per channel, but the images have "
            f"{images.shape[1]} channels."
        )
    mean_tensor = torch.tensor(mean, dtype=images.dtype).view(1, -1, 1, 1)
    std_tensor = torch.tensor(std, dtype=images.dtype).view(1, -1, 1, 1)
    return (images - mean_tensor) / std_tensor


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Pad images (N, C, H, W) with `padding` zeros on each side and crop a random H x W window from each.

    The window offsets are `torch.randint(0, 2 * padding + 1, (N, 2), generator=generator)`, row offset
    first, drawn once per call.
    """
    if padding == 0:
        return images
    height, width = images.shape[-2:]
    padded = F.pad(images, (padding, padding, padding, padding), value=0.0)
    offsets = torch.randint(0, 2 * padding + 1, (images.shape[0], 2), generator=generator)
    crops = [
        padded[index, :, top : top + height, left : left + width]
        for index, (top, left) in enumerate(offsets.tolist())
    ]
    return torch.stack(crops)


def random_horizontal_flip(
    images: torch.Tensor, generator: torch.Generator, probability: float = 0.5
) -> torch.Tensor:
    """Mirror each image (N, C, H, W) left to right with `probability`.

    The decision per image is `torch.rand(N, generator=generator) < probability`, drawn once per call.
    """
    flip = torch.rand(images.shape[0], generator=generator) < probability
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)


@dataclass
class ImageTransform:
    """Batch transform for `dataset.with_transform`: uint8 pixels in, normalised float32 tensors out.

    Each call scales `pixel_values` to [0, 1], applies the random crop (when `crop_padding > 0`) and then
    the horizontal flip (when `flip`), and normalises with `mean` and `std`. Other columns pass through.

    Attributes:
        mean, std: Per-channel normalisation constants for pixels in [0, 1].
        crop_padding: Zero padding of the random crop, in pixels; 0 turns cropping off.
        flip: Whether to mirror images at random (probability 1/2).
        seed: Seed of the transform's own `torch.Generator`. With data-loader workers, each worker
            gets a copy of this generator, so they draw the same augmentations. Keep
            `dataloader_num_workers=0` when augmenting.
    """

    mean: Sequence[float]
    std: Sequence[float]
    crop_padding: int = 0
    flip: bool = False
    seed: int = 0
    generator: torch.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0, got {self.crop_padding}.")
        if any(value <= 0 for value in self.std):
            raise ValueError(f"std must be positive in every channel, got {tuple(self.std)}.")
        self.generator = torch.Generator().manual_seed(self.seed)

    @property
    def augments(self) -> bool:
        """Whether the transform draws random numbers."""
        return self.crop_padding > 0 or self.flip

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        pixels = torch.as_tensor(np.asarray(batch[PIXEL_COLUMN], dtype=np.uint8)).float() / 255.0
        if pixels.ndim != 4:
            raise ValueError(
                f"`{PIXEL_COLUMN}` must hold (C, H, W) images, got a batch of {tuple(pixels.shape)}."
            )
        pixels = random_crop(pixels, self.crop_padding, self.generator)
        if self.flip:
            pixels = random_horizontal_flip(pixels, self.generator)
        output = dict(batch)
        output[PIXEL_COLUMN] = normalize_images(pixels, self.mean, self.std)
        return output


# ---- Collator ----


def collate_images(features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack transformed image rows into `pixel_values` (float32, N, C, H, W) and `labels` (int64, N).

    `labels` comes from a `label` or `labels` key and is left out when the rows have none, as for
    outliers. Rows must hold float pixels from `ImageTransform`, not raw uint8 pixels.
    """
    if not features:
        raise ValueError("collate_images got an empty list of rows.")
    pixels = [torch.as_tensor(feature[PIXEL_COLUMN]) for feature in features]
    if pixels[0].dtype == torch.uint8:
        raise TypeError(
            f"`{PIXEL_COLUMN}` contains raw uint8 pixels, but the model needs scaled floats. Set the transform, e.g. "
            "`dataset.with_transform(ImageTransform(mean=..., std=...))`."
        )
    if pixels[0].ndim != 3:
        raise ValueError(
            f"Each row's `{PIXEL_COLUMN}` must be (C, H, W), got shape {tuple(pixels[0].shape)}."
        )

    batch = {PIXEL_COLUMN: torch.stack(pixels).to(torch.float32)}
    label_key = next((key for key in ("labels", "label") if key in features[0]), None)
    if label_key is not None:
        batch["labels"] = torch.tensor([int(feature[label_key]) for feature in features], dtype=torch.int64)
    return batch


# ---- Synthetic OOD sets ----


def synthetic_images(
    kind: str, num_images: int, shape: tuple[int, int, int], seed: int = 0, probability: float = 0.5
) -> np.ndarray:
    """Generate seeded noise images as uint8 (N, C, H, W), in the pixel range of real images.

    Kinds, with pixel values v in [0, 1] before the uint8 scaling (v * 255, rounded):
        gaussian: v = clip(0.5 + 0.25 * z) with z standard normal, i.e. N(0, 0.5^2) clipped to [-1, 1]
            on the [-1, 1] scale.
        rademacher: every dimension is -1 or +1 with equal probability on the [-1, 1] scale, so v is 0 or
            1. On one channel this is `bernoulli` with probability 1/2 under another name.
        bernoulli: v = 1 with `probability`, else 0.
        blobs: v = 1 with probability 0.7, smoothed by a Gaussian blur (sigma 1 pixel), and every value
            below 0.75 set to 0, which leaves bright blobs on black.

    Args:
        kind: One of `SYNTHETIC_KINDS`.
        num_images: Number of images N.
        shape: (channels, height, width) of each image.
        seed: Seed of the `numpy.random.default_rng` generator.
        probability: Pixel-on probability of `bernoulli`.

    Returns:
        uint8 array of shape (N, C, H, W).
    """
    if kind not in SYNTHETIC_KINDS:
        raise ValueError(f"Unknown synthetic OOD kind {kind!r}. Choose one of {list(SYNTHETIC_KINDS)}.")
    if num_images <= 0:
        raise ValueError(f"num_images must be a positive integer, got {num_images}.")
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability}.")

    rng = np.random.default_rng(seed)
    size = (num_images, *shape)
    if kind == "gaussian":
        values = np.clip(0.5 + 0.25 * rng.standard_normal(size), 0.0, 1.0)
    elif kind == "rademacher":
        values = rng.integers(0, 2, size=size).astype(np.float64)
    elif kind == "bernoulli":
        values = (rng.random(size) < probability).astype(np.float64)
    else:
        values = _blobs((rng.random(size) < 0.7).astype(np.float64))
    return np.round(values * 255.0).astype(np.uint8)


def _blobs(binary: np.ndarray, sigma: float = 1.0, threshold: float = 0.75) -> np.ndarray:
    """Blur each channel with a Gaussian kernel (reflected borders) and zero the values below `threshold`."""
    radius = int(np.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel = torch.from_numpy(kernel / kernel.sum())

    num_images, channels, height, width = binary.shape
    tensor = torch.from_numpy(binary).reshape(num_images * channels, 1, height, width)
    tensor = F.pad(tensor, (radius, radius, radius, radius), mode="reflect")
    tensor = F.conv2d(tensor, kernel.view(1, 1, 1, -1))
    tensor = F.conv2d(tensor, kernel.view(1, 1, -1, 1))
    blurred = tensor.reshape(num_images, channels, height, width).numpy()
    return np.where(blurred < threshold, 0.0, blurred)


def synthetic_ood_dataset(
    kind: str, num_images: int, shape: tuple[int, int, int], seed: int = 0
) -> datasets.Dataset:
    """Build an unlabelled `pixel_values` dataset of `synthetic_images(kind, ...)`."""
    return images_to_dataset(synthetic_images(kind, num_images, shape, seed))


# ---- Datasets ----


def image_features(
    shape: tuple[int, int, int], label_names: Sequence[str] | None = None
) -> datasets.Features:
    """Return the features of an image dataset: uint8 `pixel_values` (C, H, W) and an optional `label`."""
    features = {PIXEL_COLUMN: datasets.Array3D(shape=tuple(shape), dtype="uint8")}
    if label_names is not None:
        features["label"] = datasets.ClassLabel(names=list(label_names))
    return datasets.Features(features)


def images_to_dataset(
    images: np.ndarray, labels: np.ndarray | None = None, label_names: Sequence[str] | None = None
) -> datasets.Dataset:
    """Wrap uint8 images (N, C, H, W) and optional labels in a `datasets.Dataset`."""
    images = to_channels_first(np.asarray(images))
    if images.dtype != np.uint8:
        raise TypeError(f"Images must be uint8 pixels in 0..255, got dtype {images.dtype}.")
    columns: dict[str, Any] = {PIXEL_COLUMN: images}
    if labels is not None:
        if label_names is None:
            label_names = [str(index) for index in range(int(np.max(labels)) + 1)]
        columns["label"] = np.asarray(labels, dtype=np.int64)
    features = image_features(images.shape[1:], label_names if labels is not None else None)
    return datasets.Dataset.from_dict(columns, features=features)


# ---- Registry ----

ImageReader = Callable[[Sequence[Path]], tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class ImageDatasetSpec:
    """Declaration of one image data set: its local files, its Hub copy and its classes.

    Attributes:
        name: Registry key, e.g. "mnist" or "svhn".
        description: One line on what the data set is and where it comes from.
        local_files: Split -> file paths relative to the data directory; empty for Hub-only sets.
        local_reader: Reads one split's files as uint8 (N, C, H, W) images and labels (or None).
        hub_id: Hub dataset repository, or None when there is no copy there.
        hub_config: Hub config name, or None for the default config.
        hub_revision: Pinned Hub commit, or None when none was checked.
        hub_splits: Split -> Hub split expression.
        hub_image_column: Hub column with the images, or None to take the first `Image` column.
        hub_label_column: Hub column with the class id, or None.
        label_names: Class names in class-id order, or None for unlabelled sets.
    """

    name: str
    description: str
    local_files: dict[str, tuple[str, ...]] = field(default_factory=dict)
    local_reader: ImageReader | None = field(default=None, repr=False, compare=False)
    hub_id: str | None = None
    hub_config: str | None = None
    hub_revision: str | None = None
    hub_splits: dict[str, str] = field(default_factory=dict)
    hub_image_column: str | None = None
    hub_label_column: str | None = None
    label_names: tuple[str, ...] | None = None


def _read_cifar_split(paths: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    return read_cifar_npz(paths[0])


DIGITS = tuple(str(digit) for digit in range(10))
CIFAR10_LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FASHION_MNIST_LABELS = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# NOTE: The Hub revisions are not pinned (None loads the default branch) except for DTD, because no
# full commit sha of the other repositories could be checked.
IMAGE_REGISTRY: dict[str, ImageDatasetSpec] = {
    "mnist": ImageDatasetSpec(
        name="mnist",
        description="MNIST test digits (LeCun et al.), 10,000 28x28 grey images",
        local_files={
            "test": ("vision/mnist/t10k-images-idx3-ubyte.gz", "vision/mnist/t10k-labels-idx1-ubyte.gz")
        },
        local_reader=read_idx_pair,
        hub_id="ylecun/mnist",
        hub_splits={"train": "train", "test": "test"},
        hub_image_column="image",
        hub_label_column="label",
        label_names=DIGITS,
    ),
    "notmnist": ImageDatasetSpec(
        name="notmnist",
        description="notMNIST (Bulatov 2011): letters A-J in many fonts, a 10,000-image sample, 28x28 grey",
        local_files={
            "test": ("vision/notmnist/t10k-images-idx3-ubyte.gz", "vision/notmnist/t10k-labels-idx1-ubyte.gz")
        },
        local_reader=read_idx_pair,
        label_names=tuple("ABCDEFGHIJ"),
    ),
    "fashion_mnist": ImageDatasetSpec(
        name="fashion_mnist",
        description="Fashion-MNIST (Xiao et al. 2017): the first 1,770 test and 1,813 train images, 28x28 grey",
        local_files={
            "test": (
                "vision/fashion_mnist/t10k-first1770-images-idx3-ubyte.gz",
                "vision/fashion_mnist/t10k-first1770-labels-idx1-ubyte.gz",
            ),
            "train": (
                "vision/fashion_mnist/train-first1813-images-idx3-ubyte.gz",
                "vision/fashion_mnist/train-first1813-labels-idx1-ubyte.gz",
            ),
        },
        local_reader=read_idx_pair,
        hub_id="zalando-datasets/fashion_mnist",
        hub_splits={"train": "train", "test": "test"},
        hub_image_column="image",
        hub_label_column="label",
        label_names=FASHION_MNIST_LABELS,
    ),
    "cifar10": ImageDatasetSpec(
        name="cifar10",
        description="CIFAR-10 (Krizhevsky 2009), 32x32 RGB; the local copy is the test set decoded from JPEG",
        local_files={"test": ("vision/cifar10/cifar10_test_10k_from_jpeg.npz",)},
        local_reader=_read_cifar_split,
        hub_id="uoft-cs/cifar10",
        hub_config="plain_text",
        hub_splits={"train": "train", "test": "test"},
        hub_image_column="img",
        hub_label_column="label",
        label_names=CIFAR10_LABELS,
    ),
    "cifar100": ImageDatasetSpec(
        name="cifar100",
        description="CIFAR-100 test set (Krizhevsky 2009), 32x32 RGB, used unlabelled as an OOD set",
        hub_id="uoft-cs/cifar100",
        hub_splits={"test": "test"},
        hub_image_column="img",
    ),
    "svhn": ImageDatasetSpec(
        name="svhn",
        description="SVHN cropped digits test set (Netzer et al. 2011), 32x32 RGB",
        hub_id="ufldl-stanford/svhn",
        hub_config="cropped_digits",
        hub_splits={"test": "test"},
        hub_image_column="image",
    ),
    "textures": ImageDatasetSpec(
        name="textures",
        description="Describable Textures Dataset (Cimpoi et al. 2014) test split, resized on load",
        hub_id="tanganke/dtd",
        hub_revision="d2afa97d9f335b1a6b3b09c637aef667f98f966e",
        hub_splits={"test": "test"},
    ),
    "places365": ImageDatasetSpec(
        name="places365",
        description="Places365 scene images (Zhou et al. 2017), 256px copy, the first 10,000, resized on load",
        # NOTE: this repository contains the whole training set (millions of images) in one split, so
        # loading a slice still downloads all its files. No smaller Places365 test copy was found.
        hub_id="ljnlonoljpiljm/places365-256px",
        hub_splits={"test": "train[:10000]"},
    ),
    "lsun": ImageDatasetSpec(
        name="lsun",
        description="LSUN (resize) OOD set of Liang et al. 2018: 10,000 scene images at 32x32",
        hub_id="detectors/lsun_r-ood",
        hub_splits={"test": "train"},
        hub_image_column="image",
    ),
}


def get_image_spec(name: str) -> ImageDatasetSpec:
    """Return the registry entry of an image data set, or raise ValueError listing the known names."""
    if name not in IMAGE_REGISTRY:
        raise ValueError(f"Unknown image data set {name!r}. Known: {', '.join(sorted(IMAGE_REGISTRY))}.")
    return IMAGE_REGISTRY[name]


def image_hub_request(name: str, split: str) -> dict[str, Any]:
    """Build the keyword arguments of the `datasets.load_dataset` call for one split; nothing is downloaded."""
    return _hub_request(get_image_spec(name), split)


def _hub_request(spec: ImageDatasetSpec, split: str) -> dict[str, Any]:
    name = spec.name
    if spec.hub_id is None:
        raise ValueError(
            f"Image data set {name!r} has no Hub copy here, so it can only be read from local files "
            f"({', '.join(file for files in spec.local_files.values() for file in files)}). Pass the folder "
            f"that contains them as --data_dir or set ${DATA_DIR_ENV}."
        )
    if split not in spec.hub_splits:
        raise ValueError(
            f"Image data set {name!r} has no Hub split {split!r}; it has {list(spec.hub_splits)}."
        )
    return {
        "path": spec.hub_id,
        "name": spec.hub_config,
        "split": spec.hub_splits[split],
        "revision": spec.hub_revision,
    }


def load_image_dataset(
    name: str,
    split: str,
    data_dir: PathLike | None = None,
    num_channels: int | None = None,
    size: tuple[int, int] | None = None,
) -> datasets.Dataset:
    """Load one split of a registered image data set as uint8 `pixel_values` (C, H, W) and `label`.

    With a data directory (`data_dir`, else `$OE_NLP_DATA_DIR`), the local files are read. A data set
    with no local files for the split is loaded from the Hub, and so is every set without a data directory.

    Args:
        name: Registry key, e.g. "mnist".
        split: Split name, e.g. "test".
        data_dir: Local data directory.
        num_channels: Convert to this many channels (1 or 3); None keeps the stored ones.
        size: Resize to (height, width); None keeps the stored size. Hub images of mixed sizes need it.

    Returns:
        A Dataset with `pixel_values` and, for labelled sets with labels, `label` (ClassLabel).
    """
    spec = get_image_spec(name)
    root = resolve_data_dir(data_dir)
    if root is not None and split in spec.local_files:
        paths = [root / relative for relative in spec.local_files[split]]
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise FileNotFoundError(
                f"Missing file(s) {missing} of image data set {name!r} (split {split!r}) in the data directory "
                f"{root}. Pass the folder that contains `vision/` as --data_dir or set ${DATA_DIR_ENV}."
            )
        logger.info("Reading %s split %r from %s", name, split, ", ".join(map(str, paths)))
        images, labels = spec.local_reader(paths)
    else:
        images, labels = _read_hub_images(spec, split, num_channels, size)

    images = convert_images(images, num_channels, size)
    label_names = spec.label_names if labels is not None else None
    return images_to_dataset(images, labels, label_names)


def _read_hub_images(
    spec: ImageDatasetSpec, split: str, num_channels: int | None, size: tuple[int, int] | None
) -> tuple[np.ndarray, np.ndarray | None]:
    request = _hub_request(spec, split)
    logger.info("Loading %s split %r from the Hub with %s", spec.name, split, request)
    try:
        hub_dataset = datasets.load_dataset(**request)
    except (ConnectionError, OSError) as error:
        raise ConnectionError(
            f"Could not load image data set {spec.name!r} from the Hugging Face Hub ({spec.hub_id}): {error}. "
            f"Without network access, pass a local data folder as --data_dir or set ${DATA_DIR_ENV}, and use "
            "only data sets with local files (see docs/data.md)."
        ) from error

    column = spec.hub_image_column or next(
        (key for key, feature in hub_dataset.features.items() if isinstance(feature, datasets.Image)), None
    )
    if column is None or column not in hub_dataset.column_names:
        raise ValueError(
            f"The Hub copy of {spec.name!r} ({spec.hub_id}) has no image column {column!r}; its columns are "
            f"{hub_dataset.column_names}. The repository layout may have changed."
        )

    mode = "L" if num_channels == 1 else "RGB"
    images = [_pil_to_array(image, mode, size) for image in hub_dataset[column]]
    labels = None
    if spec.hub_label_column is not None and spec.label_names is not None:
        labels = np.asarray(hub_dataset[spec.hub_label_column], dtype=np.int64)
    return np.stack(images), labels


def _pil_to_array(image: Any, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """Convert one PIL image to uint8 (C, H, W) in `mode`, resized with `resize_images` when `size` is set."""
    array = np.asarray(image.convert(mode))
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    if size is None:
        return array
    return convert_images(array[None], size=size)[0]


def load_image_source(
    source: str,
    data_dir: PathLike | None = None,
    num_channels: int | None = None,
    size: tuple[int, int] | None = None,
    split: str = "test",
) -> datasets.Dataset:
    """Load images from a registry name, a local folder or file, or a Hub dataset id.

    A path that exists is read as a folder of image files, an `.npz` file with an `images` array, or an
    idx image file. A registry name loads `split` of that entry. Anything else is taken as a Hub dataset
    id, whose `train` split is read through its first `Image` column.

    Returns:
        An unlabelled Dataset with `pixel_values`, converted to `num_channels` and `size`.
    """
    if source in IMAGE_REGISTRY:
        dataset = load_image_dataset(source, split, data_dir, num_channels, size)
        return dataset.remove_columns([name for name in dataset.column_names if name != PIXEL_COLUMN])

    path = Path(source).expanduser()
    if path.is_dir():
        images = read_image_folder(path)
    elif path.is_file() and path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            images = archive["images"]
    elif path.is_file():
        images = read_idx(path)
    else:
        spec = ImageDatasetSpec(
            name=source, description="Hub dataset id", hub_id=source, hub_splits={split: "train"}
        )
        images, _ = _read_hub_images(spec, split, num_channels, size)
    return images_to_dataset(convert_images(images, num_channels, size))
