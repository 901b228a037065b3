"""``{{ cookiecutter.name }}`` as users meet it: registered by its entry point, options checked, slots on this machine only."""

from __future__ import annotations

import pytest
from {{ cookiecutter.__package }}.executor import {{ cookiecutter.__title }}Executor

from agilab_core import ConfigError, UsageError, WorkersSpec, load_plugins


def test_it_is_registered_by_its_entry_point() -> None:
    registry = load_plugins()
    assert registry.executor("{{ cookiecutter.name }}").executor is {{ cookiecutter.__title }}Executor
    (info,) = [p for p in registry.plugins if p.kind == "executor" and p.name == "{{ cookiecutter.name }}"]
    assert (info.status, info.distribution) == ("loaded", "{{ cookiecutter.__distribution }}")


def test_results_name_the_plans_slots(agilab_agi) -> None:
    result = agilab_agi.run("probe", executor="{{ cookiecutter.name }}", workers="3", args={"count": 12})
    assert result.ok, result.error
    assert {r.worker for r in result.results} <= {"localhost/0", "localhost/1", "localhost/2"}


def test_a_bad_option_is_refused_in_one_line(agilab_agi) -> None:
    with pytest.raises(ConfigError, match="batch_size") as refused:
        agilab_agi.run("probe", executor="{{ cookiecutter.name }}", executor_options={"batch_size": 0}, args={"count": 2})
    assert "\n" not in str(refused.value)


def test_other_hosts_are_refused() -> None:
    with pytest.raises(UsageError, match="this machine only"):
        {{ cookiecutter.__title }}Executor.slots(None, WorkersSpec.parse("node1=2"))
