"""Start-up of a dozor command (settings read by pydantic-settings) against a bare interpreter.

    .venv/bin/python bench/bench_startup.py --runs 20

Every command reads the settings first, so their import and validation cost is paid on each
`dozor status`, `search` or `check`. The reference is `python -c pass` in the same run.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.results import record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str], runs: int, cwd: Path) -> tuple[float, float]:
    """Median wall seconds and peak RSS in MB over `runs` runs."""
    import resource
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        walls.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return statistics.median(walls), peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.env"
        config.write_text((ROOT / "config.example.env").read_text(encoding="utf-8"), encoding="utf-8")
        python = sys.executable
        cases = [
            ("reference: `python -c pass`", [python, "-c", "pass"]),
            ("`dozor --help`", [python, "-m", "bot", "--help"]),
            ("`dozor config` (config.example.env read and checked)", [python, "-m", "bot", "--config", str(config),
                                                                       "config"]),
        ]
        rows, reference = [], None
        for name, command in cases:
            wall, _ = timed(command, runs, ROOT)
            reference = reference or wall
            rows.append(f"| {name} | {wall * 1000:.0f} | {wall / reference:.1f}× |")
    table = "\n".join(["| what | median ms | × reference |", "|---|---:|---:|", *rows])
    print(table)
    record("Command start-up with pydantic-settings", f".venv/bin/python bench/bench_startup.py --runs {runs}",
           f"Median of {runs} runs each.\n\n{table}")


if __name__ == "__main__":
    main()
