"""TLS probe: handshake, then how many days the peer certificate has left.

An expired certificate (or one that does not verify) is a failure. One that expires within
``min_days_left`` days is a warning: every client is still served, so it must not cost the
service its availability; ``expiring_is_failure: true`` in the catalog makes it a failure.

The certificate is read as DER and parsed with ``cryptography`` because the standard
library only decodes a peer certificate it has verified; with ``verify_tls: false`` (an
internal CA we do not trust here) we still want its expiry.
"""

from __future__ import annotations

import math
import time

from cryptography import x509

from app.catalog.model import TlsCheck
from probes.base import ProbeContext, ProbeResult, elapsed_ms
from probes.tcp import close_stream, open_stream

_SECONDS_PER_DAY = 86_400.0


async def probe_tls(check: TlsCheck, ctx: ProbeContext) -> ProbeResult:
    started = time.perf_counter()
    _reader, writer = await open_stream(
        check.host,
        check.port,
        ssl_context=ctx.ssl_context(verify=check.verify_tls),
        server_hostname=check.server_name or check.host,
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        latency_ms = elapsed_ms(started)
        await close_stream(writer)
    if not der:
        return ProbeResult(False, latency_ms, "no peer certificate")
    certificate = x509.load_der_x509_certificate(der)
    days_left = (certificate.not_valid_after_utc - ctx.clock()).total_seconds() / _SECONDS_PER_DAY
    measurements = {"cert_days_left": days_left}
    if days_left <= 0:
        return ProbeResult(False, latency_ms, "cert expired", measurements)
    if days_left < check.min_days_left:
        expiring = f"cert expires in {math.floor(days_left)} days"
        if check.expiring_is_failure:
            return ProbeResult(False, latency_ms, expiring, measurements)
        # Every client is still served: a renewal reminder, not an outage.
        return ProbeResult(True, latency_ms, None, measurements, warnings=(expiring,))
    return ProbeResult(True, latency_ms, None, measurements)
