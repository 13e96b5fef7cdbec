"""A one-service catalog (JPKI's main service) with HTTP checks, for tests that probe."""

from __future__ import annotations


def one_service_catalog(
    url: str,
    *,
    interval: str = "500ms",
    timeout: str = "400ms",
    check_ids: tuple[str, ...] = ("http",),
    extra: str = "",
) -> str:
    """YAML for ``jpki/main`` with one HTTP check per id, each probing ``url``.

    ``extra`` is added to every check as further ``key: value`` lines (e.g.
    ``"confirm: 2"`` or ``"retry_interval: 250ms"``).
    """
    extra_lines = "".join(f"\n            {line}" for line in extra.splitlines() if line)
    checks = "\n".join(
        f"""          - id: {check_id}
            type: http
            url: {url}
            interval: {interval}
            timeout: {timeout}{extra_lines}"""
        for check_id in check_ids
    )
    return f"""\
systems:
  - id: jpki
    name: {{ja: JPKI, en: JPKI}}
    target: 0.999
    services:
      - id: main
        name: {{ja: 主要業務, en: Main}}
        target: 0.999
        checks:
{checks}
"""
