import itertools

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.beam_testing import fn_api_test_pipeline
from transforms.document import Document
from transforms.rules import FilterRules, RulesConfig, _dup_ngram_char_frac, apply_rules, tokenize_words

CFG = RulesConfig()
EN = ("The old harbour town keeps its history in the stones of its narrow streets. Fishermen still mend "
      "their nets by the water, and the market opens early on Saturday mornings with bread, cheese and fruit "
      "from the farms in the valley.\n\nIn the summer, visitors walk along the cliffs to the lighthouse, which "
      "was built in 1841 and restored with help from the people of the town after a storm damaged its roof.")
ZH = ("春天来了，公园里的花都开了。很多人在周末带着孩子去散步，湖边的柳树也长出了新的叶子。我们在草地上铺了一块布，"
      "吃了带来的水果和点心，聊了很多关于工作和生活的事情。\n\n下午的时候，天气有点变化，风吹得很大。我们决定早点回家，"
      "路上还买了一些新鲜的蔬菜，准备晚上做一顿丰盛的晚饭。")


def _reason(text, lang="en"):
    return apply_rules(text, lang, CFG.default, CFG)[1]


def test_clean_english_and_chinese_pass():
    assert _reason(EN) is None
    assert _reason(ZH, "zh") is None


def test_cjk_tokens_are_characters_with_punctuation_attached():
    assert tokenize_words("我们，好。ok go") == ["我", "们，", "好。", "ok", "go"]


@pytest.mark.parametrize(("text", "reason"), [
    ("Too short to be a document.", "too_few_words"),
    ("太短了。", "too_few_words"),
    (" ".join(["#deal #sale #win the best of all and"] * 12) + ".", "symbol_ratio"),
    ("\n".join(["Buy cheap watches now at the best price and with free shipping today."] * 8), "dup_line_frac"),
    (" ".join(["cheap watches"] * 40) + " and the end of the story with more words.", "top_2gram_char_frac"),
    ("\n".join(f"- item {i} of the list and the rest" for i in range(20)), "bullet_lines"),
    ("\n".join(f"Line {i} of the story goes on and the hero waits..." for i in range(12)), "ellipsis_lines"),
    (" ".join(["aaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbb the and"] * 15) + ".", "mean_word_length"),
    (" ".join(f"word{i} river{i} stone{i} green{i} bright{i}" for i in range(20)) + ".", "stop_words"),
    ("\n".join(["Home", "About us", "Contact", "Privacy policy", "Terms of use", "Log in"] * 3
               + ["The company and the team have a long history of work with the best of the clients."] * 1),
     "dup_line_frac"),
])
def test_each_rule_drops_with_its_reason(text, reason):
    assert _reason(text) == reason


def test_every_rule_set_is_measured_even_after_a_failure():
    scores, reason = apply_rules("Too short.", "en", CFG.default, CFG)
    assert reason == "too_few_words"
    assert {"n_words", "dup_line_frac", "dup_10gram_char_frac", "line_punct_ratio"} <= set(scores)


def test_unknown_rule_set_is_a_config_error():
    with pytest.raises(ValueError, match="unknown rule set 'nope_v1'"):
        RulesConfig(default=("nope_v1",))


def test_transform_per_source_rule_sets():
    cfg = RulesConfig(by_source={"code": ()})
    docs = [Document(id="w/1", source="web", text=EN, lang="en"),
            Document(id="w/2", source="web", text="Too short.", lang="en"),
            Document(id="c/1", source="code", text="x=1", lang="code")]
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | FilterRules(cfg)
        assert_that(out.kept | beam.Map(lambda d: d.id), equal_to(["w/1", "c/1"]), label="kept")
        assert_that(out[FilterRules.REJECTED] | beam.Map(lambda d: (d.id, d.decision, d.scores["n_words"])),
                    equal_to([("w/2", "rules:too_few_words", 2.0)]), label="rejected")


def _naive_dup_ngram_char_frac(words, n):
    seen, covered = set(), [False] * len(words)
    for i in range(len(words) - n + 1):
        gram = tuple(words[i:i + n])
        if gram in seen:
            covered[i:i + n] = [True] * n
        seen.add(gram)
    return sum(len(w) for w, c in zip(words, covered, strict=True) if c) / max(sum(map(len, words)), 1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "bb", "ccc", "dddd"]), max_size=60), st.integers(1, 6))
def test_dup_ngram_coverage_matches_the_naive_definition(words, n):
    prefix = [0, *itertools.accumulate(map(len, words))]
    assert _dup_ngram_char_frac(words, prefix, n, max(prefix[-1], 1)) == pytest.approx(
        _naive_dup_ngram_char_frac(words, n))
