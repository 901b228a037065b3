"""A batch's small outputs in one file: both sides agree on its layout, and cutting it gives each output back."""

from __future__ import annotations

import os
from pathlib import Path

from agilab_executor_ssh import bundle
from hypothesis import given, settings
from hypothesis import strategies as st

from agilab_core import ItemResult, OutputFile, sha256_file


def result(item_id: str, files: dict[str, int], *, status: str = "ok", host: str = "u@h", started: float = 1.0, attempts: int = 1) -> ItemResult:
    outputs = tuple(OutputFile(path, "0" * 64, size) for path, size in files.items())
    return ItemResult(item_id, status, "w", host, started, started + 1, outputs=outputs, attempts=attempts)


def written(folder: Path, results: list[ItemResult], contents: dict[str, bytes]) -> list[ItemResult]:
    """``results`` with their outputs written under ``folder`` and their true sizes and digests."""
    out = []
    for r in results:
        files = []
        for o in r.outputs:
            path = folder / o.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(contents[o.path])
            files.append(OutputFile(o.path, sha256_file(path), len(contents[o.path])))
        out.append(ItemResult(r.item_id, r.status, r.worker, r.host, r.started, r.finished, outputs=tuple(files), attempts=r.attempts))
    return out


def test_only_small_outputs_of_ok_results_on_one_host_inside_the_folder_are_bundled() -> None:
    results = [
        result("a", {"a/1.parquet": 10, "a/2.parquet": 0}),  # an empty file comes on its own
        result("b", {"b.parquet": 20}, status="failed"),
        result("c", {"../c.parquet": 5, "/abs.parquet": 5, "c.parquet": bundle.MAX_OUTPUT_BYTES}),
        result("d", {"d.parquet": 30}, host="other@h"),
        result("e", {"e one; $(x).parquet": 7}),
    ]
    name, parts = bundle.layout(results)
    assert [(i, o.path, off) for i, o, off in parts] == [("a", "a/1.parquet", 0), ("e", "e one; $(x).parquet", 10)]
    assert bundle.size(parts) == 17 and len(name) == 32 and all(c in "0123456789abcdef" for c in name)


def test_fewer_than_two_outputs_make_no_bundle() -> None:
    assert bundle.layout([]) is None
    assert bundle.layout([result("a", {"a": 10})]) is None
    assert bundle.layout([result("a", {"a": 10}), result("b", {"b": 10}, status="failed")]) is None


def test_a_bundle_stops_at_its_size_limit() -> None:
    half = bundle.MAX_BUNDLE_BYTES // 2
    _, parts = bundle.layout([result(str(i), {f"{i}.parquet": min(half, bundle.MAX_OUTPUT_BYTES - 1)} ) for i in range(40)])
    assert bundle.size(parts) <= bundle.MAX_BUNDLE_BYTES < bundle.size(parts) + bundle.MAX_OUTPUT_BYTES


def test_a_batch_run_again_has_a_bundle_of_another_name() -> None:
    first = bundle.layout([result("a", {"a": 1}), result("b", {"b": 1})])
    assert bundle.layout([result("a", {"a": 1}), result("b", {"b": 1})]) == first  # both sides agree
    assert bundle.layout([result("a", {"a": 1}, attempts=2), result("b", {"b": 1})])[0] != first[0]
    assert bundle.layout([result("a", {"a": 1}, started=2.0), result("b", {"b": 1})])[0] != first[0]


names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))


@settings(max_examples=60, deadline=None)
@given(files=st.dictionaries(names, st.binary(min_size=1, max_size=3000), min_size=2, max_size=8), per_item=st.integers(1, 3))
def test_cutting_a_written_bundle_gives_every_output_back(tmp_path_factory, files: dict[str, bytes], per_item: int) -> None:
    root = tmp_path_factory.mktemp("bundle")
    paths = sorted(files)
    batch = [result(f"item-{i}", {p: len(files[p]) for p in paths[i : i + per_item]}) for i in range(0, len(paths), per_item)]
    batch = written(root / "outputs", batch, files)
    target = bundle.write(root / "bundles", root / "outputs", batch)
    assert target is not None and os.listdir(root / "bundles") == [target.name]  # nothing half-written beside it
    name, parts = bundle.layout(batch)
    assert target.name == name
    data = target.read_bytes()
    assert len(data) == bundle.size(parts)
    assert {o.path: data[off : off + o.bytes] for _, o, off in parts} == files


def test_an_output_not_the_size_reported_leaves_no_bundle(tmp_path: Path) -> None:
    batch = written(tmp_path / "outputs", [result("a", {"a": 3}), result("b", {"b": 3})], {"a": b"aaa", "b": b"bbb"})
    (tmp_path / "outputs" / "b").write_bytes(b"bbbb")  # changed after its result was made
    assert bundle.write(tmp_path / "bundles", tmp_path / "outputs", batch) is None
    assert os.listdir(tmp_path / "bundles") == []
    (tmp_path / "outputs" / "b").unlink()
    assert bundle.write(tmp_path / "bundles", tmp_path / "outputs", batch) is None
    assert os.listdir(tmp_path / "bundles") == []


def test_a_folder_that_cannot_be_made_leaves_no_bundle(tmp_path: Path) -> None:
    batch = written(tmp_path / "outputs", [result("a", {"a": 3}), result("b", {"b": 3})], {"a": b"aaa", "b": b"bbb"})
    (tmp_path / "bundles").write_text("a file where the folder should be")
    assert bundle.write(tmp_path / "bundles", tmp_path / "outputs", batch) is None
