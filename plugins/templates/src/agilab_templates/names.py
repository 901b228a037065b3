"""Every name of a new plugin, derived from the one NAME its author types.

``agilab new executor "My Exec"`` must give a package that installs and
loads, so the text is normalised once, here: accents dropped, lower case,
any run of other characters made one ``-`` (``_`` alone is kept), a leading
``agilab-<kind>-`` dropped. What cannot become a name (nothing left, no
leading letter, too long) is refused in one line naming what was typed.
Python keywords need no care: every import name starts with ``agilab_``.
"""

from __future__ import annotations

import re
import unicodedata

import attrs
from agilab_core import UsageError
from agilab_core.plugins import NAME_RULE, valid_name

KINDS = ("app", "executor", "page")
MAX_LENGTH = 64
_OTHER = re.compile(r"[^a-z0-9]+")


def _ascii(text: str) -> str:
    """``text`` in ASCII: accents dropped (``é`` is ``e``), any other non-ASCII character a space."""
    kept = []
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(char):
            continue
        kept.append(char if char.isascii() else " ")
    return "".join(kept)


def _separator(run: str) -> str:
    return "_" if set(run) == {"_"} else "-"


def _shown(text: str) -> str:
    """What the user typed, quoted and cut short, for a one-line refusal."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def short_name(kind: str, text: str) -> str:
    """The registered name ``text`` becomes, or :class:`UsageError` (one line) when it cannot become one."""
    name = _OTHER.sub(lambda m: _separator(m.group()), _ascii(text).lower()).strip("-_")
    for prefix in (f"agilab-{kind}-", f"agilab_{kind}_"):
        name = name.removeprefix(prefix)
    if not name:
        raise UsageError(f"NAME {_shown(text)} has no ASCII letter or digit to make a {kind} name of; try e.g. 'my-{kind}'")
    if not name[0].isalpha():
        raise UsageError(f"NAME {_shown(text)} gives {name!r}, which does not start with a letter; try e.g. '{kind}-{name}'")
    if len(name) > MAX_LENGTH:
        raise UsageError(f"NAME {_shown(text)} gives a name of {len(name)} characters; at most {MAX_LENGTH}")
    if not valid_name(name):  # the rule above should make this unreachable: say so rather than render a broken package
        raise UsageError(f"NAME {_shown(text)} gives {name!r}, which is not {NAME_RULE}")
    return name


@attrs.frozen
class PluginNames:
    """The names of one plugin package, all from its registered ``name``."""

    kind: str
    name: str
    typed: str

    @classmethod
    def of(cls, kind: str, text: str) -> PluginNames:
        if kind not in KINDS:
            raise UsageError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        return cls(kind, short_name(kind, text), text)

    @property
    def dashed(self) -> str:
        return self.name.replace("_", "-")

    @property
    def distribution(self) -> str:
        """``agilab-<kind>-<name>``, as PEP 503 normalises it (``-`` only)."""
        return f"agilab-{self.kind}-{self.dashed}"

    @property
    def package(self) -> str:
        """``agilab_<kind>_<name>``: the import name."""
        return f"agilab_{self.kind}_{self.name.replace('-', '_')}"

    @property
    def entry_point(self) -> str:
        """``<kind>-<name>``: an app and a page of one name (a page for that app) then never share an entry point."""
        return f"{self.kind}-{self.dashed}"

    @property
    def folder(self) -> str:
        """``<kind>-<name>``, the layout of this repository's ``plugins/``."""
        return f"{self.kind}-{self.dashed}"

    @property
    def title(self) -> str:
        """CamelCase for class names: ``my-exec`` is ``MyExec`` (as the templates' Jinja ``title`` spells it)."""
        return "".join(part.capitalize() for part in re.split(r"[-_]", self.name) if part)

    @property
    def normalised(self) -> bool:
        """True when the registered name is not exactly what was typed."""
        return self.name != self.typed

    def context(self) -> dict[str, str]:
        """The names as the templates' ``cookiecutter.json`` spells them."""
        return {
            "name": self.name,
            "__distribution": self.distribution,
            "__package": self.package,
            "__entry_point": self.entry_point,
            "__folder": self.folder,
            "__title": self.title,
        }
