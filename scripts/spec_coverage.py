"""Count the specification rules that tests cite.

Rule IDs (``L-44``, ``E-27``, ``A-core-7``, ``C-core-3``, ``M-sys-4``, ``K-5``, ``D-2`` …) are
read from the spec files; a rule counts as covered when a test file under ``tests/`` or
``examples/`` mentions it, in a name (``test_E27_…``, ``test_A_core_7_…``) or a docstring.

    python scripts/spec_coverage.py [SPEC_DIR]     (default: ../shared/spec)
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# "L-44", "L44", "A-core-7", "A_core_7", "M-sys-4", "M_sys_4" in names or docstrings
CITE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{1,2}|[A-Z][-_][a-z0-9]+)[-_]?(\d+)(?![0-9])")


def spec_rules(spec_dir: Path) -> dict[str, list[str]]:
    rules: dict[str, list[str]] = defaultdict(list)
    for f in sorted(spec_dir.glob("*.md")):
        for m in re.finditer(r"(?:\*\*|^### )((?:A-core|C-core|M-[a-z0-9]+|[A-Z]{1,2})-\d+)", f.read_text(), re.M):
            if m.group(1) not in rules[f.stem]:
                rules[f.stem].append(m.group(1))
    return rules


def cited() -> set[str]:
    out: set[str] = set()
    for base in ("tests", "examples"):
        for f in (ROOT / base).rglob("*.py"):
            for m in CITE.finditer(f.read_text(errors="replace")):
                out.add(f"{m.group(1).replace('_', '-')}-{m.group(2)}")
    return out


def main() -> None:
    spec_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "spec"
    rules = spec_rules(spec_dir)
    seen = cited()
    report = {}
    for doc, ids in rules.items():
        hit = [i for i in ids if i in seen]
        report[doc] = {"rules": len(ids), "cited": len(hit)}
    total = sum(r["rules"] for r in report.values())
    hit_total = sum(r["cited"] for r in report.values())
    for doc, r in report.items():
        print(f"{doc:<10} {r['cited']:>4}/{r['rules']:<4}")
    print(json.dumps({"rules": total, "cited": hit_total, "by_document": report}))


if __name__ == "__main__":
    main()
