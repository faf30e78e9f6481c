"""Tokenizer: lossless and deterministic training, sampling (source weights, temperature, held-out set),
the sidecar and fertility report, the wrapper's batch API, TokenizeDocuments, `curate train-tokenizer`."""

import dataclasses
import hashlib
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import main as curate
from pipeline.config import ConfigError, TokenizerConfig, config_from_dict
from pipeline.tokenizer_step import build_tokenizer, prepare_tokenizer, tokenizer_report
from tests.beam_testing import fn_api_test_pipeline
from tokenizer import Tokenizer, TokenizerTrainConfig, train_sentencepiece
from tokenizer.train import (
    CuratedDoc,
    _take,
    is_heldout,
    language_budgets,
    sample_budgets,
    select_heldout,
    select_sample,
)
from transforms.tokenize import TokenizeDocuments

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "The river runs past the old mill and under the stone bridge into the town.\n\nPeople walk there.",
    "def slugify(title: str) -> str:\n    \"\"\"Lower-case, dash-separated.\"\"\"\n\treturn '-'.join(title.split())\n",
    "春天来了，公园里的花都开了。很多人在周末带着孩子去散步。\n第二段：湖边的柳树也长出了新的叶子。",
    "  leading spaces, trailing spaces   \n\n\n three newlines, digits 1234567890 and emoji 🙂",
] * 30
SPECIALS = ("<|endoftext|>", "<|fim_middle|>")
CFG = TokenizerTrainConfig(vocab_size=400, sample_chars=200_000, num_threads=1, special_tokens=SPECIALS)
LOSSLESS = [
    "\t\t x\n", " ", "\n\n", "   \n\t\n  ", "Ünïcödé ＦＵＬＬ　ｗｉｄｔｈ ½ ﬁ",
    "a\u2581b \u2581\u2581 c\u2581", "\u2581", "if (x) {\n\treturn y;  // tab-indented\n}\r\n",
    "emoji 🙂👍🏽 family 👨‍👩‍👧 flags 🇨🇳",
    "日本語のテキスト、한국어 텍스트",
    "e\u0301 vs é, zero\u200bwidth, bom\ufeff, nul\x00, bell\x07", "<|endoftext|> is text here, <s> too", "",
    "numbers 3.14159 1,000,000 0x1F", "\U0010fffd private use \ue000",
]


@pytest.fixture(scope="module")
def trained():
    return train_sentencepiece(TEXTS, CFG)


@pytest.fixture(scope="module")
def tok(trained):
    return Tokenizer(trained[0])


# ------------------------------------------------------------------------------------------- lossless

def test_round_trip_is_lossless_for_code_whitespace_cjk_emoji_and_meta_space(tok):
    texts = TEXTS[:4] + LOSSLESS
    for text in texts:
        assert tok.decode(tok.encode_document(text)) == text
        assert tok.decode(tok.encode(text)) == text
    batch = tok.encode_batch(texts)
    assert [tok.decode(ids) for ids in batch] == texts
    assert [ids.tolist() for ids in batch] == [tok.encode_document(t).tolist() for t in texts]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40), max_size=4))
def test_round_trip_property(tok, texts):
    for text, ids in zip(texts, tok.encode_batch(texts), strict=True):
        assert tok.decode(ids) == text


def test_document_framing_dtype_and_special_ids(tok):
    ids = tok.encode_document("hello")
    assert ids.dtype.name == "uint32"
    assert (ids[0], ids[-1]) == (tok.bos_id, tok.eos_id)
    assert (tok.unk_id, tok.bos_id, tok.eos_id, tok.pad_id) == (0, 1, 2, 3)
    unframed = tok.encode_batch(["hello", "a\u2581b"], frame=False)
    assert [u.dtype.name for u in unframed] == ["uint32", "uint32"]
    assert unframed[0].tolist() == ids[1:-1].tolist()
    assert tok.special_ids == {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3, "<|endoftext|>": 4,
                               "<|fim_middle|>": 5, "\n": 6, "\t": 7}
    assert [tok.special_id(n) for n in ("unk", "bos", "eos", "pad", "<|fim_middle|>", "\n")] == [0, 1, 2, 3, 5, 6]
    with pytest.raises(KeyError):
        tok.special_id("<|im_start|>")
    assert tok.vocab_size <= 400


def test_special_tokens_are_never_produced_from_text(tok):
    ids = tok.encode("a <|endoftext|> b <|fim_middle|>")
    assert 4 not in ids and 5 not in ids
    assert tok.decode([tok.special_id("<|endoftext|>")]) == ""  # control pieces decode to nothing


def test_wrapper_pickles_without_its_processor(tok):
    import pickle

    copy = pickle.loads(pickle.dumps(tok))
    assert copy._sp is None and copy.num_threads == tok.num_threads
    assert copy.encode_document("春天 🙂").tolist() == tok.encode_document("春天 🙂").tolist()


# -------------------------------------------------------------------------------------- determinism

def test_training_is_deterministic_and_sidecar_describes_sample(trained):
    model, sidecar = train_sentencepiece(TEXTS, CFG)
    assert model == trained[0]
    assert sidecar["sample"]["documents"] == len(TEXTS)
    assert sidecar["sample"]["sha256"] == hashlib.sha256("".join(TEXTS).encode()).hexdigest()
    assert sidecar["train_config"]["vocab_size"] == 400
    assert sidecar["train_config"]["special_tokens"] == list(SPECIALS)
    assert sidecar["model"]["sha256"] == hashlib.sha256(model).hexdigest()
    assert any("fewer than" in w for w in sidecar["warnings"])  # 3,700 characters for 400 pieces


def test_training_in_another_process_is_byte_identical_and_quiet(trained):
    code = ("import hashlib, json, sys\nsys.path.insert(0, sys.argv[1])\n"
            "from tokenizer import TokenizerTrainConfig, train_sentencepiece\n"
            "texts, kwargs = json.load(sys.stdin)\n"
            "cfg = TokenizerTrainConfig(**{**kwargs, 'special_tokens': tuple(kwargs['special_tokens'])})\n"
            "print(hashlib.sha256(train_sentencepiece(texts, cfg)[0]).hexdigest())\n")
    kwargs = {k: v for k, v in dataclasses.asdict(CFG).items() if k in ("vocab_size", "sample_chars", "num_threads",
                                                                      "special_tokens")}
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT)], input=json.dumps([TEXTS, kwargs]),
                          capture_output=True, text=True, env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == hashlib.sha256(trained[0]).hexdigest()
    # nothing from SentencePiece's trainer on stderr (only our own sample-size warning, through logging)
    assert "trainer_interface" not in proc.stderr and "bpe_model_trainer" not in proc.stderr, proc.stderr
    assert all(line.startswith("tokenizer:") for line in proc.stderr.splitlines()), proc.stderr


# ------------------------------------------------------------------------------------------- sampling

HANZI = "春天来了公园里的花都开了很多人在周末带着孩子去散步湖边柳树"


def _docs(n=240, seed=0):
    rng = random.Random(seed)
    words = "river mill bridge town people walk market evening light stone water garden".split()
    out = []
    for i in range(n):
        source, lang = [("web", "en"), ("web", "zh"), ("code", "code"), ("books", "en")][i % 4]
        if lang == "zh":
            text = "".join(rng.choice(HANZI) for _ in range(rng.randint(200, 900)))
        elif lang == "code":
            text = "\n".join(f"def f{i}_{k}(x):\n\treturn x * {k} + {rng.randint(0, 99)}"
                             for k in range(rng.randint(5, 40)))
        else:
            text = "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(5, 25))) + "."
                             for _ in range(rng.randint(3, 40)))
        out.append(CuratedDoc(f"{source}/{i:04d}", source, lang, text))
    return out


def test_temperature_flattens_language_shares_and_capped_languages_pass_on_their_share():
    chars = {"en": 9000, "zh": 1000}
    assert language_budgets(chars, 1000, 1.0) == {"en": 900, "zh": 100}
    flat = language_budgets(chars, 1000, 100.0)
    assert 490 < flat["en"] < 510 and 490 < flat["zh"] < 510
    # zh can give only 1,000 of its ~5,000 share: the rest goes to en, the budget is still met
    assert language_budgets(chars, 10_000, 100.0) == {"en": 9000, "zh": 1000}
    assert language_budgets(chars, 6000, 100.0) == {"en": 5000, "zh": 1000}


def test_source_weights_scale_sources_within_a_language_and_zero_leaves_a_source_out():
    chars = {("en", "books"): 50_000, ("en", "web"): 50_000, ("zh", "web"): 10_000}
    cfg = TokenizerTrainConfig(vocab_size=300, sample_chars=150_000, source_weights={"books": 3.0})
    natural = sample_budgets(chars, dataclasses.replace(cfg, source_weights={}))
    assert natural == chars  # the corpus is smaller than the sample: everything
    small = dataclasses.replace(cfg, sample_chars=150_000)
    weighted = sample_budgets({k: 10 * v for k, v in chars.items()}, small)
    assert weighted[("en", "books")] == pytest.approx(3 * weighted[("en", "web")], rel=1e-6)
    assert sum(weighted.values()) == pytest.approx(150_000, abs=3)
    # temperature applies to the weighted language totals: en 2,000k weighted vs zh 100k
    assert weighted[("zh", "web")] == pytest.approx(150_000 * 100 / 2100, abs=2)
    off = sample_budgets(chars, dataclasses.replace(cfg, source_weights={"books": 0.0}))
    assert off.get(("en", "books"), 0) == 0 and off[("en", "web")] == 50_000


def test_select_sample_is_order_independent_disjoint_from_heldout_and_within_budget():
    docs = _docs()
    cfg = TokenizerTrainConfig(vocab_size=300, sample_chars=150_000, heldout_fraction=0.2, temperature=2.0,
                               source_weights={"books": 0.5}, fertility_chars=3000)
    sample = select_sample(docs, cfg)
    assert sample == select_sample(docs[::-1], cfg) == select_sample(iter(docs), cfg)
    assert sum(len(d.text) for d in sample) <= cfg.sample_chars
    assert sum(len(d.text) for d in sample) > 0.99 * cfg.sample_chars
    heldout = select_heldout(docs, cfg)
    assert heldout and not {d.id for d in heldout} & {d.id for d in sample}
    assert all(is_heldout(d.id, cfg) for d in heldout)
    for cell in {(d.source, d.lang) for d in heldout}:
        assert sum(len(d.text) for d in heldout if (d.source, d.lang) == cell) <= 3000


def test_streaming_selection_equals_sorting_every_cell():
    """select_sample keeps a bounded heap per cell; the reference sorts every cell in full."""
    from transforms.hashing import hash64

    docs = _docs(400, seed=3)
    cfg = TokenizerTrainConfig(vocab_size=300, sample_chars=150_000, temperature=3.0, heldout_fraction=0.1)
    from tokenizer.train import cell_chars

    budgets = sample_budgets(cell_chars(docs, cfg), cfg)
    expected = []
    for lang, source in sorted(budgets):
        cell = sorted((hash64(cfg.seed, d.id), d.id, d) for d in docs
                      if (d.lang, d.source) == (lang, source) and not is_heldout(d.id, cfg))
        expected += _take([d for *_, d in cell], budgets[(lang, source)]) if budgets[(lang, source)] else []
    assert select_sample(docs, cfg) == expected


def _job_rows(docs, cfg):
    """What the curation job keeps for the launcher: per-cell characters, then the documents under the cutoffs."""
    from tokenizer.train import doc_cell, key_cutoffs, under_cutoff

    stats = {}
    for d in docs:
        if d.text and (cell := doc_cell(d.id, d.source, d.lang, cfg)) is not None:
            n, sq = stats.get(cell, (0, 0))
            stats[cell] = (n + len(d.text), sq + len(d.text) ** 2)
    cutoffs = key_cutoffs(stats, cfg)
    return stats, cutoffs, [d for d in docs if under_cutoff(d.id, d.source, d.lang, d.text, cfg, cutoffs)]


def test_pick_from_rows_under_the_cutoffs_equals_draw():
    from tokenizer.train import draw, pick_from_rows

    rng = random.Random(5)
    words = "river mill bridge town people walk market evening light stone water garden".split()
    docs = [CuratedDoc(f"{src}/{i:05d}", src, lang, " ".join(rng.choice(words) for _ in range(rng.randint(5, 40))))
            for i in range(6000) for src, lang in [[("web", "en"), ("books", "en"), ("forum", "de")][i % 3]]]
    docs += _docs(60, seed=3) + [CuratedDoc("web/empty", "web", "en", "")]
    cfg = TokenizerTrainConfig(vocab_size=300, sample_chars=150_000, temperature=3.0, heldout_fraction=0.1,
                               fertility_chars=3000, source_weights={"books": 0.5})
    stats, cutoffs, rows = _job_rows(docs, cfg)
    cut = sorted(c for c, k in cutoffs.items() if k is not None)
    assert cut == [("heldout", "books", "en"), ("heldout", "forum", "de"), ("heldout", "web", "en"),
                   ("sample", "de", "forum"), ("sample", "en", "books"), ("sample", "en", "web")]
    assert (len(rows), len(docs)) == (2156, 6061)
    expected = draw(docs, cfg)
    assert pick_from_rows(rows[::-1], stats, cfg) == expected
    assert sum(len(d.text) for d in expected[0]) > 0.99 * cfg.sample_chars
    # a cut cell whose rows fall short of its budget: None (the launcher then draws from curated/)
    short = [d for d in rows if (d.lang, d.source) != ("en", "books") or d.id == rows[0].id]
    assert pick_from_rows(short, stats, cfg) is None
    # a corpus smaller than the sample: every cell is kept whole, nothing to cut
    whole = dataclasses.replace(cfg, sample_chars=10_000_000, fertility_chars=10_000_000)
    stats, cutoffs, rows = _job_rows(docs, whole)
    assert set(cutoffs.values()) == {None} and len(rows) == 6060
    assert pick_from_rows(rows, stats, whole) == draw(docs, whole)


def test_key_share_leaves_eight_standard_deviations_above_the_budget():
    from tokenizer.train import key_share

    # a billion documents of 3,000 characters, 200M to take: 3% over the budget's own share
    q = key_share(200_000_000, 3 * 10**12, 10**9 * 3000**2)
    assert q * 3e12 - 8 * math.sqrt(q * 9e15) == pytest.approx(2e8)
    assert 1.02 < q / (2e8 / 3e12) < 1.04
    assert key_share(10, 10, 100) == 1.0 and key_share(5, 100, 100**2) >= 1.0   # one big document: all of it


def test_last_document_of_a_cell_is_cut_at_a_line_end():
    docs = [CuratedDoc("a", "s", "en", "x" * 10), CuratedDoc("b", "s", "en", "line one\nline two\nline three")]
    assert [d.text for d in _take(docs, 25)] == ["x" * 10, "line one"]
    assert [d.text for d in _take(docs, 0)] == []


# --------------------------------------------------------------------------------------------- config

def test_config_range_and_values_are_validated():
    assert TokenizerTrainConfig(vocab_size=100_000).sample_chars == 50_000_000  # 100k fits the default sample
    TokenizerTrainConfig(vocab_size=262_144, sample_chars=200_000_000)
    bad = [dict(vocab_size=100_001), dict(vocab_size=1_000_001, sample_chars=10**9), dict(vocab_size=250),
           dict(byte_fallback=False), dict(special_tokens=("<s>",)), dict(special_tokens=("\n",)),
           dict(special_tokens=("",)), dict(special_tokens=("<0x41>",)), dict(source_weights={"web": -1.0}),
           dict(temperature=0.0), dict(character_coverage=0.0), dict(heldout_fraction=1.0),
           dict(model_type="wordpiece"), dict(num_threads=0)]
    for kwargs in bad:
        with pytest.raises(ValueError, match="tokenizer.train"):
            TokenizerTrainConfig(**kwargs)


def test_yaml_config_reads_weights_and_special_tokens(tmp_path):
    raw = {"sources": [{"name": "web", "paths": ["x"]}, {"name": "code", "paths": ["y"], "lang": "code"}],
           "phases": [{"name": "p", "tokens": 10, "seq_len": 8, "weights": {"web": 1}}],
           "tokenizer": {"train": {"vocab_size": 92_544, "source_weights": {"code": 0.5},
                                   "special_tokens": ["<|im_start|>", "<|im_end|>"]}}}
    cfg = config_from_dict(raw, tmp_path).tokenizer.train
    assert cfg.source_weights == {"code": 0.5} and cfg.special_tokens == ("<|im_start|>", "<|im_end|>")
    raw["tokenizer"]["train"]["source_weights"] = {"code": "heavy"}
    with pytest.raises(ConfigError, match="tokenizer.train.source_weights.code must be float"):
        config_from_dict(raw, tmp_path)


# ------------------------------------------------------------------------- the step, sidecar, fertility

def _write_curated(folder: Path, docs, parts=2) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(parts):
        rows = [d for i, d in enumerate(docs) if i % parts == k]
        table = pa.table({"id": [d.id for d in rows], "source": [d.source for d in rows],
                          "lang": [d.lang for d in rows], "text": [d.text for d in rows],
                          "decision": ["keep"] * len(rows)})
        path = folder / f"part-{k:05d}-of-{parts:05d}.parquet"
        pq.write_table(table, path)
        paths.append(str(path))
    return paths


TRAIN = TokenizerTrainConfig(vocab_size=400, sample_chars=200_000, num_threads=1, heldout_fraction=0.15,
                             fertility_chars=20_000)


def test_prepare_trains_reuses_and_reports_fertility_on_heldout_text(tmp_path):
    parts = _write_curated(tmp_path / "run" / "curated", _docs())
    out = str(tmp_path / "run")
    first = build_tokenizer(TokenizerConfig(train=TRAIN), out, parts)
    assert first.origin == "trained"
    model = (tmp_path / "run" / "tokenizer" / "tokenizer.model").read_bytes()
    sidecar = json.loads((tmp_path / "run" / "tokenizer" / "tokenizer.json").read_text())
    assert sidecar == first.sidecar
    sample = sidecar["sample"]
    assert set(sample["by_lang"]) == {"code", "en", "zh"} and set(sample["by_source"]) == {"books", "code", "web"}
    assert sum(v["chars"] for v in sample["by_source"].values()) == sample["chars"]
    fert = sidecar["fertility"]
    assert set(fert["by_lang"]) == {"code", "en", "zh"} and set(fert["by_source"]) == {"books", "code", "web"}
    assert fert["all"]["docs"] == sidecar["heldout"]["measured_documents"] > 0
    zh, en = fert["by_lang"]["zh"], fert["by_lang"]["en"]
    assert zh["tokens_per_char"] > en["tokens_per_char"]  # one Chinese character carries more than a letter
    assert zh["words"] == pytest.approx(zh["chars"] / 1.5, rel=0.01)  # unspaced: characters / 1.5
    assert sidecar["model"]["vocab_size"] == first.tokenizer.vocab_size
    assert tokenizer_report(out)["fertility"] == fert

    again = build_tokenizer(TokenizerConfig(train=dataclasses.replace(TRAIN, fertility_chars=5000)), out, parts)
    assert again.origin == "reused"  # a report-only field does not retrain
    assert again.fertility["all"]["chars"] < fert["all"]["chars"]
    assert (tmp_path / "run" / "tokenizer" / "tokenizer.model").read_bytes() == model
    changed = build_tokenizer(TokenizerConfig(train=dataclasses.replace(TRAIN, vocab_size=390)), out, parts)
    assert changed.origin == "trained"
    assert prepare_tokenizer(TokenizerConfig(train=TRAIN), str(tmp_path / "other"), parts).model_bytes == model


def test_same_step_in_two_outputs_writes_identical_files(tmp_path):
    parts = _write_curated(tmp_path / "c", _docs(120, seed=5))
    for name in ("a", "b"):
        build_tokenizer(TokenizerConfig(train=TRAIN), str(tmp_path / name), parts)
    for f in ("tokenizer.model", "tokenizer.json"):
        assert (tmp_path / "a" / "tokenizer" / f).read_bytes() == (tmp_path / "b" / "tokenizer" / f).read_bytes()


def test_pinned_model_is_copied_and_measured(tmp_path, trained):
    parts = _write_curated(tmp_path / "c", _docs(80))
    pinned = tmp_path / "pinned.model"
    pinned.write_bytes(trained[0])
    result = build_tokenizer(TokenizerConfig(model=str(pinned), train=TRAIN), str(tmp_path / "o"), parts)
    assert result.origin == "pinned" and result.tokenizer.model_bytes == trained[0]
    assert result.sidecar["copied_from"] == str(pinned) and result.fertility["all"]["docs"] > 0
    assert "sample" not in result.sidecar


def test_unknown_weighted_source_is_a_config_error(tmp_path):
    parts = _write_curated(tmp_path / "c", _docs(40))
    cfg = TokenizerConfig(train=dataclasses.replace(TRAIN, source_weights={"wbe": 2.0}))
    with pytest.raises(ConfigError, match="unknown source 'wbe'"):
        build_tokenizer(cfg, str(tmp_path / "o"), parts, sources=["web", "code", "books"])
    result = build_tokenizer(cfg, str(tmp_path / "o"), parts)  # names unknown to the step: a warning
    assert any("wbe" in w for w in result.sidecar["warnings"])


def test_pinned_model_without_pad_or_byte_fallback_is_refused():
    import io

    import sentencepiece as spm

    writer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXTS), model_writer=writer, vocab_size=200,
                                   model_type="bpe", minloglevel=2, hard_vocab_limit=False)  # stock: pad_id -1
    problems = Tokenizer(writer.getvalue()).problems()
    assert "pad_id is -1, must be >= 0" in problems
    assert any("byte-fallback" in p for p in problems)


# ---------------------------------------------------------------------------------- TokenizeDocuments

def test_tokenize_documents_batches_and_counts_per_source_and_language(tok):
    rows = [{"id": f"s/{i}", "source": "web" if i % 3 else "code", "lang": [None, "en", "zh"][i % 3],
             "text": (LOSSLESS + TEXTS[:4])[i % (len(LOSSLESS) + 4)] * (1 + i % 5)} for i in range(60)]
    expected = [(r["id"], r["lang"] or "und", tok.encode_document(r["text"]).tolist()) for r in rows]
    p = fn_api_test_pipeline()
    out = p | beam.Create(rows) | TokenizeDocuments(tok, batch_chars=300)  # many batches, some one-document
    assert_that(out | beam.Map(lambda d: (d.id, d.lang, d.ids.tolist())), equal_to(expected))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed
                for c in result.metrics().query(MetricsFilter().with_namespace("tokenize"))["counters"]}
    tokens = {src: sum(len(e[2]) for e, r in zip(expected, rows, strict=True) if r["source"] == src)
              for src in ("web", "code")}
    langs = {lang: sum(len(e[2]) for e in expected if e[1] == lang) for lang in ("und", "en", "zh")}
    assert counters["docs_in"] == 60
    assert {k: v for k, v in counters.items() if k.startswith("tokens:")} == \
        {f"tokens:{k}": v for k, v in tokens.items()}
    assert {k: v for k, v in counters.items() if k.startswith("tokens_lang:")} == \
        {f"tokens_lang:{k}": v for k, v in langs.items()}
    assert counters["chars:web"] == sum(len(r["text"]) for r in rows if r["source"] == "web")


def test_encode_batch_is_uint32_views_without_python_lists(tok):
    ids = tok.encode_batch(["plain text", "more"])
    assert all(isinstance(a, np.ndarray) and a.dtype == np.uint32 for a in ids)


# ---------------------------------------------------------------------------------- train-tokenizer CLI

def _cli_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "c.yaml"
    path.write_text("run: {parts: 2}\nsources: [{name: web, paths: [x]}, {name: code, paths: [y], lang: code},\n"
                    "  {name: books, paths: [z]}]\n"
                    "phases: [{name: p, tokens: 10, seq_len: 8, weights: {web: 1}}]\n"
                    "tokenizer: {train: {vocab_size: 400, sample_chars: 200000, num_threads: 1, "
                    f"heldout_fraction: 0.15{extra}}}}}\n")
    return path


def test_train_tokenizer_command_matches_the_run_step(tmp_path, capsys):
    docs = _docs()
    _write_curated(tmp_path / "run" / "curated", docs)
    _write_curated(tmp_path / "run" / "curated", docs[:10], parts=3)  # an older run's parts are ignored
    config = _cli_config(tmp_path)
    assert curate(["train-tokenizer", "--config", str(config), "--curated", str(tmp_path / "run"),
                   "--output", str(tmp_path / "tok")]) == 0
    printed = capsys.readouterr().out
    assert "sample: " in printed and "lang zh" in printed and "source code" in printed and "tok/word" in printed
    parts = sorted(str(p) for p in (tmp_path / "run" / "curated").glob("part-*-of-00002.parquet"))
    run = build_tokenizer(TokenizerConfig(train=dataclasses.replace(TRAIN, fertility_chars=500_000)),
                          str(tmp_path / "run"), parts)
    assert (tmp_path / "tok" / "tokenizer.model").read_bytes() == run.tokenizer.model_bytes
    assert json.loads((tmp_path / "tok" / "tokenizer.json").read_text())["fertility"] == run.fertility
    glob = str(tmp_path / "run" / "curated" / "part-*-of-00002.parquet")
    assert curate(["train-tokenizer", "--config", str(config), "--curated", glob,
                   "--output", str(tmp_path / "tok")]) == 0
    assert "(reused;" in capsys.readouterr().out


@pytest.mark.parametrize(("curated", "extra", "message"), [
    ("missing", "", "curate: error: --curated {tmp}/missing: no curated Parquet parts"),
    ("c.yaml", "", "curate: error: --curated {tmp}/c.yaml: no curated Parquet parts"),
    ("run/curated/*.yaml", "", "curate: error: --curated {tmp}/run/curated/*.yaml: no file matches"),
    ("notparquet/*", "", "curate: error: {tmp}/notparquet/bad.parquet is not a curated Parquet part"),
    ("run", ", source_weights: {wbe: 2}", "curate: error: tokenizer.train.source_weights: unknown source 'wbe'"),
    ("run", ", vocab_size: 100000", "curate: error: tokenizer.train.sample_chars (200000) is too small"),
    ("run", ", source_weights: {web: 0, code: 0, books: 0}", "curate: error: no curated documents to train"),
])
def test_train_tokenizer_user_errors_are_one_line_exit_2(tmp_path, capsys, curated, extra, message):
    _write_curated(tmp_path / "run" / "curated", _docs(40))
    (tmp_path / "notparquet").mkdir()
    (tmp_path / "notparquet" / "bad.parquet").write_text("not parquet")
    config = _cli_config(tmp_path, extra)
    assert curate(["train-tokenizer", "--config", str(config), "--curated", str(tmp_path / curated),
                   "--output", str(tmp_path / "tok")]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("curate:")]
    assert len(lines) == 1 and lines[0].startswith(message.format(tmp=tmp_path)), err
    assert "Traceback" not in err


def test_tokenized_doc_pickles_as_its_fields_with_uint32_ids():
    import pickle

    from transforms.tokenize import TokenizedDoc

    doc = TokenizedDoc(id="web/1", source="web", lang="en", ids=np.array([1, 70000, 2], dtype=np.uint32),
                       quality_score=0.25, cluster_size=3, repeat=1)
    back = pickle.loads(pickle.dumps(doc, protocol=5))
    assert (back.id, back.source, back.lang, back.quality_score, back.cluster_size, back.repeat) == \
        ("web/1", "web", "en", 0.25, 3, 1)
    assert back.ids.dtype == np.uint32 and back.ids.tolist() == [1, 70000, 2] and back.n_tokens == 3
    cut = dataclasses.replace(back, ids=back.ids[:2])           # what MixPhases does at a budget
    assert pickle.loads(pickle.dumps(cut)).ids.tolist() == [1, 70000]
    # ids that fit 16 bits travel as uint16 (half the bytes) and come back as uint32
    small = dataclasses.replace(doc, ids=np.array([1, 65535, 7999, 2], dtype=np.uint32))
    wide = dataclasses.replace(doc, ids=np.array([1, 65536, 7999, 2], dtype=np.uint32))
    for d in (small, wide, dataclasses.replace(doc, ids=np.array([], dtype=np.uint32))):
        b = pickle.loads(pickle.dumps(d, protocol=5))
        assert b.ids.dtype == np.uint32 and b.ids.tolist() == d.ids.tolist()
    assert len(pickle.dumps(small, protocol=5)) == len(pickle.dumps(wide, protocol=5)) - 8
