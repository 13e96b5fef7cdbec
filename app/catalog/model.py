"""The catalog's typed model: systems, services, checks.

The YAML keys (``interval: 60s``) are parsed into these models by ``loader.py``; durations
become integer milliseconds here (``interval_ms``) so that nothing downstream parses text.
Attribute names are a contract used by the probes, the store, the API and the reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from app.catalog.durations import format_duration
from app.sla.calendar import OperatingHours

UnknownPolicyName = Literal["exclude", "up", "down"]

# Ids appear in URLs, metric labels and file names, so they are kept to a safe alphabet.
ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
Identifier = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]
# A probe needs a reason to exist as a network port.
Port = Annotated[int, Field(ge=1, le=65535)]
# How often a check whose last probe failed is probed again, unless the catalog says.
DEFAULT_RETRY_INTERVAL_MS = 5_000
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _check_target(target: Decimal) -> Decimal:
    # 1 would leave no budget at all and 0 would make every outage "met": both are typos.
    if not target.is_finite() or not Decimal(0) < target < Decimal(1):
        raise ValueError(
            f"target must be a ratio strictly between 0 and 1: 0.999 (or '99.9%') for 99.9 %; "
            f"got {target}"
        )
    return target


@cache
def iana_zone_names() -> frozenset[str]:
    # "localtime" names whatever the host is set to, which would make reports depend on the
    # machine that computed them.
    return frozenset(available_timezones() - {"localtime", "posixrules", "Factory"})


def _check_unique(ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise ValueError(f"duplicate {what} id {item_id!r}; ids must be unique")
        seen.add(item_id)


class LocalizedName(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    ja: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def pick(self, lang: str) -> str:
        return self.ja if lang == "ja" else self.en


class BasicAuth(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    username: str
    password: str = Field(repr=False)


class JsonFieldCondition(BaseModel):
    """The response body is JSON and the value at ``path`` (dot-separated) equals ``equals``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str
    equals: str | int | float | bool | None


class _CheckBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: Identifier
    # "system/service/check"; filled in by the loader, never written in YAML.
    key: str = ""
    interval_ms: int = Field(gt=0)
    timeout_ms: int = Field(gt=0)
    confirm: int = Field(default=2, ge=1)
    # Resolved on validation when not given: 3 x interval (SLA-SEMANTICS §3).
    stale_after_ms: int = 0
    # While the last probe failed (a failure to confirm, or a check that is down), probe
    # this often instead of every interval: outages are confirmed and seen to end sooner.
    # Resolved on validation when not given: 5 s, or the interval when that is shorter.
    retry_interval_ms: int = 0
    # A success slower than this carries a warning ("degraded but answering"), which never
    # counts as downtime, unless slow_is_failure says the catalog wants it to.
    slow_after_ms: int | None = Field(default=None, gt=0)
    slow_is_failure: bool = False

    @model_validator(mode="before")
    @classmethod
    def _default_stale_after(cls, values: Any) -> Any:
        # Done before validation so that a check built in code gets the same default as
        # one read from YAML, and the frozen model never holds the placeholder 0.
        if not isinstance(values, dict):
            return values
        interval_ms = values.get("interval_ms")
        if isinstance(interval_ms, int) and not isinstance(interval_ms, bool):
            if not values.get("stale_after_ms"):
                values = {**values, "stale_after_ms": 3 * interval_ms}
            if not values.get("retry_interval_ms"):
                values = {
                    **values,
                    "retry_interval_ms": min(DEFAULT_RETRY_INTERVAL_MS, interval_ms),
                }
        return values

    @field_validator("timeout_ms")
    @classmethod
    def _timeout_below_interval(cls, timeout_ms: int, info: ValidationInfo) -> int:
        # A probe still running when the next one starts would overlap it and double-count.
        interval_ms = info.data.get("interval_ms")
        if interval_ms is not None and timeout_ms >= interval_ms:
            raise ValueError(
                f"timeout ({format_duration(timeout_ms)}) must be shorter than the interval "
                f"({format_duration(interval_ms)})"
            )
        return timeout_ms

    @field_validator("retry_interval_ms")
    @classmethod
    def _retry_within_interval(cls, retry_interval_ms: int, info: ValidationInfo) -> int:
        # Retrying less often than the normal grid would make a failing check seen later.
        interval_ms = info.data.get("interval_ms")
        if retry_interval_ms <= 0:
            raise ValueError("retry_interval must be a positive duration, e.g. 5s")
        if interval_ms is not None and retry_interval_ms > interval_ms:
            raise ValueError(
                f"retry_interval ({format_duration(retry_interval_ms)}) must not be longer "
                f"than the interval ({format_duration(interval_ms)})"
            )
        return retry_interval_ms

    @field_validator("slow_after_ms")
    @classmethod
    def _slow_below_timeout(cls, slow_after_ms: int | None, info: ValidationInfo) -> int | None:
        # At or past the timeout a probe has already failed: the warning could never show.
        timeout_ms = info.data.get("timeout_ms")
        if slow_after_ms is not None and timeout_ms is not None and slow_after_ms >= timeout_ms:
            raise ValueError(
                f"slow_after ({format_duration(slow_after_ms)}) must be shorter than the "
                f"timeout ({format_duration(timeout_ms)})"
            )
        return slow_after_ms

    @field_validator("slow_is_failure")
    @classmethod
    def _slow_needs_threshold(cls, slow_is_failure: bool, info: ValidationInfo) -> bool:
        if slow_is_failure and info.data.get("slow_after_ms") is None:
            raise ValueError("slow_is_failure needs slow_after (the latency that is too slow)")
        return slow_is_failure

    @field_validator("stale_after_ms")
    @classmethod
    def _stale_after_covers_interval(cls, stale_after_ms: int, info: ValidationInfo) -> int:
        # Shorter than the interval, every gap between two healthy probes would be unknown.
        interval_ms = info.data.get("interval_ms")
        if interval_ms is not None and stale_after_ms < interval_ms:
            raise ValueError(
                f"stale_after ({format_duration(stale_after_ms)}) must be at least the "
                f"interval ({format_duration(interval_ms)})"
            )
        return stale_after_ms


class HttpCheck(_CheckBase):
    type: Literal["http"] = "http"
    url: str
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    # None means any 2xx status is a success.
    expected_status: tuple[Annotated[int, Field(ge=100, le=599)], ...] | None = Field(
        default=None, min_length=1
    )
    body_contains: str | None = None
    json_field: JsonFieldCondition | None = None
    verify_tls: bool = True
    # A new connection per probe, so that a refused connection is seen every time.
    new_connection: bool = True
    basic_auth: BasicAuth | None = Field(default=None, repr=False)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"url must be an absolute http:// or https:// URL with a host; got {url!r}"
            )
        return url

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        method = method.upper()
        if method not in HTTP_METHODS:
            raise ValueError(f"method must be one of {', '.join(HTTP_METHODS)}; got {method!r}")
        return method


class TcpCheck(_CheckBase):
    type: Literal["tcp"] = "tcp"
    host: str = Field(min_length=1)
    port: Port


class TlsCheck(_CheckBase):
    type: Literal["tls"] = "tls"
    host: str = Field(min_length=1)
    port: Port = 443
    server_name: str | None = None
    # A certificate that expires within this many days is a warning (not downtime)...
    min_days_left: int = Field(default=14, ge=0)
    # ...unless the catalog explicitly makes it a failure.
    expiring_is_failure: bool = False
    verify_tls: bool = True


Check = Annotated[HttpCheck | TcpCheck | TlsCheck, Field(discriminator="type")]


class Service(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    id: Identifier
    system_id: str = ""
    name: LocalizedName
    target: Decimal
    core: bool = True
    # How many locations must see the service down before it counts as down (§3 rule 4).
    quorum: int = Field(default=1, ge=1)
    hours: OperatingHours = OperatingHours()
    # Resolved by the loader: the service's own, else its system's, else None.
    recovery_target_ms: int | None = Field(default=None, gt=0)
    # None: the catalog-wide policy applies.
    unknown_policy: UnknownPolicyName | None = None
    checks: tuple[Check, ...] = Field(min_length=1)

    _target = field_validator("target")(_check_target)

    @field_validator("checks")
    @classmethod
    def _unique_keyed_checks(
        cls, checks: tuple[HttpCheck | TcpCheck | TlsCheck, ...], info: ValidationInfo
    ) -> tuple[HttpCheck | TcpCheck | TlsCheck, ...]:
        _check_unique((check.id for check in checks), "check")
        system_id, service_id = info.data.get("system_id"), info.data.get("id")
        if not system_id or not service_id:
            return checks  # keys are filled when the service is placed in its system
        # Filled here as well as by the loader, so that a catalog built in code (tests,
        # fixtures) has the same "system/service/check" keys as one read from YAML.
        keyed: list[HttpCheck | TcpCheck | TlsCheck] = []
        for check in checks:
            key = f"{system_id}/{service_id}/{check.id}"
            if check.key and check.key != key:
                raise ValueError(f"check key {check.key!r} should be {key!r}")
            keyed.append(check if check.key else check.model_copy(update={"key": key}))
        return tuple(keyed)

    @property
    def key(self) -> str:
        return f"{self.system_id}/{self.id}"


class System(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: Identifier
    name: LocalizedName
    target: Decimal
    recovery_target_ms: int | None = Field(default=None, gt=0)
    services: tuple[Service, ...] = Field(min_length=1)

    _target = field_validator("target")(_check_target)

    @field_validator("services")
    @classmethod
    def _unique_linked_services(
        cls, services: tuple[Service, ...], info: ValidationInfo
    ) -> tuple[Service, ...]:
        _check_unique((service.id for service in services), "service")
        system_id = info.data.get("id")
        if not system_id:
            return services
        recovery_target_ms = info.data.get("recovery_target_ms")
        linked: list[Service] = []
        for service in services:
            if service.system_id and service.system_id != system_id:
                raise ValueError(
                    f"service {service.id!r} has system_id {service.system_id!r}, "
                    f"but belongs to {system_id!r}"
                )
            updates: dict[str, Any] = {}
            if not service.system_id:
                updates["system_id"] = system_id
            # A service inherits its system's recovery target (SLA-SEMANTICS §6).
            if service.recovery_target_ms is None and recovery_target_ms is not None:
                updates["recovery_target_ms"] = recovery_target_ms
            if updates:
                # Validated again so that the checks' keys are filled with the system id.
                fields = {name: getattr(service, name) for name in Service.model_fields}
                service = Service.model_validate({**fields, **updates})
            linked.append(service)
        return tuple(linked)


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    timezone: str = "Asia/Tokyo"
    unknown_policy: UnknownPolicyName = "exclude"
    systems: tuple[System, ...] = Field(min_length=1)
    # Where it was read from and the SHA-256 of its text, for reproducible reports.
    source: str = ""
    sha256: str = ""

    @field_validator("timezone")
    @classmethod
    def _iana_timezone(cls, timezone: str) -> str:
        # Periods are cut in this zone (SLA-SEMANTICS §2); a typo must not fall back to UTC.
        if timezone not in iana_zone_names():
            raise ValueError(
                f"timezone must be an IANA time zone name such as 'Asia/Tokyo' or 'UTC'; "
                f"got {timezone!r}"
            )
        return timezone

    @field_validator("systems")
    @classmethod
    def _unique_systems(cls, systems: tuple[System, ...]) -> tuple[System, ...]:
        _check_unique((system.id for system in systems), "system")
        return systems

    def system(self, system_id: str) -> System:
        for system in self.systems:
            if system.id == system_id:
                return system
        raise KeyError(system_id)

    def service(self, system_id: str, service_id: str) -> Service:
        for service in self.system(system_id).services:
            if service.id == service_id:
                return service
        raise KeyError(f"{system_id}/{service_id}")

    def services(self) -> list[Service]:
        return [service for system in self.systems for service in system.services]

    def checks(self) -> dict[str, HttpCheck | TcpCheck | TlsCheck]:
        """Every check by its key ``system/service/check``."""
        return {
            check.key: check
            for system in self.systems
            for service in system.services
            for check in service.checks
        }
