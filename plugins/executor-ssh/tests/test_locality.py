"""Items placed where their inputs already are, each worker slot keeping the load the plan gave it."""

from __future__ import annotations

from agilab_executor_ssh.locality import near_inputs
from hypothesis import given
from hypothesis import strategies as st

from agilab_core import WorkerSlot, WorkItem, balance

SLOTS = (WorkerSlot("a@h1", 0), WorkerSlot("a@h1", 1), WorkerSlot("b@h2", 0))


@st.composite
def runs(draw):
    """Items with weights, a plan of them over :data:`SLOTS`, and the hosts (none, one or both) holding each item's inputs."""
    n = draw(st.integers(1, 40))
    weights = draw(st.lists(st.sampled_from([0.0, 1.0, 3.0, 57_000.0, 1e6]), min_size=n, max_size=n))
    items = {f"i{k}": WorkItem(f"i{k}", weight=w, inputs=(f"f{k}.csv",)) for k, w in enumerate(weights)}
    capacities = draw(st.fixed_dictionaries({"a@h1": st.floats(0.5, 2.0), "b@h2": st.floats(0.5, 2.0)}))
    plan = balance(list(items.values()), SLOTS, capacities)
    held = {i: draw(st.sets(st.sampled_from(["a@h1", "b@h2"]))) for i in items}
    return items, plan, held


@given(runs())
def test_every_item_is_placed_once_and_every_slot_keeps_its_load_give_or_take_one_item(run) -> None:
    items, plan, held = run
    moved = near_inputs(plan, items, lambda host, item: host in held[item.id])
    assert moved.slots == plan.slots
    assert sorted(i for ids in moved.assignments for i in ids) == sorted(items)
    heaviest = max(max(i.weight for i in items.values()), 1.0)
    weighted = any(i.weight > 0 for i in items.values())
    for before, after in zip(plan.assignments, moved.assignments, strict=True):
        load = [sum(items[i].weight if weighted else 1.0 for i in ids) for ids in (before, after)]
        assert abs(load[1] - load[0]) <= heaviest


@given(runs())
def test_an_item_goes_where_its_inputs_are_whenever_the_plan_had_it_there_or_nowhere_else(run) -> None:
    """Moving items only towards their inputs: no item the plan placed on a host holding its inputs is moved off it."""
    items, plan, held = run
    moved = near_inputs(plan, items, lambda host, item: host in held[item.id])
    host_of = {i: plan.slots[k].host for k, ids in enumerate(moved.assignments) for i in ids}
    sent = sum(1 for i in items if host_of[i] not in held[i])
    planned = {i: plan.slots[k].host for k, ids in enumerate(plan.assignments) for i in ids}
    assert sent <= sum(1 for i in items if planned[i] not in held[i])  # never more to send than the plan had


def test_an_item_held_everywhere_leaves_room_for_those_held_on_one_host() -> None:
    slots = (WorkerSlot("a@h1", 0), WorkerSlot("b@h2", 0))
    items = {"big": WorkItem("big", weight=2.0, inputs=("big",)), "x": WorkItem("x", weight=1.0, inputs=("x",)), "y": WorkItem("y", weight=1.0, inputs=("y",))}
    plan = balance(list(items.values()), slots)
    held = {"big": {"a@h1", "b@h2"}, "x": {"a@h1"}, "y": {"a@h1"}}
    moved = near_inputs(plan, items, lambda host, item: host in held[item.id])
    assert [sorted(ids) for ids in moved.assignments] == [["x", "y"], ["big"]]


def test_nothing_held_anywhere_keeps_the_plan() -> None:
    items = {f"i{k}": WorkItem(f"i{k}", weight=k, inputs=(f"f{k}",)) for k in range(6)}
    plan = balance(list(items.values()), SLOTS)
    assert near_inputs(plan, items, lambda host, item: False) is plan


def test_items_whose_inputs_one_host_holds_all_go_there_when_its_slots_have_room() -> None:
    items = {f"i{k}": WorkItem(f"i{k}", weight=1.0, inputs=(f"f{k}",)) for k in range(9)}
    plan = balance(list(items.values()), SLOTS)  # 3 items per slot
    on_h2 = {"i0", "i1", "i2"}
    moved = near_inputs(plan, items, lambda host, item: (host == "b@h2") == (item.id in on_h2))
    assert set(moved.assignments[2]) == on_h2
    assert sorted(moved.assignments[0] + moved.assignments[1]) == sorted(set(items) - on_h2)
    assert [len(ids) for ids in moved.assignments] == [3, 3, 3]
