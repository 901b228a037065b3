"""Items placed on the hosts that already hold their inputs, each worker keeping the load the plan gave it.

The kernel's plan balances load by the hosts' measured capacities, which
move a little from run to run; with hosts alike, which host runs which item
then changes from one run to the next, and each run sent every host the
inputs it had not had yet (half the data set on the second run, a quarter on
the third...). :func:`near_inputs` keeps the plan's load per worker slot and
changes only which items fill it: an item goes to a slot of a host whose
cache holds all its inputs when that slot has room (items with the fewest
such slots first, then the heaviest), the others fill what is left; a
result that would send more than the plan keeps the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from agilab_core import WorkItem, WorkPlan


def near_inputs(plan: WorkPlan, items: Mapping[str, WorkItem], holds: Callable[[str, WorkItem], bool]) -> WorkPlan:
    """``plan`` with items moved to slots whose host ``holds`` their inputs, every slot's load kept (give or take an item)."""
    ids = [i for slot_ids in plan.assignments for i in slot_ids]
    weighted = sum(max(float(items[i].weight), 0.0) for i in ids) > 0

    def weight(item_id: str) -> float:
        return max(float(items[item_id].weight), 0.0) if weighted else 1.0

    target = [sum(weight(i) for i in slot_ids) for slot_ids in plan.assignments]
    homes = {i: [k for k, slot in enumerate(plan.slots) if holds(slot.host, items[i])] for i in ids}
    if all(not homes[i] for i in ids):
        return plan  # nothing is anywhere yet (a first run): the plan as it is
    chosen: list[list[str]] = [[] for _ in plan.slots]
    load = [0.0] * len(plan.slots)
    rest = []
    for item_id in sorted(ids, key=lambda i: (len(homes[i]), -weight(i))):  # fewest places to go first, then heaviest
        room = [k for k in homes[item_id] if load[k] + weight(item_id) <= target[k]]
        if room:
            k = min(room, key=lambda k: (load[k] / target[k] if target[k] else 0.0, k))
            chosen[k].append(item_id)
            load[k] += weight(item_id)
        else:
            rest.append(item_id)
    for item_id in rest:
        k = min(range(len(plan.slots)), key=lambda k: (load[k] + weight(item_id) - target[k], k))
        chosen[k].append(item_id)
        load[k] += weight(item_id)
    if _away(chosen, homes) >= _away(plan.assignments, homes):
        return plan  # no better than the plan (a greedy choice can be worse): keep it
    order = {i: n for n, i in enumerate(ids)}
    assignments = tuple(tuple(sorted(slot_ids, key=order.__getitem__)) for slot_ids in chosen)
    loads = tuple(sum(max(float(items[i].weight), 0.0) for i in slot_ids) for slot_ids in assignments)
    return WorkPlan(plan.slots, assignments, loads)


def _away(assignments: Sequence[Sequence[str]], homes: dict[str, list[int]]) -> int:
    """How many items ``assignments`` places on a slot whose host lacks their inputs."""
    return sum(1 for k, slot_ids in enumerate(assignments) for i in slot_ids if k not in homes[i])
