"""Refresh the map page's vendored files from their npm packages (run by hand, needs the network).

    python plugins/page-maps/refresh_vendored.py [--leaflet 1.9.4] [--world-atlas 2.0.2]

Downloads each package's tarball from the npm registry, checks it against the
registry's sha512 integrity, and writes into ``src/agilab_page_maps/vendored/``:

- ``leaflet.js``, ``leaflet.css`` and ``leaflet.LICENSE`` (BSD-2-Clause);
- ``land-50m.json`` and ``land-110m.json``: Natural Earth land at 1:50m and
  1:110m (public domain; the page draws the coarser one when zoomed out) from
  ``world-atlas``'s TopoJSON, decoded to GeoJSON here (so the page carries no
  TopoJSON decoder) with every ring made drawable on a flat map (see
  :func:`agilab_page_maps.basemap.flat_rings`), and ``world-atlas.LICENSE``;
- ``VENDORED.json``: each file's package, version, licence, source and sha256.

The page never fetches anything: these files are inlined into it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "src"))

from agilab_page_maps.basemap import land_geojson  # noqa: E402

TARGET = HERE / "src" / "agilab_page_maps" / "vendored"
REGISTRY = "https://registry.npmjs.org"


def npm_tarball(name: str, version: str) -> tuple[tarfile.TarFile, dict]:
    """The package tarball, verified against the registry's integrity hash."""
    with urllib.request.urlopen(f"{REGISTRY}/{name}/{version}", timeout=60) as response:
        meta = json.load(response)
    with urllib.request.urlopen(meta["dist"]["tarball"], timeout=120) as response:
        data = response.read()
    algorithm, _, expected = meta["dist"]["integrity"].partition("-")
    if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != expected:
        raise SystemExit(f"{name}@{version}: tarball does not match the registry's {algorithm} integrity")
    return tarfile.open(fileobj=io.BytesIO(data)), meta


def member(tar: tarfile.TarFile, path: str) -> bytes:
    handle = tar.extractfile(f"package/{path}")
    if handle is None:
        raise SystemExit(f"{path}: not a file in the tarball")
    return handle.read()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaflet", default="1.9.4")
    parser.add_argument("--world-atlas", default="2.0.2")
    args = parser.parse_args(argv)
    TARGET.mkdir(parents=True, exist_ok=True)
    files: dict[str, tuple[bytes, str, str, str, str]] = {}
    tar, meta = npm_tarball("leaflet", args.leaflet)
    source = meta["dist"]["tarball"]
    files["leaflet.js"] = (member(tar, "dist/leaflet.js"), "leaflet", meta["version"], meta["license"], source + "#dist/leaflet.js")
    files["leaflet.css"] = (member(tar, "dist/leaflet.css"), "leaflet", meta["version"], meta["license"], source + "#dist/leaflet.css")
    files["leaflet.LICENSE"] = (member(tar, "LICENSE"), "leaflet", meta["version"], meta["license"], source + "#LICENSE")
    tar, meta = npm_tarball("world-atlas", args.world_atlas)
    source = meta["dist"]["tarball"]
    for scale in ("50m", "110m"):
        topology = json.loads(member(tar, f"land-{scale}.json"))
        land = json.dumps(land_geojson(topology), separators=(",", ":")).encode()
        files[f"land-{scale}.json"] = (land, "world-atlas", meta["version"], "public domain (Natural Earth)", source + f"#land-{scale}.json (decoded to GeoJSON)")
    files["world-atlas.LICENSE"] = (member(tar, "LICENSE"), "world-atlas", meta["version"], meta["license"], source + "#LICENSE")
    listing = []
    for name, (data, package, version, licence, origin) in files.items():
        (TARGET / name).write_bytes(data)
        listing.append(
            {"file": name, "package": package, "version": version, "license": licence, "source": origin, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        )
    (TARGET / "VENDORED.json").write_text(json.dumps(listing, indent=2) + "\n")
    for row in listing:
        print(f"{row['file']}: {row['package']} {row['version']} ({row['license']}), {row['bytes']:,} bytes, sha256 {row['sha256'][:12]}")


if __name__ == "__main__":
    main()
