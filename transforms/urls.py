"""FilterUrls: domain blocklists and URL dedup, before any expensive work (extraction, LID, ...).

Input/output: `Document`; tagged `REJECTED`: `urls:blocked_domain` (the URL's host or a parent domain
is on a blocklist) and `urls:duplicate_url` (another document has the same normalized URL; the smallest
id survives, as in exact dedup, folded while streaming over the group). Documents without a URL pass.
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
from transforms.exact_dedup import fold_group, mark_duplicate

STAGE = "urls"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclasses.dataclass(frozen=True)
class UrlsConfig:
    blocklists: tuple[str, ...] = ()   # resolved paths or URIs of domain lists
    dedup: bool = True


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


def is_blocked(host: str, domains: frozenset[str]) -> bool:
    """True when the host or any parent domain of it is listed."""
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


def parse_blocklist(text: str) -> set[str]:
    return {line.split("#", 1)[0].strip().lower().lstrip(".") for line in text.splitlines()} - {""}


class _BlocklistFn(beam.DoFn):
    def __init__(self, cfg: UrlsConfig) -> None:
        super().__init__()
        self._cfg = cfg
        self._counters = StageCounters(STAGE)
        self._domains: frozenset[str] = frozenset()

    def setup(self) -> None:
        from apache_beam.io.filesystems import FileSystems

        domains: set[str] = set()
        for path in self._cfg.blocklists:
            with FileSystems.open(path) as fh:
                domains |= parse_blocklist(fh.read().decode("utf-8"))
        self._domains = frozenset(domains)

    def process(self, doc: Document) -> Iterable[Any]:
        self._counters.inc("docs_in")
        if doc.url and self._domains and is_blocked(url_host(doc.url), self._domains):
            self._counters.inc("dropped:blocked_domain")
            yield pvalue.TaggedOutput(FilterUrls.REJECTED, doc.dropped(STAGE, "blocked_domain"))
            return
        yield doc


class _UrlFoldFn(beam.DoFn):
    def __init__(self) -> None:
        super().__init__()
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[str, Iterable[Document]]) -> Iterable[Any]:
        survivor, copies = fold_group(element[1])
        if survivor is None:
            return
        self._counters.inc("kept")
        yield survivor
        for doc in copies:
            self._counters.inc("dropped:duplicate_url")
            yield pvalue.TaggedOutput(FilterUrls.REJECTED, mark_duplicate(doc, STAGE, "duplicate_url", survivor))


def _has_url(doc: Document, _: int) -> int:
    return 0 if doc.url else 1


def _key_by_url(doc: Document) -> tuple[str, Document]:
    return normalize_url(doc.url), doc


class FilterUrls(beam.PTransform):
    """Outputs: main = Document, REJECTED = Document marked `urls:<reason>`."""

    REJECTED = "rejected"

    def __init__(self, cfg: UrlsConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        checked = docs | "Blocklist" >> beam.ParDo(_BlocklistFn(self._cfg)).with_outputs(self.REJECTED, main="kept")
        if not self._cfg.dedup:
            return {"kept": checked.kept, self.REJECTED: checked[self.REJECTED]}
        with_url, without_url = checked.kept | "HasUrl" >> beam.Partition(_has_url, 2)
        folded = (
            with_url
            | "KeyByUrl" >> beam.Map(_key_by_url)                     # (normalized url, Document)
            | "GroupByUrl" >> beam.GroupByKey()
            | "KeepSmallestId" >> beam.ParDo(_UrlFoldFn()).with_outputs(self.REJECTED, main="kept")
        )
        return {
            "kept": (folded.kept, without_url) | "AllKept" >> beam.Flatten(),
            self.REJECTED: (checked[self.REJECTED], folded[self.REJECTED]) | "AllRejected" >> beam.Flatten(),
        }
