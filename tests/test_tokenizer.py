import pytest

from tokenizer import Tokenizer, TokenizerTrainConfig, train_sentencepiece
from tokenizer.train import language_budgets, select_sample

TEXTS = [
    "The river runs past the old mill and under the stone bridge into the town.\n\nPeople walk there.",
    "def slugify(title: str) -> str:\n    \"\"\"Lower-case, dash-separated.\"\"\"\n\treturn '-'.join(title.split())\n",
    "春天来了，公园里的花都开了。很多人在周末带着孩子去散步。\n第二段：湖边的柳树也长出了新的叶子。",
    "  leading spaces, trailing spaces   \n\n\n three newlines, digits 1234567890 and emoji 🙂",
] * 30
CFG = TokenizerTrainConfig(vocab_size=400, num_threads=1)


@pytest.fixture(scope="module")
def trained():
    return train_sentencepiece(TEXTS, CFG)


def test_round_trip_is_lossless_for_code_whitespace_and_chinese(trained):
    tok = Tokenizer(trained[0])
    extra = ["\t\t x\n", " ", "\n\n", "Ünïcödé ＦＵＬＬ　ｗｉｄｔｈ ½ ﬁ", "a\u2581b \u2581\u2581 c\u2581"]
    for text in TEXTS[:4] + extra:
        assert tok.decode(tok.encode_document(text)[1:-1]) == text


def test_document_framing_and_dtype(trained):
    tok = Tokenizer(trained[0])
    ids = tok.encode_document("hello")
    assert ids.dtype.name == "uint32"
    assert (ids[0], ids[-1]) == (tok.bos_id, tok.eos_id)
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (1, 2, 3)


def test_training_is_deterministic_and_sidecar_describes_sample(trained):
    model, sidecar = train_sentencepiece(TEXTS, CFG)
    assert model == trained[0]
    assert sidecar["sample"]["documents"] == len(TEXTS)
    assert sidecar["train_config"]["vocab_size"] == 400


def test_temperature_flattens_language_shares():
    chars = {"en": 9000, "zh": 1000}
    assert language_budgets(chars, 1000, 1.0) == {"en": 900, "zh": 100}
    flat = language_budgets(chars, 1000, 100.0)
    assert 490 < flat["en"] < 510 and 490 < flat["zh"] < 510


def test_select_sample_is_order_independent():
    docs = [(f"s/{i}", "en" if i % 3 else "zh", f"text {i}") for i in range(50)]
    cfg = TokenizerTrainConfig(sample_chars=200)
    assert select_sample(docs, cfg) == select_sample(docs[::-1], cfg)


def test_pinned_model_without_pad_or_byte_fallback_is_refused():
    import io

    import sentencepiece as spm

    writer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXTS), model_writer=writer, vocab_size=200,
                                   model_type="bpe", minloglevel=2, hard_vocab_limit=False)  # stock: pad_id -1
    problems = Tokenizer(writer.getvalue()).problems()
    assert "pad_id is -1, must be >= 0" in problems
    assert any("byte-fallback" in p for p in problems)
