"""FilterRules: versioned heuristic rule sets; measurements kept on the document, decisions separate.

Input/output: `Document` (after language ID) with `scores` extended by every measurement of the rule
sets that apply to its source; tagged `REJECTED`: documents marked `rules:<reason>` (the first failing
check, in the order below).

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

CJK-aware counting: in unspaced scripts (Han, kana, Thai) each character is a token (trailing
punctuation attached), and the word count used by `min_words`/`max_words` is spaced words + unspaced
characters / 1.5 (the mean length of a Chinese word is about 1.5 characters), so a 75-character Chinese
text counts as 50 words. For the same reason the n-gram repetition rules look at round(1.5 n)-character
n-grams in mostly-unspaced documents (measured on Chinese Wikipedia passages from CMRC 2018: with plain
5-character n-grams, 60 of 1,288 clean passages failed on repeated names). Mean word length is
measured over spaced words only and checked only when they are at least half the tokens.
Stop words: English (Gopher's list) and Chinese (the most frequent function characters); other
languages skip the check. Per-language thresholds are issue #5's.
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

from transforms.counters import StageCounters
from transforms.document import Document
from transforms.scripts import UNSPACED_CHAR

STAGE = "rules"
_U = UNSPACED_CHAR.pattern[1:-1]
_TOKEN = re.compile(f"[{_U}][^\\s\\w]*|[^\\s{_U}]+")
_UNSPACED_WORD_CHARS = 1.5
_BULLETS = ("•", "‣", "○", "●", "◦", "·", "-", "*", "▪", "►")
_ELLIPSES = ("...", "…")
_END_PUNCT = tuple(".!?\"'”’)]}:;。！？…」』）")
STOP_WORDS: Mapping[str, frozenset[str]] = {
    "en": frozenset({"the", "be", "to", "of", "and", "that", "have", "with"}),
    "zh": frozenset("的了是在和有我不这就也人他们"),
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
class RulesConfig:
    default: tuple[str, ...] = ("gopher_quality_v1", "gopher_repetition_v1", "fineweb_v1")
    by_source: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    gopher_quality_v1: GopherQualityConfig = GopherQualityConfig()
    gopher_repetition_v1: GopherRepetitionConfig = GopherRepetitionConfig()
    fineweb_v1: FinewebConfig = FinewebConfig()

    def __post_init__(self) -> None:
        for where, names in [("default", self.default), *self.by_source.items()]:
            for name in names:
                if name not in RULE_SETS:
                    raise ValueError(f"rules.{where}: unknown rule set {name!r}; known: {sorted(RULE_SETS)}")

    def rule_sets_for(self, source: str) -> tuple[str, ...]:
        return self.by_source.get(source, self.default)


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


def measure_gopher_quality(view: TextView, lang: str | None) -> dict[str, float]:
    text, words = view.text, view.words
    spaced = view.spaced_words
    spaced_lengths = [len(w) for w in spaced if any(map(str.isalnum, w))]
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    n_lines = max(len(lines), 1)
    n_words = len(spaced) + view.unspaced / _UNSPACED_WORD_CHARS
    scores = {
        "n_words": round(n_words, 2),
        "mean_word_length": round(sum(spaced_lengths) / len(spaced_lengths), 4)
        if spaced_lengths and len(spaced) >= len(words) / 2 else -1.0,
        "symbol_word_ratio": round((text.count("#") + sum(text.count(e) for e in _ELLIPSES))
                                   / max(n_words, 1), 4),
        "bullet_lines_ratio": round(sum(ln.startswith(_BULLETS) for ln in lines) / n_lines, 4),
        "ellipsis_lines_ratio": round(sum(ln.endswith(_ELLIPSES) for ln in lines) / n_lines, 4),
        "alpha_words_ratio": round(sum(any(map(str.isalpha, w)) for w in words) / max(len(words), 1), 4),
    }
    stop = STOP_WORDS.get(lang or "")
    if stop is not None:
        vocab = {w.lower() for w in spaced}
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
    # In unspaced text a token is one character, about 1/1.5 of a word: an n-word rule looks at
    # n-grams of round(1.5 n) characters, so repeated names (5 characters ~ 3 words) are not "spam".
    scale = _UNSPACED_WORD_CHARS if view.mostly_unspaced else 1.0
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
    return {
        "line_punct_ratio": round(sum(ln.endswith(_END_PUNCT) for ln in lines) / n_lines, 4),
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


RuleSet = tuple[Callable[[TextView, str | None, RulesConfig], dict[str, float]],
                Callable[[Mapping[str, float], RulesConfig], str | None]]
RULE_SETS: Mapping[str, RuleSet] = {
    "gopher_quality_v1": (lambda t, lang, c: measure_gopher_quality(t, lang),
                          lambda s, c: decide_gopher_quality(s, c.gopher_quality_v1)),
    "gopher_repetition_v1": (lambda t, lang, c: measure_gopher_repetition(t, c.gopher_repetition_v1),
                             lambda s, c: decide_gopher_repetition(s, c.gopher_repetition_v1)),
    "fineweb_v1": (lambda t, lang, c: measure_fineweb(t, c.fineweb_v1),
                   lambda s, c: decide_fineweb(s, c.fineweb_v1)),
}


def apply_rules(text: str, lang: str | None, rule_sets: Iterable[str],
                cfg: RulesConfig) -> tuple[dict[str, float], str | None]:
    """(all measurements, first failing reason or None). Every rule set is measured even after a failure,
    so annotate mode and offline threshold tuning see complete scores."""
    scores: dict[str, float] = {}
    reason = None
    view = TextView.of(text)
    for name in rule_sets:
        measure, decide = RULE_SETS[name]
        measured = measure(view, lang, cfg)
        scores.update(measured)
        if reason is None:
            reason = decide(measured, cfg)
    return scores, reason


class _RulesFn(beam.DoFn):
    def __init__(self, cfg: RulesConfig) -> None:
        super().__init__()
        self._cfg = cfg
        self._counters = StageCounters(STAGE)

    def process(self, doc: Document) -> Iterable[Any]:
        self._counters.inc("docs_in")
        scores, reason = apply_rules(doc.text, doc.lang, self._cfg.rule_sets_for(doc.source), self._cfg)
        doc = dataclasses.replace(doc, scores={**doc.scores, **scores})
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
