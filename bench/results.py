"""Recording benchmark results: the machine they ran on, and one section of RESULTS.md each.

    record("Pipeline", ".venv/bin/python bench/bench_pipeline.py", table)
"""
from __future__ import annotations

import datetime as dt
import os
import platform
import sqlite3
import subprocess
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
UTC = dt.timezone.utc


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    return {"uname": uname, "cpu": f"{cpu} ({os.cpu_count()} CPUs)", "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version}


def record(title: str, command: str, body: str, path: Path = RESULTS) -> None:
    """Append one section to RESULTS.md: the machine, the date, the command, then `body`."""
    info = machine()
    section = (f"\n## {title}\n\n"
               f"- Date: {dt.datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
               f"- Machine: `{info['uname']}`\n"
               f"- CPU: {info['cpu']}; Python {info['python']}; SQLite {info['sqlite']}\n"
               f"- Command: `{command}`\n\n{body.strip()}\n")
    with path.open("a", encoding="utf-8") as f:
        f.write(section)
    print(f"recorded in {path}")
