"""Writing-system detection (ISO 15924 codes), shared by language ID, rules and near-dedup.

Unspaced scripts (Han, kana, Thai, ...) have no whitespace between words, so word-based measures must
count characters instead; this module says which characters those are.

Simplified vs Traditional Chinese is decided by the text itself (lid.176 says `zh` for both): a
character that OpenCC's Traditional->Simplified table changes is Traditional-only, one that its
Simplified->Traditional table changes is Simplified-only; the side with more such characters wins
(ties, including text of shared characters only, say Hans).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

# Character classes by script. Han covers CJK Unified Ideographs, Extension A, Compatibility, Ext B+.
_RANGES = {
    "Hani": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f",
    "Kana": "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f",
    "Hang": "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af",
    "Thai": "\u0e00-\u0e7f",
    "Latn": "A-Za-z\u00c0-\u024f\u1e00-\u1eff",
    "Cyrl": "\u0400-\u04ff",
    "Arab": "\u0600-\u06ff\u0750-\u077f",
    "Grek": "\u0370-\u03ff",
    "Hebr": "\u0590-\u05ff",
    "Deva": "\u0900-\u097f",
}
_PATTERNS = {name: re.compile(f"[{chars}]") for name, chars in _RANGES.items()}
_CJK_OR_HANGUL = re.compile(f"[{_RANGES['Hani']}{_RANGES['Kana']}{_RANGES['Hang']}]")
_SCRIPT_SAMPLE_CHARS = 1_000  # the dominant script of a document is settled long before
_VARIANT_SAMPLE_CHARS = 5_000  # Simplified vs Traditional needs more evidence
UNSPACED_CHAR = re.compile(f"[{_RANGES['Hani']}{_RANGES['Kana']}{_RANGES['Thai']}]")
UNSPACED_SCRIPTS = frozenset({"Hani", "Hans", "Hant", "Jpan", "Thai"})
_SAMPLE_CHARS = 20_000


def _class_ranges(chars: str) -> Iterator[int]:
    """Code points of a regex character class body such as "A-Za-z\u00c0-\u024f"."""
    i = 0
    while i < len(chars):
        if i + 2 < len(chars) and chars[i + 1] == "-":
            yield from range(ord(chars[i]), ord(chars[i + 2]) + 1)
            i += 3
        else:
            yield ord(chars[i])
            i += 1


@functools.lru_cache(maxsize=1)
def _script_table() -> tuple[dict[int, str], dict[str, str]]:
    """str.translate table: each character of a known script -> one letter naming the script."""
    letters = {name: chr(ord("a") + i) for i, name in enumerate(_RANGES)}
    table = {cp: letters[name] for name, chars in _RANGES.items() for cp in _class_ranges(chars)}
    return table, {v: k for k, v in letters.items()}


def script_counts(text: str) -> dict[str, int]:
    """Characters per script in the first 1,000 characters (one translate pass, then counts)."""
    table, names = _script_table()
    coded = text[:_SCRIPT_SAMPLE_CHARS].translate(table)
    return {names[letter]: n for letter in sorted(names) if (n := coded.count(letter))}


@functools.lru_cache(maxsize=2)
def _opencc(config: str):  # noqa: ANN202 - opencc has no type stubs
    import opencc

    return opencc.OpenCC(config)


def chinese_variant(text: str) -> str | None:
    """"Hans" or "Hant" for text with Han characters, None without any."""
    han = "".join(_PATTERNS["Hani"].findall(text[:_VARIANT_SAMPLE_CHARS]))
    if not han:
        return None
    traditional = sum(a != b for a, b in zip(han, _opencc("t2s").convert(han), strict=False))
    simplified = sum(a != b for a, b in zip(han, _opencc("s2t").convert(han), strict=False))
    return "Hant" if traditional > simplified else "Hans"


def detect_script(text: str) -> str:
    """Dominant script: Jpan when kana appear beside Han, Kore for Hangul, Hans or Hant for other Han
    text, else the most frequent script; Zyyy if none."""
    counts = script_counts(text)
    if not counts:
        return "Zyyy"
    han, kana, hang = counts.get("Hani", 0), counts.get("Kana", 0), counts.get("Hang", 0)
    top = max(sorted(counts), key=lambda k: counts[k])
    if top in ("Hani", "Kana") and kana >= 0.05 * (han + kana):
        return "Jpan"
    if top in ("Hani", "Hang") and hang > han:
        return "Kore"
    if top == "Hani":
        return chinese_variant(text) or "Hani"
    return top


def has_cjk_or_hangul(text: str) -> bool:
    return _CJK_OR_HANGUL.search(text) is not None


def line_script_class(line: str) -> str:
    """A coarse class of a line, for cutting documents where the writing system changes: "cjk" when Han,
    kana or Hangul make up a third of it or more, else "other". One regex search for most lines."""
    if not _CJK_OR_HANGUL.search(line):
        return "other"
    return "cjk" if 3 * len(_CJK_OR_HANGUL.findall(line)) >= len(line) else "other"


def is_unspaced(text: str) -> bool:
    """True when unspaced-script characters make up more than 30% of the non-space characters."""
    sample = text[:_SAMPLE_CHARS]
    nonspace = len(sample) - sample.count(" ") - sample.count("\n")
    return nonspace > 0 and len(UNSPACED_CHAR.findall(sample)) > 0.3 * nonspace
