"""The tokenizer stage boundary: copy the configured model, or train one from curated/ once; measure it.

`tokenizer.model: null` trains on a sample of curated documents (tokenizer/train.py) into
`<output>/tokenizer/` (`tokenizer.model` + the `tokenizer.json` sidecar); a rerun whose sample and
training config are unchanged (and whose model file is the one the sidecar describes) reuses the model.
A pinned `tokenizer.model` is checked (`Tokenizer.problems`) and copied there.

Either way the sidecar holds a fertility report: tokens per character and per word (words =
`TextView.n_words`: whitespace-separated words + unspaced-script characters / 1.5; BOS/EOS not counted)
per language, per source and overall, measured on held-out curated documents (a seeded
`tokenizer.train.heldout_fraction` of them that no training sample contains, capped at
`fertility_chars` per (source, language)). `prepare_tokenizer` returns the Tokenizer (as before);
`build_tokenizer` returns a `TokenizerResult` with the sidecar, and `tokenizer_report(output)` reads the
report of a finished step back (for the run's report).

The sample and the held-out documents come from the rows the curation job kept for them
(`job_sample`, transforms/tokenizer_sample.py): the launcher reads those, not curated/. Without usable
rows (picked for another sampling config, or a cell short of its budget) curated parts are streamed
(`CuratedParts`, Parquet record batches) in two passes (`draw`): the launcher holds the sample and the
held-out subset, not the corpus. Both give the same documents. `curate train-tokenizer`
(pipeline/cli.py) draws from the curated/ of a finished run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError, TokenizerConfig
from tokenizer.train import (
    SIDECAR_FORMAT,
    CuratedDoc,
    TokenizerTrainConfig,
    TokenizerTrainError,
    draw,
    pick_from_rows,
    sample_info,
    sampling_fields,
    select_heldout,
    sidecar_json,
    train_sentencepiece,
)
from tokenizer.wrapper import Tokenizer
from transforms.atomic import read_bytes, remove_all, write_atomic
from transforms.document import KEEP
from transforms.rules import TextView
from transforms.tokenizer_sample import CELLS_FILE, CELLS_FORMAT, SAMPLE_DIR, cells_from_json

log = logging.getLogger(__name__)
MODEL_FILE = "tokenizer/tokenizer.model"
SIDECAR_FILE = "tokenizer/tokenizer.json"
MODEL_NAME, SIDECAR_NAME = "tokenizer.model", "tokenizer.json"
_COLUMNS = ["id", "source", "lang", "text", "decision"]
_ENCODE_BATCH = 256


class CuratedParts:
    """Kept documents of curated Parquet parts as `CuratedDoc`s, read in record batches; iterable any
    number of times (each iteration reads the files again). Annotate-mode rows that were dropped are
    skipped; a missing language is "und"."""

    def __init__(self, parts: Iterable[str], batch_rows: int = 4096, decision: bool = True) -> None:
        self.parts = sorted(parts)
        self.batch_rows = batch_rows
        self.columns = _COLUMNS if decision else _COLUMNS[:-1]   # rows without one are all kept

    def __iter__(self) -> Iterator[CuratedDoc]:
        for path in self.parts:
            try:
                with FileSystems.open(path) as fh:
                    for batch in pq.ParquetFile(fh).iter_batches(batch_size=self.batch_rows, columns=self.columns):
                        for r in batch.to_pylist():
                            if r.get("decision", KEEP) == KEEP:
                                yield CuratedDoc(r["id"], r["source"], r["lang"] or "und", r["text"] or "")
            except (pa.ArrowException, ValueError) as exc:
                raise TokenizerTrainError(f"{path} is not a curated Parquet part with columns {self.columns} "
                                          f"({str(exc).splitlines()[0]})") from None


@dataclasses.dataclass(frozen=True)
class TokenizerResult:
    tokenizer: Tokenizer
    sidecar: dict[str, Any]
    model_path: str
    sidecar_path: str
    origin: str                     # "trained", "reused" or "pinned"

    @property
    def fertility(self) -> dict[str, Any]:
        return self.sidecar.get("fertility", {})

    def report(self) -> dict[str, Any]:
        return report_from_sidecar(self.sidecar, self.origin)


def report_from_sidecar(sidecar: dict[str, Any], origin: str | None = None) -> dict[str, Any]:
    """The part of a sidecar the run's report shows: where the model came from, its size and special ids,
    the training sample's size per language and source, warnings and the fertility report."""
    out = {"origin": origin or sidecar.get("origin"), "model": sidecar.get("model", {}),
           "fertility": sidecar.get("fertility", {}), "warnings": sidecar.get("warnings", []),
           "heldout": sidecar.get("heldout", {})}
    if "sample" in sidecar:
        out["sample"] = {k: sidecar["sample"][k] for k in ("documents", "chars", "by_lang", "by_source", "sha256")}
    if "copied_from" in sidecar:
        out["copied_from"] = sidecar["copied_from"]
    return out


def tokenizer_report(output: str) -> dict[str, Any]:
    """The report of the tokenizer step of the run in `output` (read from its sidecar): fertility per
    language and source, sample sizes, model facts. {} when the step has not run."""
    raw = read_bytes(f"{output}/{SIDECAR_FILE}")
    return report_from_sidecar(json.loads(raw)) if raw else {}


def check_source_weights(train: TokenizerTrainConfig, sources: Iterable[str]) -> None:
    """ConfigError when `tokenizer.train.source_weights` names a source the config does not have."""
    known = sorted(sources)
    for name in train.source_weights:
        if name not in known:
            raise ConfigError(f"tokenizer.train.source_weights: unknown source {name!r}; known: {known}")


def fertility(tok: Tokenizer, docs: Sequence[CuratedDoc]) -> dict[str, Any]:
    """Tokens per character and per word of `docs`, per language, per source and overall."""
    sums: dict[tuple[str, str], list[float]] = {}
    for start in range(0, len(docs), _ENCODE_BATCH):
        batch = docs[start:start + _ENCODE_BATCH]
        for doc, ids in zip(batch, tok.encode_batch([d.text for d in batch], frame=False), strict=True):
            words = TextView.of(doc.text).n_words
            for key in (("by_lang", doc.lang), ("by_source", doc.source), ("all", "all")):
                row = sums.setdefault(key, [0, 0, 0.0, 0])
                row[0] += 1
                row[1] += len(doc.text)
                row[2] += words
                row[3] += len(ids)

    def figures(row: list[float]) -> dict[str, Any]:
        docs_n, chars, words, tokens = row
        return {"docs": docs_n, "chars": chars, "words": round(words, 1), "tokens": tokens,
                "tokens_per_char": round(tokens / chars, 4) if chars else None,
                "tokens_per_word": round(tokens / words, 4) if words else None}

    out: dict[str, Any] = {"by_lang": {}, "by_source": {}}
    for (group, name), row in sorted(sums.items()):
        if group == "all":
            out["all"] = figures(row)
        else:
            out[group][name] = figures(row)
    out.setdefault("all", figures([0, 0, 0.0, 0]))
    out["measured_on"] = ("held-out curated documents (never in a training sample), up to fertility_chars "
                          "characters per (source, language); tokens without BOS/EOS; words = whitespace-"
                          "separated words + unspaced-script characters / 1.5")
    return out


def _heldout_summary(cfg: TokenizerTrainConfig, heldout: Sequence[CuratedDoc]) -> dict[str, Any]:
    return {"fraction": cfg.heldout_fraction, "fertility_chars": cfg.fertility_chars,
            "measured_documents": len(heldout), "measured_chars": sum(len(d.text) for d in heldout)}


def _write(path: str, data: bytes) -> None:
    write_atomic(path, data)


def _model_facts(tok: Tokenizer) -> dict[str, Any]:
    return {"sha256": tok.sha256, "vocab_size": tok.vocab_size, "unk_id": tok.unk_id, "bos_id": tok.bos_id,
            "eos_id": tok.eos_id, "pad_id": tok.pad_id, "special_ids": tok.special_ids}


def train_or_reuse(cfg: TokenizerTrainConfig, docs: Iterable[CuratedDoc], model_path: str, sidecar_path: str,
                   *, sources: Iterable[str] | None = None, reuse: bool = True,
                   drawn: tuple[list[CuratedDoc], list[CuratedDoc]] | None = None) -> TokenizerResult:
    """Trains a model on a sample of `docs` into model_path + sidecar_path, or reuses the model there when
    its sidecar records the same sample and training config; then measures fertility on held-out docs.
    `docs` is read more than once, unless `drawn` is `draw(docs, cfg)` already (the curation job's pick,
    `job_sample`). `sources` (the config's source names) makes unknown
    `source_weights` names a ConfigError; weighted sources without curated documents are warnings."""
    if sources is not None:
        check_source_weights(cfg, sources)
    sample, heldout = drawn if drawn is not None else draw(docs, cfg)
    if not sample:
        raise TokenizerTrainError("no curated documents to train the tokenizer on (every document was dropped, "
                                  "held out, or from a source with weight 0)")
    probe = sample_info(sample, cfg)
    existing_model, existing_sidecar = read_bytes(model_path), read_bytes(sidecar_path)
    old = json.loads(existing_sidecar) if existing_sidecar else {}
    tok = Tokenizer(existing_model) if existing_model else None
    if (reuse and tok is not None and old.get("sample") == probe["sample"]
            and _model_fields(old.get("train_config")) == cfg.model_fields()
            and old.get("model", {}).get("sha256") == tok.sha256):
        log.info("tokenizer: reusing %s (same sample and training config)", model_path)
        origin, sidecar = "reused", {**old, "train_config": cfg.to_json()}
    else:
        model, sidecar = train_sentencepiece(sample, cfg, probe)
        _write(model_path, model)
        tok, origin = Tokenizer(model), "trained"
    seen = set(probe["sample"]["by_source"])
    idle = sorted(s for s, w in cfg.source_weights.items() if w > 0 and s not in seen)
    warnings = [w for w in sidecar.get("warnings", []) if not w.startswith("source_weights names")]
    if idle:
        warnings.append(f"source_weights names sources without sampled documents: {idle}")
    sidecar = {**sidecar, "model": {**sidecar.get("model", {}), **_model_facts(tok),
                                    "requested_vocab_size": cfg.vocab_size},
               "origin": "trained", "heldout": _heldout_summary(cfg, heldout),
               "fertility": fertility(tok, heldout), "warnings": warnings}
    _write(sidecar_path, sidecar_json(sidecar).encode())
    return TokenizerResult(tok, sidecar, model_path, sidecar_path, origin)


def _model_fields(train_config: dict | None) -> dict | None:
    if train_config is None:
        return None
    return {k: v for k, v in train_config.items() if k != "fertility_chars"}


def copy_pinned(cfg: TokenizerConfig, docs: Iterable[CuratedDoc], model_path: str,
                sidecar_path: str, heldout: list[CuratedDoc] | None = None) -> TokenizerResult:
    """Checks and copies the pinned `tokenizer.model`; fertility on the held-out documents all the same
    (`heldout`: `select_heldout(docs, ...)` already)."""
    assert cfg.model is not None
    tok = Tokenizer.from_file(cfg.model)
    if problems := tok.problems():
        raise ConfigError(f"tokenizer.model {cfg.model}: " + "; ".join(problems))
    _write(model_path, tok.model_bytes)
    heldout = heldout if heldout is not None else select_heldout(docs, cfg.train)
    sidecar = {"format": SIDECAR_FORMAT, "origin": "pinned", "copied_from": cfg.model, "sha256": tok.sha256,
               "model": _model_facts(tok),
               "heldout": _heldout_summary(cfg.train, heldout), "fertility": fertility(tok, heldout), "warnings": []}
    _write(sidecar_path, sidecar_json(sidecar).encode())
    return TokenizerResult(tok, sidecar, model_path, sidecar_path, "pinned")


def build_tokenizer(cfg: TokenizerConfig, output: str, parts: Iterable[str], *,
                    sources: Iterable[str] | None = None, reuse: bool = True) -> TokenizerResult:
    """The tokenizer step of a run: pinned model copied, or trained/reused in <output>/tokenizer/, with
    its sidecar (sample, fertility). A user-fixable problem raises ConfigError (one line)."""
    docs = CuratedParts(parts)
    model_path, sidecar_path = f"{output}/{MODEL_FILE}", f"{output}/{SIDECAR_FILE}"
    try:
        drawn = job_sample(output, cfg.train, need_sample=cfg.model is None)
        if cfg.model is not None:
            return copy_pinned(cfg, docs, model_path, sidecar_path, None if drawn is None else drawn[1])
        return train_or_reuse(cfg.train, docs, model_path, sidecar_path, sources=sources, reuse=reuse, drawn=drawn)
    except TokenizerTrainError as exc:
        raise ConfigError(f"tokenizer: {exc}") from None


def clear_job_sample(output: str) -> None:
    """Removes the curation job's sample rows (before the job runs again: what it writes replaces them)."""
    remove_all(f"{output}/{SAMPLE_DIR}")


def job_sample(output: str, cfg: TokenizerTrainConfig, need_sample: bool = True
               ) -> tuple[list[CuratedDoc], list[CuratedDoc]] | None:
    """`draw`'s (sample, held-out documents), from the rows the curation job kept for them
    (transforms/tokenizer_sample.py), reading none of curated/; None (and `draw` reads curated/) when
    there are none, they were picked for another sampling config (or only the held-out documents, for a
    pinned model), a cut cell fell short of its budget, or the files are damaged."""
    raw = read_bytes(f"{output}/{CELLS_FILE}")
    if raw is None:
        return None
    why = None
    try:
        meta = json.loads(raw)
        if meta.get("format") != CELLS_FORMAT or meta.get("sampling") != sampling_fields(cfg):
            why = "picked for another tokenizer.train sampling config"
        elif need_sample and meta.get("heldout_only"):
            why = "only the held-out documents were picked (the model was pinned)"
        else:
            found = FileSystems.match([f"{output}/{SAMPLE_DIR}/part-*.parquet"])[0].metadata_list
            parts = sorted(m.path for m in found)
            picked = pick_from_rows(CuratedParts(parts, decision=False), cells_from_json(meta), cfg)
            if picked is not None:
                return picked
            why = "a cell's rows fell short of its budget"
    except (TokenizerTrainError, ValueError, KeyError, TypeError) as exc:   # a damaged file: draw instead
        why = f"unreadable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    log.info("tokenizer: the curation job's sample is not usable (%s); drawing from curated/", why)
    return None


def prepare_tokenizer(cfg: TokenizerConfig, output: str, parts: Iterable[str], *,
                      sources: Iterable[str] | None = None) -> Tokenizer:
    """`build_tokenizer(...).tokenizer`; the fertility report is then in `tokenizer_report(output)`."""
    return build_tokenizer(cfg, output, parts, sources=sources).tokenizer


_PART = re.compile(r"part-\d+-of-(\d+)\.parquet$")


def resolve_curated(spec: str, parts_hint: int | None = None) -> list[str]:
    """Curated Parquet parts named by `spec` (for `curate train-tokenizer --curated`): a glob or a single
    .parquet file as given; a run's output directory (its curated/) or a curated directory: its
    `part-*-of-N.parquet` files of one run (N = `parts_hint` when several runs left parts behind).
    ConfigError (one line) when nothing or an incomplete set matches."""
    if any(c in spec for c in "*?["):
        files = sorted(m.path for m in FileSystems.match([spec])[0].metadata_list)
        if not files:
            raise ConfigError(f"--curated {spec}: no file matches")
        return files
    if spec.endswith(".parquet"):
        if not FileSystems.exists(spec):
            raise ConfigError(f"--curated {spec}: file not found")
        return [spec]
    base = spec.rstrip("/")
    for folder in (f"{base}/curated", base):
        files = sorted(m.path for m in FileSystems.match([f"{folder}/part-*.parquet"])[0].metadata_list)
        by_total: dict[int, list[str]] = {}
        for f in files:
            if m := _PART.search(f):
                by_total.setdefault(int(m.group(1)), []).append(f)
        if not by_total:
            continue
        if len(by_total) > 1 and parts_hint not in by_total:
            raise ConfigError(f"--curated {spec}: parts of several runs ({sorted(by_total)} parts); "
                              "pass a glob such as 'DIR/part-*-of-00004.parquet'")
        total = parts_hint if parts_hint in by_total else next(iter(by_total))
        found = by_total[total]
        if len(found) != total:
            raise ConfigError(f"--curated {spec}: {len(found)} of {total} parts found (an unfinished run?)")
        return found
    raise ConfigError(f"--curated {spec}: no curated Parquet parts (part-*.parquet) found there or in its curated/")


def train_tokenizer_command(config_path: str, curated: str, output: str) -> TokenizerResult:
    """`curate train-tokenizer`: train (or reuse) `<output>/tokenizer.model` + `tokenizer.json` from the
    curated parts named by `curated`, with the config's `tokenizer.train` and the run's sampling code.
    User errors raise ConfigError."""
    from pipeline.config import load_config

    cfg = load_config(config_path)
    if output.endswith((".model", ".json")):
        raise ConfigError(f"--output {output}: give a directory (the model is written to DIR/{MODEL_NAME})")
    parts = resolve_curated(curated, cfg.run.parts)
    out = output.rstrip("/")
    try:
        return train_or_reuse(cfg.tokenizer.train, CuratedParts(parts), f"{out}/{MODEL_NAME}",
                              f"{out}/{SIDECAR_NAME}", sources=[s.name for s in cfg.sources])
    except TokenizerTrainError as exc:
        raise ConfigError(str(exc)) from None


def summary_lines(result: TokenizerResult) -> list[str]:
    """What `curate train-tokenizer` prints: sample sizes, fertility, paths, warnings."""
    side, lines = result.sidecar, []
    if "sample" in side:
        s = side["sample"]
        lines.append(f"sample: {s['documents']:,} documents, {s['chars']:,} characters (sha256 {s['sha256'][:16]}...)")
        for group in ("by_lang", "by_source"):
            lines.append(f"  {group[3:]:<10}" + "  ".join(f"{k} {v['docs']:,} docs/{v['chars']:,} chars"
                                                        for k, v in s[group].items()))
    fert, held = side.get("fertility", {}), side.get("heldout", {})
    lines.append(f"fertility on held-out text ({held.get('measured_documents', 0):,} documents, "
                 f"{held.get('measured_chars', 0):,} characters; tokens without BOS/EOS):")
    lines.append(f"  {'':<24}{'docs':>7}{'chars':>12}{'tokens':>10}{'tok/char':>10}{'tok/word':>10}")
    rows = [(f"lang {k}", v) for k, v in fert.get("by_lang", {}).items()]
    rows += [(f"source {k}", v) for k, v in fert.get("by_source", {}).items()]
    rows += [("all", fert["all"])] if "all" in fert else []
    for name, v in rows:
        per_char = "-" if v["tokens_per_char"] is None else f"{v['tokens_per_char']:.4f}"
        per_word = "-" if v["tokens_per_word"] is None else f"{v['tokens_per_word']:.4f}"
        lines.append(f"  {name:<24}{v['docs']:>7,}{v['chars']:>12,}{v['tokens']:>10,}{per_char:>10}{per_word:>10}")
    model = side.get("model", {})
    lines.append(f"model:   {result.model_path} ({result.origin}; {model.get('vocab_size')} pieces, "
                 f"sha256 {str(model.get('sha256'))[:16]}...)")
    lines.append(f"sidecar: {result.sidecar_path}")
    lines += [f"warning: {w}" for w in side.get("warnings", [])]
    return lines
