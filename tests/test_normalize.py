import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.beam_testing import fn_api_test_pipeline
from transforms.document import Document
from transforms.normalize import NormalizeConfig, NormalizeText, normalize_text


def test_normalize_examples_and_counts():
    changed = []
    text = "cafe\u0301 au\u00a0lait  \r\n\r\n\r\n\r\n\tdef f():\x00   \n        return 1\ufeff\n\n"
    assert normalize_text(text, changed.append) == "café au lait\n\n\tdef f():\n        return 1"
    assert changed == ["newlines", "control_chars", "spaces", "trailing_whitespace", "blank_lines", "nfc"]


@pytest.mark.parametrize(("broken", "fixed"), [
    ("The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.", "The Mona Lisa doesn’t have eyebrows."),
    ("cafÃ© au lait", "café au lait"),
    ("ä¸\u00adæ–‡", "中文"),
    ("It\u00e2\u0080\u0099s a test \u00e2\u0080\u0094 done", "It’s a test — done"),  # C1 bytes, Latin-1 reading
])
def test_mojibake_is_repaired_and_counted(broken, fixed):
    changed = []
    assert normalize_text(broken, changed.append) == fixed
    assert "mojibake" in changed


@pytest.mark.parametrize("text", ["“Quoted” — &amp; ﬁ ＦＵＬＬ", "naïve café", "中文，“引号”。"])
def test_correct_text_is_left_alone(text):
    assert normalize_text(text) == text


def test_keeps_indentation_inner_spaces_and_ideographic_space():
    text = "x  =  1\n    y = [1,  2]\n\u3000中文段落"
    assert normalize_text(text) == text


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \t\n\r\x00\u00a0\u3000\ufeffe\u0301\u00e9中Ã©â€™\u0080\ud83d")),
               max_size=60))
def test_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_transform_drops_empty_documents():
    docs = [Document(id="s/1", source="s", text=" \r\n\x00 "), Document(id="s/2", source="s", text="ok \n")]
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | NormalizeText(NormalizeConfig())
        assert_that(out.kept | beam.Map(lambda d: (d.id, d.text)), equal_to([("s/2", "ok")]), label="kept")
        assert_that(out[NormalizeText.REJECTED] | beam.Map(lambda d: (d.id, d.decision)),
                    equal_to([("s/1", "normalize:empty")]), label="rejected")


def test_written_out_tables_match_unicodedata():
    """The control and space tables are literals (no import-time scan); they must be exactly the C0
    controls but \\n and \\t plus DEL (C1 controls go later, after ftfy), and every Zs space but U+0020
    and U+3000, in the Unicode version this Python ships."""
    import unicodedata

    from transforms import normalize

    every = [chr(c) for c in range(0x110000)]
    c0_and_del = {ch for ch in every if unicodedata.category(ch) == "Cc" and not 0x80 <= ord(ch) <= 0x9F}
    assert set(normalize._CONTROL) == c0_and_del - {"\n", "\t"}
    assert set(normalize._SPACES) == {ord(ch) for ch in every
                                      if unicodedata.category(ch) == "Zs" and ch not in (" ", "\u3000")}
    assert {ch for ch in every if unicodedata.category(ch) == "Cc"} == c0_and_del | {chr(c) for c in range(0x80, 0xA0)}
