from django.http import HttpRequest


def querystring_without_page(request: HttpRequest) -> str:
    """The current query string minus `page`, for pagination links that keep search and sort."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
