"""Plugin loading: one entry point at a time, failures recorded, never contagious.

Entry points are fed through ``agilab_core.plugins._entry_points``, the one
seam the loader reads them from: tests monkeypatch it to return the installed
entry points plus real ``EntryPoint`` objects of a fixture distribution (built
from a ``.dist-info`` folder in ``tmp_path``) that point at ``plugin_fixtures``.
"""

from __future__ import annotations

import re
from importlib import metadata

import pluggy
import pytest
from agilab_core.errors import PluginError, UsageError
from agilab_core.hookspecs import hookimpl
from agilab_core.plugins import STATUS_BLOCKED, STATUS_FAILED, STATUS_LOADED, load_plugins, make_plugin_manager
from hypothesis import given
from hypothesis import strategies as st

from agilab_core import plugins

from .conftest import FIXTURE_DIST, FIXTURE_VERSION


@pytest.fixture(autouse=True)
def _clean_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGILAB_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("AGILAB_STRICT_PLUGINS", raising=False)


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch, fixture_dist):
    """``install({ep_name: module}, real=True)``: what ``load_plugins`` will find."""

    def _install(entries: dict[str, str], real: bool = True) -> list[metadata.EntryPoint]:
        eps = fixture_dist(entries)
        installed = list(metadata.entry_points(group=plugins.GROUP)) if real else []
        monkeypatch.setattr(plugins, "_entry_points", lambda: installed + eps)
        return eps

    return _install


def _info(registry: plugins.Registry, name: str) -> plugins.PluginInfo:
    (info,) = [p for p in registry.plugins if p.name == name]
    return info


ALL_FIXTURES = {
    "good": "plugin_fixtures.good",
    "broken_import": "plugin_fixtures.broken_import",
    "misspelled": "plugin_fixtures.misspelled",
    "x_duplicate_local": "plugin_fixtures.duplicate",
    "wrong_type": "plugin_fixtures.wrong_type",
    "raising_hook": "plugin_fixtures.raising_hook",
}


def test_a_good_plugin_registers_its_app_executor_and_page(install) -> None:
    install({"good": "plugin_fixtures.good"})
    registry = load_plugins()
    assert registry.app("fixture_good").worker == "plugin_fixtures.good:GoodWorker"
    assert registry.executor("fixture_inline").name == "fixture_inline"
    assert registry.page("fixture_page").name == "fixture_page"
    for name, kind in [("fixture_good", "app"), ("fixture_inline", "executor"), ("fixture_page", "page")]:
        info = _info(registry, name)
        assert (info.kind, info.status, info.error) == (kind, STATUS_LOADED, None)
        assert (info.distribution, info.version, info.entry_point) == (FIXTURE_DIST, FIXTURE_VERSION, "good")
    assert registry.distribution("app", "fixture_good") == (FIXTURE_DIST, FIXTURE_VERSION)


def test_installed_executors_are_loaded(install) -> None:
    install({})
    registry = load_plugins()
    assert {"local", "pool"} <= set(registry.executors)
    assert _info(registry, "local").distribution == "agilab-executor-local"


def test_failing_plugins_do_not_stop_the_others(install) -> None:
    install(ALL_FIXTURES)
    registry = load_plugins()
    assert "fixture_good" in registry.apps
    assert {"local", "pool", "fixture_inline"} <= set(registry.executors)
    failed = {p.name for p in registry.plugins if p.status == STATUS_FAILED}
    assert {"broken_import", "misspelled", "x_duplicate_local", "wrong_type", "raising_hook"} <= failed


def test_plugin_failing_on_import_is_recorded_with_a_one_line_error(install) -> None:
    install({"broken_import": "plugin_fixtures.broken_import"})
    info = _info(load_plugins(), "broken_import")
    assert info.status == STATUS_FAILED
    assert info.error == "fixture plugin cannot import"
    assert (info.distribution, info.version) == (FIXTURE_DIST, FIXTURE_VERSION)


def test_plugin_with_missing_module_is_failed(install) -> None:
    install({"ghost": "plugin_fixtures.does_not_exist"})
    info = _info(load_plugins(), "ghost")
    assert info.status == STATUS_FAILED
    assert "does_not_exist" in info.error


def test_misspelled_hook_name_is_caught_by_check_pending(install) -> None:
    install({"misspelled": "plugin_fixtures.misspelled"})
    registry = load_plugins()
    info = _info(registry, "misspelled")
    assert info.status == STATUS_FAILED
    assert "register_app" in info.error
    assert "\n" not in info.error
    assert registry.pm.get_plugin("misspelled") is None
    registry.pm.check_pending()  # nothing unknown is left registered


def test_duplicate_executor_name_fails_the_later_plugin(install) -> None:
    install({"x_duplicate_local": "plugin_fixtures.duplicate"})
    registry = load_plugins()
    info = _info(registry, "x_duplicate_local")
    assert info.status == STATUS_FAILED
    assert info.error == "executor 'local' is already registered by agilab-executor-local"
    # the original keeps its name; the failed plugin's other registrations are dropped
    assert registry.executors["local"].executor.__module__ == "agilab_executor_local.local"
    assert "fixture_dup_app" not in registry.apps
    assert not any(p.name == "fixture_dup_app" for p in registry.plugins)
    assert registry.pm.get_plugin("x_duplicate_local") is None


def test_registration_of_a_wrong_type_fails_the_plugin(install) -> None:
    install({"wrong_type": "plugin_fixtures.wrong_type"})
    info = _info(load_plugins(), "wrong_type")
    assert info.status == STATUS_FAILED
    assert info.kind == "app"
    assert info.error == "register_apps returned str, expected AppSpec"


def test_registration_hook_that_raises_fails_the_plugin_with_one_line(install) -> None:
    install({"raising_hook": "plugin_fixtures.raising_hook"})
    info = _info(load_plugins(), "raising_hook")
    assert info.status == STATUS_FAILED
    assert info.error == "executor registry unreachable"


def test_two_specs_with_the_same_name_in_one_plugin_are_rejected(install) -> None:
    install({"twins": "plugin_fixtures.twins"})
    registry = load_plugins()
    assert "fixture_twin" not in registry.apps
    assert [p.status for p in registry.plugins if p.name in ("twins", "fixture_twin")] == [STATUS_FAILED]


def test_disable_by_entry_point_name_blocks_before_import(install, monkeypatch: pytest.MonkeyPatch) -> None:
    install({"good": "plugin_fixtures.good", "broken_import": "plugin_fixtures.broken_import"})
    monkeypatch.setenv("AGILAB_DISABLE_PLUGINS", " good , broken_import")
    registry = load_plugins()
    assert _info(registry, "good").status == STATUS_BLOCKED
    assert _info(registry, "broken_import").status == STATUS_BLOCKED  # never imported, so never failed
    assert "fixture_good" not in registry.apps
    assert "fixture_inline" not in registry.executors
    assert registry.pm.get_plugin("good") is None


def test_disable_by_registered_name_blocks_only_that_name(install, monkeypatch: pytest.MonkeyPatch) -> None:
    install({"good": "plugin_fixtures.good"})
    monkeypatch.setenv("AGILAB_DISABLE_PLUGINS", "fixture_good,pool")
    registry = load_plugins()
    assert "fixture_good" not in registry.apps
    assert "pool" not in registry.executors
    assert "fixture_inline" in registry.executors
    assert "local" in registry.executors
    assert _info(registry, "fixture_good").status == STATUS_BLOCKED
    with pytest.raises(UsageError, match=r"unknown app 'fixture_good' \(blocked\)"):
        registry.app("fixture_good")


def test_strict_mode_re_raises_import_errors(install, monkeypatch: pytest.MonkeyPatch) -> None:
    install({"broken_import": "plugin_fixtures.broken_import"}, real=False)
    monkeypatch.setenv("AGILAB_STRICT_PLUGINS", "1")
    with pytest.raises(RuntimeError, match="fixture plugin cannot import"):
        load_plugins()


def test_strict_mode_re_raises_registration_errors(install, monkeypatch: pytest.MonkeyPatch) -> None:
    install({"wrong_type": "plugin_fixtures.wrong_type"}, real=False)
    monkeypatch.setenv("AGILAB_STRICT_PLUGINS", "true")
    with pytest.raises(PluginError, match="expected AppSpec"):
        load_plugins()


def test_strict_mode_off_by_default_records_instead(install) -> None:
    install({"broken_import": "plugin_fixtures.broken_import"}, real=False)
    assert _info(load_plugins(), "broken_import").status == STATUS_FAILED


def test_unknown_app_error_lists_installed_apps(install) -> None:
    install({"good": "plugin_fixtures.good"})
    with pytest.raises(UsageError) as info:
        load_plugins().app("nope")
    assert str(info.value).startswith("unknown app 'nope'")
    assert "installed: " in str(info.value)
    assert "fixture_good" in str(info.value)


def test_unknown_executor_error_lists_installed_executors(install) -> None:
    install({}, real=True)
    with pytest.raises(UsageError) as info:
        load_plugins().executor("slurm")
    assert "unknown executor 'slurm'" in str(info.value)
    assert "local, pool" in str(info.value)


def test_lookup_of_a_failed_plugin_says_why(install) -> None:
    install({"broken_import": "plugin_fixtures.broken_import"}, real=False)
    with pytest.raises(UsageError) as info:
        load_plugins().app("broken_import")
    assert "(failed: fixture plugin cannot import)" in str(info.value)
    assert "installed: none" in str(info.value)


def test_same_entry_point_seen_twice_is_loaded_once(install, monkeypatch: pytest.MonkeyPatch) -> None:
    eps = install({"good": "plugin_fixtures.good"}, real=False)
    monkeypatch.setattr(plugins, "_entry_points", lambda: eps + eps)
    registry = load_plugins()
    assert [p.status for p in registry.plugins if p.name == "fixture_good"] == [STATUS_LOADED]


def test_load_plugins_without_entry_points_has_only_the_builtins(install) -> None:
    install({"good": "plugin_fixtures.good"})
    registry = load_plugins(entry_points=False)
    assert registry.apps == {} and registry.executors == {} and registry.plugins == []


def test_each_call_builds_a_fresh_registry(install) -> None:
    install({"good": "plugin_fixtures.good"})
    first, second = load_plugins(), load_plugins()
    assert first.pm is not second.pm
    assert first.apps.keys() == second.apps.keys()


def test_plugins_are_sorted_by_kind_and_name(install) -> None:
    install(ALL_FIXTURES)
    rows = [(p.kind, p.name) for p in load_plugins().plugins]
    assert rows == sorted(rows)


def test_registry_register_adds_a_plugin_object(fixtures_on_path) -> None:
    from plugin_fixtures.good import GOOD_APP

    class AppPlugin:
        @hookimpl
        def register_apps(self):
            return [GOOD_APP]

    registry = load_plugins(entry_points=False)
    registry.register(AppPlugin(), name="mine", distribution="my-dist", version="1.2")
    assert registry.app("fixture_good") is GOOD_APP
    assert registry.distribution("app", "fixture_good") == ("my-dist", "1.2")
    assert _info(registry, "fixture_good").status == STATUS_LOADED


def test_registry_register_refuses_a_name_clash(fixtures_on_path) -> None:
    from plugin_fixtures.good import GOOD_APP

    class AppPlugin:
        @hookimpl
        def register_apps(self):
            return [GOOD_APP]

    registry = load_plugins(entry_points=False)
    registry.register(AppPlugin(), name="first")
    registry.register(AppPlugin(), name="second")
    assert _info(registry, "second").status == STATUS_FAILED
    assert "already registered" in _info(registry, "second").error
    assert registry.pm.get_plugin("second") is None


def test_make_plugin_manager_has_the_specs_and_default_impls() -> None:
    pm = make_plugin_manager()
    assert isinstance(pm, pluggy.PluginManager)
    for hook in ("resolve_env", "package_worker", "plan_work"):
        impls = getattr(pm.hook, hook).get_hookimpls()
        assert len(impls) == 1 and impls[0].trylast


def test_registered_plugin_may_answer_a_decision_hook_first() -> None:
    registry = load_plugins(entry_points=False)

    class Planner:
        @hookimpl
        def plan_work(self, items, workers):  # a subset of the arguments is enough
            return "custom"

    registry.register(Planner(), name="planner")
    assert registry.pm.hook.plan_work(items=[], workers=[], capacities={}) == "custom"


# -- what a registration hook returns is checked at the door -----------------------

INVALID = {
    "no_args_type": ("app", "app 'fixture_no_args': manager NoArgsManager has no args_type"),
    "args_not_attrs": ("app", "app 'fixture_dict_args': DictArgsManager.args_type <class 'dict'> is not an attrs class"),
    "manager_not_a_manager": ("app", "is not a subclass of agilab_core.Manager"),
    "worker_dotted": ("app", "app 'fixture_dotted_worker': worker 'plugin_fixtures.good.GoodWorker' is not of the form 'module:Class'"),
    "worker_nowhere": ("app", "app 'fixture_worker_nowhere': worker module 'plugin_fixtures.nowhere' not found"),
    "name_with_spaces": ("app", "app name 'Fixture App' is invalid: use lowercase letters"),
    "name_too_long": ("executor", f"executor name '{'x' * 65}' is invalid"),
    "executor_not_an_executor": ("executor", "executor 'fixture_not_executor': <class 'plugin_fixtures.invalid.NotAnExecutor'> is not a subclass of agilab_core.Executor"),
    "config_not_attrs": ("executor", "executor 'fixture_dict_config': config_type <class 'dict'> is not an attrs class"),
    "page_not_a_page": ("page", "register_pages returned function, expected PageSpec"),
    "render_not_callable": ("page", "page 'fixture_text_render': render '<html></html>' is not callable"),
    "render_needs_out": ("page", "page 'fixture_old_render': render needs argument(s) out; a page gets only record, manifest"),
    "can_show_not_callable": ("page", "page 'fixture_can_show': can_show 'never' is neither None nor callable"),
}


@pytest.mark.parametrize("fixture", sorted(INVALID))
def test_an_invalid_registration_fails_its_plugin_in_one_line_and_spares_the_others(install, fixture: str) -> None:
    kind, message = INVALID[fixture]
    install({fixture: f"plugin_fixtures.invalid:{fixture}", "good": "plugin_fixtures.good"})
    registry = load_plugins()
    info = _info(registry, fixture)
    assert (info.status, info.kind, info.distribution) == (STATUS_FAILED, kind, FIXTURE_DIST)
    assert message in info.error and "\n" not in info.error
    assert registry.pm.get_plugin(fixture) is None
    assert "fixture_good" in registry.apps and "fixture_inline" in registry.executors and "fixture_page" in registry.pages
    assert {"local", "pool"} <= set(registry.executors)


def test_strict_mode_names_the_plugin_of_an_invalid_registration(install, monkeypatch: pytest.MonkeyPatch) -> None:
    install({"no_args_type": "plugin_fixtures.invalid:no_args_type"}, real=False)
    monkeypatch.setenv("AGILAB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=rf"^plugin 'no_args_type' \({FIXTURE_DIST}\): app 'fixture_no_args': manager NoArgsManager has no args_type$"):
        load_plugins()


def test_a_worker_module_is_not_imported_at_registration(fixtures_on_path, tmp_path, monkeypatch) -> None:
    import importlib
    import sys

    from plugin_fixtures.good import GoodManager

    from agilab_core import AppSpec

    package = tmp_path / "never_imported_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('imported at registration')\n")
    (package / "worker.py").write_text("import not_an_installed_library\n\nclass Worker:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()

    class LazyWorkerPlugin:
        @hookimpl
        def register_apps(self):
            # the package is not imported: the kernel reads its source to look
            return [AppSpec("lazy", GoodManager, "never_imported_pkg.worker:Worker")]

    registry = load_plugins(entry_points=False)
    registry.register(LazyWorkerPlugin(), name="lazy")
    assert "lazy" in registry.apps
    assert "never_imported_pkg" not in sys.modules


@given(st.text(max_size=80))
def test_valid_names_follow_the_rule(name: str) -> None:
    expected = bool(re.fullmatch(r"[a-z][a-z0-9_-]*", name)) and len(name) <= 64 and name.isascii()
    assert plugins.valid_name(name) is expected


@pytest.mark.parametrize("name", ["flight", "executor-local", "a", "maps_2", "x" * 64])
def test_names_of_the_bundled_kind_are_valid(name: str) -> None:
    assert plugins.valid_name(name)


@pytest.mark.parametrize("name", ["", "Flight", "2d", "-x", "_x", "a b", "a.b", "a/b", "é", "x" * 65, None, 3])
def test_names_that_cannot_be_typed_or_used_in_paths_are_invalid(name) -> None:
    assert not plugins.valid_name(name)


def _second_dist(root, name: str, entries: dict[str, str]) -> list[metadata.EntryPoint]:
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", encoding="utf-8")
    lines = ["[agilab]"] + [f"{k} = {v}" for k, v in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return list(metadata.PathDistribution(info).entry_points.select(group="agilab"))


def test_an_entry_point_name_from_two_distributions_fails_the_second_naming_both(
    tmp_path, fixture_dist, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = fixture_dist({"good": "plugin_fixtures.good"})
    second = _second_dist(tmp_path / "other", "agilab-app-impostor", {"good": "plugin_fixtures.twins"})
    monkeypatch.setattr(plugins, "_entry_points", lambda: first + second)
    registry = load_plugins()
    (failed,) = [p for p in registry.plugins if p.status == STATUS_FAILED]
    assert (failed.name, failed.distribution, failed.version) == ("good", "agilab-app-impostor", "1.0")
    assert failed.error == f"entry point 'good' is also provided by {FIXTURE_DIST}; this one from agilab-app-impostor is not loaded"
    assert "fixture_good" in registry.apps  # the first keeps working
    assert "fixture_twin" not in registry.apps  # the second was never imported


def test_an_entry_point_name_clash_re_raises_in_strict_mode(tmp_path, fixture_dist, monkeypatch: pytest.MonkeyPatch) -> None:
    first = fixture_dist({"good": "plugin_fixtures.good"})
    second = _second_dist(tmp_path / "other", "agilab-app-impostor", {"good": "plugin_fixtures.good"})
    monkeypatch.setattr(plugins, "_entry_points", lambda: first + second)
    monkeypatch.setenv("AGILAB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="also provided by agilab-fixture-plugins"):
        load_plugins()


def test_a_registration_hook_returning_no_list_fails_the_plugin(fixtures_on_path) -> None:
    from plugin_fixtures.good import GOOD_APP

    class Single:
        @hookimpl
        def register_apps(self):
            return GOOD_APP  # forgot the list

    registry = load_plugins(entry_points=False)
    registry.register(Single(), name="single")
    assert _info(registry, "single").error == "register_apps returned AppSpec, expected a list of AppSpec"
