"""FilterUrls: domain blocklists and URL dedup, before any expensive work (extraction, LID, ...), on keys.

FilterUrls is the read's key filter (`ReadDocuments(key_filter=FilterUrls(cfg.urls))`, transforms/read.py):
it decides on each document that survived the group by id as a `Candidate` (id, location, URL and its
place in the input), never on the document, and returns one (place, verdict) per candidate. The read's
second pass turns a drop into the Document marked `urls:<reason>` (ReadDocuments.DROPPED), so no
document crosses a shuffle before extraction (a whole-document group by URL moved every input document
once more: 96 MB of the 100 MB benchmark corpus, 115 TB of compressed HTML at 1.6T tokens).
Reasons: `urls:blocked_domain:<list>` (the URL's host or a parent domain is on the blocklist file named
<list>, its file name without extensions; the first list in config order that matches; `rejected.detail`
names the matched domain, so the report counts drops per list) and `urls:duplicate_url` (another document
has the same normalized URL; the smallest id survives, as in exact dedup, folded while
streaming over the group; `rejected.detail` is the survivor's id). Documents without a URL pass.
Blocklists are text files named in the config (one domain per line, `#` comments), read once per
worker in `setup()`; each candidate is checked on its own URL. URL normalization for dedup: scheme and
host lowercased, default port, fragment and a trailing slash dropped; the query is kept (it often
selects the content). `urls.dedup: false`: the blocklists only, without a group.
Metrics namespace `urls`: `docs_in`, `kept`, `dropped:<reason>`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import apache_beam as beam

from transforms.counters import CountingDoFn, StageCounters
from transforms.read import Candidate, Place, Verdict
from transforms.runtime import tune_process

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


class _BlocklistFn(CountingDoFn):
    """Each candidate checked on its own URL: (place, None), or (place, blocked_domain verdict)."""

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

    def process(self, cand: Candidate) -> Iterable[tuple[Place, Verdict]]:
        self._counters.inc("docs_in")
        verdict = self._blocked(cand.url)
        self._counters.inc("kept" if verdict is None else f"dropped:{verdict[1]}")
        yield cand.place, verdict

    def _blocked(self, url: str | None) -> Verdict:
        """The blocked_domain verdict of a URL whose host (or a parent domain) a blocklist holds, else None."""
        hit = blocked_by(url_host(url), self._lists) if url and self._lists else None
        return None if hit is None else (STAGE, f"blocked_domain:{hit[0]}", hit[1], None)


UrlEntry = tuple[str, Place, Verdict]   # (id, place, blocked verdict or None)


class _KeyByUrlFn(_BlocklistFn):
    """A candidate keyed by its normalized URL (one without a URL is its own group, keyed by its id under a
    prefix no normalized URL has), checked against the blocklists on its own URL. The value is a plain
    tuple, `UrlEntry`: it crosses the group."""

    def process(self, cand: Candidate) -> Iterable[tuple[str, UrlEntry]]:  # type: ignore[override]
        key = normalize_url(cand.url) if cand.url else "\x00" + cand.id
        yield key, (cand.id, cand.place, self._blocked(cand.url))


class _UrlFoldFn(CountingDoFn):
    """One URL group: its blocklisted candidates are dropped (they share a normalized URL, hence a host, so
    a group is blocked as a whole), the others fold to the smallest id (ids are unique by now): the survivor
    is kept, the others are `duplicate_url` copies of it. Two streaming passes over the (re-iterable) group."""

    def __init__(self) -> None:
        super().__init__()
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[str, Iterable[UrlEntry]]) -> Iterable[tuple[Place, Verdict]]:
        group = element[1]
        survivor, allowed = None, 0
        for entry in group:
            self._counters.inc("docs_in")
            if entry[2] is not None:
                self._counters.inc(f"dropped:{entry[2][1]}")
                yield entry[1], entry[2]
                continue
            allowed += 1
            if survivor is None or entry[0] < survivor[0]:
                survivor = entry
        if survivor is None:
            return
        self._counters.inc("kept")
        yield survivor[1], None
        if allowed > 1:
            copy = (STAGE, "duplicate_url", None, survivor[0])
            for entry in group:
                if entry[2] is None and entry[1] != survivor[1]:
                    self._counters.inc("dropped:duplicate_url")
                    yield entry[1], copy


class FilterUrls(beam.PTransform):
    """The read's key filter (`ReadDocuments(key_filter=FilterUrls(...))`): `Candidate` -> (place, verdict),
    one per candidate. Its drops leave the read as Documents marked `urls:<reason>` (ReadDocuments.DROPPED)."""

    def __init__(self, cfg: UrlsConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, candidates: beam.PCollection) -> beam.PCollection:
        if not self._cfg.dedup:
            return candidates | "Blocklist" >> beam.ParDo(_BlocklistFn(self._cfg))
        return (
            candidates
            | "KeyByUrl" >> beam.ParDo(_KeyByUrlFn(self._cfg))   # (normalized url | "\0" id, UrlEntry)
            | "GroupByUrl" >> beam.GroupByKey()
            | "KeepSmallestId" >> beam.ParDo(_UrlFoldFn())
        )
