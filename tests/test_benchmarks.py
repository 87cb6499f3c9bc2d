"""Tests of the benchmark helpers: formatting, stage timing and batch building."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets import Dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import bench_common
import bench_end_to_end
import bench_inference
import bench_memory
import bench_training
import run_all

from oe_nlp.trainer import concatenate_batches, outlier_batch_indices


@pytest.mark.parametrize("values", [[3.0, 1.0, 2.0], [4.0, 1.0, 3.0, 2.0], [0.5]])
def test_median_matches_numpy(values):
    assert bench_common.median(values) == float(np.median(values))


def test_median_rejects_empty():
    with pytest.raises(ValueError, match="no measurements"):
        bench_common.median([])


def test_ratio_exact_and_zero_reference():
    assert bench_common.ratio(3.0, 2.0) == 1.5
    with pytest.raises(ValueError, match="got 0.0"):
        bench_common.ratio(1.0, 0.0)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.0123, "12.3 ms"), (5.0, "5.0 s"), (119.94, "119.9 s"), (300.0, "5.0 min")]
)
def test_format_seconds_units(seconds, text):
    assert bench_common.format_seconds(seconds) == text


def test_format_seconds_rejects_negative():
    with pytest.raises(ValueError, match="-1.0"):
        bench_common.format_seconds(-1.0)


def test_format_ratio_goals():
    assert bench_common.format_ratio(1.0314) == "1.031x"
    assert bench_common.format_ratio(1.031, goal=1.05) == "1.031x (goal <= 1.05x: met)"
    assert bench_common.format_ratio(1.054, goal=1.05) == "1.054x (goal <= 1.05x: not met)"
    assert bench_common.format_ratio(1.2, goal=1.5, at_most=False) == "1.200x (goal >= 1.50x: not met)"
    assert bench_common.format_ratio(0.97, goal=0.95, at_most=False) == "0.970x (goal >= 0.95x: met)"


def test_markdown_table_lines():
    table = bench_common.markdown_table(["A", "B"], [[1, "x"], [2.5, "y"]])
    assert table.splitlines() == ["| A | B |", "|---|---|", "| 1 | x |", "| 2.5 | y |"]
    with pytest.raises(ValueError, match="Row 0 has 1 cells"):
        bench_common.markdown_table(["A", "B"], [[1]])


def test_run_measured_reports_peak_rss():
    allocate = "block = bytearray(300 * 2**20); block[::4096] = b'x' * len(block[::4096])"
    result = bench_common.run_measured([sys.executable, "-c", allocate])
    assert result.returncode == 0
    assert result.peak_rss_mib >= 300
    assert result.wall_seconds > 0


def test_run_measured_raises_with_output():
    with pytest.raises(RuntimeError, match="exit status 3"):
        bench_common.run_measured([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"])


def test_stage_timer_sums_per_task(monkeypatch):
    ticks = iter([0.0, 2.0, 10.0, 10.5, 20.0, 23.0])
    monkeypatch.setattr(bench_end_to_end.time, "perf_counter", lambda: next(ticks))
    timer = bench_end_to_end.StageTimer()
    train = timer.wrap(lambda outliers=None: outliers, lambda outliers=None: f"train {outliers}")

    timer.task = "sst2"
    train(outliers=None)
    train(outliers=None)
    timer.task = "trec"
    train(outliers="wiki")

    assert dict(timer.seconds["sst2"]) == {"train None": 2.5}
    assert dict(timer.seconds["trec"]) == {"train wiki": 3.0}


def test_stage_table_other_excludes_substages():
    reproduction = {
        "stages": {
            "trec": {
                "total": 100.0,
                "training (baseline)": 40.0,
                "evaluation (inference + metrics)": 30.0,
                "evaluation: inference": 25.0,
                "plotting": 10.0,
            }
        }
    }
    rows = bench_end_to_end.format_stage_table(reproduction).splitlines()[2:]
    assert rows == [
        "| trec | evaluation (inference + metrics) | 30.0 s | 30% |",
        "| trec | evaluation: inference | 25.0 s | 25% |",
        "| trec | plotting | 10.0 s | 10% |",
        "| trec | training (baseline) | 40.0 s | 40% |",
        "| trec | other | 20.0 s | 20% |",
        "| trec | **total** | 100.0 s | 100% |",
    ]


def test_padded_batches_exact():
    rows = [[5, 6, 7], [8], [9, 10]]
    batches = bench_inference.padded_batches(rows, np.array([1, 2, 0]), batch_size=2, pad_id=1)
    assert batches[0]["input_ids"].tolist() == [[8, 1], [9, 10]]
    assert batches[0]["attention_mask"].tolist() == [[1, 0], [1, 1]]
    assert batches[1]["input_ids"].tolist() == [[5, 6, 7]]

    fixed = bench_inference.padded_batches(rows, np.arange(3), batch_size=3, pad_id=0, length=4)
    assert fixed[0]["input_ids"].tolist() == [[5, 6, 7, 0], [8, 0, 0, 0], [9, 10, 0, 0]]


def test_hand_loop_concatenation_matches_trainer():
    in_batch = {
        "input_ids": torch.tensor([[2, 3, 4], [5, 1, 1]]),
        "attention_mask": torch.tensor([[1, 1, 1], [1, 0, 0]]),
    }
    out_batch = {
        "input_ids": torch.tensor([[6, 7, 8, 9, 10]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1]]),
    }
    loop = SimpleNamespace(setup=SimpleNamespace(pad_id=1))

    ours = bench_training.HandLoop._concatenate(loop, in_batch, out_batch)
    expected = concatenate_batches(in_batch, out_batch, {"input_ids": 1, "attention_mask": 0})

    for key in expected:
        assert torch.equal(ours[key], expected[key]), key


def test_real_token_ratio_by_hand():
    train = Dataset.from_dict({"attention_mask": [[1, 1], [1, 1, 1], [1], [1, 1, 1, 1]]})
    outliers = Dataset.from_dict({"attention_mask": [[1] * 5, [1] * 2, [1] * 3]})
    setup = SimpleNamespace(batch_size=2, train_dataset=train, outlier_dataset=outliers)

    in_tokens = (2 + 3) + (1 + 4)
    out_tokens = sum(
        sum(len(outliers[int(i)]["attention_mask"]) for i in outlier_batch_indices(3, 2, 1, step))
        for step in range(2)
    )
    assert bench_training.real_token_ratio(setup, steps=2) == pytest.approx(
        (in_tokens + out_tokens) / in_tokens
    )


def test_memory_table_goal_and_ptb_rows():
    ptb = {
        "command": "python benchmarks/bench_lm_memory.py",
        "peak_rss_mib": 1307.2,
        "log_softmax_peak_rss_mib": 1705.6,
        "loss_overhead_mib": 280.1,
        "log_softmax_loss_overhead_mib": 678.8,
    }
    figures = {
        "goal_mib": 2048.0,
        "main_job": {"command": "sst", "peak_rss_mib": 2100.0},
        "reproduction": {"command": "t2", "peak_rss_mib": 900.0},
        "ptb_vocabulary_oe_step": ptb,
    }
    rows = bench_memory.format_results(figures).splitlines()[2:]
    assert rows == [
        "| Main job (SST-2 recipe) | 2100 MiB | <= 2048 MiB: not met |",
        "| Table 2 reproduction | 900 MiB | - |",
        (
            "| PTB LSTM LM OE step (64 + 64 windows), chunked loss | 1307 MiB (loss beyond the logits' gradient: "
            "280 MiB) | - |"
        ),
        "| The same step with log_softmax, for comparison | 1706 MiB (loss: 679 MiB) | - |",
    ]


def test_run_all_rejects_unknown_benchmark(capsys):
    with pytest.raises(SystemExit):
        run_all.parse_arguments(["--benchmarks", "training,speed"])
    assert "['speed']" in capsys.readouterr().err


def test_training_stage_name_reads_outliers():
    assert bench_end_to_end._training_stage_name("model", "args", "data") == "training (baseline)"
    assert bench_end_to_end._training_stage_name("model", "args", "data", "wiki") == "training (OE)"
    assert (
        bench_end_to_end._training_stage_name("m", "a", "d", outliers="wiki", outlier_name="w")
        == "training (OE)"
    )
