"""Importing articles from files: Markdown, HTML, plain text, CSV/JSON FAQ pairs, PDF.

    knowledge_import(files=[ImportFile(...)], source=...) -> ImportReport

Each file is parsed into article drafts, then saved in one transaction of its own: a file
that cannot be read (bad encoding, broken PDF, a CSV without question/answer columns...)
fails with a clear reason and leaves nothing half-imported, while the other files go on.
Re-importing is idempotent through each article's content hash (chatbot.knowledge.services):
unchanged articles are skipped, changed ones re-cut, and articles of the source that are
no longer in it are unpublished (never those of a file that failed this time).

Per file, the article keys (`Article.external_id`) are the file's path relative to the
source, plus `#<question>` for FAQ pairs, so re-ordering rows changes nothing.
"""

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from .models import Source
from .services import article_save, articles_unpublish_missing

SUFFIXES = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".csv": "csv",
    ".json": "json",
    ".pdf": "pdf",
}
# HTML elements whose text is not content.
_DROPPED_TAGS = ("script", "style", "noscript", "template", "iframe", "svg", "head", "nav")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_MD_TITLE = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_FAQ_QUESTION_KEYS = ("question", "q", "title", "问题")
_FAQ_ANSWER_KEYS = ("answer", "a", "body", "答案")


class ImportFileError(Exception):
    """A file that cannot be imported; the message says why, for the person importing."""


@dataclass(frozen=True, slots=True)
class ImportFile:
    name: str  # the path relative to the source: the articles' key
    data: bytes


@dataclass(slots=True)
class ArticleDraft:
    external_id: str
    title: str
    body: str
    language: str = ""
    tags: list[str] = field(default_factory=list)
    public_url: str = ""


@dataclass(slots=True)
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unpublished: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    def summary(self) -> str:
        lines = [
            f"added {len(self.added)}, updated {len(self.updated)}, "
            f"unchanged {len(self.unchanged)}, unpublished {self.unpublished}, "
            f"failed {len(self.failed)}"
        ]
        lines += [f"  failed: {reason}" for _, reason in self.failed]
        return "\n".join(lines)


# ---------------------------------------------------------------------------- parsers


def _text(data: bytes, name: str) -> str:
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise ImportFileError(f"{name} is not UTF-8 text (byte {error.start})") from error


def _meta_lines(block: str) -> dict[str, str]:
    meta = {}
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta


def _tags(value) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    value = str(value or "").strip().strip("[]")
    return [t.strip().strip("\"'") for t in re.split(r"[,;|]", value) if t.strip()]


def _stem_title(name: str) -> str:
    return Path(name).stem.replace("-", " ").replace("_", " ").strip().capitalize() or name


def parse_markdown(name: str, data: bytes) -> list[ArticleDraft]:
    """Optional front matter (title, tags, language, url); else the first `# ` heading."""
    text = _text(data, name).replace("\r\n", "\n")
    meta: dict[str, str] = {}
    if match := _FRONT_MATTER.match(text):
        meta = _meta_lines(match.group(1))
        text = text[match.end() :]
    title = meta.get("title", "")
    if not title and (heading := _MD_TITLE.search(text)):
        title = heading.group(1)
        text = text[: heading.start()] + text[heading.end() :]  # the title is not a section
    return [
        ArticleDraft(
            external_id=name,
            title=title or _stem_title(name),
            body=text.strip(),
            language=meta.get("language", meta.get("lang", "")),
            tags=_tags(meta.get("tags", "")),
            public_url=meta.get("url", meta.get("public_url", "")),
        )
    ]


def html_to_markdown(html: str) -> tuple[str, str]:
    """(title, body as Markdown): headings kept as `#` lines, scripts and styles dropped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROPPED_TAGS):
        tag.decompose()
    root = soup.body or soup
    blocks: list[str] = []
    for element in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td"]):
        if element.find_parent(["p", "li", "pre", "td"]):
            continue  # its text is in the enclosing block
        text = " ".join(element.get_text(" ", strip=True).split())
        if not text:
            continue
        if element.name[0] == "h":
            blocks.append("#" * int(element.name[1]) + " " + text)
        elif element.name == "li":
            blocks.append("- " + text)
        else:
            blocks.append(text)
    if not blocks:  # no block elements: the document's plain text
        blocks = [" ".join(root.get_text(" ", strip=True).split())]
    body = "\n\n".join(b for b in blocks if b)
    if not title and (first := _MD_TITLE.search(body)):
        title = first.group(1)
        body = body[: first.start()] + body[first.end() :]
    return title, body.strip()


def parse_html(name: str, data: bytes) -> list[ArticleDraft]:
    title, body = html_to_markdown(_text(data, name))
    return [ArticleDraft(external_id=name, title=title or _stem_title(name), body=body)]


def parse_text(name: str, data: bytes) -> list[ArticleDraft]:
    """The first line is the title, the rest the body."""
    text = _text(data, name).replace("\r\n", "\n").strip()
    first, _, rest = text.partition("\n")
    if not rest.strip():
        return [ArticleDraft(external_id=name, title=_stem_title(name), body=text)]
    return [ArticleDraft(external_id=name, title=first.strip(), body=rest.strip())]


def _faq_drafts(name: str, rows: Iterable[dict], *, where: str) -> list[ArticleDraft]:
    drafts: list[ArticleDraft] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ImportFileError(f"{name}: {where} {number} is not an object")
        lower = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
        question = next((str(lower[k]).strip() for k in _FAQ_QUESTION_KEYS if lower.get(k)), "")
        answer = next((str(lower[k]).strip() for k in _FAQ_ANSWER_KEYS if lower.get(k)), "")
        if not question and not answer:
            continue  # a blank row
        if not question or not answer:
            raise ImportFileError(f"{name}: {where} {number} needs both a question and an answer")
        key = f"{name}#{' '.join(question.split())}"[:500]
        if key in seen:
            raise ImportFileError(f"{name}: {where} {number} repeats the question {question!r}")
        seen.add(key)
        drafts.append(
            ArticleDraft(
                external_id=key,
                title=question,
                body=answer,
                language=str(lower.get("language", lower.get("lang", "")) or ""),
                tags=_tags(lower.get("tags", "")),
                public_url=str(lower.get("url", lower.get("public_url", "")) or ""),
            )
        )
    if not drafts:
        raise ImportFileError(f"{name} has no question/answer pairs")
    return drafts


def parse_csv(name: str, data: bytes) -> list[ArticleDraft]:
    """A header row with `question` and `answer` columns (optional: tags, language, url)."""
    text = _text(data, name)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    fields = {(f or "").strip().lower() for f in reader.fieldnames or []}
    if not fields & set(_FAQ_QUESTION_KEYS) or not fields & set(_FAQ_ANSWER_KEYS):
        raise ImportFileError(f"{name}: the header needs a 'question' and an 'answer' column")
    try:
        return _faq_drafts(name, reader, where="row")
    except csv.Error as error:
        raise ImportFileError(f"{name}: not valid CSV ({error})") from error


def parse_json(name: str, data: bytes) -> list[ArticleDraft]:
    """A list of {question, answer, tags?, language?, url?}, or {"faqs": [...]}."""
    try:
        document = json.loads(_text(data, name))
    except json.JSONDecodeError as error:
        raise ImportFileError(
            f"{name}: not valid JSON ({error.msg}, line {error.lineno})"
        ) from error
    if isinstance(document, dict):
        document = document.get("faqs", document.get("items"))
    if not isinstance(document, list):
        raise ImportFileError(f"{name}: expected a list of question/answer objects")
    return _faq_drafts(name, document, where="item")


def parse_pdf(name: str, data: bytes) -> list[ArticleDraft]:
    """The text of every page (pypdf, pure Python); the title from the metadata."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ImportFileError(f"{name} is encrypted")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except ImportFileError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as error:
        raise ImportFileError(f"{name} is not a readable PDF ({error})") from error
    paragraphs = []
    for page in pages:
        # Lines inside a paragraph are joined; blank lines stay paragraph breaks.
        paragraphs += [" ".join(p.split()) for p in re.split(r"\n\s*\n", page) if p.strip()]
    body = "\n\n".join(paragraphs)
    if not body:
        raise ImportFileError(f"{name} has no extractable text (a scanned PDF?)")
    return [
        ArticleDraft(external_id=name, title=str(title).strip() or _stem_title(name), body=body)
    ]


PARSERS: dict[str, Callable[[str, bytes], list[ArticleDraft]]] = {
    "markdown": parse_markdown,
    "html": parse_html,
    "text": parse_text,
    "csv": parse_csv,
    "json": parse_json,
    "pdf": parse_pdf,
}


def file_parse(file: ImportFile) -> list[ArticleDraft]:
    kind = SUFFIXES.get(Path(file.name).suffix.lower())
    if kind is None:
        supported = ", ".join(sorted(SUFFIXES))
        raise ImportFileError(f"{file.name}: unsupported file type (supported: {supported})")
    if not file.data.strip():
        raise ImportFileError(f"{file.name} is empty")
    drafts = PARSERS[kind](file.name, file.data)
    for draft in drafts:
        if not draft.body.strip():
            raise ImportFileError(f"{file.name}: {draft.title!r} has no text")
    return drafts


# ---------------------------------------------------------------------------- import


def source_get_or_create(*, location: str, name: str = "", kind: str = Source.Kind.FILE) -> Source:
    source, _ = Source.objects.get_or_create(
        location=location, defaults={"name": name or Path(location).name or location, "kind": kind}
    )
    return source


def knowledge_import(
    *,
    files: Iterable[ImportFile],
    source: Source,
    unpublish_missing: bool = True,
    widget_key_ids: list | None = None,
    progress: Callable[[Iterable], Iterable] = lambda items: items,
) -> ImportReport:
    """Import `files` into `source`; one transaction per file. See the module docstring."""
    report = ImportReport()
    keep: set[str] = set()
    failed_prefixes: list[str] = []
    for file in progress(list(files)):
        try:
            drafts = file_parse(file)
            with transaction.atomic():
                results = [
                    article_save(
                        title=d.title,
                        body=d.body,
                        language=d.language,
                        tags=d.tags,
                        public_url=d.public_url,
                        source=source,
                        external_id=d.external_id,
                        widget_key_ids=widget_key_ids,
                    )
                    for d in drafts
                ]
        except ImportFileError as error:
            report.failed.append((file.name, str(error)))
            failed_prefixes.append(file.name)
            continue
        except ValueError as error:  # a draft the service refused (no title...)
            report.failed.append((file.name, f"{file.name}: {error}"))
            failed_prefixes.append(file.name)
            continue
        for draft, result in zip(drafts, results, strict=True):
            keep.add(draft.external_id)
            getattr(report, result.outcome).append(draft.external_id)
    if unpublish_missing:
        # A file that failed this time keeps its articles as they were.
        if failed_prefixes:
            kept = source.articles.filter(external_id__regex=_prefix_regex(failed_prefixes))
            keep |= set(kept.values_list("external_id", flat=True))
        report.unpublished = articles_unpublish_missing(source=source, keep_external_ids=keep)
    Source.objects.filter(pk=source.pk).update(last_imported_at=timezone.now())
    return report


def _prefix_regex(names: list[str]) -> str:
    return "^(" + "|".join(re.escape(n) + r"($|#)" for n in names) + ")"


def files_under(path: Path) -> list[ImportFile]:
    """A file, or the importable files under a directory, keyed by their relative path."""
    path = Path(path)
    if path.is_file():
        return [ImportFile(name=path.name, data=path.read_bytes())]
    if not path.is_dir():
        raise ImportFileError(f"{path}: no such file or directory")
    return [
        ImportFile(name=str(p.relative_to(path)), data=p.read_bytes())
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.suffix.lower() in SUFFIXES
    ]
