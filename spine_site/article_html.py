"""The allow-list every article's HTML passes through before readers see it.

Markdown is rendered with raw HTML off and markdown-it refuses `javascript:` links already;
this is the second wall. Editors are trusted, but a stolen editor account must not be able
to put script on patients' pages: whatever the renderer (or a future plugin) lets through,
only these tags, attributes and link schemes reach a page (ammonia, through nh3).
"""

from __future__ import annotations

import nh3

_TAGS = {
    "p", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "a", "code", "pre",
    "blockquote", "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "div",
    "picture", "source", "img", "figure", "figcaption",
}  # fmt: skip
_ATTRIBUTES = {
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "ol": {"start"},
    "a": {"href", "title"},
    "blockquote": {"class"},
    "th": {"scope"},
    "td": {"data-label"},
    # The scrolling wrapper around wide tables (articles._polish_html).
    "div": {"class", "role", "tabindex", "aria-label"},
    "picture": set(),
    "source": {"srcset", "type", "sizes"},
    "img": {"src", "alt", "width", "height", "srcset", "sizes", "loading", "decoding"},
}
# Relative links (/schedule, #faq) pass; of the absolute ones, only these.
_SCHEMES = {"http", "https", "mailto", "tel"}


def sanitize(html: str) -> str:
    """`html` with everything outside the allow-list removed (tags unwrapped, script and
    style dropped with their content, event handlers and other schemes stripped)."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel=None,
        strip_comments=True,
    )
