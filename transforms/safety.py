"""FilterSafety: word blocklists (drop) and PII redaction (rewrite) on the documents that stay.

Input/output: `Document`; main output `kept` (PII redacted, with scores); tagged `REJECTED`: documents
marked `safety:word_blocklist:<list name>` (the first list, in sorted name order, with at least
`safety.word_blocklist_min_hits` distinct terms in the document; `meta["drop_detail"]` = the first five
matched terms, comma-joined, in order of first occurrence). Rejected documents are not redacted.

Measuring is separate from deciding: every document gets `scores["blocklist:<name>"]` = distinct terms of
that list found (float) for every list, kept documents too; kept documents also get `pii_email`, `pii_ip`,
`pii_phone` (spans redacted) when `safety.pii` is on.

Word blocklists: UTF-8 files, one term per line; blank lines and lines starting with `#` are ignored (a
term cannot start with `#`), whitespace inside a term is collapsed and matches any run of whitespace.
Matching is case-insensitive (Unicode casefold on both sides). A term with an unspaced-script character
(Han, kana, Thai: `transforms.scripts.UNSPACED_CHAR`) matches as a substring; any other term matches as a
whole word or phrase: no word character of a spaced script directly before or after it ("ass" is not in
"class"; "porn" is in "看porn视频"). A list compiles to two regexes (whole-word terms; substring terms,
run only on text with unspaced-script characters), each a character trie (shared prefixes factored, wide
nodes split behind character-class tests, so thousands of terms cost little more than a few) inside a
lookahead, so overlapping terms ("赌博" and "博彩" in "赌博彩票") are all found; at one start position the
longest term wins. Lists are read once per worker in `setup()`; a missing, non-UTF-8 or empty list
raises one line naming the list and path (`load_blocklists`, which the launcher can call before the run).

PII redaction (spans found on the original text, replaced by `<EMAIL>`, `<IP>`, `<PHONE>`, every other
character kept as it was; on overlaps the earlier-listed kind wins: e-mail, IPv6, IPv4, phone):
- E-mail: ASCII local part, `@`, dotted domain with an alphabetic top-level label of 2-24 letters. Not an
  e-mail: no dot in the domain (`user@host` shell prompts, `@property`, `a @ b`), a file extension as the
  "top-level domain" (`icon@2x.png`), an address followed by `:` and a path (`git@github.com:org/repo.git`,
  `user@box.example.com:~$` prompts), or one followed by `(` / `[` (method calls on a matrix product).
  `ssh admin@server.example.com` is redacted (a user name at a host).
- IPv4: four dotted decimal groups, not glued to letters, digits, `_` or `.` (so `v2.0.0.1`, OIDs and
  longer dotted numbers are not), valid for `ipaddress` (octets <= 255, no leading zeros: `Chrome
  120.0.6099.109`, `1.2.003.4` are not). A valid dotted quad in version or numbering context is a version,
  not an address: the word right before it is a version or numbering keyword (`version 10.0.0.1`,
  `build`, `release`, `firmware`, `section 3.2.1.4`, `版本`, ...), it follows a version operator (`==`,
  `>=`, `~=`, `^`, ...) or a name joined by `-` or `/` (`pkg-1.2.3.4`, `Chrome/120.0.0.0` in user
  agents), or a pre-release suffix follows (`10.0.0.1-beta`). A quad without such context ("1.2.3.4" in
  prose, "Firefox 115.0.2.1") is redacted: a lost version number costs less than a leaked address. Quads
  of four one-digit numbers (`3.1.4.2` outline numbers and dental formulas; `1.1.1.1`, `8.8.8.8` public
  DNS resolvers) are kept: no such address belongs to a person.
- IPv6: hex groups with colons, valid for `ipaddress`, with at least two non-empty groups, a digit, and
  either three groups or a hex letter (`2001:db8::1`, `fe80::1`); so slices (`a[::2]`, `a[10::2]`), times
  (`12:30:45`), MAC addresses, `::1`/`::` and C++/Rust paths (`std::vector`, `add::bed`) are not.
- Phone: `phonenumbers.PhoneNumberMatcher` (leniency VALID, default region `safety.phone_region`), run only
  on windows around runs of 7+ digits that are not dates (a regex prefilter: text without them never pays
  for the matcher).
  Not a phone: a match glued to a letter, digit, `_`, `.`, `@`, `/`, `=`, `#` or `word-` (identifiers,
  URLs, floats, hashes); a bare run of digits (`x = 4155550132`, timestamps, loop constants) or a decimal
  number (`3.464101644`) unless a phone word (`tel`, `phone`, `call`, `fax`, `mobile`, `电话`, `手机`, ...)
  comes just before it; a one-digit group after the first two groups (table rows `5040 5 1 17 27`, `1 2 3
  4 5 6 7`; `+61 2 9876 5432`, `1 800 555 0199` and the trunk prefix in `+49 (0)40 890 85-433` are fine).
  Dates, ISBNs, UUIDs and card numbers are not valid numbers for the matcher.

Metrics namespace `safety`: `docs_in`, `kept`, `dropped:word_blocklist:<name>`, `redacted:email`,
`redacted:ip`, `redacted:phone` (spans).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from transforms.counters import CountingDoFn, StageCounters
from transforms.document import Document
from transforms.scripts import UNSPACED_CHAR

STAGE = "safety"
DETAIL_TERMS = 5                   # matched terms named in meta["drop_detail"]
PII_KINDS = ("email", "ip", "phone")
PLACEHOLDERS = {"email": "<EMAIL>", "ip": "<IP>", "phone": "<PHONE>"}
_LIST_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_INTERNATIONAL_ONLY = "ZZ"         # phonenumbers' unknown region: only numbers written with +<country code>


@dataclasses.dataclass(frozen=True)
class SafetyConfig:
    word_blocklists: Mapping[str, str] = dataclasses.field(default_factory=dict)  # list name -> resolved path
    word_blocklist_min_hits: int = 1   # distinct terms of one list that drop a document
    pii: bool = True                   # redact e-mail addresses, IP addresses and phone numbers
    phone_region: str = "US"           # default region for numbers written without +<country code>
    enabled: bool = True

    def __post_init__(self) -> None:
        lists = self.word_blocklists
        if not isinstance(lists, Mapping):
            raise ValueError(f"safety.word_blocklists: expected a mapping of list name -> file path, "
                             f"got {type(lists).__name__}")
        for name, path in lists.items():
            if not isinstance(name, str) or not _LIST_NAME.fullmatch(name):
                raise ValueError(f"safety.word_blocklists: list name {name!r} must be letters, digits, '_', '-' "
                                 f"or '.'")
            if not isinstance(path, str) or not path.strip():
                raise ValueError(f"safety.word_blocklists.{name}: expected a file path, got {path!r}")
        object.__setattr__(self, "word_blocklists", dict(sorted(lists.items())))
        min_hits = self.word_blocklist_min_hits
        if not isinstance(min_hits, int) or isinstance(min_hits, bool) or min_hits < 1:
            raise ValueError(f"safety.word_blocklist_min_hits: must be an integer >= 1, got {min_hits!r}")
        for key in ("pii", "enabled"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"safety.{key}: must be true or false, got {getattr(self, key)!r}")
        region = self.phone_region
        if not isinstance(region, str) or region not in _phone_regions():
            raise ValueError(f"safety.phone_region: unknown region {region!r}; use an ISO 3166 code that "
                             f"phonenumbers knows (e.g. 'US', 'GB', 'CN') or 'ZZ' for +<country code> numbers only")


def _phone_regions() -> frozenset[str]:
    import phonenumbers

    return frozenset(phonenumbers.SUPPORTED_REGIONS) | {_INTERNATIONAL_ONLY}


# ---------------------------------------------------------------- word blocklists (pure)

def normalize_term(term: str) -> str:
    """The matching form of a term or matched text: NFC, casefolded, whitespace runs -> one space."""
    return " ".join(unicodedata.normalize("NFC", term).casefold().split())


def parse_blocklist(text: str) -> tuple[str, ...]:
    """Distinct normalized terms in file order; blank lines and lines starting with `#` are skipped."""
    terms = (normalize_term(line) for line in text.splitlines() if not line.lstrip().startswith("#"))
    return tuple(dict.fromkeys(t for t in terms if t))


def load_blocklist(path: str, name: str = "") -> tuple[str, ...]:
    """Terms of one list file (local path or any Beam filesystem URI). Raises FileNotFoundError or
    ValueError with one line naming the list and the path."""
    from apache_beam.io.filesystems import FileSystems

    where = f"safety.word_blocklists.{name}" if name else "safety.word_blocklists"
    if not FileSystems.exists(path):
        raise FileNotFoundError(f"{where}: file not found: {path}")
    try:
        with FileSystems.open(path) as fh:
            text = fh.read().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{where}: {path} is not UTF-8 ({e.reason} at byte {e.start})") from None
    terms = parse_blocklist(text)
    if not terms:
        raise ValueError(f"{where}: {path} has no terms (only blank lines and # comments)")
    return terms


def load_blocklists(lists: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Every list of `safety.word_blocklists`, by name: what a launcher calls to fail before the run."""
    return {name: load_blocklist(path, name) for name, path in sorted(lists.items())}


_TRIE_FANOUT = 16
_U = UNSPACED_CHAR.pattern[1:-1]
# Whole words: no word character of a spaced script right before or after ("porn" in "看porn视频" is a word).
_NOT_AFTER_WORD = rf"(?<![^\W{_U}])"
_NOT_BEFORE_WORD = rf"(?![^\W{_U}])"


def _class_char(ch: str) -> str:
    return r"\s" if ch == " " else re.escape(ch)


def _trie_regex(terms: Iterable[str]) -> str:
    """One regex matching exactly the given terms, as a trie: shared prefixes are factored, and a term that
    is a prefix of another becomes an optional tail (greedy: the longest term is tried first). A space in
    a term matches any whitespace run."""
    root: dict[str, dict] = {}
    for term in terms:
        node = root
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        chars = sorted(ch for ch in node if ch)
        alts = [(r"\s+" if ch == " " else re.escape(ch)) + emit(node[ch]) for ch in chars]
        if not alts:
            return ""
        if len(alts) > _TRIE_FANOUT:
            # re tries the alternatives of a group one by one: split a wide node (the first characters of
            # thousands of Chinese terms) into groups behind a one-step character-class test.
            size = math.isqrt(len(alts) - 1) + 1
            alts = [f"(?=[{''.join(_class_char(c) for c in chars[i:i + size])}])(?:{'|'.join(alts[i:i + size])})"
                    for i in range(0, len(alts), size)]
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:
            return (f"(?:{body})" if len(alts) == 1 and len(body) > 1 else body) + "?"
        return body

    return emit(root)


@dataclasses.dataclass(frozen=True)
class BlocklistMatcher:
    """A compiled word list: one regex for whole-word terms and one for substring (unspaced-script) terms,
    each a trie inside a lookahead (zero-width matches, so overlapping terms are all found). The substring
    regex starts with a character-class guard on the terms' first characters, and runs only on text that
    has unspaced-script characters."""

    terms: tuple[str, ...]
    spaced: re.Pattern[str] | None
    unspaced: re.Pattern[str] | None

    @classmethod
    def of(cls, terms: Iterable[str]) -> BlocklistMatcher:
        terms = tuple(dict.fromkeys(t for t in map(normalize_term, terms) if t))
        spaced = [t for t in terms if not UNSPACED_CHAR.search(t)]
        unspaced = [t for t in terms if UNSPACED_CHAR.search(t)]
        spaced_re = (re.compile(rf"(?=({_NOT_AFTER_WORD}(?:{_trie_regex(spaced)}){_NOT_BEFORE_WORD}))")
                     if spaced else None)
        first = "".join(sorted({re.escape(t[0]) for t in unspaced}))
        unspaced_re = re.compile(rf"(?=[{first}])(?=({_trie_regex(unspaced)}))") if unspaced else None
        return cls(terms, spaced_re, unspaced_re)

    def find(self, folded: str) -> list[str]:
        """Distinct terms found in casefolded text (see `normalize_term`), in order of first occurrence."""
        hits: list[tuple[int, str]] = []
        if self.spaced is not None:
            hits += ((m.start(), m.group(1)) for m in self.spaced.finditer(folded))
        if self.unspaced is not None and UNSPACED_CHAR.search(folded):
            if hits:
                hits += ((m.start(), m.group(1)) for m in self.unspaced.finditer(folded))
                hits.sort(key=lambda hit: hit[0])
            else:
                hits = [(m.start(), m.group(1)) for m in self.unspaced.finditer(folded)]
        return list(dict.fromkeys(" ".join(term.split()) for _, term in hits))


def match_blocklists(text: str, matchers: Mapping[str, BlocklistMatcher]) -> dict[str, list[str]]:
    """Distinct terms of each list found in the text, by list name (sorted)."""
    if not matchers:
        return {}
    folded = unicodedata.normalize("NFC", text).casefold()
    return {name: matchers[name].find(folded) for name in sorted(matchers)}


# ---------------------------------------------------------------- PII (pure)

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})"
    r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9])")
_EMAIL_HINT = re.compile(r"[A-Za-z0-9._%+-]@[A-Za-z0-9]")
_FILE_EXTENSIONS = frozenset(
    "png jpg jpeg gif svg webp ico bmp tif tiff avif heic css scss js mjs cjs ts tsx jsx json yaml yml toml xml "
    "html htm txt csv pdf gz tgz bz2 xz whl tar".split())
_AFTER_EMAIL_NOT = re.compile(r":[\w/~.]|[(\[]")

_IPV4 = re.compile(r"\d(?<![A-Za-z0-9_.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?![A-Za-z0-9_]|\.\d|\.[A-Za-z])")
_IPV6 = re.compile(
    r"(?<![A-Za-z0-9_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
    r"(?![A-Za-z0-9_:]|\.\d)")
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")       # starts with a literal: re finds it with a fast scan
_HEX_LETTER = re.compile(r"[A-Fa-f]")
_VERSION_WORDS = (r"version|versions|ver|vers|v|release|rel|build|rev|revision|firmware|fw|patch|update|"
                  r"kernel|driver|bios|sdk|section|sec|chapter|figure|fig|table|clause|article|appendix|"
                  r"step|item|paragraph|para|eq|equation|theorem|lemma|§")
_VERSION_BEFORE = re.compile(
    rf"(?:(?<![A-Za-z0-9_])(?:{_VERSION_WORDS})\.?[\s:#(]*|(?:版本号?|第|章节)[\s:：]*"
    r"|(?:==|>=|<=|~=|!=|\^|~)\s*|[A-Za-z_][-/])$", re.IGNORECASE)
_VERSION_AFTER = re.compile(r"[-+.]?(?:alpha|beta|rc|dev|pre|post|snapshot|final)", re.IGNORECASE)
_CONTEXT_CHARS = 24

# 7+ digits with short separators, starting at a number (not inside one), not a date (2024-05-17, 5/17/2024).
_PHONE_HINT = re.compile(r"\d(?<!\d\d)(?<!\d[-./]\d)"        # a digit first: re skips to digits quickly
                         r"(?!\d{3}([-./])\d\d?\1\d\d?(?!\d)|\d?([-./])\d\d?\2\d{4}(?!\d))"
                         r"(?:[ \-.()/]{0,3}\d){6}")
_PHONE_WINDOW = 24
_DIGIT_GROUP = re.compile(r"\d+")
_WINDOW_CUT = re.compile(r"\s|[^\x00-\x7f]")
_DECIMAL = re.compile(r"\d+[.,]\d+")
_PHONE_BEFORE_NOT = re.compile(r"(?:[A-Za-z0-9_.@/=#]|[A-Za-z0-9]-)$")   # searched in the 2 characters before
_PHONE_AFTER_NOT = re.compile(r"[A-Za-z0-9_@]|[.\-/]\d")
_PHONE_WORD = re.compile(r"(?:tel|phone|call|fax|mobile|cell|whatsapp|电话|手机|联系|致电|热线|传真)\W{0,3}$",
                         re.IGNORECASE)


def _line_before(text: str, start: int) -> str:
    before = text[max(0, start - _CONTEXT_CHARS):start]
    return before.rpartition("\n")[2]


def _email_spans(text: str) -> Iterable[tuple[int, int]]:
    if "@" not in text or not _EMAIL_HINT.search(text):
        return
    for m in _EMAIL.finditer(text):
        if m.group(1).lower() in _FILE_EXTENSIONS or _AFTER_EMAIL_NOT.match(text, m.end()):
            continue
        yield m.span()


def _is_version(text: str, start: int, end: int) -> bool:
    return bool(_VERSION_BEFORE.search(_line_before(text, start)) or _VERSION_AFTER.match(text, end))


def _ipv4_spans(text: str) -> Iterable[tuple[int, int]]:
    for m in _IPV4.finditer(text):
        if len(m.group()) == 7:           # 1.1.1.1, 3.1.4.2: see the module docstring
            continue
        try:
            ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        if not _is_version(text, *m.span()):
            yield m.span()


def _ipv6_spans(text: str) -> Iterable[tuple[int, int]]:
    if not _IPV6_HINT.search(text):
        return
    for m in _IPV6.finditer(text):
        cand = m.group()
        groups = [g for g in re.split(r"[:.]", cand) if g]
        if len(groups) < 2 or not any(c.isdigit() for c in cand):
            continue
        if len(groups) < 3 and not _HEX_LETTER.search(cand):
            continue
        try:
            ipaddress.IPv6Address(cand)
        except ValueError:
            continue
        yield m.span()


def _phone_windows(text: str) -> list[tuple[int, int]]:
    """Merged character ranges around runs of 7+ digits, 24 characters each side widened to the next space
    or non-ASCII character (never cutting a number or a word in two), within the line."""
    windows: list[tuple[int, int]] = []
    for m in _PHONE_HINT.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.end())
        line_end = len(text) if line_end < 0 else line_end
        start = max(line_start, m.start() - _PHONE_WINDOW)
        while start > line_start and _WINDOW_CUT.match(text[start - 1]) is None:
            start -= 1
        end = min(line_end, m.end() + _PHONE_WINDOW)
        while end < line_end and _WINDOW_CUT.match(text[end]) is None:
            end += 1
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(end, windows[-1][1]))
        else:
            windows.append((start, end))
    return windows


def _phone_spans(text: str, region: str) -> Iterable[tuple[int, int]]:
    if not _PHONE_HINT.search(text):
        return
    import phonenumbers

    for w_start, w_end in _phone_windows(text):
        for m in phonenumbers.PhoneNumberMatcher(text[w_start:w_end], region):
            start, end = w_start + m.start, w_start + m.end
            raw = m.raw_string
            if sum(c.isdigit() for c in raw) < 7:
                continue
            if _PHONE_BEFORE_NOT.search(text, max(0, start - 2), start):
                continue
            if _PHONE_AFTER_NOT.match(text, end):
                continue
            if (raw.isdigit() or _DECIMAL.fullmatch(raw)) and not _PHONE_WORD.search(_line_before(text, start)):
                continue
            if any(len(g) == 1 for g in _DIGIT_GROUP.findall(raw.replace("(0)", ""))[2:]):
                continue
            yield start, end


def find_pii(text: str, phone_region: str = "US") -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) spans, sorted; on overlaps e-mail > IPv6 > IPv4 > phone."""
    taken: list[tuple[int, int, str]] = []
    detectors = (("email", _email_spans(text)), ("ip", _ipv6_spans(text)), ("ip", _ipv4_spans(text)),
                 ("phone", _phone_spans(text, phone_region)))
    for kind, spans in detectors:
        for start, end in spans:
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, kind))
    return sorted(taken)


def redact_pii(text: str, phone_region: str = "US") -> tuple[str, dict[str, int]]:
    """(text with each PII span replaced by its placeholder, spans per kind). Deterministic; every other
    character is kept as it was."""
    counts = dict.fromkeys(PII_KINDS, 0)
    spans = find_pii(text, phone_region)
    if not spans:
        return text, counts
    parts, pos = [], 0
    for start, end, kind in spans:
        parts += [text[pos:start], PLACEHOLDERS[kind]]
        counts[kind] += 1
        pos = end
    parts.append(text[pos:])
    return "".join(parts), counts


# ---------------------------------------------------------------- deciding (pure)

@dataclasses.dataclass(frozen=True)
class SafetyResult:
    scores: dict[str, float]
    reason: str | None                  # "word_blocklist:<name>" or None
    detail: str | None                  # matched terms of the list that dropped the document
    text: str                           # redacted text of a kept document (the input text if dropped)
    redacted: dict[str, int]            # PII spans per kind (empty when dropped or PII is off)


def check_safety(text: str, matchers: Mapping[str, BlocklistMatcher], cfg: SafetyConfig) -> SafetyResult:
    """Measure every list, drop on the first list (sorted by name) with >= min_hits distinct terms, else
    redact PII."""
    scores: dict[str, float] = {}
    reason = detail = None
    for name, found in match_blocklists(text, matchers).items():
        scores[f"blocklist:{name}"] = float(len(found))
        if reason is None and len(found) >= cfg.word_blocklist_min_hits:
            reason, detail = f"word_blocklist:{name}", ",".join(found[:DETAIL_TERMS])
    if reason is not None or not cfg.pii:
        return SafetyResult(scores, reason, detail, text, {})
    redacted_text, counts = redact_pii(text, cfg.phone_region)
    scores.update({f"pii_{kind}": float(n) for kind, n in counts.items()})
    return SafetyResult(scores, None, None, redacted_text, counts)


# ---------------------------------------------------------------- Beam

class _SafetyFn(CountingDoFn):
    def __init__(self, cfg: SafetyConfig) -> None:
        super().__init__()
        self._cfg = cfg
        self._counters = StageCounters(STAGE)
        self._matchers: dict[str, BlocklistMatcher] = {}

    def setup(self) -> None:
        lists = load_blocklists(self._cfg.word_blocklists) if self._cfg.enabled else {}
        self._matchers = {name: BlocklistMatcher.of(terms) for name, terms in lists.items()}

    def process(self, doc: Document) -> Iterable[Any]:
        self._counters.inc("docs_in")
        if not self._cfg.enabled:
            self._counters.inc("kept")
            yield doc
            return
        result = check_safety(doc.text, self._matchers, self._cfg)
        scores = {**doc.scores, **result.scores}
        if result.reason is not None:
            self._counters.inc(f"dropped:{result.reason}")
            doc = doc.replace(scores=scores)
            yield pvalue.TaggedOutput(FilterSafety.REJECTED, doc.dropped(STAGE, result.reason, result.detail or ""))
            return
        for kind, n in result.redacted.items():
            if n:
                self._counters.inc(f"redacted:{kind}", n)
        self._counters.inc("kept")
        yield doc.replace(text=result.text, scores=scores)


class FilterSafety(beam.PTransform):
    """Drops documents with blocklisted words, redacts PII in the rest. Outputs: main = kept,
    REJECTED = dropped (`safety:word_blocklist:<name>`)."""

    REJECTED = "rejected"

    def __init__(self, cfg: SafetyConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        return docs | "BlocklistAndRedact" >> beam.ParDo(_SafetyFn(self._cfg)).with_outputs(
            self.REJECTED, main="kept")
