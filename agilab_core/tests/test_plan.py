"""``--workers`` syntax and the capacity-weighted balancer."""

from __future__ import annotations

import os

import pytest
from agilab_core.app import WorkItem
from agilab_core.errors import UsageError
from agilab_core.plan import (
    LOCALHOST,
    MAX_FORCED,
    MAX_PER_HOST,
    MAX_TOTAL,
    HostWorkers,
    WorkerSlot,
    WorkersSpec,
    WorkPlan,
    balance,
)
from hypothesis import given
from hypothesis import strategies as st

# -- WorkersSpec.parse -------------------------------------------------------------


def test_a_bare_number_means_local_workers() -> None:
    spec = WorkersSpec.parse("4")
    assert spec.hosts == (HostWorkers(LOCALHOST, 4),)
    assert spec.total == 4
    assert spec.is_local
    assert str(spec) == "4"


def test_an_integer_is_accepted() -> None:
    assert WorkersSpec.parse(3) == WorkersSpec.parse("3")


def test_host_list_with_ports() -> None:
    spec = WorkersSpec.parse("host=2,other:2222=3")
    assert spec.hosts == (HostWorkers("host", 2), HostWorkers("other", 3, 2222))
    assert spec.total == 5
    assert not spec.is_local


def test_ipv6_host_in_brackets_with_port() -> None:
    spec = WorkersSpec.parse("[::1]:22=1")
    assert spec.hosts == (HostWorkers("[::1]", 1, 22),)


def test_user_at_host() -> None:
    spec = WorkersSpec.parse("alice@node-1.example.org=2")
    assert spec.hosts == (HostWorkers("alice@node-1.example.org", 2),)


def test_spaces_around_parts_are_ignored() -> None:
    assert WorkersSpec.parse(" a=1 , b=2 ") == WorkersSpec.parse("a=1,b=2")


def test_same_host_on_two_ports_is_two_hosts() -> None:
    assert WorkersSpec.parse("h:22=1,h:2222=1").total == 2


@pytest.mark.parametrize("text", ["localhost=2", "127.0.0.1=2", "localhost=1,127.0.0.1=1"])
def test_loopback_hosts_are_local(text: str) -> None:
    assert WorkersSpec.parse(text).is_local


def test_ipv6_loopback_is_local() -> None:
    # "::1" is listed as local, and brackets are the only way to write it.
    assert WorkersSpec.parse("[::1]=2").is_local


def test_slots_enumerate_every_worker_of_every_host() -> None:
    slots = WorkersSpec.parse("a=2,b:2200=1").slots()
    assert slots == [WorkerSlot("a", 0), WorkerSlot("a", 1), WorkerSlot("b", 0, 2200)]
    assert [s.id for s in slots] == ["a/0", "a/1", "b/0"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0", "positive integer"),
        ("abc", "expected N or HOST"),
        ("h=", "positive integer"),
        ("h=0", "positive integer"),
        ("h=-1", "positive integer"),
        ("h=two", "positive integer"),
        ("=3", "expected N or HOST"),
        ("h=1,h=2", "listed twice"),
        ("h:22=1,h:22=2", "listed twice"),
        ("h:70000=1", "out of range"),
        ("h:0=1", "out of range"),
        ("h:x=1", "invalid host"),
        ("bad host=1", "invalid host"),
        ("[::1=1", "invalid host"),
        ("a=1,,b=1", "expected N or HOST"),
        ("", "expected N or HOST"),
    ],
)
def test_invalid_workers_raise_usage_error_quoting_the_text(text: str, why: str) -> None:
    with pytest.raises(UsageError) as info:
        WorkersSpec.parse(text)
    message = str(info.value)
    assert f"--workers {text.strip()!r}" in message
    assert why in message


@pytest.mark.parametrize("text", ["h=\u00b2", "\u00b2", "h:\u00b2=1"])
def test_non_ascii_digits_are_a_usage_error_not_a_crash(text: str) -> None:
    # str.isdigit() accepts superscript digits that int() refuses.
    with pytest.raises(UsageError):
        WorkersSpec.parse(text)


hostnames = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,6}){0,2}", fullmatch=True)
users = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
ipv6 = st.ip_addresses(v=6).map(lambda a: f"[{a}]")
hosts = st.one_of(hostnames, st.tuples(users, hostnames).map("@".join), ipv6, st.just(LOCALHOST))
host_workers = st.builds(HostWorkers, hosts, st.integers(1, 64), st.none() | st.integers(1, 65535))


@st.composite
def specs(draw: st.DrawFn) -> WorkersSpec:
    entries = draw(st.lists(host_workers, min_size=1, max_size=5, unique_by=lambda h: (h.host, h.port)))
    return WorkersSpec(tuple(entries))


@given(specs())
def test_parse_of_str_round_trips(spec: WorkersSpec) -> None:
    assert WorkersSpec.parse(str(spec)) == spec


@given(st.integers(1, MAX_PER_HOST))
def test_local_count_round_trips(n: int) -> None:
    assert str(WorkersSpec.parse(str(n))) == str(n)


@given(st.integers(1, MAX_FORCED))
def test_a_forced_local_count_round_trips(n: int) -> None:
    assert str(WorkersSpec.parse(str(n), force=True)) == str(n)


# -- counts beyond reason ------------------------------------------------------------


@pytest.fixture(autouse=False)
def unforced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGILAB_FORCE_WORKERS", raising=False)


@pytest.mark.usefixtures("unforced")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1025", "--workers '1025': 1025 workers on localhost is more than 1024 per host (set AGILAB_FORCE_WORKERS=1 if you mean it)"),
        ("a=1000,b=1000,c=1000,d=1000,e=97", "--workers 'a=1000,b=1000,c=1000,d=1000,e=97': 4097 workers is more than 4096 in all (set AGILAB_FORCE_WORKERS=1 if you mean it)"),
        ("h=2000", "--workers 'h=2000': 2000 workers on h is more than 1024 per host (set AGILAB_FORCE_WORKERS=1 if you mean it)"),
    ],
)
def test_counts_beyond_reason_are_refused_in_one_line_unless_forced(text: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError) as info:
        WorkersSpec.parse(text)
    assert str(info.value) == message
    assert WorkersSpec.parse(text, force=True).total == sum(h.count for h in WorkersSpec.parse(text, force=True).hosts)
    monkeypatch.setenv("AGILAB_FORCE_WORKERS", "1")
    assert WorkersSpec.parse(text) == WorkersSpec.parse(text, force=True)


@pytest.mark.usefixtures("unforced")
def test_the_limits_themselves_are_allowed() -> None:
    assert WorkersSpec.parse(str(MAX_PER_HOST)).total == MAX_PER_HOST
    assert WorkersSpec.parse("a=1024,b=1024,c=1024,d=1024").total == MAX_TOTAL


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("text", ["99999999999999999999", "h=99999999999999999999", "9" * 5000, "1000001"])
def test_a_count_no_plan_can_hold_returns_at_once_with_one_line(text: str, force: bool) -> None:
    with pytest.raises(UsageError) as info:
        WorkersSpec.parse(text, force=force)
    message = str(info.value)
    assert "more than a plan can hold (1000000)" in message and len(message) < 200


def test_forced_counts_still_stop_at_what_a_plan_can_hold() -> None:
    with pytest.raises(UsageError, match=r"2000000 workers is more than a plan can hold \(1000000\)$"):
        WorkersSpec.parse("a=1000000,b=1000000", force=True)


def test_a_huge_integer_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="an integer of 16610 bits is not a worker count"):
        WorkersSpec.parse(10**5000)
    with pytest.raises(UsageError, match=r"^--workers '-3': expected N"):
        WorkersSpec.parse(-3)


def test_a_port_of_many_digits_is_out_of_range() -> None:
    assert WorkersSpec.parse("h:" + "0" * 5000 + "22=1").hosts == (HostWorkers("h", 1, 22),)  # leading zeros: port 22
    with pytest.raises(UsageError, match="out of range"):
        WorkersSpec.parse("h:" + "9" * 5000 + "=1")


@given(st.one_of(st.text(max_size=40), st.from_regex(r"[0-9a-z:=,\[\]@ .]{0,40}", fullmatch=True), st.integers().map(str)))
def test_any_text_parses_or_is_a_usage_error(text: str) -> None:
    try:
        spec = WorkersSpec.parse(text)
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        forced = os.environ.get("AGILAB_FORCE_WORKERS", "").strip().lower() in ("1", "true", "yes")
        assert 1 <= spec.total <= (MAX_FORCED if forced else MAX_TOTAL)


# -- WorkPlan --------------------------------------------------------------------------


def test_work_plan_needs_one_assignment_and_load_per_slot() -> None:
    with pytest.raises(ValueError):
        WorkPlan((WorkerSlot("a", 0),), (), (0.0,))


def test_work_plan_to_dict_lists_slots_with_items_and_loads() -> None:
    plan = balance([WorkItem("x", weight=2), WorkItem("y", weight=1)], [WorkerSlot("a", 0, 22), WorkerSlot("b", 0)])
    assert plan.to_dict() == {
        "slots": [
            {"worker": "a/0", "host": "a", "port": 22, "load": 2.0, "items": ["x"]},
            {"worker": "b/0", "host": "b", "port": None, "load": 1.0, "items": ["y"]},
        ]
    }
    assert plan.item_count == 2


# -- balance ----------------------------------------------------------------------------

weights = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def items_lists(draw: st.DrawFn, max_size: int = 60) -> list[WorkItem]:
    ws = draw(st.lists(weights, max_size=max_size))
    return [WorkItem(f"i{n}", weight=w) for n, w in enumerate(ws)]


def _slots(k: int, host: str = "h") -> list[WorkerSlot]:
    return [WorkerSlot(host, i) for i in range(k)]


@given(items_lists(), st.integers(1, 8), st.dictionaries(st.sampled_from(["h", "a", "b"]), st.floats(0, 100, allow_nan=False)))
def test_every_item_is_placed_exactly_once(items: list[WorkItem], k: int, capacities: dict[str, float]) -> None:
    slots = _slots(k // 2 + 1, "a") + _slots(k // 2, "b")
    plan = balance(items, slots, capacities)
    placed = [i for ids in plan.assignments for i in ids]
    assert sorted(placed) == sorted(i.id for i in items)
    assert plan.item_count == len(items)
    assert plan.slots == tuple(slots)


@given(items_lists(), st.integers(1, 8))
def test_loads_are_the_sum_of_weights_per_slot(items: list[WorkItem], k: int) -> None:
    plan = balance(items, _slots(k))
    weight = {i.id: i.weight for i in items}
    for ids, load in zip(plan.assignments, plan.loads, strict=True):
        assert load == pytest.approx(sum(weight[i] for i in ids), rel=1e-9, abs=1e-6)


@given(items_lists(), st.integers(1, 8))
def test_equal_capacities_makespan_within_ideal_plus_one_item(items: list[WorkItem], k: int) -> None:
    plan = balance(items, _slots(k))
    total = sum(i.weight for i in items)
    heaviest = max((i.weight for i in items), default=0.0)
    assert max(plan.loads) <= total / k + heaviest + 1e-6 * max(total, 1.0)


@given(items_lists(), st.integers(1, 8))
def test_balance_is_deterministic(items: list[WorkItem], k: int) -> None:
    assert balance(items, _slots(k)) == balance(list(items), _slots(k))


def test_heaviest_items_go_first_and_ties_keep_input_order() -> None:
    items = [WorkItem("a", weight=1), WorkItem("b", weight=3), WorkItem("c", weight=1)]
    plan = balance(items, _slots(1))
    assert plan.assignments == (("b", "a", "c"),)


def test_negative_weights_count_as_zero() -> None:
    plan = balance([WorkItem("neg", weight=-5), WorkItem("pos", weight=2)], _slots(2))
    assert sorted(plan.loads) == [0.0, 2.0]


def test_host_with_twice_the_capacity_gets_about_twice_the_load() -> None:
    items = [WorkItem(f"i{n}", weight=1.0) for n in range(300)]
    plan = balance(items, [WorkerSlot("fast", 0), WorkerSlot("slow", 0)], {"fast": 2.0, "slow": 1.0})
    fast, slow = plan.loads
    assert fast + slow == 300
    assert fast / slow == pytest.approx(2.0, rel=0.02)


def test_unknown_host_gets_the_mean_measured_capacity() -> None:
    items = [WorkItem(f"i{n}", weight=1.0) for n in range(600)]
    slots = [WorkerSlot("a", 0), WorkerSlot("b", 0), WorkerSlot("new", 0)]
    plan = balance(items, slots, {"a": 3.0, "b": 1.0})
    a, b, new = plan.loads
    # "new" is treated as capacity 2.0: half of a's load, twice b's.
    assert new / b == pytest.approx(2.0, rel=0.02)
    assert a / new == pytest.approx(1.5, rel=0.02)


def test_non_positive_capacities_are_ignored() -> None:
    items = [WorkItem(f"i{n}", weight=1.0) for n in range(100)]
    slots = [WorkerSlot("a", 0), WorkerSlot("b", 0)]
    assert balance(items, slots, {"a": 0.0, "b": -3.0}) == balance(items, slots)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), -1.0, 0, True, "fast", None])
def test_capacities_that_are_not_finite_positive_numbers_are_unmeasured(bad: object) -> None:
    items = [WorkItem(f"i{n}", weight=float(n % 7 + 1)) for n in range(60)]
    slots = [WorkerSlot("a", 0), WorkerSlot("b", 0), WorkerSlot("c", 0)]
    measured = {"a": 3.0, "b": 1.0}
    assert balance(items, slots, {**measured, "c": bad}) == balance(items, slots, measured)  # type: ignore[dict-item]


def test_no_measured_capacity_splits_evenly() -> None:
    items = [WorkItem(f"i{n}", weight=1.0) for n in range(40)]
    plan = balance(items, _slots(4))
    assert plan.loads == (10.0, 10.0, 10.0, 10.0)


def test_no_slots_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no worker slots"):
        balance([WorkItem("x")], [])


def test_no_items_gives_empty_assignments() -> None:
    plan = balance([], _slots(3))
    assert plan.assignments == ((), (), ())
    assert plan.loads == (0.0, 0.0, 0.0)
