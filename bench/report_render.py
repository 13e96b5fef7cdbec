"""Time each report format for a month of the default catalog and for 200 services.

    .venv/bin/python bench/report_render.py [--lang ja] [--repeat 3]

Prints seconds per format (best of ``--repeat`` runs; PDF of the large catalog runs once
unless ``--repeat-pdf`` says otherwise) and the output size. Figures, not assertions: the
tests never time anything.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from app.reports.render import FORMATS, render_fiscal_year, render_monthly


def _samples() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "tests" / "unit" / "report_samples.py"
    spec = importlib.util.spec_from_file_location("report_samples", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["report_samples"] = module
    spec.loader.exec_module(module)
    return module


def _time(render: Any, document: Any, fmt: str, lang: str, repeat: int) -> tuple[float, int]:
    best, size = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        size = len(render(document, fmt, lang))
        best = min(best, time.perf_counter() - started)
    return best, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default="ja", choices=("ja", "en"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--repeat-pdf", type=int, default=1)
    arguments = parser.parse_args()
    samples = _samples()
    cases = [
        ("monthly, default catalog (7 services)", render_monthly, samples.monthly_document()),
        (
            "monthly, 200 services",
            render_monthly,
            samples.monthly_document(samples.synthetic_systems(200), ()),
        ),
        ("fiscal year, default catalog", render_fiscal_year, samples.fiscal_year_document()),
        (
            "fiscal year, 200 services",
            render_fiscal_year,
            samples.fiscal_year_document(2026, samples.synthetic_systems(200)),
        ),
    ]
    print(f"lang={arguments.lang}; seconds are the best of the runs")
    print(f"{'case':40} {'format':6} {'seconds':>9} {'bytes':>11}")
    for title, render, document in cases:
        for fmt in FORMATS:
            repeat = arguments.repeat_pdf if fmt == "pdf" else arguments.repeat
            seconds, size = _time(render, document, fmt, arguments.lang, repeat)
            print(f"{title:40} {fmt:6} {seconds:9.3f} {size:11,}", flush=True)


if __name__ == "__main__":
    main()
