"""Whatever NAME is typed, ``agilab new`` gets a valid set of names or one line saying why not."""

from __future__ import annotations

import json
import keyword
import re

import jinja2
import pytest
from agilab_core import UsageError
from agilab_core.plugins import valid_name
from hypothesis import given
from hypothesis import strategies as st

from agilab_templates.names import KINDS, PluginNames
from agilab_templates.render import template_dir

DISTRIBUTION = re.compile(r"agilab-(app|executor|page)-[a-z0-9]+(-[a-z0-9]+)*")

# Text as people type it, and worse: separators, accents, other scripts, control characters, paths.
names_typed = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="aZé9 _-./\\ßİ\u0301日\x1b", max_size=30),
    st.sampled_from(["My Exec", "class", "import", "..", "../evil", "-x", "Café", "agilab-app-flight", "2fast", "__init__"]),
)


def check(names: PluginNames) -> None:
    assert valid_name(names.name)
    assert DISTRIBUTION.fullmatch(names.distribution), names.distribution
    assert names.package.isidentifier() and not keyword.iskeyword(names.package)
    assert names.title.isidentifier() and names.title[0].isupper()
    assert re.fullmatch(r"[a-z][a-z0-9-]*", names.folder) and names.folder == names.entry_point
    assert names.distribution == f"agilab-{names.folder}"


@given(kind=st.sampled_from(KINDS), text=names_typed)
def test_any_text_gives_valid_names_or_a_one_line_refusal(kind: str, text: str) -> None:
    try:
        names = PluginNames.of(kind, text)
    except UsageError as exc:
        message = str(exc)
        assert message.startswith("NAME ") and "\n" not in message and "\x1b" not in message
        return
    check(names)
    assert PluginNames.of(kind, names.name).name == names.name  # a name normalises to itself


@given(kind=st.sampled_from(KINDS), text=names_typed)
def test_the_templates_derive_the_same_names_as_agilab_new(kind: str, text: str) -> None:
    """``cookiecutter cookiecutter/<kind>`` (no ``agilab new``) computes the same names in Jinja."""
    try:
        names = PluginNames.of(kind, text)
    except UsageError:
        return
    spec = json.loads((template_dir(kind) / "cookiecutter.json").read_text(encoding="utf-8"))
    env = jinja2.Environment()
    derived = {key: env.from_string(value).render(cookiecutter={"name": names.name}) for key, value in spec.items() if key.startswith("__")}
    assert derived == {key: value for key, value in names.context().items() if key.startswith("__")}


@pytest.mark.parametrize(
    ("kind", "text", "name", "distribution", "package"),
    [
        ("executor", "my-exec", "my-exec", "agilab-executor-my-exec", "agilab_executor_my_exec"),
        ("executor", "my_exec", "my_exec", "agilab-executor-my-exec", "agilab_executor_my_exec"),
        ("executor", "My Exec", "my-exec", "agilab-executor-my-exec", "agilab_executor_my_exec"),
        ("app", "class", "class", "agilab-app-class", "agilab_app_class"),
        ("app", "Café  Crème!", "cafe-creme", "agilab-app-cafe-creme", "agilab_app_cafe_creme"),
        ("app", "agilab-app-wordcount", "wordcount", "agilab-app-wordcount", "agilab_app_wordcount"),
        ("page", "../evil", "evil", "agilab-page-evil", "agilab_page_evil"),
        ("page", "Speed__Map", "speed_map", "agilab-page-speed-map", "agilab_page_speed_map"),
    ],
)
def test_names_are_normalised(kind: str, text: str, name: str, distribution: str, package: str) -> None:
    names = PluginNames.of(kind, text)
    assert (names.name, names.distribution, names.package) == (name, distribution, package)
    assert names.normalised == (name != text)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("..", "no ASCII letter or digit"),
        ("日本", "no ASCII letter or digit"),
        ("", "no ASCII letter or digit"),
        ("2fast", "does not start with a letter"),
        ("x" * 65, "at most 64"),
    ],
)
def test_what_cannot_be_a_name_is_refused(text: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        PluginNames.of("app", text)
