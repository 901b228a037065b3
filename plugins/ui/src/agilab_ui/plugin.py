"""The ``agilab ui`` command: check where to listen, then serve the runs folder.

Importing this module (as the kernel does to collect commands) imports click
only; Starlette, uvicorn and Jinja2 are imported when the command runs.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from pathlib import Path

import click
from agilab_core.cli import plain
from agilab_core.errors import UsageError

from agilab_core import hookimpl


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: any free port); one :class:`UsageError` line when it cannot be had."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: unknown host ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="TCP port (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback unless --allow-remote).")
@click.option("--allow-remote", is_flag=True, help="Allow a --host other machines can reach (no authentication: they can read every run).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="AGILAB_HOME", help="AGILab home (default $AGILAB_HOME or ~/.agilab).")
def ui(port: int, host: str, allow_remote: bool, home: Path | None) -> None:
    """Serve a read-only web view of the runs (list, detail, pages) on 127.0.0.1 until Ctrl-C."""
    from agilab_core.env import resolve_home
    from agilab_core.plugins import load_plugins

    loopback = is_loopback(host)
    if not loopback and not allow_remote:
        raise UsageError(f"--host {host} is not a loopback address: add --allow-remote to let other machines read your runs")
    runs_root = resolve_home(home) / "runs"
    sock = listen(host, port)
    if not loopback:
        click.echo(f"warning: serving {plain(runs_root)} on {plain(host)}: anyone who can reach this machine can read every run (no authentication)", err=True)
    try:
        import uvicorn

        from agilab_ui.app import LOOPBACK_HOSTS, make_app
    except ImportError as exc:  # a broken install: say what is missing, in one line
        sock.close()
        raise UsageError(f"agilab ui cannot start: {exc} (reinstall: pip install agilab-ui)") from None

    app = make_app(runs_root, load_plugins().pages, allowed_hosts=LOOPBACK_HOSTS if loopback else None)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    click.echo(f"AGILab UI on http://{shown}:{bound_port}/ ({plain(runs_root)}); Ctrl-C stops it")
    # read every manifest once while the browser opens: the first listing then only stats the runs
    threading.Thread(target=app.state.runs.index.manifests, name="agilab-ui-warm", daemon=True).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


@hookimpl
def register_commands() -> list[click.Command]:
    return [ui]
