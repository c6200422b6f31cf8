"""Reading pages as a browser does: follow the links a page offers."""

import html
import re


def link_href(response, rel: str) -> str | None:
    """The href of the page's <a rel="..."> link (pagination: "next", "prev"), or None."""
    found = re.search(rf'<a href="([^"]*)" rel="{rel}"', response.content.decode())
    return html.unescape(found.group(1)) if found else None


def follow(client, response, rel: str):
    """GET the page behind the rel link, relative to the page's own URL as a browser would."""
    href = link_href(response, rel)
    assert href is not None, f'the page has no rel="{rel}" link'
    path = response.wsgi_request.path
    target = client.get(path + href if href.startswith("?") else href)
    assert target.status_code == 200
    return target
