"""FilterRules: versioned heuristic rule sets; measurements kept on the document, decisions separate.

Input/output: `Document` (after language ID) with `scores` extended by every measurement of the rule
sets that apply to its source; tagged `REJECTED`: documents marked `rules:<reason>` (the first failing
check, in the order below). `c4_v1` (when its `filter_lines` is on) also rewrites the text: it keeps
only the lines C4 keeps, and the other rule sets measure what is left.

Rule sets (a behaviour change gets a new name, so old configs stay reproducible):
- `gopher_quality_v1`: Rae et al. 2021 ("Scaling Language Models: Methods, Analysis & Insights from
  Training Gopher"), Appendix A.1.1: 50-100,000 words, mean word length 3-10, symbol/word <= 0.1,
  bullet lines <= 0.9, ellipsis lines <= 0.3, >= 80% of words with an alphabetic character, >= 2 stop
  words.
- `gopher_repetition_v1`: Rae et al. 2021, Table A1: duplicate line/paragraph fractions 0.3/0.3, their
  character fractions 0.2/0.2, top n-gram character fraction 2:0.20 3:0.18 4:0.16, duplicate n-gram
  character fraction 5:0.15 6:0.14 7:0.13 8:0.12 9:0.11 10:0.10.
- `fineweb_v1`: Penedo et al. 2024 (FineWeb), custom filters: lines ending in punctuation >= 0.12,
  short lines (< 30 chars) <= 0.67, duplicated line characters <= 0.01, newlines/words <= 0.3.
- `c4_v1`: Raffel et al. 2020 (T5), section 2.2 "Colossal Clean Crawled Corpus": keep only lines that end
  in terminal punctuation, have >= 5 words (3 for the line, as in the paper's >= 5-word rule, counted
  CJK-aware) and mention neither "javascript" nor a cookie/terms/privacy notice; remove citation markers
  ([1], [citation needed]); drop pages with < 3 sentences left, "lorem ipsum" or a curly bracket. C4's
  bad-words list is the safety stage's word blocklist; its 3-sentence span dedup is paragraph dedup.
- `code_v1`: the source-code filters of Chen et al. 2021 (Codex), section 3.1 (mean line length > 100,
  maximum line length > 1000, alphanumeric fraction < 0.25, auto-generated files) and Li et al. 2023
  (StarCoder), section 3 (encoded data: base64/hex/unicode-escape runs holding > 50% of the file), plus
  at least 3 non-blank lines. Prose rules reject code (symbols, short lines, no stop words), so code
  sources get `code_v1` instead (`rules.by_source`).

Language-aware measurement. In unspaced scripts (Han, kana, Thai) each character is a token (trailing
punctuation attached), and the word count used by `min_words`/`max_words` is spaced words + unspaced
characters / 1.5 (the mean length of a Chinese word is about 1.5 characters), so a 75-character Chinese
text counts as 50 words. The n-gram repetition rules look at round(2 n)-character n-grams in
mostly-unspaced documents: calibrated on the 1,104 Chinese Wikipedia passages of CMRC 2018, 5-character
n-grams flag 60 clean passages (repeated names: 东吴大学香港同学会), 1.5 n flags 25, 2 n flags 8 (0.7%).
Words made only of punctuation or symbols (WikiText's spaced " , " and " @-@ ") are not words for the
alphabetic-word ratio. Mean word length is measured over spaced words only and checked only when they are
at least half the tokens. In a mostly-unspaced document a line that holds a full sentence (。！？ inside
it) counts as ending in punctuation and is not an "ellipsis line": Chinese passages are long one-line
paragraphs that are often cut mid-sentence, while Chinese menus and link lists hold no sentence at all.
Stop words per language (`STOP_WORDS`: Gopher's English list; for other languages the 8 most frequent
function words, characters for Chinese and Japanese); languages without a list skip the check.
Per-language thresholds: `rules.by_language.<lang>.<rule set>` overrides fields of the top-level rule
set config for documents of that language (pipeline/config.py merges them).
Metrics namespace `rules`: `docs_in`, `kept`, `dropped:<reason>`.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from transforms.counters import CountingDoFn, StageCounters
from transforms.document import Document
from transforms.scripts import UNSPACED_CHAR

STAGE = "rules"
_U = UNSPACED_CHAR.pattern[1:-1]
_TOKEN = re.compile(f"[{_U}][^\\s\\w]*|[^\\s{_U}]+")
_UNSPACED_WORD_CHARS = 1.5     # characters per word in Chinese, for word counts
_UNSPACED_NGRAM_CHARS = 2.0    # characters per word for n-gram repetition (calibrated, see above)
_SENTENCE_END_CJK = re.compile("[。！？!?]")
_PUNCT_ONLY = re.compile(r"^[\W_]+$")
_STRIP = "".join(chr(c) for c in range(0x80) if not chr(c).isalnum()) + "“”‘’«»…"
_BULLETS = ("•", "‣", "○", "●", "◦", "·", "-", "*", "▪", "►")
_ELLIPSES = ("...", "…")
_END_PUNCT = tuple(".!?\"'”’)]}:;。！？…」』）")
STOP_WORDS: Mapping[str, frozenset[str]] = {
    "en": frozenset({"the", "be", "to", "of", "and", "that", "have", "with"}),   # Rae et al. 2021
    "zh": frozenset("的了是在和有我不这就也人他们"),
    "ja": frozenset("のにはをたがでてとし"),
    "de": frozenset({"der", "die", "und", "in", "den", "von", "zu", "das"}),
    "fr": frozenset({"de", "la", "le", "et", "les", "des", "en", "un"}),
    "es": frozenset({"de", "la", "que", "el", "en", "y", "los", "del"}),
    "it": frozenset({"di", "e", "il", "la", "che", "in", "per", "un"}),
    "pt": frozenset({"de", "a", "o", "que", "e", "do", "da", "em"}),
    "nl": frozenset({"de", "en", "van", "het", "een", "in", "is", "dat"}),
    "ru": frozenset({"и", "в", "не", "на", "что", "с", "по", "это"}),
}


@dataclasses.dataclass(frozen=True)
class GopherQualityConfig:
    min_words: int = 50              # Rae et al. 2021, A.1.1
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    min_alpha_words_ratio: float = 0.8
    min_stop_words: int = 2


@dataclasses.dataclass(frozen=True)
class GopherRepetitionConfig:
    max_dup_line_frac: float = 0.3   # Rae et al. 2021, Table A1
    max_dup_para_frac: float = 0.3
    max_dup_line_char_frac: float = 0.2
    max_dup_para_char_frac: float = 0.2
    max_top_ngram_char_frac: Mapping[int, float] = dataclasses.field(
        default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16})
    max_dup_ngram_char_frac: Mapping[int, float] = dataclasses.field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10})


@dataclasses.dataclass(frozen=True)
class FinewebConfig:
    min_line_punct_ratio: float = 0.12   # Penedo et al. 2024, FineWeb custom filters
    max_short_line_ratio: float = 0.67
    short_line_chars: int = 30
    max_dup_line_char_ratio: float = 0.01
    max_newline_word_ratio: float = 0.3


@dataclasses.dataclass(frozen=True)
class C4Config:
    filter_lines: bool = True            # Raffel et al. 2020, 2.2: keep only the lines C4 keeps
    min_line_words: int = 5
    min_sentences: int = 3
    drop_lorem_ipsum: bool = True
    drop_curly_bracket: bool = True
    policy_phrases: tuple[str, ...] = ("terms of use", "privacy policy", "cookie policy", "uses cookies",
                                       "use of cookies", "use cookies")


@dataclasses.dataclass(frozen=True)
class CodeConfig:
    max_mean_line_length: float = 100.0  # Chen et al. 2021 (Codex), 3.1
    max_line_length: int = 1000
    min_alnum_fraction: float = 0.25
    drop_autogenerated: bool = True
    max_encoded_fraction: float = 0.5    # Li et al. 2023 (StarCoder), 3
    min_lines: int = 3


@dataclasses.dataclass(frozen=True)
class LanguageRules:
    """Per-language thresholds; pipeline/config.py fills each field from the top-level rule set config
    merged with the language's overrides (None = the top-level one)."""

    gopher_quality_v1: GopherQualityConfig | None = None
    gopher_repetition_v1: GopherRepetitionConfig | None = None
    fineweb_v1: FinewebConfig | None = None
    c4_v1: C4Config | None = None
    code_v1: CodeConfig | None = None


@dataclasses.dataclass(frozen=True)
class RulesConfig:
    default: tuple[str, ...] = ("gopher_quality_v1", "gopher_repetition_v1", "fineweb_v1")
    by_source: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    by_language: Mapping[str, LanguageRules] = dataclasses.field(default_factory=dict)
    gopher_quality_v1: GopherQualityConfig = GopherQualityConfig()
    gopher_repetition_v1: GopherRepetitionConfig = GopherRepetitionConfig()
    fineweb_v1: FinewebConfig = FinewebConfig()
    c4_v1: C4Config = C4Config()
    code_v1: CodeConfig = CodeConfig()

    def __post_init__(self) -> None:
        for where, names in [("default", self.default), *self.by_source.items()]:
            for name in names:
                if name not in RULE_SETS:
                    raise ValueError(f"rules.{where}: unknown rule set {name!r}; known: {sorted(RULE_SETS)}")

    def rule_sets_for(self, source: str) -> tuple[str, ...]:
        return self.by_source.get(source, self.default)

    def for_language(self, lang: str | None) -> RulesConfig:
        """This config with the language's threshold overrides applied (itself when there are none)."""
        overrides = self.by_language.get(lang or "")
        if overrides is None:
            return self
        changes = {f.name: getattr(overrides, f.name) for f in dataclasses.fields(overrides)
                   if getattr(overrides, f.name) is not None}
        return dataclasses.replace(self, by_language={}, **changes)


# ---------------------------------------------------------------- measuring (pure)

def tokenize_words(text: str) -> list[str]:
    """Whitespace words; in unspaced scripts one token per character (with trailing punctuation)."""
    return _TOKEN.findall(text)


@dataclasses.dataclass(frozen=True)
class TextView:
    """A document tokenized once for every rule set."""

    text: str
    words: list[str]
    unspaced: int          # tokens that are one unspaced-script character

    @classmethod
    def of(cls, text: str) -> TextView:
        # Each unspaced character starts exactly one token, so one regex pass counts those tokens.
        return cls(text, tokenize_words(text), len(UNSPACED_CHAR.findall(text)))

    @property
    def spaced_words(self) -> list[str]:
        if not self.unspaced:
            return self.words
        return [w for w in self.words if not UNSPACED_CHAR.match(w)]

    @property
    def mostly_unspaced(self) -> bool:
        return self.unspaced > len(self.words) / 2

    @property
    def n_words(self) -> float:
        """Spaced words + unspaced characters / 1.5 (see the module docstring)."""
        return len(self.spaced_words) + self.unspaced / _UNSPACED_WORD_CHARS


def _holds_sentence(line: str, unspaced: bool) -> bool:
    """In mostly-unspaced text, a line with a sentence end inside it is prose (see the module docstring)."""
    return unspaced and _SENTENCE_END_CJK.search(line) is not None


def measure_gopher_quality(view: TextView, lang: str | None) -> dict[str, float]:
    text, words = view.text, view.words
    spaced = view.spaced_words
    spaced_lengths = [len(w) for w in spaced if any(map(str.isalnum, w))]
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    n_lines = max(len(lines), 1)
    n_words = view.n_words
    unspaced = view.mostly_unspaced
    real_words = [w for w in words if not _PUNCT_ONLY.match(w)]
    scores = {
        "n_words": round(n_words, 2),
        "mean_word_length": round(sum(spaced_lengths) / len(spaced_lengths), 4)
        if spaced_lengths and len(spaced) >= len(words) / 2 else -1.0,
        "symbol_word_ratio": round((text.count("#") + sum(text.count(e) for e in _ELLIPSES))
                                   / max(n_words, 1), 4),
        "bullet_lines_ratio": round(sum(ln.startswith(_BULLETS) for ln in lines) / n_lines, 4),
        "ellipsis_lines_ratio": round(sum(ln.endswith(_ELLIPSES) and not _holds_sentence(ln, unspaced)
                                          for ln in lines) / n_lines, 4),
        "alpha_words_ratio": round(sum(any(map(str.isalpha, w)) for w in real_words) / max(len(real_words), 1), 4),
    }
    stop = STOP_WORDS.get(lang or "")
    if stop is not None:
        vocab = {w.lower().strip(_STRIP) for w in spaced}
        if view.unspaced:
            vocab |= {w[0] for w in words if UNSPACED_CHAR.match(w)}
        scores["stop_words"] = float(len(stop & vocab))
    return scores


def _dup_stats(items: list[str]) -> tuple[int, int]:
    """(number of items equal to an earlier one, their characters)."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def _ngrams(words: list[str], n: int) -> Iterable[tuple[str, ...]]:
    return zip(*(words[i:] for i in range(n)), strict=False)


def _top_ngram_char_frac(words: list[str], n: int, total_chars: int) -> float:
    grams = Counter(_ngrams(words, n))
    if not grams:
        return 0.0
    gram, count = max(grams.items(), key=lambda kv: (kv[1], kv[0]))
    return sum(len(w) for w in gram) * count / total_chars if count > 1 else 0.0


def _dup_ngram_char_frac(words: list[str], prefix: list[int], n: int, total_chars: int) -> float:
    """Characters of words covered by n-grams that occur more than once (Gopher's definition).
    `prefix[i]` = characters of words[:i]; covered spans are merged as the scan moves right."""
    seen: set[tuple[str, ...]] = set()
    covered = covered_end = 0
    for i, gram in enumerate(_ngrams(words, n)):
        if gram in seen:
            start = max(i, covered_end)
            covered += prefix[i + n] - prefix[start]
            covered_end = i + n
        else:
            seen.add(gram)
    return covered / total_chars


def measure_gopher_repetition(view: TextView, cfg: GopherRepetitionConfig) -> dict[str, float]:
    text, words = view.text, view.words
    lines = [ln for ln in text.split("\n") if ln.strip()]
    paras = [p for p in re.split(r"\n{2,}", text) if p.strip()]
    prefix = [0, *itertools.accumulate(map(len, words))]
    total_chars = max(prefix[-1], 1)
    dup_lines, dup_line_chars = _dup_stats(lines)
    dup_paras, dup_para_chars = _dup_stats(paras)
    scores = {
        "dup_line_frac": dup_lines / max(len(lines), 1),
        "dup_para_frac": dup_paras / max(len(paras), 1),
        "dup_line_char_frac": dup_line_chars / max(len(text), 1),
        "dup_para_char_frac": dup_para_chars / max(len(text), 1),
    }
    # In unspaced text a token is one character: an n-word rule looks at n-grams of round(2 n) characters,
    # so repeated names (a 9-character organisation name) are not "spam" (calibration in the docstring).
    scale = _UNSPACED_NGRAM_CHARS if view.mostly_unspaced else 1.0
    for n in sorted(cfg.max_top_ngram_char_frac):
        scores[f"top_{n}gram_char_frac"] = _top_ngram_char_frac(words, round(n * scale), total_chars)
    for n in sorted(cfg.max_dup_ngram_char_frac):
        scores[f"dup_{n}gram_char_frac"] = _dup_ngram_char_frac(words, prefix, round(n * scale), total_chars)
    return {k: round(v, 4) for k, v in scores.items()}


def measure_fineweb(view: TextView, cfg: FinewebConfig) -> dict[str, float]:
    text = view.text
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    n_lines = max(len(lines), 1)
    _, dup_chars = _dup_stats(lines)
    unspaced = view.mostly_unspaced
    return {
        "line_punct_ratio": round(sum(ln.endswith(_END_PUNCT) or _holds_sentence(ln, unspaced) for ln in lines)
                                  / n_lines, 4),
        "short_line_ratio": round(sum(len(ln) < cfg.short_line_chars for ln in lines) / n_lines, 4),
        "dup_line_char_ratio": round(dup_chars / max(sum(len(ln) for ln in lines), 1), 4),
        "newline_word_ratio": round(text.count("\n") / max(len(view.words), 1), 4),
    }


# ---------------------------------------------------------------- deciding (pure)

def decide_gopher_quality(s: Mapping[str, float], c: GopherQualityConfig) -> str | None:
    if s["n_words"] < c.min_words:
        return "too_few_words"
    if s["n_words"] > c.max_words:
        return "too_many_words"
    if s["mean_word_length"] >= 0 and not c.min_mean_word_length <= s["mean_word_length"] <= c.max_mean_word_length:
        return "mean_word_length"
    if s["symbol_word_ratio"] > c.max_symbol_word_ratio:
        return "symbol_ratio"
    if s["bullet_lines_ratio"] > c.max_bullet_lines_ratio:
        return "bullet_lines"
    if s["ellipsis_lines_ratio"] > c.max_ellipsis_lines_ratio:
        return "ellipsis_lines"
    if s["alpha_words_ratio"] < c.min_alpha_words_ratio:
        return "alpha_words"
    if "stop_words" in s and s["stop_words"] < c.min_stop_words:
        return "stop_words"
    return None


def decide_gopher_repetition(s: Mapping[str, float], c: GopherRepetitionConfig) -> str | None:
    checks = [("dup_line_frac", c.max_dup_line_frac), ("dup_para_frac", c.max_dup_para_frac),
              ("dup_line_char_frac", c.max_dup_line_char_frac), ("dup_para_char_frac", c.max_dup_para_char_frac)]
    checks += [(f"top_{n}gram_char_frac", t) for n, t in sorted(c.max_top_ngram_char_frac.items())]
    checks += [(f"dup_{n}gram_char_frac", t) for n, t in sorted(c.max_dup_ngram_char_frac.items())]
    for name, limit in checks:
        if s[name] > limit:
            return name
    return None


def decide_fineweb(s: Mapping[str, float], c: FinewebConfig) -> str | None:
    if s["line_punct_ratio"] < c.min_line_punct_ratio:
        return "line_punct_ratio"
    if s["short_line_ratio"] > c.max_short_line_ratio:
        return "short_line_ratio"
    if s["dup_line_char_ratio"] > c.max_dup_line_char_ratio:
        return "dup_line_char_ratio"
    if s["newline_word_ratio"] > c.max_newline_word_ratio:
        return "newline_word_ratio"
    return None


_C4_END = tuple('.!?"') + tuple("。！？”」』")
_CITATION = re.compile(r"\[(?:\d+|citation needed|edit|update)\]", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)|[。！？]+")


def c4_lines(text: str, cfg: C4Config) -> tuple[list[str], int]:
    """(the lines C4 keeps, the number of non-blank lines): terminal punctuation, >= min_line_words words
    (CJK-aware), no "javascript", no policy notice; citation markers removed."""
    kept, n_lines = [], 0
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        n_lines += 1
        line = _CITATION.sub("", line).strip()
        lower = line.lower()
        if not line.endswith(_C4_END) or "javascript" in lower or any(p in lower for p in cfg.policy_phrases):
            continue
        if TextView.of(line).n_words < cfg.min_line_words:
            continue
        kept.append(line)
    return kept, n_lines


def measure_c4(view: TextView, cfg: C4Config) -> tuple[dict[str, float], str]:
    """(measurements, the text C4 would keep)."""
    kept, n_lines = c4_lines(view.text, cfg)
    kept_text = "\n".join(kept)
    lower = view.text.lower()
    return {
        "c4_line_frac": round(len(kept) / max(n_lines, 1), 4),
        "c4_sentences": float(len(_SENTENCE_END.findall(kept_text))),
        "c4_lorem_ipsum": float("lorem ipsum" in lower),
        "c4_curly_bracket": float("{" in view.text),
    }, kept_text


def decide_c4(s: Mapping[str, float], c: C4Config) -> str | None:
    if c.drop_curly_bracket and s["c4_curly_bracket"]:
        return "curly_bracket"
    if c.drop_lorem_ipsum and s["c4_lorem_ipsum"]:
        return "lorem_ipsum"
    if s["c4_sentences"] < c.min_sentences:
        return "too_few_sentences"
    return None


_AUTOGENERATED = re.compile(r"auto-?generated|automatically generated|generated by|do not edit", re.IGNORECASE)
_ENCODED = re.compile(  # StarCoder's base64, hex and unicode-escape runs
    r"[a-zA-Z0-9+/\n=]{64,}|(?:\b(?:0x|\\x)?[0-9a-fA-F]{2}(?:,|\b\s*)){8,}|(?:\\u[0-9a-fA-F]{4}){8,}")


def measure_code(view: TextView, cfg: CodeConfig) -> dict[str, float]:
    text = view.text
    lines = text.rstrip("\n").split("\n")
    lengths = [len(ln) for ln in lines]
    return {
        "code_lines": float(sum(1 for ln in lines if ln.strip())),
        "mean_line_length": round(sum(lengths) / max(len(lengths), 1), 4),
        "max_line_length": float(max(lengths, default=0)),
        "alnum_fraction": round(sum(map(str.isalnum, text)) / max(len(text), 1), 4),
        "autogenerated": float(bool(_AUTOGENERATED.search("\n".join(lines[:5])))),
        "encoded_fraction": round(sum(len(m) for m in _ENCODED.findall(text)) / max(len(text), 1), 4),
    }


def decide_code(s: Mapping[str, float], c: CodeConfig) -> str | None:
    if s["code_lines"] < c.min_lines:
        return "too_few_lines"
    if s["mean_line_length"] > c.max_mean_line_length:
        return "mean_line_length"
    if s["max_line_length"] > c.max_line_length:
        return "max_line_length"
    if s["alnum_fraction"] < c.min_alnum_fraction:
        return "alnum_fraction"
    if c.drop_autogenerated and s["autogenerated"]:
        return "autogenerated"
    if s["encoded_fraction"] > c.max_encoded_fraction:
        return "encoded_data"
    return None


@dataclasses.dataclass(frozen=True)
class RuleSet:
    measure: Callable[[TextView, str | None, RulesConfig], dict[str, float]]
    decide: Callable[[Mapping[str, float], RulesConfig], str | None]


RULE_SETS: Mapping[str, RuleSet] = {
    "gopher_quality_v1": RuleSet(lambda t, lang, c: measure_gopher_quality(t, lang),
                                 lambda s, c: decide_gopher_quality(s, c.gopher_quality_v1)),
    "gopher_repetition_v1": RuleSet(lambda t, lang, c: measure_gopher_repetition(t, c.gopher_repetition_v1),
                                    lambda s, c: decide_gopher_repetition(s, c.gopher_repetition_v1)),
    "fineweb_v1": RuleSet(lambda t, lang, c: measure_fineweb(t, c.fineweb_v1),
                          lambda s, c: decide_fineweb(s, c.fineweb_v1)),
    "c4_v1": RuleSet(lambda t, lang, c: measure_c4(t, c.c4_v1)[0], lambda s, c: decide_c4(s, c.c4_v1)),
    "code_v1": RuleSet(lambda t, lang, c: measure_code(t, c.code_v1), lambda s, c: decide_code(s, c.code_v1)),
}


@dataclasses.dataclass(frozen=True)
class RuleResult:
    scores: dict[str, float]
    reason: str | None     # the first failing check, or None
    text: str              # the text after `c4_v1`'s line filter (unchanged without it)


def evaluate(text: str, lang: str | None, rule_sets: Iterable[str], cfg: RulesConfig) -> RuleResult:
    """Every measurement of every rule set, and the first failing reason. Every rule set is measured even
    after a failure, so annotate mode and offline threshold tuning see complete scores. The language's
    threshold overrides apply. `c4_v1` runs first: with `filter_lines` the others measure its output."""
    cfg = cfg.for_language(lang)
    names = list(rule_sets)
    scores: dict[str, float] = {}
    reason = None
    if "c4_v1" in names:
        names.remove("c4_v1")
        c4_scores, kept_text = measure_c4(TextView.of(text), cfg.c4_v1)
        scores.update(c4_scores)
        reason = decide_c4(c4_scores, cfg.c4_v1)
        if cfg.c4_v1.filter_lines:
            text = kept_text
    view = TextView.of(text)
    for name in names:
        rule_set = RULE_SETS[name]
        measured = rule_set.measure(view, lang, cfg)
        scores.update(measured)
        if reason is None:
            reason = rule_set.decide(measured, cfg)
    return RuleResult(scores, reason, text)


def apply_rules(text: str, lang: str | None, rule_sets: Iterable[str],
                cfg: RulesConfig) -> tuple[dict[str, float], str | None]:
    """(all measurements, first failing reason or None): `evaluate` without the rewritten text."""
    result = evaluate(text, lang, rule_sets, cfg)
    return result.scores, result.reason


class _RulesFn(CountingDoFn):
    def __init__(self, cfg: RulesConfig) -> None:
        super().__init__()
        self._cfg = cfg
        self._counters = StageCounters(STAGE)
        self._by_lang: dict[str | None, RulesConfig] = {}   # thresholds with each language's overrides

    def process(self, doc: Document) -> Iterable[Any]:
        self._counters.inc("docs_in")
        cfg = self._by_lang.get(doc.lang)
        if cfg is None:
            cfg = self._by_lang[doc.lang] = self._cfg.for_language(doc.lang)
        result = evaluate(doc.text, doc.lang, self._cfg.rule_sets_for(doc.source), cfg)
        reason = result.reason
        text = doc.text if reason else result.text  # a dropped document keeps its text as it came in
        doc = doc.replace(text=text, scores={**doc.scores, **result.scores})
        if reason:
            self._counters.inc(f"dropped:{reason}")
            yield pvalue.TaggedOutput(FilterRules.REJECTED, doc.dropped(STAGE, reason))
        else:
            self._counters.inc("kept")
            yield doc


class FilterRules(beam.PTransform):
    """Drops documents that fail their source's rule sets. Outputs: main = kept, REJECTED = dropped."""

    REJECTED = "rejected"

    def __init__(self, cfg: RulesConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        return docs | "MeasureAndFilter" >> beam.ParDo(_RulesFn(self._cfg)).with_outputs(
            self.REJECTED, main="kept")
