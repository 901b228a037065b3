"""A worker venv on a host, built offline from the wheels in its cache.

The venv is ``<remote_dir>/wenv/<app>-<env hash>``. :data:`BUILD` runs on the
host with its ``remote_python``: it creates the venv without pip (Debian's
Python has no ``ensurepip``), links the wheels out of the cache under their
file names, installs them with the uploaded pip wheel (``--no-index``: the
host needs no network), writes the venv's
:data:`~agilab_core.identity.ENV_RECORD`, then checks that the new venv's
Python imports the worker side and reports the run's identity hash; a venv
that fails the check loses its record. A venv whose record names the same
hash and wheels is complete and current: it is used as it is. The build
watches its stdin, the SSH channel: when the manager goes (Ctrl-C, killed,
disconnected) it kills itself and pip, leaving no record behind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agilab_core.identity import ENV_RECORD, digest

from agilab_core import ConfigError, WorkerPackage
from agilab_executor_ssh.wheelhouse import Wheel

BUILD = """\
import json, os, shutil, signal, subprocess, sys, threading
if os.getpgrp() != os.getpid():
    os.setpgid(0, 0)
def orphaned():
    while os.read(0, 65536):  # the raw fd: a daemon thread blocked in sys.stdin would abort the interpreter's exit
        pass
    os.killpg(os.getpgrp(), signal.SIGKILL)  # end-of-file, the manager is gone: pip and this build go; no record
threading.Thread(target=orphaned, daemon=True).start()
spec = json.loads(sys.argv[1])
venv, cache = spec["venv"], spec["cache"]
def fail(step, text):
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    said = next((l for l in reversed(lines) if l.startswith(("ERROR", "Error", "error"))), lines[-1] if lines else "no message")
    sys.stderr.write(step + ": " + said + "\\n")
    sys.exit(3)
try:
    shutil.rmtree(venv, ignore_errors=True)
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], capture_output=True, text=True)
    if done.returncode:
        fail("python -m venv", done.stdout + done.stderr)
    wheels = os.path.join(venv, "wheels")
    os.makedirs(wheels)
    paths = []
    for name, sha in spec["wheels"]:
        path = os.path.join(wheels, name)
        try:
            os.link(os.path.join(cache, sha), path)
        except OSError:
            shutil.copyfile(os.path.join(cache, sha), path)
        paths.append(path)
except OSError as exc:
    fail("cannot create " + venv, exc.strerror or str(exc))
python = os.path.join(venv, "bin", "python")
pip = os.path.join(wheels, spec["pip"], "pip")
done = subprocess.run(
    [python, pip, "install", "--no-index", "--no-deps", "--quiet", "--disable-pip-version-check", "--no-input", *paths],
    capture_output=True, text=True, env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
)
if done.returncode:
    fail("pip install", done.stdout + done.stderr)
record_path = os.path.join(venv, spec["record_name"])
with open(record_path, "w") as out:
    json.dump(spec["record"], out, indent=2)
done = subprocess.run([python, "-c", spec["check"]], capture_output=True, text=True)
found = done.stdout.strip()
if done.returncode or found != spec["record"]["hash"]:
    os.remove(record_path)  # no record: an incomplete venv, rebuilt next time
    if done.returncode:
        fail("the venv does not import the worker side", done.stdout + done.stderr)
    fail("identity check", "the venv reports environment " + found + ", not " + spec["record"]["hash"])
print(found)
"""

#: Run by the new venv's python: its imports are the worker side's, its output the identity hash it reports.
CHECK = (
    "import agilab_core, distributed, agilab_executor_dask.worker, agilab_executor_ssh.remote_task; "
    "from agilab_core.identity import environment_hash; print(environment_hash())"
)


def venv_name(package: WorkerPackage) -> str:
    return f"{package.app}-{package.env_hash}"


def wheel_set(wheels: Sequence[Wheel]) -> str:
    """What the venv was built from, as one hash (same wheels, same venv)."""
    return digest(sorted([w.name, w.sha256] for w in wheels))


def build_spec(package: WorkerPackage, wheels: Sequence[Wheel], venv: str, cache: str, host_facts: dict[str, Any]) -> str:
    """The argument of :data:`BUILD`: where, from which wheels, and the record to write."""
    pip = next((w for w in wheels if w.name.startswith("pip-")), None)
    if pip is None:
        raise ConfigError("no pip wheel among the wheels for the host")
    record = {
        "hash": package.env_hash,
        "app": package.app,
        "runtime": package.runtime,
        "installer": "pip (offline, over SSH)",
        "wheels": [w.name for w in wheels],
        "wheel_set": wheel_set(wheels),
        "requirements": list(package.requirements),
        "distributions": list(package.distributions),
        "identity": package.identity,
        "host": host_facts,
    }
    return json.dumps({
        "venv": venv, "cache": cache, "wheels": [[w.name, w.sha256] for w in wheels], "pip": pip.name,
        "record": record, "record_name": ENV_RECORD, "check": CHECK,
    })


def current(record_text: str | None, package: WorkerPackage, wheels: Sequence[Wheel]) -> bool:
    """Whether a venv's record says it was built for this package from these wheels."""
    if not record_text:
        return False
    try:
        record = json.loads(record_text)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("hash") == package.env_hash and record.get("wheel_set") == wheel_set(wheels)


def build_failure(host: str, venv: str, stderr: str, status: int | None) -> ConfigError:
    said = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), f"exit status {status}")
    return ConfigError(f"host {host}: cannot build the worker venv {venv}: {said}")
