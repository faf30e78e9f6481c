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


# ---------------------------------------------------------------- issue 5: c4_v1, code_v1, languages

from transforms.rules import C4Config, TextView, c4_lines, evaluate, measure_code  # noqa: E402

C4_PAGE = "\n".join([
    "Home | News | Contact",                                                   # no terminal punctuation
    "The river rose two metres overnight and the bridge was closed at dawn.[1]",
    "Please enable JavaScript to view the comments.",                          # javascript
    "Read our privacy policy before you sign up for the newsletter today.",    # policy notice
    "Too short.",                                                              # < 5 words
    "Engineers will inspect the old stone arches before it opens again.",
    "Residents were asked to stay away from the flooded paths by the water.",
])


def test_c4_keeps_only_the_lines_c4_keeps():
    kept, n_lines = c4_lines(C4_PAGE, C4Config())
    assert n_lines == 7
    assert kept == ["The river rose two metres overnight and the bridge was closed at dawn.",
                    "Engineers will inspect the old stone arches before it opens again.",
                    "Residents were asked to stay away from the flooded paths by the water."]
    result = evaluate(C4_PAGE, "en", ["c4_v1"], CFG)
    assert result.reason is None and result.text == "\n".join(kept)
    assert result.scores["c4_line_frac"] == round(3 / 7, 4) and result.scores["c4_sentences"] == 3.0


@pytest.mark.parametrize(("text", "reason"), [
    (C4_PAGE + "\nfunction f() { return 1; } is what the page shows to readers.", "curly_bracket"),
    (C4_PAGE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "lorem_ipsum"),
    ("One line that ends well and has enough words.\nAnother one.", "too_few_sentences"),
])
def test_c4_page_reasons(text, reason):
    assert evaluate(text, "en", ["c4_v1"], CFG).reason == reason


def test_c4_counts_chinese_sentences_and_words():
    text = "今天下雨了，我们在家里看书。\n晚上雨停了，大家出去散步。\n明天可能还会下雨，记得带伞。\n首页"
    result = evaluate(text, "zh", ["c4_v1"], CFG)
    assert result.reason is None and result.scores["c4_sentences"] == 3.0
    assert result.text == "今天下雨了，我们在家里看书。\n晚上雨停了，大家出去散步。\n明天可能还会下雨，记得带伞。"


PY = '''def add(a: int, b: int) -> int:
    """Return the sum of a and b."""
    return a + b


if __name__ == "__main__":
    print(add(2, 3))
'''


def test_code_measurements_are_hand_checked():
    scores = measure_code(TextView.of(PY), CFG.code_v1)
    lines = PY.rstrip("\n").split("\n")
    assert scores["code_lines"] == 5.0 and scores["max_line_length"] == 36.0  # the docstring line
    assert scores["mean_line_length"] == round(sum(map(len, lines)) / 7, 4)
    assert scores["alnum_fraction"] == round(sum(map(str.isalnum, PY)) / len(PY), 4)
    assert scores["autogenerated"] == 0.0 and scores["encoded_fraction"] == 0.0
    assert evaluate(PY, None, ["code_v1"], CFG).reason is None


@pytest.mark.parametrize(("text", "reason"), [
    ("x = 1\ny = 2\n", "too_few_lines"),
    ("\n".join(["value = compute(" + ", ".join(f"arg{i}" for i in range(20)) + ")"] * 4), "mean_line_length"),
    ("a = 1\nb = 2\nc = 3\nd = '" + "x" * 1200 + "'\n" + "e = 4\n" * 40, "max_line_length"),
    ("\n".join(["{ } ( ) [ ] ; ; ; ;"] * 5), "alnum_fraction"),
    ("# This file is auto-generated. Do not edit.\nx = 1\ny = 2\nz = 3\n", "autogenerated"),
    ("DATA = (\n" + "\n".join(f"    '{'QUJD' * 20}'" for _ in range(5)) + "\n)\n", "encoded_data"),
])
def test_each_code_rule_drops_with_its_reason(text, reason):
    assert evaluate(text, None, ["code_v1"], CFG).reason == reason


def test_code_with_chinese_comments_is_kept():
    text = "# 计算两个数的和\ndef add(a, b):\n    # 返回结果\n    return a + b\n"
    assert evaluate(text, None, ["code_v1"], CFG).reason is None


def test_wikitext_spaced_punctuation_is_not_counted_as_words():
    text = "The bridge , built in 1841 , was restored ( after a storm ) @-@ twice ."
    scores, _ = apply_rules(text, "en", ["gopher_quality_v1"], CFG)
    # real words: The bridge built in 1841 was restored after a storm twice -> 10 of 11 alphabetic
    assert scores["alpha_words_ratio"] == round(10 / 11, 4)


def test_stop_words_per_language_ignore_attached_punctuation():
    de_ok = " ".join(["Der Fluss und die Brücke, in den Bergen von Tirol, zu das Dorf."] * 6)
    de_no = " ".join(f"Wort{i} Fluss{i} Brücke{i} Berge{i}." for i in range(15))
    assert apply_rules(de_ok, "de", ["gopher_quality_v1"], CFG)[0]["stop_words"] == 8.0
    assert apply_rules(de_no, "de", ["gopher_quality_v1"], CFG)[1] == "stop_words"
    assert "stop_words" not in apply_rules(de_no, "sw", ["gopher_quality_v1"], CFG)[0]  # no list: no check


def test_one_line_chinese_passage_cut_mid_sentence_is_prose_but_a_chinese_menu_is_not():
    passage = ZH.replace("\n\n", "") + "下一段的开头没有结束"          # one line, no final punctuation
    scores, reason = apply_rules(passage, "zh", CFG.default, CFG)
    assert scores["line_punct_ratio"] == 1.0 and reason is None
    menu = "\n".join(["首页", "新闻中心", "关于我们", "联系我们", "产品展示", "人才招聘"] * 4) + "\n" + ZH
    assert apply_rules(menu, "zh", CFG.default, CFG)[1] in {"dup_line_frac", "short_line_ratio", "line_punct_ratio"}


def test_language_overrides_merge_over_the_top_level_thresholds(tmp_path):
    from pipeline.config import config_from_dict

    raw = {"sources": [{"name": "s", "paths": ["x.jsonl"]}],
           "phases": [{"name": "p", "tokens": 10, "seq_len": 8, "weights": {"s": 1}}],
           "langid": {"model": str(tmp_path / "lid.ftz")},
           "rules": {"gopher_quality_v1": {"min_words": 30, "min_stop_words": 1},
                     "by_language": {"zh": {"gopher_quality_v1": {"min_words": 10}}}}}
    cfg = config_from_dict(raw, tmp_path).rules
    assert cfg.gopher_quality_v1.min_words == 30
    zh = cfg.for_language("zh").gopher_quality_v1
    assert (zh.min_words, zh.min_stop_words, zh.max_words) == (10, 1, 100_000)
    assert cfg.for_language("en") is cfg
    short_zh = "今天下雨了，我们在家里看书，晚上雨停了。"   # 20 characters ~ 13 words
    assert apply_rules(short_zh, "zh", ["gopher_quality_v1"], cfg)[1] is None
    assert apply_rules(short_zh, "ja", ["gopher_quality_v1"], cfg)[1] == "too_few_words"


def test_filter_rules_rewrites_text_with_c4_and_keeps_dropped_text_intact():
    cfg = RulesConfig(default=("c4_v1",))
    short = "Only one sentence here, and it ends well."
    docs = [Document(id="w/1", source="web", text=C4_PAGE, lang="en"),
            Document(id="w/2", source="web", text=short, lang="en")]
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | FilterRules(cfg)
        assert_that(out.kept | beam.Map(lambda d: (d.id, d.text.count("\n"))), equal_to([("w/1", 2)]), label="kept")
        assert_that(out[FilterRules.REJECTED] | beam.Map(lambda d: (d.id, d.decision, d.text)),
                    equal_to([("w/2", "rules:too_few_sentences", short)]), label="rejected")
