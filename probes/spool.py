"""The bounded spool that keeps batches the sink could not take yet.

On disk (agent mode) each batch is one JSON Lines file, ``<sequence>-<count>.jsonl``, written
to a temporary name, fsync'd, renamed, and the directory fsync'd: a file either is complete
or does not exist, so a crash or power cut never leaves half a batch. Its lines are the
observations in the ``kadou import`` form, plus at most one ``{"heartbeat": {...}}`` line.
The file name carries the order and the observation count, so reopening a large spool
reads no file. Batches are independent: any of them can be delivered (and removed) while an
older one waits, so one batch the server keeps failing on never holds back the rest.

When full, the spool refuses the new batch (the caller logs and counts it): dropping the
oldest silently would hide an outage's beginning, the part an SLA report needs most.
Batches the sink rejects for good go to ``rejected/`` with a ``.reason.txt`` beside them.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from probes.records import Heartbeat, ObservationRecord

log = logging.getLogger(__name__)

REJECTED_DIR = "rejected"
_BATCH_NAME = re.compile(r"^(\d{12})-(\d+)\.jsonl$")


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    observations: tuple[ObservationRecord, ...]
    heartbeat: Heartbeat | None = None
    # Which file (or slot) holds it; None while it has not been spooled.
    spool_id: str | None = None


class Spool(Protocol):
    @property
    def bytes_used(self) -> int: ...

    @property
    def observations(self) -> int: ...

    def append(self, batch: SpooledBatch) -> str | None:
        """Keep ``batch`` after the others and return its id; None (nothing kept) when full."""
        ...

    def ids(self) -> list[str]:
        """The spooled batches' ids, oldest first (a snapshot: appending does not change it)."""
        ...

    def load(self, spool_id: str) -> SpooledBatch | None:
        """The batch ``spool_id``; None when it is gone or unreadable (then set aside)."""
        ...

    def oldest(self) -> SpooledBatch | None: ...

    def remove(self, batch: SpooledBatch) -> None:
        """Forget ``batch`` (any spooled one), delivered."""
        ...

    def reject(self, batch: SpooledBatch, *, reason: str) -> str:
        """Set ``batch`` aside for a human; return where it went."""
        ...


def encode_batch(batch: SpooledBatch) -> bytes:
    lines = [json.dumps(record.to_json(), ensure_ascii=False) for record in batch.observations]
    if batch.heartbeat is not None:
        lines.append(json.dumps({"heartbeat": batch.heartbeat.to_spool_json()}))
    return ("\n".join(lines) + "\n").encode() if lines else b""


def decode_batch(text: str, spool_id: str | None = None) -> SpooledBatch:
    observations: list[ObservationRecord] = []
    heartbeat: Heartbeat | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = json.loads(line)
        if "heartbeat" in fields:
            heartbeat = Heartbeat.from_spool_json(fields["heartbeat"])
        else:
            observations.append(ObservationRecord.from_json(fields))
    return SpooledBatch(observations=tuple(observations), heartbeat=heartbeat, spool_id=spool_id)


@dataclass(frozen=True, slots=True)
class _SpoolFile:
    name: str
    size: int
    observations: int


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, payload: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        file.write(payload)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    _fsync_directory(path.parent)


class DiskSpool:
    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = directory
        self.rejected_directory = directory / REJECTED_DIR
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        # By name; names sort in arrival order and dicts keep insertion order.
        self._files: dict[str, _SpoolFile] = {}
        self._bytes = 0
        self._observations = 0
        self._next_sequence = 1
        for leftover in directory.glob("*.tmp"):
            # Never renamed into place, so never reported as spooled: safe to drop.
            leftover.unlink()
        entries: list[tuple[int, _SpoolFile]] = []
        for path in directory.iterdir():
            match = _BATCH_NAME.match(path.name)
            if match is None:
                continue
            entries.append(
                (
                    int(match.group(1)),
                    _SpoolFile(path.name, path.stat().st_size, int(match.group(2))),
                )
            )
        for sequence, spool_file in sorted(entries):
            self._files[spool_file.name] = spool_file
            self._bytes += spool_file.size
            self._observations += spool_file.observations
            self._next_sequence = sequence + 1

    @property
    def bytes_used(self) -> int:
        return self._bytes

    @property
    def observations(self) -> int:
        return self._observations

    @property
    def batches(self) -> int:
        return len(self._files)

    def append(self, batch: SpooledBatch) -> str | None:
        payload = encode_batch(batch)
        if self._bytes + len(payload) > self.max_bytes:
            return None
        name = f"{self._next_sequence:012d}-{len(batch.observations)}.jsonl"
        _write_durably(self.directory / name, payload)
        self._next_sequence += 1
        self._files[name] = _SpoolFile(name, len(payload), len(batch.observations))
        self._bytes += len(payload)
        self._observations += len(batch.observations)
        return name

    def ids(self) -> list[str]:
        return list(self._files)

    def load(self, spool_id: str) -> SpooledBatch | None:
        spool_file = self._files.get(spool_id)
        if spool_file is None:
            return None
        path = self.directory / spool_file.name
        try:
            return decode_batch(path.read_text(encoding="utf-8"), spool_id=spool_file.name)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Someone edited or truncated it by hand; keep it for a human, move on.
            log.error("spool file %s is unreadable (%s); moving it to %s/", path, exc, REJECTED_DIR)
            self._set_aside(spool_file, reason=f"unreadable spool file: {exc}")
            return None

    def oldest(self) -> SpooledBatch | None:
        for spool_id in self.ids():
            batch = self.load(spool_id)
            if batch is not None:
                return batch
        return None

    def remove(self, batch: SpooledBatch) -> None:
        spool_file = self._pop(batch)
        (self.directory / spool_file.name).unlink(missing_ok=True)

    def reject(self, batch: SpooledBatch, *, reason: str) -> str:
        if batch.spool_id is not None:
            return self._set_aside(self._pop(batch), reason=reason)
        self.rejected_directory.mkdir(exist_ok=True)
        name = f"{self._next_sequence:012d}-{len(batch.observations)}.jsonl"
        self._next_sequence += 1
        target = self.rejected_directory / name
        _write_durably(target, encode_batch(batch))
        _write_durably(target.with_suffix(".reason.txt"), reason.encode())
        return str(target)

    def _pop(self, batch: SpooledBatch) -> _SpoolFile:
        spool_file = self._files.pop(batch.spool_id or "", None)
        if spool_file is None:
            raise ValueError(f"{batch.spool_id} is not a spooled batch")
        self._bytes -= spool_file.size
        self._observations -= spool_file.observations
        return spool_file

    def _set_aside(self, spool_file: _SpoolFile, *, reason: str) -> str:
        if spool_file.name in self._files:
            self._pop(SpooledBatch(observations=(), spool_id=spool_file.name))
        self.rejected_directory.mkdir(exist_ok=True)
        target = self.rejected_directory / spool_file.name
        os.replace(self.directory / spool_file.name, target)
        _write_durably(target.with_suffix(".reason.txt"), reason.encode())
        return str(target)


class MemorySpool:
    """For a sink on the same machine (the embedded store): no files, bounded by count."""

    def __init__(self, *, max_observations: int) -> None:
        self.max_observations = max_observations
        self._batches: dict[str, SpooledBatch] = {}
        self._observations = 0
        self._bytes = 0
        self._next_sequence = 1

    @property
    def bytes_used(self) -> int:
        return self._bytes

    @property
    def observations(self) -> int:
        return self._observations

    def append(self, batch: SpooledBatch) -> str | None:
        if self._observations + len(batch.observations) > self.max_observations:
            return None
        spooled = SpooledBatch(batch.observations, batch.heartbeat, str(self._next_sequence))
        self._next_sequence += 1
        self._batches[str(spooled.spool_id)] = spooled
        self._observations += len(batch.observations)
        # An estimate, for the gauge only.
        self._bytes += 160 * len(batch.observations)
        return spooled.spool_id

    def ids(self) -> list[str]:
        return list(self._batches)

    def load(self, spool_id: str) -> SpooledBatch | None:
        return self._batches.get(spool_id)

    def oldest(self) -> SpooledBatch | None:
        return next(iter(self._batches.values()), None)

    def remove(self, batch: SpooledBatch) -> None:
        if self._batches.pop(batch.spool_id or "", None) is None:
            raise ValueError(f"{batch.spool_id} is not a spooled batch")
        self._observations -= len(batch.observations)
        self._bytes -= 160 * len(batch.observations)

    def reject(self, batch: SpooledBatch, *, reason: str) -> str:
        if batch.spool_id is not None:
            self.remove(batch)
        return "nowhere: no spool directory, so this log line is the only record"
