import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from tests.beam_testing import fn_api_test_pipeline
from transforms.document import Document
from transforms.exact_dedup import DeduplicateExact, ExactDedupConfig, fold_group


def _doc(i, text):
    return Document(id=f"s/{i}", source="s", text=text)


def test_fold_group_keeps_smallest_id_whatever_the_order():
    docs = [_doc(3, "t"), _doc(1, "t"), _doc(2, "t")]
    for order in (docs, docs[::-1], docs[1:] + docs[:1]):
        survivor, copies = fold_group(order)
        assert survivor == _doc(1, "t")
        assert sorted(d.id for d in copies) == ["s/2", "s/3"]
    assert fold_group([])[0] is None


def test_transform_drops_copies():
    docs = [_doc(1, "same"), _doc(2, "other"), _doc(0, "same"), _doc(4, "same")]
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | DeduplicateExact(ExactDedupConfig())
        assert_that(out.kept | beam.Map(lambda d: d.id), equal_to(["s/0", "s/2"]), label="kept")
        assert_that(out[DeduplicateExact.REJECTED] | beam.Map(lambda d: (d.id, d.decision, d.meta["duplicate_of"])),
                    equal_to([("s/1", "exact_dedup:duplicate", "s/0"), ("s/4", "exact_dedup:duplicate", "s/0")]),
                    label="rejected")


def test_identical_twins_are_reported_not_lost():
    survivor, copies = fold_group([_doc(1, "t"), _doc(1, "t"), _doc(2, "t")])
    assert survivor == _doc(1, "t") and sorted(d.id for d in copies) == ["s/1", "s/2"]
