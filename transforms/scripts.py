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
_VARIANT_SAMPLE_CHARS = 1_000  # Han characters looked at for Simplified vs Traditional
_ASCII_LETTER = re.compile("[A-Za-z]")
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
    traditional = sum(map(str.__ne__, han, _opencc("t2s").convert(han)))  # map: C-speed comparison
    simplified = sum(map(str.__ne__, han, _opencc("s2t").convert(han)))
    return "Hant" if traditional > simplified else "Hans"


def detect_script(text: str) -> str:
    """Dominant script: Jpan when kana appear beside Han, Kore for Hangul, Hans or Hant for other Han
    text, else the most frequent script; Zyyy if none."""
    sample = text[:_SCRIPT_SAMPLE_CHARS]
    if sample.isascii():
        return "Latn" if _ASCII_LETTER.search(sample) else "Zyyy"
    counts = script_counts(sample)
    if not counts:
        return "Zyyy"
    han, kana, hang = counts.get("Hani", 0), counts.get("Kana", 0), counts.get("Hang", 0)
    top = max(sorted(counts), key=lambda k: counts[k])
    if top == "Latn" and han + kana + hang >= 0.25 * sum(counts.values()):
        # Chinese or Japanese with Latin names: one Han character carries what a Latin word does
        top = max(("Hani", "Kana", "Hang"), key=lambda k: counts.get(k, 0))
    if top in ("Hani", "Kana") and kana >= 0.05 * (han + kana):
        return "Jpan"
    if top in ("Hani", "Hang") and hang > han:
        return "Kore"
    if top == "Hani":
        return chinese_variant(text) or "Hani"
    return top


# Languages written in one script (as lid.176 sees them). For a confident prediction of one of these the
# script follows from the language; Chinese (Hans/Hant), Japanese, Korean, languages written in several
# scripts (sr, uz, kk, az, pa, ms, ...) and low-confidence predictions are read from the text.
_LANGUAGE_SCRIPT = {
    **dict.fromkeys("af an ast br ca ceb cs cy da de en eo es et eu fi fr fy ga gd gl hr ht hu id io is it jv "
                    "la lb lt lv mg min mt nds nl nn no oc pl pt qu rm ro sc sco sk sl sq su sv sw tl tr vec "
                    "vi wa war yo ia ie ilo pam vls fo frr li lmo nap pms scn wuu_latn".split(), "Latn"),
    **dict.fromkeys("ru uk be bg mk ba ce cv kv os sah tt tyv xal myv mhr mrj krc lez".split(), "Cyrl"),
    **dict.fromkeys("ar fa ur ps ckb arz azb mzn lrc glk".split(), "Arab"),
    **dict.fromkeys("he yi".split(), "Hebr"),
    "el": "Grek", "th": "Thai",
    **dict.fromkeys("hi mr ne sa new mai bh bpy dty gom".split(), "Deva"),
    **dict.fromkeys("bn as".split(), "Beng"),
    "ka": "Geor", "xmf": "Geor", "hy": "Armn", "am": "Ethi", "ta": "Taml", "te": "Telu", "kn": "Knda",
    "ml": "Mlym", "gu": "Gujr", "or": "Orya", "si": "Sinh", "km": "Khmr", "lo": "Laoo", "my": "Mymr",
    "bo": "Tibt", "dv": "Thaa",
}
_LANGUAGE_SCRIPT_MIN_SCORE = 0.5


_CHINESE = frozenset({"zh", "yue", "wuu", "gan", "hak", "lzh"})


def document_script(text: str, lang: str, score: float) -> str:
    """The script of a labelled document: from the language when it is confidently one of the
    single-script languages above; for confident Chinese, Hans or Hant from its characters; Jpan for
    confident Japanese with kana, Kore for confident Korean with Hangul (a Chinese text that lid.176
    calls `ja` has no kana and is read in full); else from the text (detect_script)."""
    if score >= _LANGUAGE_SCRIPT_MIN_SCORE:
        if script := _LANGUAGE_SCRIPT.get(lang):
            return script
        if lang in _CHINESE and (variant := chinese_variant(text)):
            return variant
        if lang == "ja" and _PATTERNS["Kana"].search(text, 0, _SCRIPT_SAMPLE_CHARS):
            return "Jpan"
        if lang == "ko" and _PATTERNS["Hang"].search(text, 0, _SCRIPT_SAMPLE_CHARS):
            return "Kore"
    return detect_script(text)


def has_ascii_letter(text: str) -> bool:
    return _ASCII_LETTER.search(text) is not None


def has_cjk_or_hangul(text: str) -> bool:
    return _CJK_OR_HANGUL.search(text) is not None


def line_script_class(line: str) -> str:
    """A coarse class of a line, for cutting documents where the writing system changes: "cjk" when its
    Han, kana and Hangul characters, each worth about three Latin letters, outweigh its ASCII letters
    ("Juddy 看着我。" is Chinese), else "other". One regex search for lines without any."""
    if not _CJK_OR_HANGUL.search(line):
        return "other"
    return "cjk" if 3 * len(_CJK_OR_HANGUL.findall(line)) >= len(_ASCII_LETTER.findall(line)) else "other"


def is_unspaced(text: str) -> bool:
    """True when unspaced-script characters make up more than 30% of the non-space characters."""
    sample = text[:_SAMPLE_CHARS]
    nonspace = len(sample) - sample.count(" ") - sample.count("\n")
    return nonspace > 0 and len(UNSPACED_CHAR.findall(sample)) > 0.3 * nonspace
