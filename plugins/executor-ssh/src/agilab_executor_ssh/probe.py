"""What a host is: its OS, architecture, Python and the wheel tags that Python accepts.

The manager runs :data:`PROBE` with the host's ``remote_python`` (a few lines
of standard library, any Python 3) and reads one JSON line back. From it,
:class:`HostFacts` says which wheels fit the host (``pip download``'s
``--platform``, ``--python-version``, ``--abi``) or why the host cannot run
workers at all, in one line naming it.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from agilab_core import ConfigError

#: The oldest Python a worker venv can have (the kernel's ``requires-python``).
MINIMUM_PYTHON = (3, 11)

PROBE = """\
import json, os, platform, sys, sysconfig
libc = platform.libc_ver()
print(json.dumps({
    "os": platform.system(),
    "machine": platform.machine(),
    "platform": sysconfig.get_platform(),
    "python": platform.python_version(),
    "version": list(sys.version_info[:2]),
    "implementation": sys.implementation.name,
    "executable": sys.executable,
    "libc": [libc[0], libc[1]],
    "home": os.path.expanduser("~"),
    "cores": os.cpu_count() or 1,
    "venv": __import__("importlib.util").util.find_spec("venv") is not None,
}))
"""

#: Exit status of a shell that did not find the command.
NOT_FOUND = 127
_MANYLINUX_LEGACY = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


@attrs.frozen
class HostFacts:
    """A probed host: enough to choose its wheels and to say in the manifest what it was."""

    os: str
    machine: str
    platform: str
    python: str
    version: tuple[int, int]
    implementation: str
    executable: str
    libc: tuple[str, str]
    home: str
    venv: bool
    cores: int = 1

    @classmethod
    def parse(cls, host: str, python: str, status: int | None, stdout: str, stderr: str) -> HostFacts:
        """The facts a probe printed, or a :class:`ConfigError` naming ``host`` and what was found."""
        if status == NOT_FOUND or (status and "not found" in stderr):
            raise ConfigError(f"host {host}: remote_python {python!r} was not found there (set -o remote_python=PATH)")
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        if status or not lines:
            said = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), f"exit status {status}")
            raise ConfigError(f"host {host}: remote_python {python!r} cannot run the probe: {said}")
        try:
            data: dict[str, Any] = json.loads(lines[-1])
            facts = cls(
                os=str(data["os"]), machine=str(data["machine"]), platform=str(data["platform"]), python=str(data["python"]),
                version=(int(data["version"][0]), int(data["version"][1])), implementation=str(data["implementation"]),
                executable=str(data["executable"]), libc=(str(data["libc"][0]), str(data["libc"][1])), home=str(data["home"]),
                venv=bool(data["venv"]), cores=int(data.get("cores") or 1),
            )
        except (ValueError, KeyError, IndexError, TypeError):
            raise ConfigError(f"host {host}: remote_python {python!r} printed no probe answer") from None
        facts.check(host, python)
        return facts

    def check(self, host: str, python: str) -> None:
        """Refuse a Python that cannot hold a worker venv."""
        if self.version < MINIMUM_PYTHON:
            need = ".".join(map(str, MINIMUM_PYTHON))
            raise ConfigError(f"host {host}: remote_python {python!r} is Python {self.python}, workers need {need} or newer (set -o remote_python=PATH)")
        if self.implementation != "cpython":
            raise ConfigError(f"host {host}: remote_python {python!r} is {self.implementation} {self.python}; workers need CPython")
        if not self.venv:
            raise ConfigError(f"host {host}: remote_python {python!r} (Python {self.python}) has no venv module")

    @property
    def python_version(self) -> str:
        """``pip download --python-version``: ``3.11``."""
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def abi(self) -> str:
        """``pip download --abi``: ``cp311``."""
        return f"cp{self.version[0]}{self.version[1]}"

    def platforms(self) -> list[str]:
        """``pip download --platform`` values, most specific first: every manylinux the host's glibc runs."""
        arch = self.machine.replace("-", "_").replace(".", "_")
        base = self.platform.replace("-", "_").replace(".", "_")
        if self.os != "Linux" or self.libc[0] != "glibc":
            return [base]
        try:
            major, minor = (int(p) for p in self.libc[1].split(".")[:2])
        except ValueError:
            return [base]
        tags = []
        for glibc_minor in range(minor, 4, -1):
            tags.append(f"manylinux_{major}_{glibc_minor}_{arch}")
            legacy = _MANYLINUX_LEGACY.get((major, glibc_minor))
            if legacy:
                tags.append(f"{legacy}_{arch}")
        return [*tags, f"linux_{arch}"]

    def describe(self) -> str:
        return f"{self.os} {self.machine}, Python {self.python}"

    def to_dict(self) -> dict[str, Any]:
        return {"os": self.os, "machine": self.machine, "python": self.python, "executable": self.executable, "cores": self.cores, "platforms": self.platforms()[:1]}
