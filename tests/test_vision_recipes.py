"""Tests of the vision recipes: the Hub requests of the CIFAR-10 recipe (mocked) and an MNIST run on fixtures."""

from __future__ import annotations

import importlib.util
import json

import datasets
import numpy as np
import pytest
from PIL import Image

from oe_nlp.data import images as image_data
from oe_nlp.evaluation import OODReport
from oe_nlp.vision_experiment import (
    VisionDataArguments,
    per_set_comparison_markdown,
    planned_vision_hub_requests,
    prepare_vision_data,
)
from tests.conftest import FIXTURE_DATA, REPO_ROOT

OUTLIER_HUB_ID = "someone/random-images-300k"

EXPECTED_CIFAR10_REQUESTS = [
    {"path": "uoft-cs/cifar10", "name": "plain_text", "split": "train", "revision": None},
    {"path": "uoft-cs/cifar10", "name": "plain_text", "split": "test", "revision": None},
    {"path": OUTLIER_HUB_ID, "name": None, "split": "train", "revision": None},
    {"path": "ufldl-stanford/svhn", "name": "cropped_digits", "split": "test", "revision": None},
    {
        "path": "tanganke/dtd",
        "name": None,
        "split": "test",
        "revision": "d2afa97d9f335b1a6b3b09c637aef667f98f966e",
    },
    {"path": "ljnlonoljpiljm/places365-256px", "name": None, "split": "train[:10000]", "revision": None},
    {"path": "detectors/lsun_r-ood", "name": None, "split": "train", "revision": None},
    {"path": "uoft-cs/cifar100", "name": None, "split": "test", "revision": None},
]


def load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeHub:
    """Stand-in for `datasets.load_dataset`: records each request and returns four small images."""

    def __init__(self) -> None:
        self.requests: list[dict] = []

    def __call__(self, **request):
        self.requests.append(request)
        rng = np.random.default_rng(len(self.requests))
        # Mixed sizes, as in Textures or Places365, so the loader must resize.
        pictures = [Image.fromarray(rng.integers(0, 256, (40 + i, 36, 3), dtype=np.uint8)) for i in range(4)]
        column = "img" if request["path"].startswith("uoft-cs/") else "image"
        features = datasets.Features({column: datasets.Image(), "label": datasets.Value("int64")})
        return datasets.Dataset.from_dict({column: pictures, "label": [0, 1, 2, 3]}, features=features)


@pytest.fixture
def no_data_dir(monkeypatch):
    monkeypatch.delenv("OE_NLP_DATA_DIR", raising=False)


def test_cifar10_hub_requests(monkeypatch, no_data_dir):
    hub = FakeHub()
    monkeypatch.setattr(image_data.datasets, "load_dataset", hub)
    data_args = VisionDataArguments(task="cifar10", outlier_dataset=OUTLIER_HUB_ID, num_synthetic=6)

    data = prepare_vision_data(data_args)

    assert hub.requests == EXPECTED_CIFAR10_REQUESTS
    assert planned_vision_hub_requests(data_args) == EXPECTED_CIFAR10_REQUESTS
    assert list(data["ood"]) == [
        "svhn", "textures", "places365", "lsun", "cifar100", "gaussian", "rademacher", "blobs",
    ]  # fmt: skip
    row = data["ood"]["textures"][0]
    assert tuple(row["pixel_values"].shape) == (3, 32, 32)
    assert data["splits"]["train"].features["label"].names[0] == "airplane"
    assert "label" not in data["outliers"].column_names


def test_cifar10_recipe_fails_offline(monkeypatch, tmp_path, no_data_dir):
    def offline(**request):
        raise ConnectionError(f"Couldn't reach {request['path']!r} on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(image_data.datasets, "load_dataset", offline)
    recipe = load_recipe("cifar10_oe")

    with pytest.raises(ConnectionError, match="Could not load image data set 'cifar10'") as error:
        recipe.main(["--outlier_dataset", OUTLIER_HUB_ID, "--output_dir", str(tmp_path)])
    assert "--data_dir" in str(error.value)


def test_cifar10_needs_outlier_dataset(no_data_dir):
    with pytest.raises(ValueError, match="--outlier_dataset"):
        planned_vision_hub_requests(VisionDataArguments(task="cifar10"))


def test_unknown_ood_set_rejected():
    with pytest.raises(ValueError, match=r"Unknown OOD set\(s\) \['mnist-c'\]"):
        VisionDataArguments(task="mnist", ood_sets="fashion_mnist,mnist-c")


def test_per_set_table_puts_fpr95_first():
    def report(name: str, fpr95: float) -> OODReport:
        values = {"fpr95": {"mean": fpr95, "std": 0.0}, "auroc": {"mean": 0.9, "std": 0.0}}
        values["aupr_out"] = {"mean": 0.5, "std": 0.0}
        return OODReport(name=name, metrics={"msp": {"noise": values, "mean": values}})

    table = per_set_comparison_markdown(report("b", 0.40), report("o", 0.125), "msp")

    lines = table.splitlines()
    assert lines[0].startswith("| OOD set | FPR95 baseline | FPR95 OE | AUROC baseline")
    assert lines[2] == "| noise | 40.0 | 12.5 | 90.0 | 90.0 | 50.0 | 50.0 |"
    assert lines[3].startswith("| **Mean** | 40.0 | 12.5")


def test_mnist_recipe_on_fixtures(tmp_path, monkeypatch):
    monkeypatch.setenv("OE_NLP_DATA_DIR", str(FIXTURE_DATA))
    page = tmp_path / "results.md"
    page.write_text("# Results\n\n<!-- begin: other -->\nkept\n<!-- end: other -->\n", encoding="utf-8")
    recipe = load_recipe("mnist_oe")
    argv = [
        "--output_dir", str(tmp_path / "run"), "--depth", "10", "--max_steps", "2",
        "--per_device_train_batch_size", "16", "--oe_batch_size", "16", "--num_synthetic", "20",
        "--num_resamples", "2", "--results_page", str(page), "--disable_tqdm", "true",
    ]  # fmt: skip

    reports = recipe.main(argv)

    summary = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert set(summary["reports"]) == {"baseline", "oe"}
    assert list(reports["oe"].metrics["msp"]) == [
        "fashion_mnist", "cifar10_grey", "gaussian", "bernoulli", "blobs", "mean",
    ]  # fmt: skip
    assert reports["baseline"].config["num_in"] == 20
    assert reports["baseline"].config["ood_set_sizes"]["cifar10_grey"] == 40
    text = page.read_text(encoding="utf-8")
    assert "<!-- begin: other -->\nkept\n<!-- end: other -->" in text
    assert "<!-- begin: vision_mnist -->" in text
    assert "--max_steps 2" in text
    assert "| **Mean** |" in text
    assert "Hardware:" in text
    assert (tmp_path / "run" / "oe" / "config.json").is_file()
