"""Reading pages as a browser does: follow the links a page offers."""

import html
import re
from typing import Any


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


_THREAD_ROWS = re.compile(r'<details class="thread" data-fragment-url="([^"]*)"')


def opened_conversations(response) -> list[list[Any]]:
    """A card page's conversations as a reader who opens each one sees them: lists of its
    emails (CardEmail), newest first. A conversation's emails are fetched from the URL its
    row names, as the page's script does when it is opened."""
    urls = iter(html.unescape(url) for url in _THREAD_ROWS.findall(response.content.decode()))
    shown = []
    for conversation in response.context["activity"].conversations.items:
        if conversation.email_count == 1:
            shown.append([conversation.latest])
            continue
        opened = response.client.get(next(urls))
        assert opened.status_code == 200
        shown.append(opened.context["conversation"].emails)
    return shown
