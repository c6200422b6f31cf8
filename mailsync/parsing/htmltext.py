"""HTML bodies to plain text: what the reader saw, without markup, scripts or hidden text.

html2text does the layout (paragraphs, lists, links as "[text](url)"). On top of it this drops
what a mail client never shows (elements hidden with display:none, visibility:hidden or the
hidden attribute, <template>, <title>), link targets that are not web or mail addresses
(javascript:, data:, cid:), and guards html2text's script/style counter against stray end tags,
which would otherwise let a later <script> body through. Anything html2text chokes on (Python's
HTML parser raises on some marked sections) falls back to a plain tag stripper.
"""

import html
import re

import html2text

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source"}
    | {"track", "wbr"}
)
_NEVER_SHOWN = frozenset({"template", "title"})
# Start tags that end an open <p> (HTML's "p end tag may be omitted" rule): a paragraph never
# nests, so a hidden <p> left unclosed must not hide the rest of the message.
_CLOSES_P = frozenset(
    {"address", "article", "aside", "blockquote", "details", "dialog", "div", "dl", "fieldset"}
    | {"figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header"}
    | {"hgroup", "hr", "main", "menu", "nav", "ol", "p", "pre", "section", "table", "ul"}
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_SAFE_LINK = re.compile(r"(?:https?|mailto|tel|ftp)\s*:", re.IGNORECASE)
_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")
# "[](https://...)": a link around an image (dropped) or around nothing at all.
_EMPTY_LINK = re.compile(r"\[\s*\]\((?:[^()\s]|\([^()\s]*\))*\)")

_INVISIBLE_BLOCKS = re.compile(
    r"<(script|style|head|template|title)\b.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
_COMMENTS = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_BREAKS = re.compile(r"<(?:br|/p|/div|/tr|/h[1-6]|/li|/table)\b[^>]*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*(?:>|\Z)")


class _MailHTML2Text(html2text.HTML2Text):
    def __init__(self) -> None:
        super().__init__(bodywidth=0)
        self.ignore_images = True
        self.ignore_emphasis = True
        self.unicode_snob = True
        self.ignore_mailto_links = False
        # Mail uses tables for layout far more than for data: Markdown tables ("a| b", "---|---")
        # would be noise. Rows become lines, cells are kept apart by spaces.
        self.ignore_tables = True
        self.cells_in_row = 0
        self.hidden_tag: str | None = None
        self.hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.hidden_tag == "p" and tag in _CLOSES_P:
            self.hidden_tag = None  # HTML: this start tag ends the open (hidden) paragraph
        if self.hidden_tag is not None:
            if tag == self.hidden_tag:
                self.hidden_depth += 1
            return
        if tag in _NEVER_SHOWN or _is_hidden(attrs):
            if tag not in _VOID:
                self.hidden_tag, self.hidden_depth = tag, 1
            return
        if tag == "table":
            self.soft_br()
        elif tag == "tr":
            self.cells_in_row = 0
        elif tag in ("td", "th"):
            if self.cells_in_row:
                self.o("  ")
            self.cells_in_row += 1
        elif tag == "a":
            attrs = [
                (name, value)
                for name, value in attrs
                if name != "href" or (value and _SAFE_LINK.match(value.strip()))
            ]
        super().handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.hidden_tag is not None:
            if tag == self.hidden_tag:
                self.hidden_depth -= 1
                if self.hidden_depth == 0:
                    self.hidden_tag = None
            return
        super().handle_endtag(tag)
        if tag == "table":
            self.soft_br()
        # A stray </script> or </style> would make the counters negative, and the next
        # <script> would bring them back to 0: its content would be shown.
        self.quiet = max(self.quiet, 0)
        self.style = max(self.style, 0)

    def handle_data(self, data: str, entity_char: bool = False) -> None:
        if self.hidden_tag is None:
            super().handle_data(data, entity_char)


def _is_hidden(attrs: list[tuple[str, str | None]]) -> bool:
    for name, value in attrs:
        if name == "hidden" or (name == "style" and value and _HIDDEN_STYLE.search(value)):
            return True
    return False


def html_to_text(markup: str) -> str:
    try:
        text = _MailHTML2Text().handle(markup)
    except Exception:
        return strip_tags(markup)
    # html2text escapes Markdown characters in text ("1\\. ", "\\-"); nobody reads this as Markdown.
    text = _MARKDOWN_ESCAPE.sub(r"\1", text)
    for _ in range(3):  # "[[](a)](b)": a linked image inside a link
        text, removed = _EMPTY_LINK.subn("", text)
        if not removed:
            break
    return text


def strip_tags(markup: str) -> str:
    """Crude but safe: drop invisible blocks, comments and tags, then unescape entities."""
    text = _INVISIBLE_BLOCKS.sub("", markup)
    text = _COMMENTS.sub("", text)
    text = _BREAKS.sub("\n", text)
    text = _TAGS.sub("", text)
    return html.unescape(text)
