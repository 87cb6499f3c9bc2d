"""Peak memory of the language-model OE loss: the shared chunked log-sum-exp against log-softmax.

Each variant runs in a fresh process. Random logits of one PTB OE step (64 in-distribution + 64 outlier
windows of 71 tokens over the 10,001-token PTB vocabulary, float32) go through the loss, forward and
backward. The process then reports how far its peak resident memory rose above the memory held right
after the logits were allocated, less the size of the logits' gradient (as large as the logits, about
350 MB), which any implementation needs. What remains is the loss's own overhead.

    python benchmarks/bench_lm_memory.py

It also reports the peak resident memory of one whole OE training step (forward, both loss terms,
backward, AdamW step) of the word-level LSTM language model of `recipes/ptb_lm_oe.py`, with each loss.
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


def oe_losses(variant: str, logits, labels, mask):
    """Return (loss_in, loss_oe) computed by the library's chunked loss or by log-softmax."""
    import torch.nn.functional as F

    from oe_nlp.losses import causal_lm_oe_losses, outlier_exposure_loss

    if variant == "chunked":
        return causal_lm_oe_losses(logits, labels, mask)
    num_in, vocab = labels.shape[0], logits.shape[-1]
    loss_in = F.cross_entropy(logits[:num_in, :-1].reshape(-1, vocab), labels[:, 1:].reshape(-1))
    return loss_in, outlier_exposure_loss(logits[num_in:, :-1], mask=mask[:, 1:])


def run_variant(variant: str, num_in: int, num_out: int, length: int, vocab: int) -> dict[str, float]:
    """Run one loss variant forward and backward and measure its memory (call in a fresh process)."""
    import torch

    torch.manual_seed(0)
    logits = torch.randn(num_in + num_out, length, vocab, requires_grad=True)
    labels = torch.randint(0, vocab, (num_in, length))
    mask = torch.ones(num_out, length, dtype=torch.long)
    before = peak_rss_mb()

    loss_in, loss_oe = oe_losses(variant, logits, labels, mask)
    (loss_in + loss_oe).backward()

    logits_mb = logits.numel() * 4 / 2**20
    # The gradient of the logits has their size, so it is subtracted along with the memory held before.
    return {"logits_mb": logits_mb, "overhead_mb": peak_rss_mb() - before - logits_mb}


def run_step(variant: str, num_in: int, num_out: int, length: int, vocab: int) -> dict[str, float]:
    """Run one OE training step of the recipe's word-level LSTM LM and return the process's peak RSS."""
    import torch

    from oe_nlp.models import LSTMForCausalLM, LSTMLMConfig

    torch.manual_seed(0)
    model = LSTMForCausalLM(LSTMLMConfig(vocab_size=vocab, embedding_size=256, hidden_size=256, num_layers=1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    input_ids = torch.randint(0, vocab, (num_in + num_out, length))
    mask = torch.ones(num_out, length, dtype=torch.long)

    logits = model(input_ids=input_ids).logits
    loss_in, loss_oe = oe_losses(variant, logits, input_ids[:num_in], mask)
    (loss_in + loss_oe).backward()
    optimizer.step()
    return {"peak_rss_mb": peak_rss_mb()}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", choices=VARIANTS, help="Run one variant in this process (internal).")
    parser.add_argument("--step", action="store_true", help="With --variant: a whole LSTM LM training step.")
    parser.add_argument("--batch", type=int, default=64, help="In-distribution and outlier windows each.")
    parser.add_argument("--length", type=int, default=71)
    parser.add_argument("--vocab", type=int, default=10001)
    arguments = parser.parse_args(argv)
    shape = (arguments.batch, arguments.batch, arguments.length, arguments.vocab)

    if arguments.variant:
        measure = run_step if arguments.step else run_variant
        print(json.dumps(measure(arguments.variant, *shape)))
        return {}

    results = {}
    for variant in VARIANTS:
        command = [sys.executable, __file__, "--variant", variant, "--batch", str(arguments.batch)]
        command += ["--length", str(arguments.length), "--vocab", str(arguments.vocab)]
        loss = json.loads(
            subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1]
        )
        step_output = subprocess.run(command + ["--step"], check=True, capture_output=True, text=True).stdout
        results[variant] = {**loss, **json.loads(step_output.splitlines()[-1])}
        values = results[variant]
        print(
            f"{variant:12s} logits {values['logits_mb']:.0f} MB, loss overhead beyond their gradient "
            f"{values['overhead_mb']:.0f} MB, peak RSS of a whole LSTM LM OE step {values['peak_rss_mb']:.0f} MB"
        )
    return results


if __name__ == "__main__":
    main()
