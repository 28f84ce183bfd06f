"""How many threads torch uses while the engine trains or predicts.

Training is thousands of steps of small tensor ops. On 2 cores a second thread gains little there
(measured on a lightly loaded machine: 38 s with 2 threads, 42 s with 1, for the window factory models)
and, when other processes load the machine, every op's hand-off waits for a descheduled thread:
measured 0.15 s with 1 thread against 37 s with 2 for the same 2 epochs of FF09's MLP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with `n` torch threads (None: leave as is), then restore the previous count.

    The count is process-wide: do not train in two Python threads at once with different counts.
    """
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
