from django.http import HttpRequest

# `page` numbers a page; `before` and `after` place a keyset page (mailsync/card_pages.py).
PAGE_PARAMETERS = ("page", "before", "after")


def querystring_without_page(request: HttpRequest) -> str:
    """The current query string minus the page, for pagination links that keep search and sort."""
    params = request.GET.copy()
    for name in PAGE_PARAMETERS:
        params.pop(name, None)
    return params.urlencode()
