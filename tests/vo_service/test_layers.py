"""Layering: the web-facing packages use the analysis packages through their public APIs only."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: ``processing.<package>._<module>`` in an import or a dotted string (importlib).
_PRIVATE = re.compile(r"\bprocessing\.[A-Za-z0-9_]+\._[A-Za-z0-9_]+")
_PRIVATE_FROM = re.compile(r"^\s*from\s+processing(\.[A-Za-z0-9_]+)*\s+import\s+.*\b_[a-z]", re.M)


def _offences(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        text = path.read_text()
        for n, line in enumerate(text.splitlines(), 1):
            if _PRIVATE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
        for match in _PRIVATE_FROM.finditer(text):
            found.append(f"{path.relative_to(ROOT)}: {match.group(0).strip()}")
    return found


def test_service_packages_import_no_private_processing_module() -> None:
    offences = [o for package in ("vo_service", "datalink", "registry") for o in _offences(package)]
    assert offences == [], "\n".join(offences)


def test_the_check_sees_a_private_import() -> None:
    assert _PRIVATE.search("from processing.isgri._specfit import fold")
    assert _PRIVATE.search('importlib.import_module("processing.isgri._pif")')
    assert _PRIVATE_FROM.search("from processing.isgri import _pif")
    assert not _PRIVATE.search("from processing.isgri import fold")
    assert not _PRIVATE_FROM.search("from processing.products import get_recipe")
