import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.beam_testing import fn_api_test_pipeline
from transforms.document import Document
from transforms.exact_dedup import ExactDedupConfig
from transforms.paragraph_dedup import DeduplicateParagraphs, later_occurrences, paragraph_keys, remove_units

BOILER = "Subscribe to our newsletter for weekly updates on gardens, rivers and the history of the town."
SHORT = "Thanks for reading!"


def _doc(i, *paras):
    return Document(id=f"s/{i}", source="s", text="\n\n".join(paras))


def test_later_occurrences_skip_the_first_whatever_the_order():
    occ = [("s/3", 0), ("s/1", 2), ("s/2", 1)]
    assert sorted(later_occurrences(occ)) == [("s/2", 1), ("s/3", 0)]
    assert list(later_occurrences([])) == []


def test_paragraph_keys_apply_the_length_guard():
    doc = _doc(1, BOILER, SHORT, BOILER)
    keys = list(paragraph_keys(doc, "paragraph", 50))
    assert [pos for _, (_, pos) in keys] == [0, 2] and keys[0][0] == keys[1][0]


def test_remove_units_keeps_structure():
    assert remove_units("a\n\nb\n\nc", "paragraph", {1}) == "a\n\nc"
    assert remove_units("a\nb\nc", "line", {0, 2}) == "b"


@pytest.mark.parametrize("bad", [{"paragraph_unit": "sentence"}, {"paragraph_min_chars": 0}])
def test_config_validation(bad):
    with pytest.raises(ValueError):
        ExactDedupConfig(**bad)


def test_transform_removes_repeated_paragraphs_and_rejects_emptied_documents():
    docs = [_doc(1, "First article about the mill and the river.", BOILER, SHORT),
            _doc(2, "Second article about the bridge and the market.", BOILER, SHORT),
            _doc(3, BOILER),
            _doc(0, "An older page that has its own words.", SHORT)]
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | DeduplicateParagraphs("paragraph", 50)
        assert_that(out.kept | beam.Map(lambda d: (d.id, d.text)), equal_to([
            ("s/0", "An older page that has its own words.\n\n" + SHORT),
            ("s/1", "First article about the mill and the river.\n\n" + BOILER + "\n\n" + SHORT),  # first seen
            ("s/2", "Second article about the bridge and the market.\n\n" + SHORT),
        ]), label="kept")
        assert_that(out[DeduplicateParagraphs.REJECTED] | beam.Map(lambda d: (d.id, d.decision)),
                    equal_to([("s/3", "exact_dedup:duplicate_paragraphs")]), label="rejected")
