"""The catalog as one canonical text, for catalog history (SLA-SEMANTICS §8).

The same catalog written with other spacing, comments or key order gives the same text,
so loading it again records no new version. Credentials are masked: the text is shown by
``kadou catalog show`` and handed to auditors in evidence bundles, and a password says
nothing about availability (a rotated password is not a new version either).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from app.catalog.model import Catalog
from app.redact import MASK, redact_headers, redact_url


def _masked(document: dict[str, Any]) -> dict[str, Any]:
    for system in document["systems"]:
        for service in system["services"]:
            for check in service["checks"]:
                if check.get("basic_auth"):
                    check["basic_auth"]["password"] = MASK
                if check.get("headers"):
                    check["headers"] = redact_headers(check["headers"])
                if check.get("url"):
                    check["url"] = redact_url(check["url"])
    return document


def canonical_json(catalog: Catalog) -> str:
    document = catalog.model_dump(mode="json", exclude={"source", "sha256"})
    return json.dumps(_masked(document), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical_sha256(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def catalog_from_canonical(content: str, source: str) -> Catalog:
    """The catalog a recorded version describes (credentials masked), for evaluation."""
    document = json.loads(content)
    document["source"] = source
    document["sha256"] = canonical_sha256(content)
    return Catalog.model_validate(document)
