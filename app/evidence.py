"""Evidence bundles (SLA-SEMANTICS §9): everything needed to recompute a month, in one zip.

A bundle holds the catalog version(s) of the month, the month's observations (or check
segments) of every check, the exclusion windows with their audit entries, the report of
every version and a manifest of SHA-256 digests. :func:`verify_bundle` checks the digests,
loads the bundle alone into a throw-away SQLite database and recomputes the month: the
figures must come out identical to the latest version's. It needs nothing but Kadou.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session

from app.catalog.model import Catalog, Check
from app.errors import InvalidInput
from app.evaluation import INITIAL_MARGIN_MS, evaluate_period, report_document
from app.history import catalog_for_period_end, period_checks, relabelled_checks
from app.months import figure_diff, month_inputs, parse_month_label
from app.sla import periods
from app.store import history
from app.store.exclusions import list_exclusions
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.models import AuditEntry, Exclusion
from app.store.types import from_ms

BUNDLE_FORMAT = 1
MANIFEST = "manifest.json"
OBSERVATION_FIELDS = ("check", "location", "observed_at", "ok", "latency_ms", "detail")
SEGMENT_FIELDS = ("check", "location", "start_at", "end_at", "state")
EXCLUSION_FIELDS = (
    "id",
    "system",
    "service",
    "kind",
    "starts_at",
    "ends_at",
    "reason",
    "retroactive",
    "created_by",
    "created_at",
    "updated_by",
    "updated_at",
)
INSTANT_FIELDS = ("starts_at", "ends_at", "created_at", "updated_at")
README = """Kadou evidence bundle for {month} ({timezone}).

manifest.json   SHA-256 of every other file in this bundle
month.json      the month, what the data is (observations or segments), each version
catalog/        the catalog version(s) in force during the month (canonical JSON)
{data_file}  every {data_kind} of the month's checks, with {margin} days either side
{observed}end_marks.csv   instants at which a probe runner stopped cleanly (with observations)
exclusions.json the exclusion windows that touch the month
audit.json      the audit entries of those windows and of each version's reasons
reports/        the report document of every version (open.json for an open month)

Check it with: kadou evidence verify <this file>
"""


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _json_bytes(document: Any) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def _audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": _instant(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "entity": entry.entity,
        "entity_id": entry.entity_id,
        "before": entry.before,
        "after": entry.after,
        "reason": entry.reason,
    }


def _exclusion_json(row: Exclusion) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for name in EXCLUSION_FIELDS:
        value = getattr(row, name)
        document[name] = _instant(value) if isinstance(value, datetime) else value
    return document


def _csv(rows: Iterator[tuple[Any, ...]], header: tuple[str, ...]) -> Iterator[bytes]:
    """The CSV text in chunks of rows, so a month of a large catalog is never whole in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % 10_000 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


class _BundleWriter:
    """Zip entries written one after the other, each digested as it is written."""

    def __init__(self, target: IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9)
        self.digests: dict[str, str] = {}

    def add(self, name: str, body: bytes) -> None:
        self.stream(name, iter((body,)))

    def stream(self, name: str, chunks: Iterator[bytes]) -> None:
        digest = hashlib.sha256()
        with self.zip.open(_entry(name), "w", force_zip64=True) as entry:
            for chunk in chunks:
                digest.update(chunk)
                entry.write(chunk)
        self.digests[name] = digest.hexdigest()

    def close(self) -> None:
        manifest = {"algorithm": "sha256", "files": dict(sorted(self.digests.items()))}
        with self.zip.open(_entry(MANIFEST), "w") as entry:
            entry.write(_json_bytes(manifest))
        self.zip.close()


def build_bundle(
    session: Session,
    fallback: Catalog,
    month: str,
    timezone: str,
    *,
    segments: bool = False,
    now: datetime | None = None,
) -> bytes:
    """The evidence bundle of ``month`` as zip bytes."""
    buffer = io.BytesIO()
    write_bundle(buffer, session, fallback, month, timezone, segments=segments, now=now)
    return buffer.getvalue()


def write_bundle(
    target: IO[bytes],
    session: Session,
    fallback: Catalog,
    month: str,
    timezone: str,
    *,
    segments: bool = False,
    now: datetime | None = None,
    earlier: zipfile.ZipFile | None = None,
) -> None:
    """Write the evidence bundle of ``month`` to ``target``, streaming the data file.

    ``earlier`` is a bundle of the same month written before its raw observations were
    pruned: its observations and end marks are kept, together with what the store still
    holds (see :func:`_merged_observations`), so a later version's bundle still carries
    every observation the month is computed from.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    period = parse_month_label(month, timezone)
    start, end = from_ms(period.start_ms), from_ms(period.end_ms)
    margin = timedelta(milliseconds=INITIAL_MARGIN_MS)
    inputs = month_inputs(session, fallback, period)
    versions = history.month_versions(session, period.label)
    files: dict[str, bytes] = {}
    bundle = _BundleWriter(target)
    catalog_rows = history.catalog_versions_between(session, start, end)
    _, used = catalog_for_period_end(session, end, fallback)
    if used is not None and used.id not in {row.id for row in catalog_rows}:
        catalog_rows = [used, *catalog_rows]
    # The checks of every version of the month: one removed mid-month counts until then.
    keys = sorted(period_checks(inputs.catalog, catalog_rows))
    catalog_index = [
        {
            "sha256": row.sha256,
            "effective_from": _instant(row.effective_from),
            "loaded_by": row.loaded_by,
            "source": row.source,
        }
        for row in catalog_rows
    ]
    for row in catalog_rows:
        files[f"catalog/{row.sha256}.json"] = row.content.encode("utf-8")
    if not catalog_rows:
        from app.catalog.canonical import canonical_json, canonical_sha256

        content = canonical_json(fallback)
        sha = canonical_sha256(content)
        files[f"catalog/{sha}.json"] = content.encode("utf-8")
        catalog_index = [
            {"sha256": sha, "effective_from": _instant(start), "loaded_by": "", "source": ""}
        ]
    files["catalog/versions.json"] = _json_bytes(catalog_index)
    data_start, data_end = start - margin, min(end + margin, now)
    # Checks whose confirm or stale_after changed during the month are evaluated from their
    # observations (§8), so a bundle of segments carries their observations instead.
    # A change after the month relabels the stored timeline, not the month (§8): those
    # checks are carried as observations too.
    observed = (
        sorted(
            relabelled_checks(inputs.catalog, catalog_rows, history.latest_catalog_version(session))
        )
        if segments
        else keys
    )
    if segments:
        data_file = "segments.csv"
        segmented = sorted(set(keys) - set(observed))
        rows = history.segments_rows_between(session, segmented, data_start, data_end)
        bundle.stream(
            data_file,
            _csv(
                (
                    (r.check, r.location, _instant(r.start_at), _instant(r.end_at), r.state)
                    for r in rows
                ),
                SEGMENT_FIELDS,
            ),
        )
    else:
        data_file = "observations.csv"
    if observed:
        wanted = set(observed)
        observations = history.observations_between(session, observed, data_start, data_end)
        observation_rows: Iterator[tuple[Any, ...]] = (
            _observation_row(check, location, observed_at, ok, latency_ms, detail)
            for check, location, observed_at, ok, latency_ms, detail in observations
        )
        mark_rows: Iterator[tuple[Any, ...]] = (
            (m.check, m.location, _instant(m.at))
            for m in history.end_marks_between(session, observed, data_start, data_end)
        )
        if earlier is not None:
            observation_rows = _merged_observations(session, earlier, wanted, data_start, data_end)
            mark_rows = iter(sorted({*mark_rows, *_earlier_marks(earlier, wanted)}))
        bundle.stream("observations.csv", _csv(observation_rows, OBSERVATION_FIELDS))
        bundle.stream("end_marks.csv", _csv(mark_rows, ("check", "location", "at")))
    windows = list_exclusions(session, start=start, end=end)
    files["exclusions.json"] = _json_bytes([_exclusion_json(row) for row in windows])
    reason_ids = sorted({i for row in versions for i in row.audit_entry_ids})
    entries = {
        entry.id: entry
        for entry in [
            *history.exclusion_audit_entries(session, [row.id for row in windows]),
            *history.audit_entries_by_id(session, reason_ids),
        ]
    }
    files["audit.json"] = _json_bytes([_audit_json(entries[i]) for i in sorted(entries)])
    for closed in versions:
        files[f"reports/v{closed.version}.json"] = _json_bytes(closed.document)
    if not versions:
        result = evaluate_period(session, inputs.catalog, period, now=now)
        document = report_document(inputs.catalog, result, pictures=True)
        document["catalog_versions"] = inputs.catalog_versions
        files["reports/open.json"] = _json_bytes(document)
    files["month.json"] = _json_bytes(
        {
            "format": BUNDLE_FORMAT,
            "month": period.label,
            "timezone": timezone,
            "data": "segments" if segments else "observations",
            "data_from": _instant(data_start),
            "data_until": _instant(data_end),
            "evaluated_at": _instant(versions[-1].closed_at if versions else now),
            "versions": [
                {
                    "version": row.version,
                    "closed_at": _instant(row.closed_at),
                    "closed_by": row.closed_by,
                    "changed_inputs": row.changed_inputs,
                    "audit_entry_ids": row.audit_entry_ids,
                    "diff": row.diff,
                }
                for row in versions
            ],
        }
    )
    files["README.txt"] = README.format(
        month=period.label,
        timezone=timezone,
        data_file=f"{data_file:<15}",
        data_kind="check segment" if segments else "observation",
        margin=INITIAL_MARGIN_MS // 86_400_000,
        observed=(
            "observations.csv the observations of the checks whose confirm or stale_after\n"
            "                changed during the month (their segments are computed from them)\n"
            if segments and observed
            else ""
        ),
    ).encode("utf-8")
    for name, body in sorted(files.items()):
        bundle.add(name, body)
    bundle.close()


def _observation_row(
    check: str,
    location: str,
    observed_at: datetime,
    ok: bool,
    latency_ms: float | None,
    detail: str | None,
) -> tuple[Any, ...]:
    return (
        check,
        location,
        _instant(observed_at),
        int(ok),
        "" if latency_ms is None else repr(latency_ms),
        detail or "",
    )


def _earlier_rows(earlier: zipfile.ZipFile, name: str) -> Iterator[list[str]]:
    if name not in earlier.namelist():
        return
    with earlier.open(name) as entry:
        rows = csv.reader(io.TextIOWrapper(entry, encoding="utf-8", newline=""))
        next(rows, None)  # the header
        yield from rows


def _earlier_marks(earlier: zipfile.ZipFile, keys: set[str]) -> set[tuple[Any, ...]]:
    return {(r[0], r[1], r[2]) for r in _earlier_rows(earlier, "end_marks.csv") if r[0] in keys}


def _merged_observations(
    session: Session,
    earlier: zipfile.ZipFile,
    keys: set[str],
    start: datetime,
    end: datetime,
) -> Iterator[tuple[Any, ...]]:
    """The earlier bundle's observations together with the store's, one series at a time.

    A series (check, location) is read from the store only while the earlier bundle's rows
    of it are streamed, so memory holds one series of one month at most. Where both have
    an instant, the store's row is written; series only the store has (late data from a
    new location) follow at the end.
    """
    seen: set[tuple[str, str]] = set()

    def series(check: str, location: str, rows: list[list[str]]) -> Iterator[tuple[Any, ...]]:
        seen.add((check, location))
        stored = {
            _instant(at): _observation_row(check, location, at, ok, latency, detail)
            for at, ok, latency, detail in history.series_observations_between(
                session, check, location, start, end
            )
        }
        merged = {row[2]: tuple(row) for row in rows} | stored
        for instant in sorted(merged):
            yield merged[instant]

    current: tuple[str, str] | None = None
    rows: list[list[str]] = []
    for row in _earlier_rows(earlier, "observations.csv"):
        if row[0] not in keys:
            continue
        if (row[0], row[1]) != current:
            if current is not None:
                yield from series(*current, rows)
            current, rows = (row[0], row[1]), []
        rows.append(row)
    if current is not None:
        yield from series(*current, rows)
    for check, location in history.observation_series_between(session, sorted(keys), start, end):
        if (check, location) not in seen:
            yield from series(check, location, [])


def _entry(name: str) -> zipfile.ZipInfo:
    # A fixed timestamp: the same month and data give a byte-identical bundle.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


# --- verification --------------------------------------------------------------------------


@dataclass
class Verification:
    """What ``kadou evidence verify`` found: problems with the files, figures that differ."""

    month: str = ""
    version: int | None = None
    problems: list[str] = field(default_factory=list)
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.problems and not self.differences

    def lines(self) -> list[str]:
        if self.identical:
            which = f"version {self.version}" if self.version else "the open month's report"
            return [f"identical: {self.month} recomputed from the bundle matches {which}"]
        lines = list(self.problems)
        lines += [
            f"{item['indicator']} {item['figure']}: report {item['before']}, "
            f"recomputed {item['after']}"
            for item in self.differences
        ]
        return lines


REQUIRED = ("month.json", "catalog/versions.json", "exclusions.json")
# Data files are streamed from the zip when loaded; the rest is small and read whole.
STREAMED_SUFFIX = ".csv"


def _read_checked(bundle: zipfile.ZipFile, verification: Verification) -> dict[str, bytes]:
    names = set(bundle.namelist())
    if MANIFEST not in names:
        verification.problems.append("manifest.json is missing: not a Kadou evidence bundle")
        return {}
    manifest = json.loads(bundle.read(MANIFEST))
    listed: dict[str, str] = manifest.get("files", {})
    files: dict[str, bytes] = {}
    for name, expected in sorted(listed.items()):
        if name not in names:
            verification.problems.append(f"{name}: listed in the manifest but missing")
            continue
        digest = hashlib.sha256()
        kept = []
        with bundle.open(name) as entry:
            while chunk := entry.read(1 << 20):
                digest.update(chunk)
                if not name.endswith(STREAMED_SUFFIX):
                    kept.append(chunk)
        if digest.hexdigest() != expected:
            verification.problems.append(f"{name}: SHA-256 does not match the manifest")
        files[name] = b"".join(kept)
    for name in sorted(names - set(listed) - {MANIFEST}):
        verification.problems.append(f"{name}: in the bundle but not in the manifest")
    return files


@contextmanager
def _csv_rows(bundle: zipfile.ZipFile, name: str) -> Iterator[Iterator[dict[str, str]]]:
    if name not in bundle.namelist():
        yield iter(())
        return
    with bundle.open(name) as entry:
        yield csv.DictReader(io.TextIOWrapper(entry, encoding="utf-8", newline=""))


def verify_bundle(path: Path) -> Verification:
    """Check the digests and recompute the month from the bundle alone."""
    verification = Verification()
    try:
        with zipfile.ZipFile(path) as bundle:
            files = _read_checked(bundle, verification)
            if verification.problems or not files:
                return verification
            missing = sorted(set(REQUIRED) - set(files))
            if missing:
                verification.problems.append(
                    f"{', '.join(missing)}: missing; not a Kadou evidence bundle"
                )
                return verification
            _recompute(bundle, files, verification)
    except (OSError, zipfile.BadZipFile) as error:
        raise InvalidInput(f"{path}: cannot read the bundle ({error})", field="file") from None
    except (KeyError, ValueError, TypeError) as error:
        # Digests that match but content Kadou did not write: a hand-made bundle.
        raise InvalidInput(
            f"{path}: the bundle's content is not what Kadou writes ({type(error).__name__}: "
            f"{error})",
            field="file",
        ) from None
    return verification


def _recompute(
    bundle: zipfile.ZipFile, files: dict[str, bytes], verification: Verification
) -> None:
    from app.catalog.canonical import catalog_from_canonical
    from app.runtime import upgrade
    from app.store.db import make_engine, session_factory, transaction

    month = json.loads(files["month.json"])
    verification.month = month["month"]
    period = periods.parse_month(month["month"], month["timezone"])
    index = json.loads(files["catalog/versions.json"])
    end = from_ms(period.end_ms)
    in_force = [v for v in index if _parse_instant(v["effective_from"]) < end] or index[:1]
    used = in_force[-1]
    catalog = catalog_from_canonical(
        files[f"catalog/{used['sha256']}.json"].decode("utf-8"), "evidence bundle"
    )
    # Every version's checks, the latest definition of each: a check removed mid-month
    # counts until its removal, and the evaluation takes each part's structure (§8).
    checks: dict[str, Check] = {}
    for item in index:
        text = files[f"catalog/{item['sha256']}.json"].decode("utf-8")
        checks.update(catalog_from_canonical(text, "evidence bundle").checks())
    checks.update(catalog.checks())
    params = {
        key: TimelineParams(check.confirm, check.stale_after_ms) for key, check in checks.items()
    }
    versions = month["versions"]
    expected_name = f"reports/v{versions[-1]['version']}.json" if versions else "reports/open.json"
    expected = json.loads(files[expected_name])
    verification.version = versions[-1]["version"] if versions else None
    with tempfile.TemporaryDirectory(prefix="kadou-evidence-") as folder:
        url = f"sqlite:///{folder}/evidence.db"
        upgrade(url)
        engine = make_engine(url)
        try:
            sessions = session_factory(engine)
            with transaction(sessions) as session:
                for item in index:
                    history.record_catalog_version(
                        session,
                        sha256=item["sha256"],
                        content=files[f"catalog/{item['sha256']}.json"].decode("utf-8"),
                        at=_parse_instant(item["effective_from"]),
                        loaded_by=item["loaded_by"],
                        source=item["source"],
                    )
                if month["data"] == "segments":
                    with _csv_rows(bundle, "segments.csv") as rows:
                        history.insert_segments(
                            session,
                            [
                                {
                                    "check": row["check"],
                                    "location": row["location"],
                                    "start_at": _parse_instant(row["start_at"]),
                                    "end_at": _parse_instant(row["end_at"]),
                                    "state": row["state"],
                                }
                                for row in rows
                                if row["check"] in params
                            ],
                        )
                # All of them, or (with segments) those of checks whose confirm or
                # stale_after changed during the month.
                _load_observations(session, bundle, params)
                history.insert_exclusions(
                    session,
                    [
                        {
                            name: _parse_instant(value)
                            if name in INSTANT_FIELDS and value is not None
                            else value
                            for name, value in row.items()
                        }
                        for row in json.loads(files["exclusions.json"])
                    ],
                )
            with sessions() as session:
                result = evaluate_period(
                    session, catalog, period, now=_parse_instant(month["evaluated_at"])
                )
                recomputed = report_document(catalog, result, pictures=True)
        finally:
            engine.dispose()
    verification.differences = figure_diff(expected, recomputed)


def _load_observations(
    session: Session, bundle: zipfile.ZipFile, params: dict[str, TimelineParams]
) -> None:
    """The bundle's observations and end marks, stored in batches as Kadou stores them.

    The core relabels each (check, location) from its whole stored set, so the batches'
    order does not change the timeline.
    """
    batch: list[ObservationIn] = []

    def flush() -> None:
        store_observations(session, batch, params)
        batch.clear()

    with _csv_rows(bundle, "observations.csv") as rows:
        for row in rows:
            if row["check"] not in params:
                continue
            batch.append(
                ObservationIn(
                    check=row["check"],
                    location=row["location"],
                    observed_at=_parse_instant(row["observed_at"]),
                    ok=row["ok"] == "1",
                    latency_ms=float(row["latency_ms"]) if row["latency_ms"] else None,
                    detail=row["detail"] or None,
                )
            )
            if len(batch) >= 50_000:
                flush()
    with _csv_rows(bundle, "end_marks.csv") as rows:
        for row in rows:
            if row["check"] in params:
                batch.append(
                    ObservationIn(
                        check=row["check"],
                        location=row["location"],
                        observed_at=_parse_instant(row["at"]),
                        ok=True,
                        end_of_observation=True,
                    )
                )
    flush()
