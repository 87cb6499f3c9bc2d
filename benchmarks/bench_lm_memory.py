"""Peak memory of the language-model OE loss: the shared chunked log-sum-exp against log-softmax.

Each variant runs in a fresh process: random logits of one PTB OE step (64 in-distribution + 64 outlier
windows of 71 tokens over the 10,001-token PTB vocabulary, float32) go through the loss, forward and
backward, and the process reports how far its peak resident memory rose above the memory held right
after the logits were allocated, less the size of the logits' gradient (as large as the logits, about
350 MB), which any implementation needs. What remains is the loss's own overhead.

    python benchmarks/bench_lm_memory.py
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

VARIANTS = ("chunked", "log_softmax")


def peak_rss_mb() -> float:
    """Return this process's peak resident set size in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_variant(variant: str, num_in: int, num_out: int, length: int, vocab: int) -> dict[str, float]:
    """Run one loss variant forward and backward and measure its memory (call in a fresh process)."""
    import torch
    import torch.nn.functional as F

    from oe_nlp.losses import causal_lm_oe_losses, outlier_exposure_loss

    torch.manual_seed(0)
    logits = torch.randn(num_in + num_out, length, vocab, requires_grad=True)
    labels = torch.randint(0, vocab, (num_in, length))
    mask = torch.ones(num_out, length, dtype=torch.long)
    before = peak_rss_mb()

    if variant == "chunked":
        loss_in, loss_oe = causal_lm_oe_losses(logits, labels, mask)
    else:
        flat = logits[:num_in, :-1].reshape(-1, vocab)
        loss_in = F.cross_entropy(flat, labels[:, 1:].reshape(-1))
        loss_oe = outlier_exposure_loss(logits[num_in:, :-1], mask=mask[:, 1:])
    (loss_in + loss_oe).backward()

    logits_mb = logits.numel() * 4 / 2**20
    # The gradient of the logits has their size, so it is subtracted along with the memory held before.
    return {"logits_mb": logits_mb, "overhead_mb": peak_rss_mb() - before - logits_mb}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", choices=VARIANTS, help="Run one variant in this process (internal).")
    parser.add_argument("--batch", type=int, default=64, help="In-distribution and outlier windows each.")
    parser.add_argument("--length", type=int, default=71)
    parser.add_argument("--vocab", type=int, default=10001)
    arguments = parser.parse_args(argv)
    shape = (arguments.batch, arguments.batch, arguments.length, arguments.vocab)

    if arguments.variant:
        print(json.dumps(run_variant(arguments.variant, *shape)))
        return {}

    results = {}
    for variant in VARIANTS:
        command = [sys.executable, __file__, "--variant", variant, "--batch", str(arguments.batch)]
        command += ["--length", str(arguments.length), "--vocab", str(arguments.vocab)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[variant] = json.loads(output.strip().splitlines()[-1])
        values = results[variant]
        print(
            f"{variant:12s} logits {values['logits_mb']:.0f} MB, overhead beyond their gradient "
            f"{values['overhead_mb']:.0f} MB"
        )
    return results


if __name__ == "__main__":
    main()
