"""The catalog: what Kadou monitors (systems, services, checks) and the targets it reports on."""

from app.catalog.durations import format_duration, parse_duration
from app.catalog.loader import (
    BUILT_IN_SOURCE,
    CatalogError,
    default_catalog_text,
    load_catalog,
    parse_catalog,
)
from app.catalog.model import (
    BasicAuth,
    Catalog,
    Check,
    HttpCheck,
    JsonFieldCondition,
    LocalizedName,
    Service,
    System,
    TcpCheck,
    TlsCheck,
    UnknownPolicyName,
)
from app.catalog.summary import catalog_summary, format_target

__all__ = [
    "BUILT_IN_SOURCE",
    "BasicAuth",
    "Catalog",
    "CatalogError",
    "Check",
    "HttpCheck",
    "JsonFieldCondition",
    "LocalizedName",
    "Service",
    "System",
    "TcpCheck",
    "TlsCheck",
    "UnknownPolicyName",
    "catalog_summary",
    "default_catalog_text",
    "format_duration",
    "format_target",
    "load_catalog",
    "parse_catalog",
    "parse_duration",
]
