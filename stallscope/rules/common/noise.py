"""Background noise: allocation reports that are expected and slow nothing else down.

A maintainer reading a stall report first asks whether it matters. Two kinds do not, by the
kernel's own design, and are called noise (severity info) with the reason:

- khugepaged, a background thread the kernel runs at nice 19, asking for a huge page (order 9
  and more): it compacts and retries at leisure, and nobody waits for it;
- an order-9 or larger request with __GFP_NORETRY: the caller (a transparent huge page
  attempt, a high-order cache refill) asked to be told "no" early and falls back to small pages.
"""

from __future__ import annotations

# The order of a huge page (2 MB with 4 kB pages; order 10 is a 4 MB huge page of non-PAE i386).
HUGE_ORDER = 9


def noise_reason(comm: object, order: object, gfp_names: object) -> str | None:
    """Why an allocation report of ``comm`` for ``order`` with ``gfp_names`` is background noise
    (None: it is not)."""
    try:
        size = int(order)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    if size < HUGE_ORDER:
        return None
    if str(comm).startswith("khugepaged"):
        return (f"khugepaged is a background thread the kernel runs at nice 19 to collapse small pages into huge "
                f"ones; its order-{size} request stalls or fails without anyone waiting for it, and it retries "
                "later")
    if "__GFP_NORETRY" in str(gfp_names or ""):
        return (f"an order-{size} request with __GFP_NORETRY asks the allocator to give up early rather than "
                "reclaim hard (typically a huge-page attempt with a small-page fallback): failing is its expected "
                "outcome")
    return None
