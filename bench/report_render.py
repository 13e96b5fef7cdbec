"""Time each report format for a month of the default catalog and for 200 services.

    .venv/bin/python bench/report_render.py [--lang ja] [--repeat 3] [--formats pdf]
        [--cases 7,200] [--pdf-renderer weasyprint]

Prints seconds per format (best of ``--repeat`` runs; PDF of the large catalog runs once
unless ``--repeat-pdf`` says otherwise), the CPU seconds of this process for the same run
(the figure to compare on a shared machine, where wall time depends on the neighbours),
and the output size. The monthly PDF is drawn by the PDF writer (fpdf2) when its fonts are
installed; ``--pdf-renderer weasyprint`` times the WeasyPrint fallback instead, for
comparison. Figures, not assertions: the tests never time anything.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from app.reports import pdf_writer
from app.reports.render import FORMATS, render_fiscal_year, render_monthly


def pdf_renderer() -> str:
    """Which renderer draws the monthly PDF here."""
    return "fpdf2 (PDF writer)" if pdf_writer.available() else "WeasyPrint (fallback)"


def _samples() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "tests" / "unit" / "report_samples.py"
    spec = importlib.util.spec_from_file_location("report_samples", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["report_samples"] = module
    spec.loader.exec_module(module)
    return module


def _time(render: Any, document: Any, fmt: str, lang: str, repeat: int) -> tuple[float, float, int]:
    best, best_cpu, size = float("inf"), float("inf"), 0
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        size = len(render(document, fmt, lang))
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - started_cpu)
    return best, best_cpu, size


def monthly_pdf(services: int, lang: str = "ja") -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one monthly PDF of ``services`` services (7: the
    default catalog), rendered once."""
    samples = _samples()
    systems = samples.DEFAULT_SYSTEMS if services == 7 else samples.synthetic_systems(services)
    exclusions = samples.DEFAULT_EXCLUSIONS if services == 7 else ()
    document = samples.monthly_document(systems, exclusions)
    seconds, cpu, _ = _time(render_monthly, document, "pdf", lang, 1)
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default="ja", choices=("ja", "en"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--repeat-pdf", type=int, default=1)
    parser.add_argument("--formats", default=",".join(FORMATS), help="e.g. pdf or csv,xlsx")
    parser.add_argument("--cases", default="7,200", help="service counts: 7 (default catalog)")
    parser.add_argument("--fiscal-year", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--pdf-renderer", default="auto", choices=("auto", "weasyprint"))
    arguments = parser.parse_args()
    if arguments.pdf_renderer == "weasyprint":
        pdf_writer.available = lambda: False  # type: ignore[assignment]
    samples = _samples()
    formats = [fmt for fmt in arguments.formats.split(",") if fmt]
    cases = []
    for count in (int(c) for c in arguments.cases.split(",") if c):
        systems = samples.DEFAULT_SYSTEMS if count == 7 else samples.synthetic_systems(count)
        exclusions = samples.DEFAULT_EXCLUSIONS if count == 7 else ()
        what = "default catalog (7 services)" if count == 7 else f"{count} services"
        cases.append(
            (f"monthly, {what}", render_monthly, samples.monthly_document(systems, exclusions))
        )
        if arguments.fiscal_year:
            cases.append(
                (
                    f"fiscal year, {what}",
                    render_fiscal_year,
                    samples.fiscal_year_document(2026, systems),
                )
            )
    print(
        f"lang={arguments.lang}; seconds are the best of the runs; monthly PDF by "
        f"{pdf_renderer()} (fiscal-year PDF by WeasyPrint)"
    )
    print(f"{'case':40} {'format':6} {'seconds':>9} {'cpu s':>9} {'bytes':>11}")
    for title, render, document in cases:
        for fmt in formats:
            repeat = arguments.repeat_pdf if fmt == "pdf" else arguments.repeat
            seconds, cpu, size = _time(render, document, fmt, arguments.lang, repeat)
            print(f"{title:40} {fmt:6} {seconds:9.3f} {cpu:9.3f} {size:11,}", flush=True)


if __name__ == "__main__":
    main()
