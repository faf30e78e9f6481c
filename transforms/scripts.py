"""Writing-system detection (ISO 15924 codes), shared by language ID, rules and near-dedup.

Unspaced scripts (Han, kana, Thai, ...) have no whitespace between words, so word-based measures must
count characters instead; this module says which characters those are.
"""

from __future__ import annotations

import re

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
UNSPACED_CHAR = re.compile(f"[{_RANGES['Hani']}{_RANGES['Kana']}{_RANGES['Thai']}]")
UNSPACED_SCRIPTS = frozenset({"Hani", "Hans", "Hant", "Jpan", "Thai"})
_SAMPLE_CHARS = 20_000


def script_counts(text: str) -> dict[str, int]:
    sample = text[:_SAMPLE_CHARS]
    return {name: n for name, pat in _PATTERNS.items() if (n := len(pat.findall(sample)))}


def detect_script(text: str) -> str:
    """Dominant script: Jpan when kana appear beside Han, Kore for Hangul, Hani for other Han text
    (Simplified vs Traditional is decided in issue #3), else the most frequent script; Zyyy if none."""
    counts = script_counts(text)
    if not counts:
        return "Zyyy"
    han, kana, hang = counts.get("Hani", 0), counts.get("Kana", 0), counts.get("Hang", 0)
    top = max(sorted(counts), key=lambda k: counts[k])
    if top in ("Hani", "Kana") and kana >= 0.05 * (han + kana):
        return "Jpan"
    if top in ("Hani", "Hang") and hang > han:
        return "Kore"
    return top


def is_unspaced(text: str) -> bool:
    """True when unspaced-script characters make up more than 30% of the non-space characters."""
    sample = text[:_SAMPLE_CHARS]
    nonspace = len(sample) - sample.count(" ") - sample.count("\n")
    return nonspace > 0 and len(UNSPACED_CHAR.findall(sample)) > 0.3 * nonspace
