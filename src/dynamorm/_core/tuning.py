"""Memory-aware defaults: Lambda gives CPU in proportion to memory (pure; no I/O)."""

from __future__ import annotations

FULL_VCPU_MB = 1769
"""Lambda gives one full vCPU at this memory size, proportionally less below."""


def memory_defaults(memory_mb: int) -> tuple[int, int]:
    """``(page_size, parallelism)`` for a function with ``memory_mb`` of memory.

    Page size: 100 items below 512 MB, 250 below 1769 MB, 500 below 3538 MB, else 1000.
    Parallelism (scan segments, concurrent batch requests): ``round(1 + 2 * vcpus)``, 1 to 8.
    """
    thresholds = ((512, 100), (FULL_VCPU_MB, 250), (2 * FULL_VCPU_MB, 500))
    page_size = next((size for limit, size in thresholds if memory_mb < limit), 1000)
    vcpus = min(6.0, memory_mb / FULL_VCPU_MB)
    return page_size, max(1, min(8, round(1 + 2 * vcpus)))
