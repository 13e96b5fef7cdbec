"""The bounded spool that keeps batches the sink could not take yet.

On disk (agent mode) each batch is one JSON Lines file, ``<sequence>-<count>.jsonl``, written
to a temporary name, fsync'd, renamed, and the directory fsync'd: a file either is complete
or does not exist, so a crash or power cut never leaves half a batch. Its lines are the
observations in the ``kadou import`` form, plus at most one ``{"heartbeat": {...}}`` line.
The file name carries the order and the observation count, so reopening a large spool
reads no file.

When full, the spool refuses the new batch (the caller logs and counts it): dropping the
oldest silently would hide an outage's beginning, the part an SLA report needs most.
Batches the sink rejects for good go to ``rejected/`` with a ``.reason.txt`` beside them.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import deque
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

    def append(self, batch: SpooledBatch) -> bool:
        """Keep ``batch`` after the others; False (nothing kept) when full."""
        ...

    def oldest(self) -> SpooledBatch | None: ...

    def remove(self, batch: SpooledBatch) -> None:
        """Forget ``batch`` (the oldest), delivered."""
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
        self._files: deque[_SpoolFile] = deque()
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
            self._files.append(spool_file)
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

    def append(self, batch: SpooledBatch) -> bool:
        payload = encode_batch(batch)
        if self._bytes + len(payload) > self.max_bytes:
            return False
        name = f"{self._next_sequence:012d}-{len(batch.observations)}.jsonl"
        _write_durably(self.directory / name, payload)
        self._next_sequence += 1
        self._files.append(_SpoolFile(name, len(payload), len(batch.observations)))
        self._bytes += len(payload)
        self._observations += len(batch.observations)
        return True

    def oldest(self) -> SpooledBatch | None:
        while self._files:
            head = self._files[0]
            path = self.directory / head.name
            try:
                return decode_batch(path.read_text(encoding="utf-8"), spool_id=head.name)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                # Someone edited or truncated it by hand; keep it for a human, move on.
                log.error(
                    "spool file %s is unreadable (%s); moving it to %s/", path, exc, REJECTED_DIR
                )
                self._set_aside(head, reason=f"unreadable spool file: {exc}")
        return None

    def remove(self, batch: SpooledBatch) -> None:
        head = self._pop(batch)
        (self.directory / head.name).unlink(missing_ok=True)

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
        if not self._files or self._files[0].name != batch.spool_id:
            raise ValueError(f"{batch.spool_id} is not the oldest spooled batch")
        head = self._files.popleft()
        self._bytes -= head.size
        self._observations -= head.observations
        return head

    def _set_aside(self, spool_file: _SpoolFile, *, reason: str) -> str:
        if self._files and self._files[0] is spool_file:
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
        self._batches: deque[SpooledBatch] = deque()
        self._observations = 0
        self._bytes = 0
        self._next_sequence = 1

    @property
    def bytes_used(self) -> int:
        return self._bytes

    @property
    def observations(self) -> int:
        return self._observations

    def append(self, batch: SpooledBatch) -> bool:
        if self._observations + len(batch.observations) > self.max_observations:
            return False
        spooled = SpooledBatch(batch.observations, batch.heartbeat, str(self._next_sequence))
        self._next_sequence += 1
        self._batches.append(spooled)
        self._observations += len(batch.observations)
        # An estimate, for the gauge only.
        self._bytes += 160 * len(batch.observations)
        return True

    def oldest(self) -> SpooledBatch | None:
        return self._batches[0] if self._batches else None

    def remove(self, batch: SpooledBatch) -> None:
        if not self._batches or self._batches[0].spool_id != batch.spool_id:
            raise ValueError(f"{batch.spool_id} is not the oldest spooled batch")
        self._batches.popleft()
        self._observations -= len(batch.observations)
        self._bytes -= 160 * len(batch.observations)

    def reject(self, batch: SpooledBatch, *, reason: str) -> str:
        if batch.spool_id is not None:
            self.remove(batch)
        return "nowhere: no spool directory, so this log line is the only record"
