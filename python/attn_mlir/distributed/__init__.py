"""Context parallelism: one sequence across several GPUs (torch.distributed,
NCCL), with schedules that skip every shard pair the mask leaves empty.

- plan_context_parallel(): the mask-aware ring schedule (host code, no
  torch; chunk pairs classified by the mask attribute through attn-opt).
- ring_attention() / ulysses_attention(): the two distributed algorithms on
  the compiled kernels; emulate_ring() / emulate_ulysses(): the same code on
  one GPU, for checking.
- merge_partials(): the exact LSE merge of partial results.

docs/design/ContextParallel.md describes the design and what ran where.
"""

from .merge import merge_partials
from .plan import (EMPTY, FULL, PARTIAL, ContextParallelPlan, chunk_layout, classify_chunks,
                   plan_context_parallel)
from .ring import emulate_ring, local_chunks, ring_attention
from .ulysses import emulate_ulysses, ulysses_attention

__all__ = ["plan_context_parallel", "ContextParallelPlan", "chunk_layout", "classify_chunks",
           "EMPTY", "PARTIAL", "FULL", "merge_partials", "ring_attention", "emulate_ring",
           "local_chunks", "ulysses_attention", "emulate_ulysses"]
