"""Worker classes for the task tests (imported by dotted path, like real workers)."""

from __future__ import annotations

from pathlib import Path

from agilab_core import ItemOutput, Worker, WorkItem

EVENTS: list[str] = []


class FileWorker(Worker):
    """Writes the files named in the payload (relative or absolute) and returns them."""

    def start(self, args, ctx) -> None:
        super().start(args, ctx)
        EVENTS.append(f"start:{ctx.worker_id}")

    def work(self, item: WorkItem) -> ItemOutput:
        payload = item.payload
        if payload.get("raise"):
            raise KeyError(payload["raise"])
        files = []
        for name, text in payload.get("files", {}).items():
            path = Path(name)
            full = path if path.is_absolute() else self.ctx.output_dir / path
            full.parent.mkdir(parents=True, exist_ok=True)
            full.write_text(text, encoding="utf-8")
            files.append(name if payload.get("relative") else full)
        for name in payload.get("claim", []):
            files.append(name)
        return ItemOutput(rows=len(files), bytes_in=payload.get("bytes", 0), files=files, metrics={"n": len(files)})

    def stop(self) -> None:
        EVENTS.append("stop")
