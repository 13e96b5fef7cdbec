"""Observing endpoints: one probe function per protocol behind one signature (``base``)."""

from probes.base import ProbeContext, ProbeFn, ProbeResult, describe_error
from probes.protocols import run_probe

__all__ = ["ProbeContext", "ProbeFn", "ProbeResult", "describe_error", "run_probe"]
