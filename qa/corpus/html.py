"""HTML documents as plain text: blank-line separated blocks, with their heading levels and <title>."""

from __future__ import annotations

from html.parser import HTMLParser


class _HTMLText(HTMLParser):
    """Flattens HTML into blank-line separated blocks, remembering heading levels."""

    BLOCKS = {"p", "div", "section", "article", "li", "ul", "ol", "br", "tr", "table", "blockquote",
              "h1", "h2", "h3", "h4", "h5", "h6", "header", "footer", "main"}
    SKIP = {"script", "style", "nav", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.levels: dict[str, int] = {}
        self.heading: int | None = None
        self.skip_depth = 0
        self.in_title = False
        self.title = ""

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip_depth += 1
        elif tag == "title":
            self.in_title = True
        elif tag in self.BLOCKS:
            self._flush()
            if tag[0] == "h" and tag[1:].isdigit():
                self.heading = int(tag[1:])
            if tag == "li":
                self.current.append("• ")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag == "title":
            self.in_title = False
        elif tag in self.BLOCKS:
            self._flush()

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        elif not self.skip_depth:
            self.current.append(data)

    def _flush(self):
        text = " ".join("".join(self.current).split())
        if text and text != "•":
            if self.heading:
                self.levels[text] = self.heading
            self.blocks.append(text)
        self.current, self.heading = [], None


def html_to_text(raw: str) -> tuple[str, dict[str, int], str]:
    """Plain text of an HTML page (the source that spans refer to), heading levels and <title>."""
    parser = _HTMLText()
    parser.feed(raw)
    parser.close()
    parser._flush()
    return "\n\n".join(parser.blocks) + "\n", parser.levels, " ".join(parser.title.split())
