"""Document.replace: the copy stages make of a document they change."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from transforms.document import Document


def test_replace_equals_dataclasses_replace_and_leaves_the_original():
    doc = Document(id="web/1", source="web", text="old text", meta={"lang_hint": "en"}, scores={"q": 0.5})
    changes = {"text": "new text", "lang": "en", "lang_score": 0.98, "cluster_size": 3}
    copy = doc.replace(**changes)
    assert copy == dataclasses.replace(doc, **changes)
    assert type(copy) is Document and copy is not doc
    assert (doc.text, doc.lang, doc.cluster_size) == ("old text", None, 1)
    assert copy.meta is doc.meta                                 # unchanged fields are shared, as before
    assert pickle.loads(pickle.dumps(copy)) == copy              # still pickles as its field tuple
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.text = "x"                                          # type: ignore[misc]


def test_replace_rejects_an_unknown_field():
    with pytest.raises(TypeError, match="'txt'"):
        Document(id="a/1", source="a", text="t").replace(txt="x")
