"""Property-based tests (issue 7): normalize, rules and shingling on arbitrary Unicode.

Inputs mix hypothesis' arbitrary text (every Unicode category, lone surrogates included where the
function takes any `str`), a "nasty" vocabulary (C0/C1 controls, CR/CRLF, BOM, every kind of space,
combining marks, CJK, kana, Hangul jamo, Thai marks, emoji with ZWJ, surrogate halves, RTL marks,
mojibake fragments, citation markers, stop words, whole sentences) and very long repeated runs.

Only what the modules promise is asserted:
- normalize (transforms/normalize.py docstring): never raises; output is UTF-8 encodable (ftfy turns lone
  surrogates into U+FFFD), NFC, free of C0/C1 controls other than \\n and \\t, of CR, the BOM and spaces
  other than U+0020/U+3000; no trailing blanks on a line, no runs of 3+ newlines, no leading/trailing
  newline; idempotent; text that already has that form is left alone; `count` names each changed step once.
- rules (transforms/rules.py): `evaluate` never raises for any rule set, order and language; the reason is
  None or one of the requested rule sets' reasons and is the first failing one (c4_v1 first, the others
  measuring its output); the score keys are the rule sets' measurements; scores are finite floats in
  their ranges; deterministic; c4_v1's rewritten text is an order-preserving selection of input lines,
  each stripped and with citation markers removed.
- shingling (transforms/near_dedup.py): `shingles`/`shingle_hashes` never raise on UTF-8-encodable text
  (the read stage rejects lone surrogates as `invalid_utf8` and normalize repairs them, so near-dedup never
  sees one: the composition normalize -> shingles is tested on text with surrogates); shingle hashes are
  sorted distinct uint64, one per readable shingle; exact Jaccard equals the Jaccard of the readable
  shingles, is symmetric, in [0, 1] and 1 for a copy; folding makes digits, ASCII punctuation and the
  kind of whitespace irrelevant; `minhash_inputs` are the distinct top 32 bits; signatures are
  deterministic and a copy's estimated Jaccard is 1.
"""

from __future__ import annotations

import math
import string
import unicodedata

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from transforms.near_dedup import (
    NearDedupConfig,
    document_shingle_hashes,
    estimated_jaccard,
    exact_jaccard,
    minhash_inputs,
    minhash_template,
    shingle_hashes,
    shingles,
    signature,
)
from transforms.normalize import _STEPS, normalize_text
from transforms.rules import (
    _C4_END,
    RULE_SETS,
    STOP_WORDS,
    C4Config,
    RulesConfig,
    TextView,
    apply_rules,
    evaluate,
)
from transforms.scripts import is_unspaced

# ---------------------------------------------------------------- strategies

_NASTY = [
    # controls, line breaks, spaces, invisible format characters
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1c", "\x1f", "\x7f", "\x80", "\x85", "\x9d", "\x9f",
    "\r", "\r\n", "\n", "\n\n\n\n", "\t", " ", "   ", "\xa0", "\u2000", "\u2009", "\u3000", "\u2028", "\u2029",
    "\ufeff", "\u200b", "\u200d", "\u00ad",
    # combining marks, decomposed and composed forms, jamo
    "e\u0301", "\u0301", "\u0338", "\u0345", "A\u030a", "\u212b", "\u1100\u1161\u11a8", "\u0e48\u0e38", "\u3099",
    # CJK, kana, Hangul, Thai
    "中文", "漢字", "的", "了", "。", "！", "？", "，", "「", "」",
    "ひらがな", "の", "カタカナ", "한국어", "ภาษาไทย", "\u0e31",
    # emoji (with ZWJ, flags), surrogate halves that may pair up with each other
    "😀", "👨\u200d👩\u200d👧", "🇫🇷", "\ud83d", "\ude00", "\udfff", "\ud800",
    # RTL scripts and bidi controls
    "العربية", "עברית", "\u200f", "\u202e", "\u2066",
    # mojibake fragments and their raw-byte (C1) form
    "Ã©", "â€™", "Ã", "Â", "â\x80\x99", "ï»¿", "\ufffd", "Ã¢â‚¬â„¢",
    # words, digits, case-folding oddities
    "the", "and", "of", "to", "with", "The", "word", "x", "1984", "٣", "İ", "ß", "ﬁ", "Ǆ", "ΣΑΣ", "ＦＵＬＬ",
    # what the rules look for
    "lorem ipsum", "javascript", "privacy policy", "{", "}", "[1]", "[citation needed]", "#", "...", "…",
    "- ", "• ", ".", "!", "?", '"', "0x1f, ", "\\u00e9", "QUJDQUJDQUJDQUJD", "auto-generated",
    # whole lines that pass C4's line filter, so its rewrite has something to keep
    "The river rose two metres overnight and the bridge was closed.",
    "Residents were asked to stay away from the flooded paths by the water![1] ",
    "今天下雨了，我们在家里看书。", "ภาษาไทยเป็นภาษาที่สวยงามมากและมีประวัติยาวนาน.",
]


def _is_surrogate_free(text: str) -> bool:
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


_SENTENCES = [p for p in _NASTY if len(p) > 12]


def _texts(surrogates: bool, max_size: int = 80) -> st.SearchStrategy[str]:
    """Arbitrary text (biased towards controls, format characters, marks, spaces and, if asked, lone
    surrogates), nasty-vocabulary text, long repeated runs, and documents of lines mixing all of these."""
    any_char = st.characters(exclude_categories=() if surrogates else ("Cs",))
    odd_char = st.characters(categories=["Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp", *(["Cs"] if surrogates else [])])
    chars = st.one_of(any_char, odd_char)
    nasty = st.sampled_from(_NASTY if surrogates else [p for p in _NASTY if _is_surrogate_free(p)])
    piece = st.one_of(nasty, st.text(chars, min_size=1, max_size=4))
    run = st.tuples(piece, st.integers(1, 300)).map(lambda pk: pk[0] * pk[1])
    sentence = st.tuples(st.sampled_from(_SENTENCES), piece, st.integers(0, 60)).map(
        lambda s: s[0][:s[2]] + s[1] + s[0][s[2]:])   # a sentence with something inside it
    return st.one_of(
        st.text(chars, max_size=max_size),
        st.lists(piece, max_size=max_size // 2).map("".join),
        st.lists(st.one_of(piece, run), max_size=4).map("".join),
        st.lists(st.one_of(st.sampled_from(_SENTENCES), sentence, piece, run), max_size=12).map("\n".join),
    )


ANY_TEXT = _texts(surrogates=True)
ENCODABLE_TEXT = _texts(surrogates=False)
LANGS = st.sampled_from(["en", "zh", "ja", "th", "code", "und", "de", "ru", "", None])
RULE_SET_LISTS = st.lists(st.sampled_from(sorted(RULE_SETS)), unique=True, max_size=len(RULE_SETS))

# ---------------------------------------------------------------- normalize

_ALLOWED_CONTROLS = {"\n", "\t"}
_ALLOWED_SPACES = {" ", "\u3000"}


@settings(max_examples=250, deadline=None)
@given(ANY_TEXT)
@example("\ud83d\ude00\ud83d")                 # a surrogate pair then a lone surrogate
@example("a \r\n\r\n\r\n\x00\ufeffÃ©\u00a0\n")
@example("Ã¢â‚¬â„¢" * 50)                     # mojibake two layers deep, repeated
def test_normalize_output_has_the_promised_form(text):
    steps: list[str] = []
    out = normalize_text(text, steps.append)
    assert isinstance(out, str)
    out.encode("utf-8")                                    # no lone surrogate is left
    for ch in out:
        cat = unicodedata.category(ch)
        assert cat != "Cc" or ch in _ALLOWED_CONTROLS, repr(ch)
        assert cat != "Zs" or ch in _ALLOWED_SPACES, repr(ch)
    assert "\ufeff" not in out and "\r" not in out
    assert unicodedata.is_normalized("NFC", out)
    assert all(line == line.rstrip(" \t") for line in out.split("\n"))
    assert "\n\n\n" not in out and out == out.strip("\n")
    # the callback names each changed step once, in step order, and only when something changed
    names = [name for name, _ in _STEPS]
    assert steps == [name for name in names if name in steps]
    assert bool(steps) == (out != text)


@settings(max_examples=250, deadline=None)
@given(ANY_TEXT)
@example("\x85Ã©")
@example("Â\xa0é \n")
def test_normalize_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


_CLEAN_CHARS = st.one_of(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E),             # printable ASCII but the space
    st.sampled_from(list(" \t中文漢字のカタカナ한국어ภาษาไทย😀العربيةעברית\u3000ŁŒ")),
)
_CLEAN_LINE = st.text(_CLEAN_CHARS, min_size=1, max_size=30).map(lambda s: s.rstrip(" \t")).filter(bool)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_CLEAN_LINE, st.sampled_from(["\n", "\n\n"])), min_size=1, max_size=8))
def test_text_already_in_normal_form_is_left_alone(lines):
    """Indentation, inner runs of spaces, tabs, U+3000 and single blank lines are kept (code needs them)."""
    text = "".join(line + sep for line, sep in lines).rstrip("\n")
    if not unicodedata.is_normalized("NFC", text):   # Thai tone marks can be out of canonical order
        text = unicodedata.normalize("NFC", text)
    assert normalize_text(text) == text


# ---------------------------------------------------------------- rules

CFG = RulesConfig()
REASONS = {
    "gopher_quality_v1": {"too_few_words", "too_many_words", "mean_word_length", "symbol_ratio", "bullet_lines",
                          "ellipsis_lines", "alpha_words", "stop_words"},
    "gopher_repetition_v1": {"dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac",
                             *(f"top_{n}gram_char_frac" for n in (2, 3, 4)),
                             *(f"dup_{n}gram_char_frac" for n in range(5, 11))},
    "fineweb_v1": {"line_punct_ratio", "short_line_ratio", "dup_line_char_ratio", "newline_word_ratio"},
    "c4_v1": {"curly_bracket", "lorem_ipsum", "too_few_sentences"},
    "code_v1": {"too_few_lines", "mean_line_length", "max_line_length", "alnum_fraction", "autogenerated",
                "encoded_data"},
}
FRACTIONS = {  # measurements that are shares of something: in [0, 1]
    "bullet_lines_ratio", "ellipsis_lines_ratio", "alpha_words_ratio",
    "dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac",
    *(f"dup_{n}gram_char_frac" for n in range(5, 11)),
    "line_punct_ratio", "short_line_ratio", "dup_line_char_ratio",
    "c4_line_frac", "alnum_fraction", "encoded_fraction",
}
FLAGS = {"c4_lorem_ipsum", "c4_curly_bracket", "autogenerated"}
COUNTS = {"c4_sentences", "code_lines", "max_line_length", "stop_words"}
NON_NEGATIVE = {"n_words", "symbol_word_ratio", "newline_word_ratio", "mean_line_length"}


def _expected_keys(rule_sets, lang):
    keys = set()
    for name in rule_sets:
        keys |= set(RULE_SETS[name].measure(TextView.of("x"), lang, CFG))
    return keys


def _check_score_ranges(scores, lang):
    for key, value in scores.items():
        assert type(value) is float and math.isfinite(value), (key, value)
        if key in FRACTIONS:
            assert 0.0 <= value <= 1.0, (key, value)
        elif key in FLAGS:
            assert value in (0.0, 1.0), (key, value)
        elif key in COUNTS:
            assert value >= 0 and value == int(value), (key, value)
        elif key in NON_NEGATIVE:
            assert value >= 0, (key, value)
        elif key == "mean_word_length":
            assert value == -1.0 or value >= 1.0, value
        elif key.startswith("top_"):
            # a most frequent n-gram's occurrences may overlap ("a a a a"), as in Gopher's and datatrove's
            # definition, so the share can exceed 1 but never n (each word starts at most one occurrence);
            # n is doubled for mostly-unspaced text
            n = int(key[len("top_"):-len("gram_char_frac")])
            assert 0.0 <= value <= 2 * n, (key, value)
        else:
            raise AssertionError(f"score {key!r} has no declared range")
    if "stop_words" in scores:
        assert scores["stop_words"] <= len(STOP_WORDS[lang])
    if "max_line_length" in scores:
        assert scores["max_line_length"] >= scores["mean_line_length"] - 1e-4


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT, LANGS, RULE_SET_LISTS)
@example("a a a a a a a a", "en", ["gopher_repetition_v1"])            # overlapping top 2-grams
@example("กั" * 40 + "\n" + "了。" * 30, "th", sorted(RULE_SETS))       # Thai marks, CJK punctuation
@example("\ud800" * 3 + "{" + "\n" * 5, None, ["c4_v1", "code_v1"])
def test_evaluate_never_raises_and_scores_are_in_range(text, lang, rule_sets):
    result = evaluate(text, lang, rule_sets, CFG)
    assert result.reason is None or result.reason in set().union(*(REASONS[n] for n in rule_sets))
    assert set(result.scores) == _expected_keys(rule_sets, lang)
    assert ("stop_words" in result.scores) == ("gopher_quality_v1" in rule_sets and lang in STOP_WORDS)
    _check_score_ranges(result.scores, lang)
    assert evaluate(text, lang, rule_sets, CFG) == result                     # deterministic
    assert apply_rules(text, lang, rule_sets, CFG) == (result.scores, result.reason)
    if "c4_v1" not in rule_sets:
        assert result.text == text


@settings(max_examples=150, deadline=None)
@given(ANY_TEXT, LANGS, RULE_SET_LISTS)
def test_rule_sets_are_independent_and_the_first_failure_wins(text, lang, rule_sets):
    """evaluate(text, [A, B, ...]) = each rule set alone (c4_v1 first, the others on its rewritten text):
    scores are their union, the reason is the first non-None one."""
    rest = [n for n in rule_sets if n != "c4_v1"]
    parts = []
    if "c4_v1" in rule_sets:
        c4 = evaluate(text, lang, ["c4_v1"], CFG)
        parts.append(c4)
        text_for_rest = c4.text
    else:
        text_for_rest = text
    parts += [evaluate(text_for_rest, lang, [name], CFG) for name in rest]
    combined = evaluate(text, lang, rule_sets, CFG)
    assert combined.scores == {k: v for part in parts for k, v in part.scores.items()}
    assert combined.reason == next((p.reason for p in parts if p.reason is not None), None)
    assert combined.text == text_for_rest


def _is_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(ch in it for ch in small)


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT, LANGS)
@example("Residents were asked to stay away from the water![1] \n\nThe river rose two metres overnight and "
         "the bridge was closed.\r\nx.", "en")
@example("今天下雨了，我们在家里看书。\n首页\n今天下雨了，我们在家里看书。", "zh")
def test_c4_rewrite_keeps_a_selection_of_the_input_lines(text, lang):
    result = evaluate(text, lang, ["c4_v1"], CFG)
    kept = result.text.split("\n") if result.text else []
    lines = iter(text.split("\n"))
    for line in kept:  # each kept line is a later input line, stripped and without citation markers
        assert line == line.strip() and line.endswith(_C4_END) and "javascript" not in line.lower()
        assert any(_is_subsequence(line, raw.strip()) for raw in lines), line
    n_lines = sum(1 for raw in text.split("\n") if raw.strip())
    assert result.scores["c4_line_frac"] == round(len(kept) / max(n_lines, 1), 4)
    assert result.scores["c4_curly_bracket"] == float("{" in text)
    unfiltered = RulesConfig(c4_v1=C4Config(filter_lines=False))
    assert evaluate(text, lang, ["c4_v1"], unfiltered).text == text


# ---------------------------------------------------------------- shingling

NEAR = NearDedupConfig()
NGRAMS = st.sampled_from([(5, 5), (1, 1), (2, 3), (3, 2)])


def _check_shingles(text, word_ngram, char_ngram):
    readable = shingles(text, word_ngram, char_ngram)
    assert readable and readable == sorted(set(readable)) and all(type(s) is bytes for s in readable)
    for shingle in map(bytes.decode, readable):   # folded: no punctuation, symbols, controls, digits but 0
        assert shingle == shingle.strip(" ") and "  " not in shingle
        for ch in shingle:
            cat = unicodedata.category(ch)
            assert cat[0] not in "PS" and cat != "Cc" and (ch == " " or not ch.isspace()), repr(ch)
            assert cat != "Nd" or ch == "0", repr(ch)
    hashed = shingle_hashes(text, word_ngram, char_ngram)
    assert isinstance(hashed, np.ndarray) and hashed.dtype == np.uint64 and hashed.ndim == 1
    assert bool(np.all(hashed[1:] > hashed[:-1]))                        # sorted, distinct
    assert len(hashed) == (0 if readable == [b""] else len(readable))     # one hash per readable shingle
    assert np.array_equal(shingle_hashes(text, word_ngram, char_ngram), hashed)
    return readable, hashed


@settings(max_examples=250, deadline=None)
@given(ENCODABLE_TEXT, NGRAMS)
@example("Mixed\u3000spaces\xa0and\u2009thin\tspaces\x1cand\x85separators\u2028here", (5, 5))
@example("中" * 300 + " a" * 300, (5, 5))
@example("🇫🇷👨\u200d👩\u200d👧", (5, 5))
def test_shingles_and_hashes_agree_on_arbitrary_text(text, ngrams):
    _check_shingles(text, *ngrams)


@settings(max_examples=150, deadline=None)
@given(ANY_TEXT)
@example("\ud83d\ude00 \ud83d lone \udfff 中文")
def test_normalized_text_is_always_shingled(text):
    """What near-dedup receives has been through normalize, which repairs lone surrogates."""
    _check_shingles(normalize_text(text), NEAR.word_ngram, NEAR.char_ngram)


_FOLD_VARIANTS = str.maketrans({**{d: "7" for d in string.digits}, **{p: "!" for p in string.punctuation},
                                " ": "\n"})


@settings(max_examples=150, deadline=None)
@given(ENCODABLE_TEXT)
@example("The Cat, sat 12 on the mat! 今天 3")
def test_digits_punctuation_and_whitespace_kind_do_not_change_shingles(text):
    variant = text.translate(_FOLD_VARIANTS)
    assert shingles(variant, 5, 5) == shingles(text, 5, 5)
    assert np.array_equal(shingle_hashes(variant, 5, 5), shingle_hashes(text, 5, 5))


def _readable_jaccard(a, b):
    sa, sb = set(shingles(a, NEAR.word_ngram, NEAR.char_ngram)), set(shingles(b, NEAR.word_ngram, NEAR.char_ngram))
    return len(sa & sb) / len(sa | sb)


@settings(max_examples=150, deadline=None)
@given(ENCODABLE_TEXT, ENCODABLE_TEXT, ENCODABLE_TEXT)
@example("", "", "")
@example("", "!!! ???", "")
@example("㐀", "", "\x00")   # regression: U+0000 was a character token of value 0, so "㐀" and "㐀\0" collided
@example("0㐀", "::", "")     # one text shingled by words, the other by characters
def test_exact_jaccard_is_the_jaccard_of_the_readable_shingles(prefix, a, b):
    """Texts that share a prefix, so the overlap is often partial; on arbitrary Unicode the 32-bit
    `minhash_inputs` of these few shingles do not collide. The readable form does not say how a text was
    shingled: a one-word text shingled by words ("0㐀::") and one shingled by characters ("0㐀") have the
    same readable shingle but hashes of different kinds, so the equality holds for texts of one kind."""
    a, b = prefix + a, prefix + b
    jab = exact_jaccard(a, b, NEAR)
    assert 0.0 <= jab <= 1.0
    assert jab == exact_jaccard(b, a, NEAR)
    assert exact_jaccard(a, a, NEAR) == 1.0 and exact_jaccard(a, "".join(list(a)), NEAR) == 1.0
    if is_unspaced(a) == is_unspaced(b):
        assert math.isclose(jab, _readable_jaccard(a, b), abs_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(ENCODABLE_TEXT, st.text(st.characters(codec="utf-8"), min_size=1, max_size=10))
def test_minhash_inputs_and_signatures_are_stable(text, doc_id):
    hashes = document_shingle_hashes("s/" + doc_id, text, NEAR)
    assert len(hashes) >= 1                   # a text without words gets one shingle of its own
    inputs = minhash_inputs(hashes)
    assert inputs.dtype == np.uint32 and bool(np.all(inputs[1:] > inputs[:-1]))
    assert set(inputs.tolist()) == {h >> 32 for h in hashes.tolist()}
    assert np.array_equal(minhash_inputs(document_shingle_hashes("s/" + doc_id, text, NEAR)), inputs)
    template = minhash_template(NEAR)
    sig = signature(inputs, NEAR, template)
    assert len(sig) == 4 * NEAR.num_perm
    assert sig == signature(inputs.copy(), NEAR) == signature(inputs, NEAR, template)
    copy = "".join(list(text))
    assert estimated_jaccard(sig, signature(minhash_inputs(document_shingle_hashes("s/" + doc_id, copy, NEAR)),
                                            NEAR, template)) == 1.0
    if not len(shingle_hashes(text, NEAR.word_ngram, NEAR.char_ngram)):
        # no words: unique to the document, so never a near-duplicate of another wordless one
        other = document_shingle_hashes("t/" + doc_id, text, NEAR)
        assert not np.array_equal(other, hashes)
