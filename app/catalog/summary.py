"""A readable account of a loaded catalog, for ``kadou catalog check``.

It shows what Kadou understood, not what was written: resolved defaults (stale_after,
retry_interval, inherited recovery targets, 24x7) appear explicitly, so a reviewer can catch a surprise
before it turns into a wrong availability figure.
"""

from __future__ import annotations

from decimal import Decimal

from app.catalog.durations import format_duration
from app.catalog.hours import format_hours
from app.catalog.model import Catalog, HttpCheck, LocalizedName, TcpCheck, TlsCheck
from app.redact import redact_headers, redact_url


def format_target(target: Decimal) -> str:
    """0.999 as ``"99.9%"``, exactly as written (no float rounding)."""
    percent = (target * 100).normalize()
    return f"{percent:f}%"


def _format_name(name: LocalizedName) -> str:
    return f"{name.ja} / {name.en}"


def _format_recovery(recovery_target_ms: int | None) -> str:
    return "none" if recovery_target_ms is None else format_duration(recovery_target_ms)


def _format_retry(retry_interval_ms: int, interval_ms: int) -> str:
    if retry_interval_ms >= interval_ms:
        return "no faster retry"
    return f"retry every {format_duration(retry_interval_ms)} while failing"


def describe_check(check: HttpCheck | TcpCheck | TlsCheck) -> str:
    """What the check probes: ``GET http://...``, ``tcp host:port``, ``tls host:port``."""
    if isinstance(check, HttpCheck):
        # The catalog may hold credentials; a summary is read by people who need not see them.
        auth = f", basic auth as {check.basic_auth.username}" if check.basic_auth else ""
        headers = redact_headers(check.headers)
        sent = f", headers {', '.join(f'{k}: {v}' for k, v in headers.items())}" if headers else ""
        return f"{check.method} {redact_url(check.url)}{auth}{sent}"
    if isinstance(check, TcpCheck):
        return f"{check.host}:{check.port}"
    server_name = f" (SNI {check.server_name})" if check.server_name else ""
    return f"{check.host}:{check.port}{server_name}, cert valid >= {check.min_days_left} d"


def catalog_summary(catalog: Catalog) -> str:
    """Several lines: the catalog's identity and policy, then each system, service and check."""
    services = catalog.services()
    lines = [
        f"catalog   {catalog.source or '(not from a file)'}",
        f"sha256    {catalog.sha256 or '-'}",
        f"timezone  {catalog.timezone}",
        f"unknown   {catalog.unknown_policy} (policy for time without data)",
        f"contents  {len(catalog.systems)} systems, {len(services)} services, "
        f"{len(catalog.checks())} checks",
    ]
    for system in catalog.systems:
        lines += [
            "",
            f"{system.id}  {_format_name(system.name)}",
            f"  target {format_target(system.target)}, "
            f"recovery target {_format_recovery(system.recovery_target_ms)}",
        ]
        for service in system.services:
            policy = service.unknown_policy or f"{catalog.unknown_policy} (catalog)"
            lines += [
                f"  {service.key}  {_format_name(service.name)}",
                f"    target {format_target(service.target)}, "
                f"recovery target {_format_recovery(service.recovery_target_ms)}, "
                f"{'core' if service.core else 'not core'}, quorum {service.quorum}, "
                f"unknown {policy}",
                f"    hours {format_hours(service.hours)}",
            ]
            for check in service.checks:
                lines.append(
                    f"    check {check.id} [{check.type}] {describe_check(check)}: "
                    f"every {format_duration(check.interval_ms)}, "
                    f"timeout {format_duration(check.timeout_ms)}, confirm {check.confirm}, "
                    f"stale after {format_duration(check.stale_after_ms)}, "
                    f"{_format_retry(check.retry_interval_ms, check.interval_ms)}"
                )
    return "\n".join(lines)
