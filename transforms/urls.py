"""FilterUrls: domain blocklists and URL dedup, before any expensive work (extraction, LID, ...).

Input/output: `Document`; tagged `REJECTED`: `urls:blocked_domain:<list>` (the URL's host or a parent
domain is on the blocklist file named <list>, its file name without extensions; the first list in config
order that matches; `rejected.detail` names the matched domain, so the report counts drops per list)
and `urls:duplicate_url` (another document has the same normalized URL; the smallest id survives, as in
exact dedup, folded while streaming over the group). Documents without a URL pass.
Blocklists are text files named in the config (one domain per line, `#` comments), read once per
worker in `setup()`. URL normalization for dedup: scheme and host lowercased, default port, fragment
and a trailing slash dropped; the query is kept (it often selects the content).
Metrics namespace `urls`: `docs_in`, `kept`, `dropped:<reason>`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import apache_beam as beam
from apache_beam import pvalue

from transforms.counters import StageCounters
from transforms.document import Document
from transforms.exact_dedup import doc_order, mark_duplicate, others
from transforms.runtime import tune_process
from transforms.shuffle import GroupEncoded

STAGE = "urls"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclasses.dataclass(frozen=True)
class UrlsConfig:
    blocklists: tuple[str, ...] = ()   # resolved paths or URIs of domain lists
    dedup: bool = True

    def __post_init__(self) -> None:
        names = [list_name(p) for p in self.blocklists]
        if len(set(names)) != len(names):
            raise ValueError(f"urls.blocklists: two lists share a name (file name without extensions): {names}")


def normalize_url(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower()
    netloc = host if port in (None, _DEFAULT_PORTS.get(parts.scheme.lower())) else f"{host}:{port}"
    path = parts.path.rstrip("/") or ""
    return urlunsplit((parts.scheme.lower(), netloc, path, parts.query, ""))


def url_host(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def parse_blocklist(text: str) -> set[str]:
    return {line.split("#", 1)[0].strip().lower().lstrip(".") for line in text.splitlines()} - {""}


def list_name(path: str) -> str:
    """A blocklist's name in reasons and counters: its file name without extensions."""
    return path.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0]


def blocked_by(host: str, lists: Iterable[tuple[str, frozenset[str]]]) -> tuple[str, str] | None:
    """(list name, matched domain) of the first list that holds the host or a parent domain of it."""
    labels = host.split(".")
    for name, domains in lists:
        for i in range(len(labels)):
            parent = ".".join(labels[i:])
            if parent in domains:
                return name, parent
    return None


class _BlocklistFn(beam.DoFn):
    def __init__(self, cfg: UrlsConfig) -> None:
        super().__init__()
        self._cfg = cfg
        self._counters = StageCounters(STAGE)
        self._lists: list[tuple[str, frozenset[str]]] = []

    def setup(self) -> None:
        from apache_beam.io.filesystems import FileSystems

        tune_process()
        self._lists = []
        for path in self._cfg.blocklists:
            with FileSystems.open(path) as fh:
                self._lists.append((list_name(path), frozenset(parse_blocklist(fh.read().decode("utf-8")))))

    def process(self, doc: Document) -> Iterable[Any]:
        out = self._check(doc)
        if out is doc:
            self._counters.inc("kept")
        yield out

    def _check(self, doc: Document) -> Any:
        """`doc` itself when no blocklist holds its host, else its rejection (a TaggedOutput)."""
        self._counters.inc("docs_in")
        hit = blocked_by(url_host(doc.url), self._lists) if doc.url and self._lists else None
        if not hit:
            return doc
        reason = f"blocked_domain:{hit[0]}"
        self._counters.inc(f"dropped:{reason}")
        return pvalue.TaggedOutput(FilterUrls.REJECTED, doc.dropped(STAGE, reason, hit[1]))


class _UrlFoldFn(_BlocklistFn):
    """One URL group: its blocklisted documents are dropped (each checked on its own URL, as `_BlocklistFn`
    does) and the others fold to the smallest id, in the same pass. Blocklist and fold share one step so
    the stage has one rejected output (a second would need a Flatten, a materialized copy). Documents of
    one group share a normalized URL, hence a host, so a group is blocked or not as a whole."""

    def process(self, element: tuple[str, Iterable[Document]]) -> Iterable[Any]:  # type: ignore[override]
        group = element[1]
        survivor, allowed = None, 0
        for doc in group:
            out = self._check(doc)
            if out is not doc:
                yield out
                continue
            allowed += 1
            if survivor is None or doc_order(doc) < doc_order(survivor):
                survivor = doc
        if survivor is None:
            return
        self._counters.inc("kept")
        yield survivor
        if allowed > 1:
            rest = (d for d in group if not (d.url and blocked_by(url_host(d.url), self._lists)))
            for doc in others(rest, doc_order(survivor)):
                self._counters.inc("dropped:duplicate_url")
                yield pvalue.TaggedOutput(FilterUrls.REJECTED, mark_duplicate(doc, STAGE, "duplicate_url", survivor))


def _url_key(doc: Document) -> tuple[str, Document]:
    """Documents with a URL group by its normalized form; one without a URL is its own group (keyed by
    its id, under a prefix no normalized URL has), so every document crosses the same shuffle and the
    stages after it start balanced over the workers."""
    return (normalize_url(doc.url) if doc.url else "\x00" + doc.id), doc


class FilterUrls(beam.PTransform):
    """Outputs: main = Document, REJECTED = Document marked `urls:<reason>`."""

    REJECTED = "rejected"

    def __init__(self, cfg: UrlsConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        if not self._cfg.dedup:
            checked = docs | "Blocklist" >> beam.ParDo(_BlocklistFn(self._cfg)).with_outputs(
                self.REJECTED, main="kept")
            return {"kept": checked.kept, self.REJECTED: checked[self.REJECTED]}
        folded = (
            docs
            | "KeyByUrl" >> beam.Map(_url_key)                        # (normalized url | "\0" id, Document)
            | "GroupByUrl" >> GroupEncoded()
            | "BlocklistAndKeepSmallestId" >> beam.ParDo(_UrlFoldFn(self._cfg)).with_outputs(
                self.REJECTED, main="kept")
        )
        return {"kept": folded.kept, self.REJECTED: folded[self.REJECTED]}
