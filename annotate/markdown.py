"""Safe rendering of markdown written by models and project leads.

Completions are untrusted model output. Raw HTML in them is never parsed: the markdown parser's
HTML handling is switched off, so `<script>` comes out as visible, escaped text. The result is
then sanitised with nh3 as a second line of defence (e.g. `javascript:` links). Images are not
loaded (a remote image would tell its host who is looking): each becomes a link showing its alt
text.
"""

import xml.etree.ElementTree as ET

import markdown as markdown_lib
import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

_ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}}


class _ImagesAsLinks(Treeprocessor):
    def run(self, root: ET.Element) -> None:
        for image in root.iter("img"):
            source, alt = image.get("src", ""), image.get("alt") or "no description"
            image.tag, image.text = "a", f"[image: {alt}]"
            image.attrib = {"href": source} if source else {}


class _EscapeRawHtml(Extension):
    """Treat raw HTML as text so it is shown, escaped, instead of being interpreted."""

    def extendMarkdown(self, md: markdown_lib.Markdown) -> None:  # noqa: N802 (markdown's API)
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        # After the inline patterns (priority 20) have made the img elements.
        md.treeprocessors.register(_ImagesAsLinks(md), "images_as_links", 5)


def render_markdown(text: str) -> SafeString:
    html = markdown_lib.markdown(
        text, extensions=["fenced_code", "tables", "sane_lists", _EscapeRawHtml()]
    )
    cleaned = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(cleaned)  # noqa: S308 (sanitised by nh3 just above)
