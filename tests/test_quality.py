import hashlib
import json
import random
import subprocess
import sys
from collections import Counter

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

import transforms.quality as quality
from pipeline import cli
from pipeline.train_quality import TrainQualityConfig, train_quality
from tests.beam_testing import fn_api_test_pipeline
from transforms.document import Document
from transforms.langid import load_model
from transforms.quality import (
    QualityConfig,
    QualityModelError,
    ScoreQuality,
    check_model,
    is_kept,
    quality_features,
    rank_key,
    score_texts,
    select_top,
    target_count,
)

HP = {"epoch": 10, "dim": 16, "bucket": 20_000, "holdout_fraction": 0.2}

_NOUNS = ["river", "library", "cathedral", "university", "harbour", "railway", "museum", "observatory", "bridge",
          "parliament", "monastery", "province", "archive", "theatre", "canal"]
_PLACES = ["Lyon", "Kraków", "Edinburgh", "Porto", "Uppsala", "Bologna", "Ghent", "Toledo", "Bergen", "Salzburg"]
_PEOPLE = ["the historian Anne Weber", "a local council", "the architect João Silva", "the first bishop",
           "a group of merchants", "the royal society"]
_CLAUSES = ["which remains in use today", "after a long period of decline", "during the reign of the duke",
            "with funds raised by the citizens", "following a major fire in the old town"]
_ZH_PLACES = ["杭州", "西安", "成都", "苏州", "南京", "洛阳", "泉州", "大理"]
_ZH_THINGS = ["图书馆", "博物馆", "古桥", "寺庙", "大学", "运河", "城墙", "书院"]
_ZH_EVENTS = ["经过多次修缮，至今仍对公众开放。", "在战乱中受到严重破坏，后来得以重建。",
              "保存了大量珍贵的历史文献和文物。", "是研究当地历史文化的重要场所。"]
_SPAM = ["buy", "cheap", "free", "casino", "bonus", "click", "here", "win", "iphone", "discount", "viagra",
         "deal", "best", "price", "limited", "offer", "now", "!!!", "$$$", "subscribe", "crypto", "loans"]
_BOILER = ["Home", "About us", "Contact", "Privacy policy", "Terms of use", "Login", "Sign up", "Cart",
           "© 2023 All rights reserved", "Follow us", "Newsletter", "Cookie settings", "Sitemap", "FAQ"]
_ZH_SPAM = ["免费", "下载", "点击", "这里", "优惠", "促销", "彩票", "中奖", "加微信", "代理", "秒杀", "包邮"]


def _english(r: random.Random) -> str:
    return " ".join(f"The {r.choice(_NOUNS)} of {r.choice(_PLACES)} was founded in {r.randint(1100, 1900)} by "
                    f"{r.choice(_PEOPLE)}, {r.choice(_CLAUSES)}." for _ in range(r.randint(2, 4)))


def _chinese(r: random.Random) -> str:
    return "".join(f"{r.choice(_ZH_PLACES)}的{r.choice(_ZH_THINGS)}建于{r.randint(1100, 1900)}年，"
                   f"{r.choice(_ZH_EVENTS)}" for _ in range(r.randint(2, 3)))


def _spam(r: random.Random) -> str:
    kind = r.randrange(3)
    if kind == 0:
        return " ".join(r.choice(_SPAM) for _ in range(r.randint(8, 20)))
    if kind == 1:
        return "\n".join(r.sample(_BOILER, r.randint(4, 9)))
    return " ".join(r.choice(_ZH_SPAM) for _ in range(r.randint(6, 14)))


def _write_jsonl(path, texts, extra=None):
    with open(path, "w", encoding="utf-8") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"text": t, **(extra(i) if extra else {})}, ensure_ascii=False) + "\n")
    return str(path)


def _corpus(tmp, n=200):
    r = random.Random(7)
    pos = [(_english(r) if i % 2 else _chinese(r)) for i in range(n)]
    neg = [_spam(r) for _ in range(n)]
    return _write_jsonl(tmp / "pos.jsonl", pos), _write_jsonl(tmp / "neg.jsonl", neg)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quality")
    pos, neg = _corpus(tmp)
    cfg = TrainQualityConfig(positive=(pos,), negative=(neg,), **HP)
    out = str(tmp / "a" / "quality.bin")
    metrics = train_quality(cfg, out)
    return {"tmp": tmp, "pos": pos, "neg": neg, "cfg": cfg, "model": out, "metrics": metrics}


# ---------------------------------------------------------------- features

@pytest.mark.parametrize(("text", "expected"), [
    ("The Old  Harbour\nTown, 1841.\r\n\tEnd", "the old harbour town, 1841. end"),
    ("今天天气很好。\n我们去公园！", "今 天 天 气 很 好 。 我 们 去 公 园 ！"),
    ("Python是一种Language", "python 是 一 种 language"),
    ("カタカナ ok\u3000ไทย", "カ タ カ ナ ok ไ ท ย"),
    ("  \n ", ""),
])
def test_quality_features(text, expected):
    assert quality_features(text) == expected


def test_quality_features_truncates_the_text_first():
    assert quality_features("ABCDEF", max_chars=3) == "abc"
    assert quality_features("中文字符", max_chars=2) == "中 文"


# ---------------------------------------------------------------- training

def test_training_metrics_sidecar_and_determinism(trained, tmp_path):
    m = trained["metrics"]
    assert m["precision"] >= 0.95 and m["recall"] >= 0.95 and m["f1"] >= 0.95, m
    assert m["holdout"]["hq"] + m["train"]["hq"] == 200 and m["holdout"]["lq"] + m["train"]["lq"] == 200
    assert 20 <= m["holdout"]["hq"] <= 60 and 20 <= m["holdout"]["lq"] <= 60
    assert m["tp"] + m["fn"] == m["holdout"]["hq"] and m["fp"] + m["tn"] == m["holdout"]["lq"]

    side = json.loads(open(trained["model"] + ".json", encoding="utf-8").read())
    sha = {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (trained["pos"], trained["neg"])}
    assert side["inputs"] == [
        {"role": "positive", "path": trained["pos"], "sha256": sha[trained["pos"]],
         "records": {"hq": 200, "lq": 0}, "skipped": {}},
        {"role": "negative", "path": trained["neg"], "sha256": sha[trained["neg"]],
         "records": {"hq": 0, "lq": 200}, "skipped": {}}]
    assert side["model"] == {"file": "quality.bin", "labels": {"positive": "__label__hq", "negative": "__label__lq"},
                             "sha256": hashlib.sha256(open(trained["model"], "rb").read()).hexdigest()}
    assert side["features"] == {"function": "transforms.quality.quality_features", "max_chars": 10_000,
                                "version": "quality_features_v1"}
    assert side["examples"]["total"] == {"hq": 200, "lq": 200}
    assert side["hyperparameters"] == {"epoch": 10, "lr": 0.1, "wordNgrams": 2, "dim": 16, "minCount": 1,
                                       "bucket": 20_000, "seed": 20231, "thread": 1, "loss": "softmax"}
    assert side["holdout_metrics"] == m and side["skipped"] == {}
    assert side["versions"]["fasttext-numpy2"]
    assert side["config"]["positive"] == [trained["pos"]]

    assert side["zero_filled_init"] is True

    # Same inputs, another directory, a heap full of freed non-zero blocks: byte-identical model and sidecar
    # (without zero_filled_allocations, fastText's uninitialized rows made these differ).
    junk = [bytearray(b"\x55" * (1 << k)) for k in range(10, 22) for _ in range(3)]
    del junk
    again = tmp_path / "b" / "quality.bin"
    assert train_quality(trained["cfg"], str(again)) == m
    assert again.read_bytes() == open(trained["model"], "rb").read()
    assert (tmp_path / "b" / "quality.bin.json").read_bytes() == open(trained["model"] + ".json", "rb").read()


def test_labelled_inputs_and_bad_records(trained, tmp_path):
    r = random.Random(3)
    good = [json.dumps({"text": _english(r), "label": "hq"}) for _ in range(60)]
    good += [json.dumps({"text": _spam(r), "label": lab}) for lab in ["spam", "lq", 0] * 20]
    bad = ["{not json", "[1, 2]", json.dumps({"label": "hq"}), json.dumps({"text": 5, "label": "hq"}),
           json.dumps({"text": " \n ", "label": "hq"}), json.dumps({"text": "fine text"}), "", "   "]
    path = tmp_path / "labelled.jsonl"
    path.write_bytes(("\n".join(good[:70] + bad + good[70:]) + "\n").encode() + b"\xff\xfe broken\n")
    cfg = TrainQualityConfig(labelled=(str(path),), **HP)
    metrics = train_quality(cfg, str(tmp_path / "m.bin"))
    side = json.loads((tmp_path / "m.bin.json").read_text())
    assert side["inputs"] == [{"role": "labelled", "path": str(path),
                               "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                               "records": {"hq": 60, "lq": 60},
                               "skipped": {"empty_text": 1, "invalid_json": 1, "invalid_utf8": 1,
                                           "missing_label": 1, "missing_text": 2, "not_an_object": 1}}]
    assert side["skipped"] == side["inputs"][0]["skipped"]
    assert metrics["train"]["hq"] + metrics["holdout"]["hq"] == 60


def test_training_does_not_depend_on_input_order(trained, tmp_path):
    lines = open(trained["pos"], encoding="utf-8").read().splitlines()
    first, second = tmp_path / "p1.jsonl", tmp_path / "p2.jsonl"
    first.write_text("\n".join(lines[100:]) + "\n")
    second.write_text("\n".join(reversed(lines[:100])) + "\n")
    cfg = TrainQualityConfig(positive=(str(first), str(second)), negative=(trained["neg"],), **HP)
    train_quality(cfg, str(tmp_path / "m.bin"))
    assert (tmp_path / "m.bin").read_bytes() == open(trained["model"], "rb").read()


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="train_quality.holdout_fraction"):
        TrainQualityConfig(labelled=("x",), holdout_fraction=1.0)
    with pytest.raises(ValueError, match="either labelled or positive"):
        TrainQualityConfig(labelled=("x",), positive=("y",), negative=("z",))
    with pytest.raises(ValueError, match="quality.threshold and quality.top_fraction"):
        QualityConfig(model="m", threshold=0.5, top_fraction=0.5)
    with pytest.raises(ValueError, match=r"quality.top_fraction must be in \(0, 1\]"):
        QualityConfig(model="m", top_fraction=0.0)
    with pytest.raises(ValueError, match="quality.model is required"):
        QualityConfig(threshold=0.5)


# ---------------------------------------------------------------- CLI

def _one_error_line(text):
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("curate: error: train-quality: "), text
    return lines[0]


def test_cli_missing_file_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "nope.jsonl"
    result = subprocess.run([sys.executable, "-m", "pipeline", "train-quality", "--positive", str(missing),
                             "--negative", str(missing), "--output", str(tmp_path / "m.bin")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert _one_error_line(result.stderr) == f"curate: error: train-quality: input file not found: {missing}"
    assert "Traceback" not in result.stderr and not (tmp_path / "m.bin").exists()


def test_cli_no_negatives_and_success(trained, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("{broken\n")
    out = str(tmp_path / "m.bin")
    assert cli.main(["train-quality", "--positive", trained["pos"], "--negative", str(empty), "--output", out]) == 2
    assert _one_error_line(capsys.readouterr().err) == (
        "curate: error: train-quality: no negative examples: no usable records in the negative files")
    only_hq = _write_jsonl(tmp_path / "hq.jsonl", ["one good text", "another good text"], lambda i: {"label": "hq"})
    assert cli.main(["train-quality", "--labelled", only_hq, "--output", out]) == 2
    assert "no negative examples: no records with label != 'hq'" in _one_error_line(capsys.readouterr().err)

    assert cli.main(["train-quality", "--positive", trained["pos"], "--negative", trained["neg"], "--output", out,
                     "--epoch", "10", "--dim", "16", "--bucket", "20000", "--holdout", "0.2"]) == 0
    stdout = capsys.readouterr().out
    m = trained["metrics"]
    assert f"precision {m['precision']}, recall {m['recall']}, F1 {m['f1']}" in stdout
    assert f"model:   {out}" in stdout and f"sidecar: {out}.json" in stdout
    assert open(out, "rb").read() == open(trained["model"], "rb").read()


def test_check_model(trained, tmp_path):
    missing = str(tmp_path / "none.bin")
    with pytest.raises(QualityModelError, match=f"^quality.model: model file not found: {missing}$"):
        check_model(missing)
    check_model(trained["model"], max_chars=10_000)
    with pytest.raises(QualityModelError, match="quality.max_chars is 500 but .* was trained with max_chars 10000"):
        check_model(trained["model"], max_chars=500)


# ---------------------------------------------------------------- selection (pure)

def test_target_count_rounds_half_up_on_the_written_fraction():
    assert [target_count(n, 0.5) for n in (0, 1, 2, 3, 5)] == [0, 1, 1, 2, 3]
    assert target_count(20, 0.15) == 3 and target_count(100, 0.15) == 15 and target_count(7, 1.0) == 7
    assert target_count(10, 0.04) == 0


@pytest.mark.parametrize(("digit_bits", "levels"), [(16, 3), (4, 2), (8, 1), (2, 0)])
def test_select_top_is_exact_with_heavy_ties(digit_bits, levels):
    r = random.Random(digit_bits * 10 + levels)
    items = []
    for source, n in (("a", 300), ("b", 41), ("c", 1), ("d", 9)):
        scores = [0.0, 1.0, 0.5, 0.123456] + [round(r.random(), 6) for _ in range(5)]
        items += [(source, rank_key(r.choice(scores), f"{source}/{i}", 1), f"{source}/{i}") for i in range(n)]
    for fraction in (0.01, 0.3, 0.5, 0.999, 1.0):
        cuts = select_top(items, fraction, digit_bits, levels)
        for source in "abcd":
            mine = sorted(((rank, i) for s, rank, i in items if s == source), reverse=True)
            kept = [x for x in mine if is_kept(*x, cuts[source])]
            assert kept == mine[:target_count(len(mine), fraction)], (source, fraction)


# ---------------------------------------------------------------- the transform

def _docs():
    r = random.Random(11)
    docs = []
    for i in range(37):  # source a: 10 copies of one text (equal scores) among mixed quality
        text = "The museum of Ghent was founded in 1820 by the royal society." if i < 10 else (
            _english(r) if i % 3 else _spam(r))
        docs.append(Document(id=f"a/{i}", source="a", text=text))
    for i in range(11):
        docs.append(Document(id=f"b/{i}", source="b", text=_chinese(r) if i % 2 else _spam(r)))
    return docs


def _run(cfg, docs):
    """(kept ids, [(id, decision, drop_detail)] of rejects), checking every document is scored."""
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | ScoreQuality(cfg)
        kept = out["kept"] | "KeptIds" >> beam.Map(lambda d: (d.id, d.quality_score, d.scores["quality_score"]))
        rejected = out[ScoreQuality.REJECTED] | "RejIds" >> beam.Map(
            lambda d: (d.id, d.decision, d.meta["drop_detail"], d.quality_score))
        expected = _expected_scores(cfg.model, docs)
        assert_that(kept, lambda rows: _check_scores(rows, expected), label="KeptScores")
        assert_that(rejected | beam.Map(lambda x: (x[0], x[3], float(x[2]))),
                    lambda rows: _check_scores(rows, expected), label="RejectedScores")
        assert_that(kept | "Ids" >> beam.Map(lambda x: x[0]), equal_to(sorted(_EXPECT["kept"])), label="Kept")
        assert_that(rejected | "Rej" >> beam.Map(lambda x: (x[0], x[1])), equal_to(_EXPECT["rejected"]),
                    label="Rejected")


_EXPECT: dict = {}


def _expected_scores(model_path, docs):
    return dict(zip([d.id for d in docs], score_texts(load_model(model_path), [d.text for d in docs]), strict=True))


def _check_scores(rows, expected):
    for doc_id, score, again in rows:
        assert score == expected[doc_id] == again and 0.0 <= score <= 1.0


def test_threshold_drops_low_scores(trained):
    docs = _docs()
    scores = _expected_scores(trained["model"], docs)
    assert 0 < sum(s < 0.5 for s in scores.values()) < len(docs)
    _EXPECT["kept"] = [i for i, s in scores.items() if s >= 0.5]
    _EXPECT["rejected"] = [(i, "quality:low_quality") for i, s in scores.items() if s < 0.5]
    _run(QualityConfig(model=trained["model"], threshold=0.5, batch_size=5), docs)


@pytest.mark.parametrize(("batch_size", "digit_bits", "levels"), [(64, 16, 3), (1, 16, 3), (7, 4, 1)])
def test_top_fraction_keeps_exact_counts_per_source(trained, monkeypatch, batch_size, digit_bits, levels):
    monkeypatch.setattr(quality, "RANK_DIGIT_BITS", digit_bits)
    monkeypatch.setattr(quality, "RANK_LEVELS", levels)
    docs = _docs()
    cfg = QualityConfig(model=trained["model"], top_fraction=0.3, batch_size=batch_size)
    scores = _expected_scores(trained["model"], docs)
    ranked = sorted(((rank_key(scores[d.id], d.id, cfg.seed), d.id, d.source) for d in docs), reverse=True)
    kept = [i for s, n in (("a", 11), ("b", 3)) for i in [x[1] for x in ranked if x[2] == s][:n]]
    assert Counter(scores[f"a/{i}"] for i in range(10)).most_common(1)[0][1] == 10  # ties are real
    assert len([i for i in kept if i.startswith("a/") and int(i[2:]) < 10]) not in (0, 10)  # cut inside the ties
    _EXPECT["kept"] = kept
    _EXPECT["rejected"] = [(d.id, "quality:below_top_fraction") for d in docs if d.id not in kept]
    _run(cfg, docs)


def test_no_filter_scores_everything_and_off_passes_through(trained):
    docs = _docs()
    _EXPECT["kept"] = [d.id for d in docs]
    _EXPECT["rejected"] = []
    _run(QualityConfig(model=trained["model"]), docs)
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs[:3]) | ScoreQuality(QualityConfig())
        assert_that(out["kept"], equal_to(docs[:3]))


def test_sources_limit_the_classifier_and_others_pass_unscored(trained):
    docs = _docs()
    cfg = QualityConfig(model=trained["model"], threshold=1.0, sources=("b",))   # every scored doc is < 1.0
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | ScoreQuality(cfg)
        assert_that(out["kept"] | beam.Map(lambda d: (d.id, d.quality_score)),
                    equal_to([(d.id, None) for d in docs if d.source == "a"]), label="kept")
        assert_that(out[ScoreQuality.REJECTED] | beam.Map(lambda d: (d.id, d.decision)),
                    equal_to([(d.id, "quality:low_quality") for d in docs if d.source == "b"]), label="rejected")
