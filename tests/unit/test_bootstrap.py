"""scripts/bootstrap waits for another apt's lock instead of failing."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

BOOTSTRAP = Path(__file__).resolve().parents[2] / "scripts" / "bootstrap"


def test_every_apt_call_waits_for_the_lock(tmp_path: Path) -> None:
    script = BOOTSTRAP.read_text(encoding="utf-8")
    commands = [line.strip() for line in script.splitlines() if not line.strip().startswith("#")]
    bare = [line for line in commands if re.search(r"(^|[;&|]\s*)apt-get\s", line)]
    assert bare == ['apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" "$@"'], bare
    assert [line.split()[1] for line in commands if line.startswith("apt_get ")] == [
        "update",
        "install",
    ]
    # The wrapper, run against a stand-in apt-get that prints what it was given.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text('#!/bin/sh\necho "$@"\n', encoding="utf-8")
    (fake / "apt-get").chmod(0o755)
    wrapper = re.search(r"^APT_LOCK_TIMEOUT=.*?^apt_get\(\) \{.*?^\}", script, re.S | re.M)
    assert wrapper is not None
    result = subprocess.run(
        ["bash", "-c", f"{wrapper.group(0)}\napt_get install -y x"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
        timeout=30,
        check=True,
    )
    assert result.stdout.split() == ["-o", "DPkg::Lock::Timeout=300", "install", "-y", "x"]
