"""Helpers shared by the benchmark scripts: thread pinning, medians, ratios, hardware and child processes.

This module depends on the standard library and numpy only, so the formatting helpers can be tested
without torch. `pin_threads` imports torch lazily.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def pin_threads(num_threads: int = 1) -> None:
    """Set the intra-op thread count of this process (and of child processes it starts) to `num_threads`.

    `OMP_NUM_THREADS` only acts when it is set before torch starts its thread pool, so the benchmark
    scripts call this before any model work. Children inherit the environment variable.
    """
    if num_threads < 1:
        raise ValueError(f"`num_threads` must be a positive integer, got {num_threads}.")
    os.environ["OMP_NUM_THREADS"] = str(num_threads)
    os.environ["MKL_NUM_THREADS"] = str(num_threads)

    import torch

    torch.set_num_threads(num_threads)


def median(values: Sequence[float]) -> float:
    """Return the median of `values`, raising a clear error for an empty sequence."""
    if len(values) == 0:
        raise ValueError("Cannot take the median of no measurements. Run at least one timed repeat.")
    return float(statistics.median(values))


def ratio(numerator: float, denominator: float) -> float:
    """Return `numerator / denominator`, raising when the denominator is not positive."""
    if denominator <= 0:
        raise ValueError(
            f"The reference time must be > 0 to form a ratio, got {denominator}. "
            "Time more steps so the reference is measurable."
        )
    return numerator / denominator


def format_seconds(seconds: float) -> str:
    """Format a duration for tables: milliseconds below 1 s, seconds below 2 min, else minutes."""
    if seconds < 0:
        raise ValueError(f"A duration cannot be negative, got {seconds} s.")
    if seconds < 1.0:
        return f"{1000 * seconds:.1f} ms"
    if seconds < 120.0:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def format_ratio(value: float, goal: float | None = None, at_most: bool = True) -> str:
    """Format a ratio as `1.031x`, with the goal and whether it is met when `goal` is given.

    Three decimals keep a value just past its goal, such as 1.054 against 1.05, from printing as the goal.

    Args:
        value: The measured ratio.
        goal: The target ratio, or None for a plain figure.
        at_most: True when the goal is an upper bound (`<=`), False for a lower bound (`>=`).
    """
    text = f"{value:.3f}x"
    if goal is None:
        return text
    met = value <= goal if at_most else value >= goal
    relation = "<=" if at_most else ">="
    return f"{text} (goal {relation} {goal:.2f}x: {'met' if met else 'not met'})"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Format rows as a markdown table, each cell with `str()`."""
    for index, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"Row {index} has {len(row)} cells but the header has {len(header)}: {row!r}.")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or the platform's processor string."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def hardware_summary() -> dict[str, Any]:
    """Describe this machine and the library versions for the benchmark page."""
    import torch
    import transformers

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
    }


@dataclass
class CommandResult:
    """Wall time and peak resident memory of one child process.

    Attributes:
        command: The argument list that was run.
        wall_seconds: Time from start to exit.
        peak_rss_mib: Maximum resident set size of the child and its waited-for descendants, in MiB
            (from `os.wait4`, whose `ru_maxrss` Linux reports in KiB).
        returncode: Exit status of the child.
        output_tail: The last lines of its combined stdout and stderr.
    """

    command: list[str]
    wall_seconds: float
    peak_rss_mib: float
    returncode: int
    output_tail: str


def run_measured(
    command: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path = REPO_ROOT, tail_lines: int = 20
) -> CommandResult:
    """Run `command` as a child process and measure its wall time and peak RSS.

    The child's output goes to a temporary file so a chatty child never blocks on a full pipe.

    Raises:
        RuntimeError: If the child exits with a non-zero status; the message has its last output lines.
    """
    child_env = {**os.environ, **(env or {})}
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"oe_bench_{os.getpid()}_{time.monotonic_ns()}.log"
    with open(log_path, "w+b") as log:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, env=child_env, cwd=cwd
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall_seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        tail = "\n".join(log.read().decode("utf-8", errors="replace").splitlines()[-tail_lines:])
    log_path.unlink(missing_ok=True)

    result = CommandResult(list(command), wall_seconds, usage.ru_maxrss / 1024, process.returncode, tail)
    if result.returncode != 0:
        raise RuntimeError(
            f"Benchmark command failed with exit status {result.returncode}: {' '.join(command)}\n"
            f"Last output lines:\n{tail}"
        )
    return result


def write_json(path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write a benchmark's results as JSON, atomically (dataclasses are converted first)."""
    from oe_nlp.evaluation import write_text_atomic  # imported here to keep this module free of torch

    return write_text_atomic(path, json.dumps(payload, indent=2, default=_to_jsonable) + "\n")


def _to_jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot write {type(value).__name__} as JSON.")
