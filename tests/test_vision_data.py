"""Tests of the image readers, transforms, collator and synthetic OOD sets on the vision fixtures."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from oe_nlp.data.images import (
    MNIST_MEAN,
    MNIST_STD,
    ImageTransform,
    collate_images,
    convert_images,
    load_image_dataset,
    random_crop,
    random_horizontal_flip,
    read_cifar_npz,
    read_idx,
    resize_images,
    synthetic_images,
    to_grayscale,
)
from tests.conftest import FIXTURE_DATA

VISION = FIXTURE_DATA / "vision"

# The first 20 labels of the official MNIST test set.
MNIST_FIRST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6, 9, 0, 1, 5, 9, 7, 3, 4]


def write_idx(path, array: np.ndarray, magic: int | None = None) -> None:
    magic = 0x800 | array.ndim if magic is None else magic
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


# ---- Readers ----


def test_read_idx_mnist_labels():
    labels = read_idx(VISION / "mnist" / "t10k-labels-idx1-ubyte.gz")
    images = read_idx(VISION / "mnist" / "t10k-images-idx3-ubyte.gz")

    assert labels.dtype == np.uint8
    assert labels[:20].tolist() == MNIST_FIRST_LABELS
    assert images.shape == (100, 28, 28)
    assert images.dtype == np.uint8


def test_read_idx_fashion_labels():
    test_labels = read_idx(VISION / "fashion_mnist" / "t10k-first1770-labels-idx1-ubyte.gz")
    train_labels = read_idx(VISION / "fashion_mnist" / "train-first1813-labels-idx1-ubyte.gz")

    assert test_labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert train_labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


def test_read_idx_pixels_match_bytes(tmp_path):
    pixels = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "images.gz"
    write_idx(path, pixels)

    np.testing.assert_array_equal(read_idx(path), pixels)


def test_read_idx_uncompressed(tmp_path):
    labels = np.array([3, 1, 4], dtype=np.uint8)
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(struct.pack(">II", 0x801, 3) + labels.tobytes())

    np.testing.assert_array_equal(read_idx(path), labels)


def test_read_idx_wrong_magic(tmp_path):
    path = tmp_path / "bad.gz"
    write_idx(path, np.zeros((2, 2, 2), dtype=np.uint8), magic=0x00000903)

    with pytest.raises(ValueError, match="magic number 0x00000903") as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_read_idx_truncated(tmp_path):
    path = tmp_path / "short.gz"
    header = struct.pack(">IIII", 0x803, 5, 28, 28)
    with gzip.open(path, "wb") as file:
        file.write(header + bytes(28 * 28 * 2))

    with pytest.raises(ValueError, match="truncated") as error:
        read_idx(path)
    assert str(path) in str(error.value)
    assert "(5, 28, 28)" in str(error.value)


def test_read_cifar_npz_fixture():
    images, labels = read_cifar_npz(VISION / "cifar10" / "cifar10_test_10k_from_jpeg.npz")
    with np.load(VISION / "cifar10" / "cifar10_test_10k_from_jpeg.npz") as archive:
        reference = archive["images"]

    assert images.shape == (40, 3, 32, 32)
    assert labels.tolist() == [label for label in range(10) for _ in range(4)]
    np.testing.assert_array_equal(images[7, 2], reference[7, :, :, 2])


def test_load_mnist_dataset_fixture():
    dataset = load_image_dataset("mnist", "test", data_dir=FIXTURE_DATA)

    assert dataset.column_names == ["pixel_values", "label"]
    assert dataset.features["label"].names == [str(digit) for digit in range(10)]
    assert dataset["label"][:20] == MNIST_FIRST_LABELS
    assert np.asarray(dataset[0]["pixel_values"]).shape == (1, 28, 28)


def test_load_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz"):
        load_image_dataset("mnist", "test", data_dir=tmp_path)


# ---- Conversions ----


def test_grayscale_matches_bt601_weights():
    rgb = torch.rand(2, 3, 5, 4, dtype=torch.float64)
    expected = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]

    grey = to_grayscale(rgb)

    assert grey.shape == (2, 1, 5, 4)
    torch.testing.assert_close(grey[:, 0], expected)


def test_resize_matches_pillow_bilinear():
    generator = np.random.default_rng(0)
    image = generator.random((32, 32)).astype(np.float32)
    expected = np.asarray(Image.fromarray(image, mode="F").resize((28, 28), Image.Resampling.BILINEAR))

    resized = resize_images(torch.from_numpy(image)[None, None], (28, 28))[0, 0].numpy()

    np.testing.assert_allclose(resized, expected, atol=1e-5)


def test_convert_cifar_to_grey_28():
    images, _ = read_cifar_npz(VISION / "cifar10" / "cifar10_test_10k_from_jpeg.npz")
    rgb = images[:3].astype(np.float64) / 255.0
    grey = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    expected = [
        np.asarray(
            Image.fromarray(plane.astype(np.float32), mode="F").resize((28, 28), Image.Resampling.BILINEAR)
        )
        for plane in grey * 255.0
    ]

    converted = convert_images(images[:3], num_channels=1, size=(28, 28))

    assert converted.shape == (3, 1, 28, 28)
    assert converted.dtype == np.uint8
    np.testing.assert_allclose(converted[:, 0], np.round(np.stack(expected)), atol=1)


# ---- Augmentation ----


def test_random_crop_exact_for_generator():
    images = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3) + 1
    offsets = torch.randint(0, 3, (2, 2), generator=torch.Generator().manual_seed(5)).numpy()
    padded = np.pad(images.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.stack(
        [padded[i, :, top : top + 3, left : left + 3] for i, (top, left) in enumerate(offsets)]
    )

    cropped = random_crop(images, padding=1, generator=torch.Generator().manual_seed(5))

    assert cropped.shape == images.shape
    np.testing.assert_array_equal(cropped.numpy(), expected)


def test_random_crop_corner_window():
    image = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    generator = torch.Generator().manual_seed(0)
    top, left = torch.randint(0, 3, (1, 2), generator=torch.Generator().manual_seed(0))[0].tolist()
    padded = [[0, 0, 0, 0], [0, 1, 2, 0], [0, 3, 4, 0], [0, 0, 0, 0]]
    expected = [row[left : left + 2] for row in padded[top : top + 2]]

    cropped = random_crop(image, padding=1, generator=generator)

    assert cropped[0, 0].tolist() == expected


def test_random_flip_exact_for_generator():
    images = torch.arange(4 * 1 * 2 * 3, dtype=torch.float32).reshape(4, 1, 2, 3)
    flip = (torch.rand(4, generator=torch.Generator().manual_seed(3)) < 0.5).numpy()
    expected = np.where(flip[:, None, None, None], images.numpy()[..., ::-1], images.numpy())

    flipped = random_horizontal_flip(images, torch.Generator().manual_seed(3))

    np.testing.assert_array_equal(flipped.numpy(), expected)


def test_random_flip_probability_one_mirrors_all():
    images = torch.tensor([[[[1.0, 2.0, 3.0]]], [[[4.0, 5.0, 6.0]]]])

    flipped = random_horizontal_flip(images, torch.Generator().manual_seed(0), probability=1.0)

    assert flipped[:, 0, 0].tolist() == [[3.0, 2.0, 1.0], [6.0, 5.0, 4.0]]


def test_transform_normalises_exactly():
    pixels = np.array([[[[0, 255], [51, 102]]]], dtype=np.uint8)
    transform = ImageTransform(mean=(0.2,), std=(0.5,))

    output = transform({"pixel_values": pixels.tolist(), "label": [3]})

    expected = (pixels.astype(np.float64) / 255.0 - 0.2) / 0.5
    np.testing.assert_allclose(output["pixel_values"].numpy(), expected, rtol=1e-6)
    assert output["label"] == [3]


def test_augmenting_transform_keeps_shape_and_range():
    dataset = load_image_dataset("mnist", "test", data_dir=FIXTURE_DATA)
    pixels = np.asarray(dataset[:16]["pixel_values"], dtype=np.uint8)
    low, high = (0 - MNIST_MEAN[0]) / MNIST_STD[0], (1 - MNIST_MEAN[0]) / MNIST_STD[0]

    first = ImageTransform(MNIST_MEAN, MNIST_STD, crop_padding=4, flip=True, seed=7)({"pixel_values": pixels})
    again = ImageTransform(MNIST_MEAN, MNIST_STD, crop_padding=4, flip=True, seed=7)({"pixel_values": pixels})
    plain = ImageTransform(MNIST_MEAN, MNIST_STD)({"pixel_values": pixels})

    values = first["pixel_values"]
    assert values.shape == (16, 1, 28, 28)
    assert values.dtype == torch.float32
    assert values.min().item() >= low - 1e-6
    assert values.max().item() <= high + 1e-6
    torch.testing.assert_close(values, again["pixel_values"])
    assert not torch.equal(values, plain["pixel_values"])


def test_transform_rejects_negative_padding():
    with pytest.raises(ValueError, match="crop_padding must be >= 0, got -1"):
        ImageTransform(MNIST_MEAN, MNIST_STD, crop_padding=-1)


# ---- Collator ----


def test_collate_images_with_labels():
    rows = [{"pixel_values": torch.full((1, 2, 2), float(i)), "label": i} for i in range(3)]

    batch = collate_images(rows)

    assert batch["pixel_values"].shape == (3, 1, 2, 2)
    assert batch["pixel_values"].dtype == torch.float32
    assert batch["pixel_values"][:, 0, 0, 0].tolist() == [0.0, 1.0, 2.0]
    assert batch["labels"].tolist() == [0, 1, 2]
    assert batch["labels"].dtype == torch.int64


def test_collate_outliers_have_no_labels():
    rows = [{"pixel_values": torch.zeros(1, 2, 2)} for _ in range(2)]

    assert set(collate_images(rows)) == {"pixel_values"}


def test_collate_rejects_raw_pixels():
    rows = [{"pixel_values": np.zeros((1, 2, 2), dtype=np.uint8)}]

    with pytest.raises(TypeError, match="with_transform"):
        collate_images(rows)


# ---- Synthetic OOD sets ----


@pytest.mark.parametrize("kind", ["gaussian", "rademacher", "bernoulli", "blobs"])
def test_synthetic_shape_range_and_seed(kind):
    images = synthetic_images(kind, 50, (3, 32, 32), seed=4)

    assert images.shape == (50, 3, 32, 32)
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(images, synthetic_images(kind, 50, (3, 32, 32), seed=4))
    assert not np.array_equal(images, synthetic_images(kind, 50, (3, 32, 32), seed=5))


def test_bernoulli_values_exact():
    expected = np.where(np.random.default_rng(2).random((20, 1, 28, 28)) < 0.3, 255, 0)

    images = synthetic_images("bernoulli", 20, (1, 28, 28), seed=2, probability=0.3)

    np.testing.assert_array_equal(images, expected)


def test_rademacher_values_exact():
    expected = np.random.default_rng(9).integers(0, 2, size=(10, 3, 8, 8)) * 255

    images = synthetic_images("rademacher", 10, (3, 8, 8), seed=9)

    np.testing.assert_array_equal(images, expected)
    assert set(np.unique(images).tolist()) == {0, 255}


def test_gaussian_statistics():
    images = synthetic_images("gaussian", 200, (3, 32, 32), seed=0).astype(np.float64) / 255.0

    assert abs(images.mean() - 0.5) < 0.005
    # Values are clipped where |z| > 2, which happens with probability 0.0455 (both tails).
    clipped = np.mean((images == 0.0) | (images == 1.0))
    assert abs(clipped - 0.0455) < 0.005


def test_blobs_values_and_density():
    images = synthetic_images("blobs", 100, (1, 28, 28), seed=1)
    nonzero = images[images > 0]

    assert nonzero.min() >= round(0.75 * 255)
    assert 0.2 < np.mean(images > 0) < 0.9


def test_synthetic_unknown_kind():
    with pytest.raises(ValueError, match="Unknown synthetic OOD kind 'uniform'"):
        synthetic_images("uniform", 2, (1, 4, 4))
