"""Runtime settings, read from the environment (prefix ``KADOU_``) and an optional ``.env``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.catalog.durations import parse_duration
from app.catalog.model import iana_zone_names


def parse_retention(text: str) -> int | None:
    """``KADOU_OBSERVATION_RETENTION`` in ms; None keeps observations for ever."""
    if text.strip().lower() in ("0", "forever"):
        return None
    value = parse_duration(text)
    if value < 86_400_000:
        # Anything shorter would prune the margin the running month's evaluation reads.
        raise ValueError(f"{text!r} is shorter than a day; use at least '1d', or 'forever'")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KADOU_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./kadou.db",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db",
    )
    catalog: Path | None = Field(
        default=None, description="Catalog YAML file; unset means the built-in catalog"
    )
    timezone: str = Field(
        default="Asia/Tokyo", description="Reporting time zone: where days and months are cut"
    )
    public_read: bool = Field(default=False, description="Allow reads without a token")
    report_dir: Path = Field(default=Path("./reports"), description="Scheduled report exports")
    report_formats: str = Field(
        default="pdf,xlsx,csv,html,json", description="Formats of the scheduled monthly export"
    )
    report_languages: str = Field(default="ja,en", description="Languages of the scheduled export")
    report_export: bool = Field(
        default=True, description="kadou serve writes each closed month's reports to report_dir"
    )
    report_export_day: int = Field(
        default=1, ge=1, le=28, description="Day of the month the last month's export is written"
    )
    report_export_time: str = Field(
        default="00:10", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, reporting zone"
    )
    observation_retention: str = Field(
        default="62d",
        description="How long raw observations (and end marks) are kept, e.g. 62d; 0 or "
        "forever keeps them all. Older ones are pruned once their month is closed and its "
        "evidence bundle is in report_dir; the timeline, exclusions, audit log and closed "
        "months are kept for ever",
    )
    location: str = Field(default="local", description="Location name of the embedded probe runner")
    runner_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Id of the embedded probe runner, or of `kadou probe` (--runner-id) "
        "(default HOSTNAME/LOCATION); must differ between runners that share checks",
    )
    share_checks: bool = Field(
        default=False,
        description="The embedded probe runner shares its location's checks with the other "
        "runners there (other replicas, agents started with --share-checks) instead of "
        "probing every check",
    )
    spool_dir: Path = Field(
        default=Path("var/spool/embedded"),
        description="Where the embedded probe runner keeps results the database has not "
        "taken yet (an outage, a restart in one, storing falling behind); relative to the "
        "working directory, which is the data directory under systemd",
    )
    metrics_refresh_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How often `kadou serve` recomputes the SLA snapshot /metrics reads; "
        "as often as Prometheus scrapes is enough (tests shorten it to see changes at once)",
    )
    change_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How often `kadou serve` asks the database whether another replica (or the "
        "command line) changed exclusion windows or tokens, so its pages, API and /metrics "
        "show the change within this time",
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted, in bytes; a larger one is refused with 413 "
        "before it is read (a batch of 5,000 observations is about 1.5 MB)",
    )
    db_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, le=300, description="How long opening a database connection may take"
    )
    db_pool_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How long a request waits for a free database connection before a 503",
    )
    db_statement_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How long one SQL statement may run (or wait for a database that does not "
        "answer) before it is cancelled",
    )
    db_pooled: bool = Field(
        default=False,
        description="KADOU_DATABASE_URL points at a connection pooler in transaction mode "
        "(PgBouncer): send no startup options and prepare no statements; put the statement "
        "timeout on the database role instead",
    )
    token_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="How long a verified API token is trusted without asking the database; a "
        "revocation reaches other processes within this time (0: ask every time)",
    )
    session_secret: str | None = Field(
        default=None,
        repr=False,
        description="Key that signs web sessions; set the same value on every replica",
    )

    @field_validator("observation_retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        parse_retention(value)
        return value

    @property
    def observation_retention_ms(self) -> int | None:
        return parse_retention(self.observation_retention)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in iana_zone_names():
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Tokyo")
        return value


def get_settings() -> Settings:
    # Not cached: reading the environment is cheap, and tests and embedded runs change it.
    return Settings()
