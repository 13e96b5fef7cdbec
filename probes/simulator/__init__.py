"""The five My Number systems, simulated: health endpoints with fault injection.

``create_simulator_app`` is the ASGI app; ``SimulatorServer`` runs it on real sockets with a
port per service so that ``down`` is a genuine "connect refused"; ``serve_simulator`` is what
``kadou simulate`` runs.
"""

from probes.simulator.app import create_simulator_app
from probes.simulator.faults import (
    DEFAULT_SERVICES,
    FAULT_KINDS,
    ActiveFault,
    FaultKind,
    FaultTable,
    Scenario,
    ScenarioError,
    ScenarioEvent,
    load_scenario,
    parse_duration_ms,
    parse_scenario,
)
from probes.simulator.server import SimulatorServer, serve_simulator

__all__ = [
    "DEFAULT_SERVICES",
    "FAULT_KINDS",
    "ActiveFault",
    "FaultKind",
    "FaultTable",
    "Scenario",
    "ScenarioError",
    "ScenarioEvent",
    "SimulatorServer",
    "create_simulator_app",
    "load_scenario",
    "parse_duration_ms",
    "parse_scenario",
    "serve_simulator",
]
