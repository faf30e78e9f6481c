import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.beam_testing import fn_api_test_pipeline
from transforms.document import Document
from transforms.langid import IdentifyLanguage, LangIdConfig, decide, parse_label
from transforms.scripts import detect_script

EN = "The committee met on Tuesday to discuss the new budget for the public library and its reading rooms."
ZH = "今天下午，市图书馆举行了一场关于城市历史的讲座，吸引了很多市民参加。"
FR = "Le comité s'est réuni mardi pour discuter du nouveau budget de la bibliothèque municipale."


def test_parse_label():
    assert parse_label("__label__en") == "en"


@pytest.mark.parametrize(("lang", "score", "reason"), [
    ("en", 0.9, None), ("fr", 0.99, "lang_not_kept"), ("zh", 0.5, "low_score"), ("en", 0.65, None)])
def test_decide(lang, score, reason):
    assert decide(lang, score, LangIdConfig(model="m")) == reason


def test_keep_all_and_per_language_scores():
    cfg = LangIdConfig(model="m", keep=None, min_score={"default": 0.5, "fr": 0.9})
    assert decide("fr", 0.8, cfg) == "low_score"
    assert decide("xx", 0.6, cfg) is None


@pytest.mark.parametrize(("text", "script"), [
    (EN, "Latn"), (ZH, "Hani"), ("これは日本語の文章です。", "Jpan"), ("한국어 문장입니다", "Kore"),
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
                    equal_to([("s/en", "en", "Latn", True), ("s/zh", "zh", "Hani", True),
                              ("c/1", "code", "Latn", True)]), label="kept")
        assert_that(out[IdentifyLanguage.REJECTED] | beam.Map(lambda d: (d.id, d.lang, d.decision)),
                    equal_to([("s/fr", "fr", "langid:lang_not_kept")]), label="rejected")
