import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.beam_testing import fn_api_test_pipeline
from transforms.document import Document
from transforms.langid import (
    IdentifyLanguage,
    LangIdConfig,
    aggregate,
    blocks,
    decide,
    direct_predict,
    identify_batch,
    load_model,
    normalize_label,
)
from transforms.scripts import chinese_variant, detect_script

EN = "The committee met on Tuesday to discuss the new budget for the public library and its reading rooms."
ZH = "今天下午，市图书馆举行了一场关于城市历史的讲座，吸引了很多市民参加。"
FR = "Le comité s'est réuni mardi pour discuter du nouveau budget de la bibliothèque municipale."


@pytest.mark.parametrize(("label", "expected"), [
    ("__label__en", ("en", None)), ("__label__zh", ("zh", None)), ("__label__eng_Latn", ("en", "Latn")),
    ("__label__cmn_Hani", ("zh", "Hani")), ("__label__arb_Arab", ("ar", "Arab")),
    ("__label__yue_Hant", ("yue", "Hant")), ("__label__nob_Latn", ("nb", "Latn"))])
def test_labels_map_to_one_scheme(label, expected):
    assert normalize_label(label) == expected


@pytest.mark.parametrize(("lang", "score", "expected"), [
    ("en", 0.9, ("en", None)), ("fr", 0.99, ("fr", "lang_not_kept")), ("zh", 0.5, ("zh", "low_score")),
    ("en", 0.65, ("en", None))])
def test_decide(lang, score, expected):
    assert decide(lang, score, LangIdConfig(model="m")) == expected


def test_keep_all_per_language_scores_and_und():
    cfg = LangIdConfig(model="m", keep=None, min_score={"default": 0.5, "fr": 0.9})
    assert decide("fr", 0.8, cfg) == ("fr", "low_score")
    assert decide("xx", 0.6, cfg) == ("xx", None)
    und = LangIdConfig(model="m", on_low_score="und")
    assert decide("fr", 0.3, und) == ("und", None)  # kept as undetermined, keep list notwithstanding
    assert decide("fr", 0.9, und) == ("fr", "lang_not_kept")


def test_blocks_cut_where_the_script_changes_and_at_the_size():
    text = "aaaa bbbb\ncccc dddd\n\n中文的一行\nmore latin text here"
    assert blocks(text, 500, 10_000) == ["aaaa bbbb cccc dddd", "中文的一行", "more latin text here"]
    short_tail = "x" * 30 + "\n" + "y" * 30 + "\n" + "z" * 5
    assert blocks(short_tail, 50, 10_000) == ["x" * 30 + " " + "y" * 30 + " " + "z" * 5]
    assert blocks("x" * 60 + "\n" + "y" * 60, 50, 10_000) == ["x" * 60, "y" * 60]


CFG = LangIdConfig(model="m", keep=None)


def test_aggregate_soft_vote_shares_and_mixed():
    lang, score, mixed, shares = aggregate(["a" * 80, "b" * 20], [["en", "fr"], ["zh", "ja"]],
                                           [[0.9, 0.05], [0.8, 0.1]], CFG)
    assert (lang, mixed, shares) == ("en", True, {"en": 0.8, "zh": 0.2})
    assert score == pytest.approx((80 * 0.9) / 100)
    assert aggregate(["a" * 95, "b" * 5], [["en"], ["zh"]], [[0.9], [0.8]], CFG)[2] is False


def test_soft_vote_follows_probability_mass_not_block_count():
    # close languages trading blocks at low confidence (ceb/war on UDHR): the soft vote weighs the
    # runner-up probabilities too, and low-confidence blocks do not make the document mixed
    lang, _, mixed, shares = aggregate(["a" * 52, "b" * 48], [["ceb", "war"], ["war", "ceb"]],
                                       [[0.40, 0.35], [0.45, 0.10]], CFG)  # war: 18.2 + 21.6 > ceb: 20.8 + 4.8
    assert (lang, mixed, shares) == ("war", False, {"ceb": 0.52, "war": 0.48})


def test_lid176_codes_are_kept_and_scripted_labels_standardized():
    assert normalize_label("__label__als") == ("als", None)    # lid.176: Alemannic, not Tosk Albanian
    assert normalize_label("__label__tl") == ("tl", None)
    assert normalize_label("__label__tgl_Latn") == ("tl", "Latn")


def test_chinese_variant():
    assert chinese_variant("这是简体中文的句子。") == "Hans"
    assert chinese_variant("這是繁體中文的句子。") == "Hant"
    assert chinese_variant("no han here") is None


@pytest.mark.parametrize(("text", "script"), [
    (EN, "Latn"), (ZH, "Hans"), ("這是繁體中文的句子。", "Hant"), ("これは日本語の文章です。", "Jpan"),
    ("한국어 문장입니다", "Kore"), ("國家足球博物館（The National Football Museum）是英國的一座博物館。", "Hant"),
    ("Это русский текст", "Cyrl"), ("123 456", "Zyyy")])
def test_detect_script(text, script):
    assert detect_script(text) == script


def test_transform_with_real_model(lid_model):
    docs = [Document(id="s/en", source="s", text=EN), Document(id="s/zh", source="s", text=ZH),
            Document(id="s/fr", source="s", text=FR),
            Document(id="c/1", source="c", text="def f(x):\n    return x\n", lang="code")]
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | IdentifyLanguage(LangIdConfig(model=lid_model))
        assert_that(out.kept | beam.Map(lambda d: (d.id, d.lang, d.script, d.lang_score > 0.65)),
                    equal_to([("s/en", "en", "Latn", True), ("s/zh", "zh", "Hans", True),
                              ("c/1", "code", "Latn", True)]), label="kept")
        assert_that(out[IdentifyLanguage.REJECTED] | beam.Map(lambda d: (d.id, d.lang, d.decision)),
                    equal_to([("s/fr", "fr", "langid:lang_not_kept")]), label="rejected")


@pytest.fixture(scope="module")
def model(lid_model):
    return load_model(lid_model)


def test_mostly_english_page_with_chinese_footer_is_en_and_mixed(model):
    english = " ".join([EN] * 8)
    chinese = ZH * (len(english) // 4 // len(ZH) + 1)
    chinese = chinese[: len(english) // 4]  # 80% English, 20% Chinese by characters
    page = "\n".join(english[i:i + 120] for i in range(0, len(english), 120)) + "\n" + chinese
    (res,) = identify_batch(model, [page], LangIdConfig(model="m", keep=None))
    assert (res.lang, res.mixed) == ("en", True)
    assert res.shares["en"] == pytest.approx(0.8, abs=0.02) and res.shares["zh"] == pytest.approx(0.2, abs=0.02)


def test_single_block_documents_match_a_direct_call(model):
    texts = [EN, ZH, FR, "Ein kurzer deutscher Satz über das Wetter.\nUnd noch einer."]
    cfg = LangIdConfig(model="m", keep=None)
    for text, res in zip(texts, identify_batch(model, texts, cfg), strict=True):
        lang, score = direct_predict(model, text)
        assert (res.lang, res.score) == (lang, pytest.approx(score, abs=1e-6))
