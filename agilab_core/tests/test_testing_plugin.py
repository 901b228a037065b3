"""The kernel's pytest plugin keeps to itself: a project that merely has the kernel installed gets only ``agilab_*`` fixtures."""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

PLUGIN_FIXTURES = {"agilab_agi", "agilab_home", "agilab_registry", "agilab_wenv"}


def _fixtures_of_the_plugin(output: str) -> set[str]:
    """Fixture names ``pytest --fixtures`` lists under the plugin's own heading."""
    section = output.split("fixtures defined from agilab_core.testing", 1)[1]
    section = re.split(r"^-+ fixtures defined from ", section, maxsplit=1, flags=re.M)[0]
    return set(re.findall(r"^(\w+)(?: \[\w+ scope\])? -- ", section, flags=re.M))


def test_an_outside_project_sees_only_prefixed_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_other="def test_nothing():\n    pass\n")
    done = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    assert done.ret == 0, done.stdout.str()
    names = _fixtures_of_the_plugin(done.stdout.str())
    assert names == PLUGIN_FIXTURES
    assert all(name.startswith("agilab_") for name in names)


def test_an_outside_project_keeps_its_own_agi_and_environment(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest(
        "import pytest\n\n"
        "@pytest.fixture\ndef agi():\n    return 'mine'\n\n"
        "@pytest.fixture\ndef home():\n    return 'my home'\n"
    )
    pytester.makepyfile(
        test_other=(
            "import os\n\n"
            "def test_own_fixtures(agi, home):\n"
            "    assert (agi, home) == ('mine', 'my home')\n"
            "    assert 'AGILAB_HOME' not in os.environ\n"
        )
    )
    monkeypatch.delenv("AGILAB_HOME", raising=False)
    done = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    done.assert_outcomes(passed=1)


def test_an_unprefixed_agi_is_unknown_outside_this_repository(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_other="def test_wants_agi(agi):\n    pass\n")
    done = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    done.assert_outcomes(errors=1)
    done.stdout.fnmatch_lines(["*fixture 'agi' not found*"])


def test_a_session_without_plugin_autoload_asks_for_it_by_module(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(
        test_other=(
            "import os\n\n"
            "def test_home(agilab_home):\n"
            "    assert os.environ['AGILAB_HOME'] == str(agilab_home)\n"
        )
    )
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(errors=1)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "agilab_core.testing").assert_outcomes(passed=1)
