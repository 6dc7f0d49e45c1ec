"""How long `meshlake --help` and `meshlake query --help` take to start, against the interpreter's own start.

`run(results)` runs each help page through the installed `meshlake` entry point (beside this interpreter) as a
whole process, `REPEATS` times, each run right after a bare `python -c pass` of the same interpreter, and adds:
- `help_s.<page>`: the median wall seconds of the page (target <= 0.3; samples and spread in `detail`).
- `help_ratio_vs_python.<page>`: the median of each run's seconds ÷ the bare start timed just before it: what
  meshlake adds to starting Python, under the same load.
- `help_cpu_s.<page>`: the median CPU seconds (user + system) of the page's process: close to its wall time on a
  quiet machine, and much less moved by other processes than the wall time on a busy one.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PAGES = {"root": ["--help"], "query": ["query", "--help"]}
REPEATS, QUICK_REPEATS = 21, 5
TARGET = 0.3


def _seconds(command: list[str]) -> tuple[float, float]:
    """The wall and CPU seconds of running `command` to its end."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=60)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def measure(repeats: int = REPEATS) -> dict[str, Any]:
    """Samples, medians and spread of each page's start and of the bare interpreter's start before it."""
    meshlake = str(Path(sys.executable).with_name("meshlake"))
    bare = [sys.executable, "-c", "pass"]
    for args in PAGES.values():  # the first run of a page compiles and caches its modules: not a sample
        _seconds([meshlake, *args])
    samples: dict[str, list[float]] = {page: [] for page in PAGES}
    cpu: dict[str, list[float]] = {page: [] for page in PAGES}
    ratios: dict[str, list[float]] = {page: [] for page in PAGES}
    for _ in range(repeats):
        for page, args in PAGES.items():
            python, _ = _seconds(bare)
            taken, used = _seconds([meshlake, *args])
            samples[page].append(taken)
            cpu[page].append(used)
            ratios[page].append(taken / python)
    return {
        "medians_s": {page: statistics.median(taken) for page, taken in samples.items()},
        "samples_s": {page: [round(s, 3) for s in taken] for page, taken in samples.items()},
        "spread_s": {page: round(max(taken) - min(taken), 3) for page, taken in samples.items()},
        "cpu_medians_s": {page: statistics.median(used) for page, used in cpu.items()},
        "cpu_samples_s": {page: [round(s, 3) for s in used] for page, used in cpu.items()},
        "ratios_vs_python": {page: statistics.median(taken) for page, taken in ratios.items()},
    }


def run(results: dict[str, Any], quick: bool = False) -> None:
    """Time the help pages' start and add the figures to `results`."""
    repeats = QUICK_REPEATS if quick else REPEATS
    found = measure(repeats)
    for page in PAGES:
        results[f"help_s.{page}"] = found["medians_s"][page]
        results[f"help_ratio_vs_python.{page}"] = found["ratios_vs_python"][page]
        results[f"help_cpu_s.{page}"] = found["cpu_medians_s"][page]
    results["help_target_s"] = TARGET
    results["detail"] = found
    results["help_s_is"] = (
        f"median wall seconds of {repeats} runs of the installed entry point, each after a bare `python -c pass` "
        "(the denominator of its ratio)"
    )


if __name__ == "__main__":
    import json

    figures: dict[str, Any] = {}
    run(figures, quick="--quick" in sys.argv)
    print(json.dumps(figures, indent=1, default=str))
