"""The repository documents its own rules: every refusal code in the source is in
docs/domain.md (§5, or §6 for e-Kinerja and bkn-sync codes), and nothing tracked points at
design notes outside the repository.

Plain files and ``git ls-files``: no infrastructure.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_DOC = ROOT / "docs" / "domain.md"
SOURCES = ("services/*/src/**/*.py", "libs/shared/src/**/*.py")

# What a code looks like: upper case, digits, joined by "-" or "_" ("V-03", "BKN-E01",
# "NIP_NOT_FOUND", "POISON"). The shape alone would also match every enum value and setting
# name, so a literal only counts as a code where the source uses it as one (CODE_SITES).
CODE = r"[A-Z][A-Z0-9]*(?:[-_][A-Z0-9]+)*"
Q = "[\"']"  # either quote

CODE_SITES: dict[str, re.Pattern[str]] = {
    # The rule and delivery taxonomies are unmistakable wherever they stand:
    # "V-03", "V-17B", "BKN-E01", "BKN-T02".
    "taxonomy": re.compile(Q + r"(?P<code>(?:V|BKN)-[A-Z]?\d{2}[A-Z]?)" + Q),
    # The code argument of a refusal: DomainError("PLAN_NOT_FOUND", ...), forbidden(...),
    # Refusal(...), RuleViolation(...), RatingRefused(...), the simulator's
    # _refused(409, "STALE_VERSION", ...) and error_response(503, "OUTAGE", ...), the error
    # body _body("VALIDATION_ERROR", ...), the DLQ's _to_dlq(..., "POISON", ...).
    "refusal": re.compile(
        r"\b(?:DomainError|RuleViolation|Refusal|RatingRefused|RatingRuleViolation|AuthError"
        r"|PermanentError|forbidden|_body|_refused|error_response|_to_dlq|dead_letter_headers)"
        r"\((?:[^()\"']*?,\s*)??\s*(?:\d{3},\s*)?" + Q + "(?P<code>" + CODE + ")" + Q
    ),
    # code="RATE_LIMITED" (the simulator's attempt log), and constants named *_CODE.
    "keyword": re.compile(r"\b(?:[A-Z_]*_CODE|code)\s*=\s*" + Q + "(?P<code>" + CODE + ")" + Q),
    # Status → code tables: {404: "NOT_FOUND"}, {500: ("INTERNAL_ERROR", "...")}.
    "status_table": re.compile(r"\b\d{3}:\s*\(?\s*" + Q + "(?P<code>" + CODE + ")" + Q),
    # The fallback of such a table: .get(exc.status_code, "HTTP_ERROR").
    "status_fallback": re.compile(r"status_code,\s*" + Q + "(?P<code>" + CODE + ")" + Q + r"\)"),
    # e-Kinerja's codes as bkn-sync reads them: body_code == "SKP_NOT_FOUND".
    "body_code": re.compile(
        r"\bbody_code\s*(?:==|!=|in|not in)\s*\(?[^\n:]*?" + Q + "(?P<code>" + CODE + ")" + Q
    ),
}
# Members of an enum of codes: class AuthErrorCode(StrEnum), class RefusalCode(StrEnum).
CODE_ENUM = re.compile(r"^class \w*Code\(StrEnum\):\n(?P<body>(?:[ \t]+.*\n|[ \t]*\n)+)", re.M)
ENUM_MEMBER = re.compile(r"^[ \t]+[A-Z][A-Z0-9_]*\s*=\s*" + Q + "(?P<code>" + CODE + ")" + Q, re.M)


def _source_files() -> Iterator[Path]:
    for pattern in SOURCES:
        yield from sorted(ROOT.glob(pattern))


def codes_in(text: str) -> set[str]:
    """The refusal codes ``text`` (Python source) uses."""
    found = {m["code"] for site in CODE_SITES.values() for m in site.finditer(text)}
    for enum in CODE_ENUM.finditer(text):
        found |= {m["code"] for m in ENUM_MEMBER.finditer(enum["body"])}
    return found


@cache
def source_codes() -> dict[str, tuple[str, ...]]:
    """Every refusal code in the services' and the shared library's source → where it is."""
    where: dict[str, list[str]] = {}
    for path in _source_files():
        for code in codes_in(path.read_text(encoding="utf-8")):
            where.setdefault(code, []).append(path.relative_to(ROOT).as_posix())
    return {code: tuple(paths) for code, paths in sorted(where.items())}


def code_sections(doc: str) -> str:
    """§5 and §6 of domain.md: from "## 5." up to "## 7."."""
    start = re.search(r"^## 5\.", doc, re.M)
    end = re.search(r"^## 7\.", doc, re.M)
    assert start, "domain.md needs its §5"
    assert end, "domain.md needs its §7"
    assert start.start() < end.start(), "domain.md's §5 and §6 come before §7"
    return doc[start.start() : end.start()]


def mentions(text: str, code: str) -> bool:
    # Whole codes only: "V-17" is not documented by "V-17B", nor NOT_FOUND by PLAN_NOT_FOUND.
    return re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", text) is not None


def test_the_collector_finds_codes_and_ignores_ordinary_constants() -> None:
    sample = (
        'NOT_ATASAN = DomainError("V-10", "Anda bukan atasan langsung pegawai ini.", 403)\n'
        'raise forbidden(\n    "OUTSIDE_AREA", "Satuan pendidikan ini di luar wilayah."\n)\n'
        'return _refused(\n    409,\n    "STALE_VERSION",\n    f"Versi {v} lebih lama",\n)\n'
        'code = {404: "NOT_FOUND"}.get(exc.status_code, "HTTP_ERROR")\n'
        'if body_code == "SKP_NOT_FOUND":\n    pass\n'
        'class AuthErrorCode(StrEnum):\n    MISSING = "AUTH_MISSING"\n\n'
        'class Predikat(StrEnum):\n    SANGAT_BAIK = "SANGAT_BAIK"\n\n'
        'ENV_VAR = "KINERJA_PERIODS_FILE"\n'
        'state = "IN_FLIGHT"\n'
    )
    assert codes_in(sample) == {
        "V-10",
        "OUTSIDE_AREA",
        "STALE_VERSION",
        "NOT_FOUND",
        "HTTP_ERROR",
        "SKP_NOT_FOUND",
        "AUTH_MISSING",
    }
    # The real source: the taxonomies and the codes every service answers with are found.
    found = source_codes()
    for code in ("V-03", "V-21", "BKN-E01", "NIP_NOT_FOUND", "PEGAWAI_NOT_FOUND", "AUTH_MISSING"):
        assert code in found, code


def test_every_refusal_code_in_the_source_is_documented_in_domain_md() -> None:
    documented = code_sections(DOMAIN_DOC.read_text(encoding="utf-8"))
    missing = {
        code: paths for code, paths in source_codes().items() if not mentions(documented, code)
    }
    assert not missing, (
        "refusal codes used in the source but not documented in docs/domain.md §5 (or §6 for "
        "e-Kinerja and bkn-sync codes), with their message, English gloss, HTTP status and "
        "service:\n" + "\n".join(f"  {code}  ({', '.join(p)})" for code, p in missing.items())
    )


# Assembled, so that this file does not itself contain what it looks for.
OUTSIDE_REFERENCE = re.compile(re.escape("/".join(("..", "shared"))))
# A design note cited as "<NOTE>.md §5", "<NOTE> §8" or "<NOTE>.md "Events"" for NOTE = DOMAIN or
# ARCHITECTURE; not a name that merely contains it (DNS_1123_SUBDOMAIN), nor the word "domain".
DESIGN_NOTE = re.compile(r"(?<![A-Za-z_])(?:" + "DOMAIN|ARCHITECTURE" + r")(?:\.md\b|\s*§)")


def _tracked_texts() -> Iterator[tuple[str, str]]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    for name in sorted(filter(None, listed.split("\0"))):
        if name.startswith("tests/docs/"):
            continue
        path = ROOT / name
        if not path.is_file():  # deleted in the work tree, not yet in the index
            continue
        try:
            yield name, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary


def _offenders(needle: re.Pattern[str]) -> list[str]:
    return [
        f"{name}:{n}: {line.strip()}"
        for name, text in _tracked_texts()
        for n, line in enumerate(text.splitlines(), start=1)
        if needle.search(line)
    ]


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = _offenders(OUTSIDE_REFERENCE)
    assert not offenders, (
        "these tracked files point at a folder outside the repository; point them at docs/ "
        "instead:\n" + "\n".join(f"  {o}" for o in offenders)
    )


# An applied migration never changes: its checksum is recorded in every database it ran in, and
# `migrate` refuses a file whose bytes differ. The comments of the first migrations keep the
# old citations ("DOMAIN.md §N" is docs/domain.md §N).
IMMUTABLE = re.compile(r"/migrations/\d{4}_[^/]+\.sql:")


def test_no_tracked_file_cites_the_design_notes() -> None:
    """The design notes the team started from are not part of the repository: cite
    docs/domain.md (same section numbers) and docs/architecture.md (same section names)."""
    offenders = [o for o in _offenders(DESIGN_NOTE) if not IMMUTABLE.search(o)]
    assert not offenders, (
        "these tracked files cite design notes users do not have; cite docs/domain.md or "
        "docs/architecture.md instead:\n" + "\n".join(f"  {o}" for o in offenders)
    )
