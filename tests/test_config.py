from pathlib import Path

import pytest

from pipeline.config import ConfigError, config_from_dict, load_config
from pipeline.models import default_lid_model

ROOT = Path(__file__).resolve().parents[1]
BASE = {
    "sources": [{"name": "web", "paths": ["data/*.jsonl"]}],
    "phases": [{"name": "p", "tokens": 100, "seq_len": 16, "weights": {"web": 1}}],
}


def _cfg(**overrides):
    return config_from_dict({**BASE, **overrides}, Path("/base"))


def test_defaults_and_path_resolution():
    cfg = _cfg()
    assert cfg.sources[0].paths == ("/base/data/*.jsonl",)
    assert cfg.langid.model == default_lid_model()
    assert cfg.langid.keep == ("en", "zh")
    assert cfg.run.mode == "filter"
    assert _cfg(langid={"keep": "all"}).langid.keep is None
    assert _cfg(sources=[{"name": "web", "paths": ["gs://b/x.jsonl"]}]).sources[0].paths == ("gs://b/x.jsonl",)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"runn": {}}, "unknown config key runn"),
    ({"run": {"mode": "fast"}}, "run.mode must be one of"),
    ({"run": {"seed": "x"}}, "run.seed must be int"),
    ({"near_dedup": {"bandz": 3}}, "unknown config key near_dedup.bandz"),
    ({"phases": [{"name": "p", "tokens": 100, "seq_len": 16, "weights": {"nope": 1}}]},
     "phases.p.weights: unknown source 'nope'"),
    ({"sources": [{"name": "web"}]}, "missing config key sources[0].paths"),
    ({"rules": {"default": ["x_v9"]}}, "unknown rule set 'x_v9'"),
])
def test_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _cfg(**overrides)


def test_sample_config_loads():
    cfg = load_config(ROOT / "configs" / "sample.yaml")
    assert [s.name for s in cfg.sources] == ["web_en", "web_zh", "encyclopedia", "books", "code"]
    assert len(cfg.phases) >= 2
    assert cfg.phases[0].weights != cfg.phases[1].weights


def test_integer_keys_survive_and_yaml_boolean_keys_are_refused():
    cfg = _cfg(rules={"gopher_repetition_v1": {"max_top_ngram_char_frac": {2: 0.3}}})
    assert cfg.rules.gopher_repetition_v1.max_top_ngram_char_frac == {2: 0.3}
    with pytest.raises(ConfigError, match="key False must be str"):
        _cfg(langid={"min_score": {"default": 0.5, False: 0.9}})  # what YAML 1.1 makes of `no:`


def test_the_internlm_config_loads_with_the_published_shares_and_three_phases():
    from pipeline.config import load_config
    from tests.conftest import ROOT

    cfg = load_config(ROOT / "configs" / "internlm-1.6t.yaml")
    assert [p.name for p in cfg.phases] == ["pretrain_4k", "long_32k", "enhance"]
    assert sum(p.tokens for p in cfg.phases) == 1_600_000_000_000
    assert cfg.phases[0].tokens / 1.6e12 == 0.9 and [p.seq_len for p in cfg.phases] == [4096, 32768, 4096]
    shares = cfg.phases[0].weights
    assert {k: round(v / sum(shares.values()), 3) for k, v in shares.items()} == {
        "web": 0.751, "code": 0.076, "encyclopedia": 0.049, "others": 0.046, "books": 0.045, "papers": 0.033}


@pytest.mark.parametrize("name", ["web|en", "web@q0", "a:b", " web"])
def test_source_names_that_collide_with_bucket_or_reason_syntax_are_refused(name):
    from transforms.read import SourceConfig

    with pytest.raises(ValueError, match="sources: a name must be non-empty"):
        SourceConfig(name=name, paths=("x",))
