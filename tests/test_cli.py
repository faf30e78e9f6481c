import subprocess
import sys

import pytest


def _curate(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize(("config", "message"), [
    ("run: {speed: 3}\n", "curate: error: unknown config key run.speed"),
    ("sources: [{name: web, paths: [missing/*.jsonl]}]\n"
     "phases: [{name: p, tokens: 10, seq_len: 8, weights: {web: 1}}]\n",
     "curate: error: sources.web: no input file matches"),
    ("[1, 2\n", "curate: error: config"),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, config, message):
    path = tmp_path / "c.yaml"
    path.write_text(config)
    result = _curate("run", "--config", str(path), "--output", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("curate:")]
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path):
    result = _curate("run", "--config", str(tmp_path / "nope.yaml"), "--output", str(tmp_path))
    assert result.returncode == 2
    assert "curate: error: config file not found" in result.stderr


def test_multi_threading_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sources: [{name: web, paths: [" + str(tmp_path) + "/*.yaml]}]\n"
                    "phases: [{name: p, tokens: 10, seq_len: 8, weights: {web: 1}}]\n")
    result = _curate("run", "--config", str(path), "--output", str(tmp_path / "o"), "--",
                     "--direct_running_mode=multi_threading")
    assert result.returncode == 2
    assert "multi_threading is not supported" in result.stderr


@pytest.mark.parametrize(("section", "message"), [
    ("rules: {default: [nope_v1]}", "curate: error: rules.default: unknown rule set 'nope_v1'"),
    ("rules: {by_source: {web: [gopher_v9]}}", "curate: error: rules.web: unknown rule set 'gopher_v9'"),
    ("rules: {by_language: {zh: {fineweb_v1: {max_short_lines: 1}}}}",
     "curate: error: unknown config key rules.by_language.zh.fineweb_v1.max_short_lines"),
    ("safety: {word_blocklists: {adult: missing-words.txt}}",
     "curate: error: safety.word_blocklists.adult: file not found"),
    ("urls: {blocklists: [missing-domains.txt]}", "curate: error: urls.blocklists: file not found"),
    ("decontam: {eval_sets: {mmlu: [missing-mmlu.jsonl]}}", "curate: error: decontam.eval_sets.mmlu"),
    ("quality: {model: missing-model.bin}", "curate: error: quality.model: model file not found"),
    ("quality: {threshold: 0.5}", "curate: error: quality.model is required"),
    ("quality: {train: {labelled: [missing-labels.jsonl]}}", "curate: error: quality.train: "),
])
def test_stage_config_errors_are_one_line_naming_the_key_or_file(tmp_path, section, message):
    path = tmp_path / "c.yaml"
    path.write_text("sources: [{name: web, paths: [" + str(tmp_path) + "/*.yaml]}]\n"
                    "phases: [{name: p, tokens: 10, seq_len: 8, weights: {web: 1}}]\n" + section + "\n")
    result = _curate("run", "--config", str(path), "--output", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("curate:")]
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.stderr


_SRC = "sources: [{name: web, paths: [SRC/*.yaml]}, {name: code, paths: [SRC/*.yaml]}]\n"


@pytest.mark.parametrize(("phases", "message"), [
    ("run: {parts: two}\nphases: [{name: p, tokens: 10, seq_len: 8, weights: {web: 1}}]",
     "curate: error: run.parts must be int, got 'two'"),
    ("phases: [{name: p, tokens: 10, seq_len: 8, weights: {web: 0.5, books: 0.5}}]",
     "curate: error: phases.p.weights: unknown source 'books'; known: ['web', 'code']"),
    ("phases: [{name: p, tokens: 10, seq_len: 8, weights: {web: 0.6, code: 0.6}}]",
     "curate: error: phases.p.weights must sum to 1, got 1.2 (web: 0.6, code: 0.6)"),
    ("phases: [{name: p, tokens: 100, seq_len: 8, weights: {web: 0.999, code: 0.001}}]",
     "curate: error: phases.p: bucket code gets 0 of the phase's 100 tokens"),
    ("phases: [{name: p, tokens: 1000000, seq_len: 8, weights: {web: 1}, on_shortfall: error}]",
     "curate: error: phases.p: bucket web needs 1000000 tokens but sources.web can give at most"),
    ("phases: [{name: '..', tokens: 10, seq_len: 8, weights: {web: 1}}]",
     "curate: error: phases: a name is a directory under phases/"),
])
def test_phase_config_errors_fail_before_any_work(tmp_path, phases, message):
    path = tmp_path / "c.yaml"
    path.write_text(_SRC.replace("SRC", str(tmp_path)) + phases + "\n")
    result = _curate("run", "--config", str(path), "--output", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("curate:")]
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()   # nothing started


def _normalizing_model(path):
    """A SentencePiece model with the library's defaults (NFKC, extra whitespace removed) plus the ids the
    pipeline needs: it loads, but text does not round-trip."""
    import io

    import sentencepiece as spm

    text = [f"The quick brown fox jumps over the lazy dog number {i}." for i in range(300)]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(text), model_writer=model, vocab_size=300,
                                   byte_fallback=True, pad_id=3, minloglevel=2)
    path.write_bytes(model.getvalue())


@pytest.mark.parametrize(("kind", "message"), [
    ("normalizing", "cannot be used: text does not round-trip"),
    ("not_a_model", "is not a SentencePiece model"),
])
def test_a_pinned_tokenizer_is_checked_before_any_work(tmp_path, kind, message):
    model = tmp_path / "tok.model"
    if kind == "normalizing":
        _normalizing_model(model)
    else:
        model.write_bytes(b"this is not a model")
    path = tmp_path / "c.yaml"
    path.write_text("sources: [{name: web, paths: [" + str(tmp_path) + "/*.yaml]}]\n"
                    "phases: [{name: p, tokens: 10, seq_len: 8, weights: {web: 1}}]\n"
                    f"tokenizer: {{model: {model}}}\n")
    result = _curate("run", "--config", str(path), "--output", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("curate:")]
    assert len(lines) == 1 and "curate: error: tokenizer.model:" in lines[0] and message in lines[0], result.stderr
    assert not (tmp_path / "out" / "curated").exists()   # stopped before the curation job
