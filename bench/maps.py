"""The maps page for a run of 1 M track points: file size, time to write it, first draw and zoom in headless Chromium.

    python bench/maps.py [--points N] [--repeat N]

The run is a real ``agilab run flight`` (pool, 2 workers) over generated flight
files (cached under bench/.data); only the page is timed. Targets: page file
≤ 8 MB, written ≤ 3 s (render + write), first draw ≤ 3 s (navigation start to
the frame that paints the tracks, in Debian's Chromium driven by Playwright,
no GPU) and a zoom step ≤ 0.3 s (the median of 5 steps in, each until the frame
after Leaflet redraws; the slowest step is printed too). Two cases: the page's
default rule, and tolerances so small that the 100,000-fix budget binds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
AGILAB = str(Path(sys.executable).with_name("agilab"))
ZOOM_STEP = """async () => {
  const map = agilabMaps.map, frame = () => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  const steps = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    map.setZoom(map.getZoom() + 1, {animate: false});
    await frame();
    steps.push(performance.now() - start);
  }
  return steps;
}"""


def flight_run(points: int) -> tuple[Path, Path]:
    """A finished flight run of about ``points`` fixes (generated files are cached; the run is made each time)."""
    files = max(1, points // 5000)
    data = DATA / f"maps-{files}x5000"
    if not (data / ".complete").exists():
        shutil.rmtree(data, ignore_errors=True)
        from agilab_app_flight.sample import generate

        print(f"generating {files} flight files of 5,000 fixes into {data} ...", flush=True)
        generate(data, files=files, rows=5000, seed=7)
        (data / ".complete").write_text("")
    home = Path(tempfile.mkdtemp(prefix="agilab-bench-maps-"))
    env = {**os.environ, "AGILAB_HOME": str(home), "AGILAB_WENV": str(home / "wenv")}
    done = subprocess.run([AGILAB, "run", "flight", "-e", "pool", "-w", "2", "--set", f"data_in={data}", "--json"], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"agilab run flight failed: {done.stderr[-2000:]}")
    (run_dir,) = (home / "runs" / "flight").iterdir()
    return home, run_dir


#: The page's default rule, and tolerances so small that the 100,000-fix budget decides what is drawn.
CASES = {"default rule": {}, "budget-bound": {"distance_tol": 1, "speed_tol": 0.5}}


def chromium_cpu() -> dict[int, float]:
    """CPU seconds (user + system) so far of each Chromium process this benchmark started.

    Wall times move 2-3x with the machine's load; the CPU Chromium spends
    (renderer, GPU process in software, browser) moves much less.
    """
    import psutil

    seconds = {}
    for process in psutil.Process().children(recursive=True):
        try:
            if "chrom" in process.name():
                times = process.cpu_times()
                seconds[process.pid] = times.user + times.system
        except psutil.Error:
            continue
    return seconds


def cpu_since(before: dict[int, float]) -> float:
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in chromium_cpu().items())


def measure(browser, record, spec, options: dict, repeat: int) -> dict:  # noqa: ANN001 - playwright and kernel objects
    """Size, write time (wall and CPU), first draw and worst zoom step of the page for ``options``."""
    from agilab_core import render_page

    target = record.view_path("maps")
    target.parent.mkdir(parents=True, exist_ok=True)
    written, cpu, draws, zooms, draw_cpu, zoom_cpu = [], [], [], [], [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        target.write_text(render_page(spec, record, options=options), encoding="utf-8")
        written.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    for _ in range(repeat):
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.route("**/*", lambda route: route.continue_() if route.request.url == target.as_uri() else route.abort())
        before = chromium_cpu()
        page.goto(target.as_uri())
        page.wait_for_selector("body[data-drawn='1']", state="attached", timeout=60_000)
        draw_cpu.append(cpu_since(before))
        draws.append(page.evaluate("agilabMaps.drawnAt") / 1000)
        before = chromium_cpu()
        steps = sorted(page.evaluate(ZOOM_STEP))
        zoom_cpu.append(cpu_since(before) / len(steps))
        zooms.append((steps[len(steps) // 2] / 1000, steps[-1] / 1000))
        shown = page.inner_text("#stats")
        page.close()
    return {
        "size": target.stat().st_size / 1e6, "written": written, "cpu": cpu, "draws": draws, "zooms": zooms, "shown": shown,
        "draw_cpu": min(draw_cpu), "zoom_cpu": min(zoom_cpu),
    }  # fmt: skip


def bench_maps(repeat: int, points: int = 1_000_000) -> list[tuple[str, str, float, float | None, str]]:
    from agilab_page_maps.plugin import register_pages
    from playwright.sync_api import sync_playwright

    from agilab_core import RunRecord

    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("bench/maps.py needs Debian's chromium (apt-get install chromium)")
    home, run_dir = flight_run(points)
    rows = []
    try:
        record = RunRecord.from_run_dir(run_dir)
        spec = register_pages()[0]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
            try:
                for case, options in CASES.items():
                    m = measure(browser, record, spec, options, repeat)
                    median, worst = min(m["zooms"])
                    print(f"  maps, {case}: {m['shown']}; {m['size']:.2f} MB; written {min(m['written']):.2f} s ({min(m['cpu']):.2f} s CPU); "
                          f"drawn {min(m['draws']):.2f} s ({m['draw_cpu']:.2f} s CPU); zoom step {median:.3f} s (worst {worst:.3f} s; "
                          f"{m['zoom_cpu']:.3f} s CPU)", flush=True)
                    rows += [
                        ("maps", f"{case}: page file, MB", m["size"], 8.0, f"{m['size']:.2f} MB; {m['shown']}"),
                        ("maps", f"{case}: page written, seconds", min(m["written"]), 3.0,
                         f"render + write: {min(m['written']):.2f} s (worst {max(m['written']):.2f} s), CPU {min(m['cpu']):.2f} s"),
                        ("maps", f"{case}: first draw in Chromium, seconds", min(m["draws"]), 3.0,
                         f"navigation start to the frame painting the tracks: {min(m['draws']):.2f} s (worst {max(m['draws']):.2f} s); "
                         f"Chromium CPU {m['draw_cpu']:.2f} s"),
                        ("maps", f"{case}: zoom step, seconds", median, 0.3,
                         f"median of 5 steps in, best of {repeat} pages: {median:.3f} s; slowest step {worst:.3f} s; Chromium CPU per step {m['zoom_cpu']:.3f} s"),
                    ]
            finally:
                browser.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    for bench, name, value, target, detail in bench_maps(opts.repeat, opts.points):
        verdict = "" if target is None else ("✓" if value <= target else "✗")
        print(f"| {bench} | {name} | {value:.3f} | ≤ {target} {verdict} | {detail} |")


if __name__ == "__main__":
    main()
