"""Small WARC files written with warcio for tests."""

from __future__ import annotations

import io
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ARTICLE = ("<html lang='{lang}'><head><meta charset='{charset}'><title>{title}</title></head><body>"
           "<nav><a href='/'>Home</a> | <a href='/about'>About</a></nav><article><h1>{title}</h1>{paras}</article>"
           "<footer>Contact us</footer></body></html>")


def article(title: str, paragraphs: list[str], lang: str = "en", charset: str = "utf-8") -> bytes:
    paras = "".join(f"<p>{p}</p>" for p in paragraphs)
    return ARTICLE.format(lang=lang, charset=charset, title=title, paras=paras).encode(charset)


def write_warc(path: Path, records: list[tuple[str, str, bytes, str]]) -> None:
    """records: (kind, url, payload, content type); kind is `response` or `conversion`."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=str(path).endswith(".gz"))
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tests"}))
        for kind, url, payload, ctype in records:
            if kind == "response":
                http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
                rec = writer.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=http,
                                                warc_headers_dict={"WARC-Date": "2023-05-17T10:00:00Z"})
            else:
                rec = writer.create_warc_record(url, "conversion", payload=io.BytesIO(payload),
                                                warc_content_type="text/plain",
                                                warc_headers_dict={"WARC-Date": "2023-05-18T10:00:00Z"})
            writer.write_record(rec)
