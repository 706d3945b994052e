"""What the OOM rules read from the OOM killer's reports beyond the events table's own rows."""

from __future__ import annotations

from stallscope.capture.stacks import normalize_function
from stallscope.rules.base import Evidence, HostView
from stallscope.rules.common.task_facts import stack_functions, trace_after, trace_frame_evidence

# Frames of a memory cgroup's own OOM path (the charge that hit the limit), across kernel versions.
MEMCG_OOM_FRAMES = frozenset({"mem_cgroup_oom_synchronize", "mem_cgroup_out_of_memory", "mem_cgroup_oom",
                              "try_charge", "try_charge_memcg", "__mem_cgroup_try_charge",
                              "mem_cgroup_charge_common"})


def memcg_oom_frame(view: HostView, invoked: list[dict[str, object]]) -> tuple[str, list[Evidence]] | None:
    """The memory cgroup OOM frame in the trace of an "invoked oom-killer" report (rows of
    oom_invocations, as dicts), and that frame's line as evidence; None when no such trace shows one."""
    if not invoked:
        return None
    stacks = stack_functions(view)
    # A trace the builder did not tie to its report (a dump_cpu line came between) is claimed by position.
    claimed = view.report_stacks(invoked)
    for stack, row in zip(claimed, invoked, strict=True):
        if stack is None:
            continue
        for at, name in enumerate(stacks.get(int(stack), [])):
            if normalize_function(name) in MEMCG_OOM_FRAMES:
                return name, trace_frame_evidence(view, trace_after(view, row["source"], int(row["line"]), int(stack)),  # type: ignore[call-overload]
                                                  [at])
    return None


def manual_invocations(invoked: list[dict[str, object]]) -> list[dict[str, object]]:
    """The invocations of SysRq-f (rows of oom_invocations, as dicts): order=-1 (moom_callback
    asks for no allocation)."""
    return [row for row in invoked if row["order"] == -1]
