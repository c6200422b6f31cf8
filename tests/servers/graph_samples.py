"""Microsoft's documented Graph exchanges (../shared/provider-samples/graph/*.http), replayed.

The stateful fake (graph.py) is what the scenario tests run against; this serves the answers
Microsoft's own documentation shows, byte for byte, so a test can check that the product reads
them: delta pages with their links, `@removed` items, a message's MIME with Exchange's folded
headers, a 429 with a fractional Retry-After. Links in the answers point at Graph
(https://graph.microsoft.com/v1.0); they are rewritten to this server, nothing else is.

Each file: optional `# ` comment lines, the request (line, headers, blank line, body), a blank
line, `### response`, then the status line, headers, blank line and body (SOURCES.md there).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.servers.microsoft_tenant import ServedInThread

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "provider-samples" / "graph"
GRAPH = "https://graph.microsoft.com/v1.0"


@dataclass(frozen=True)
class Exchange:
    method: str
    url: str
    status: int
    headers: dict[str, str]
    body: bytes


def load(name: str) -> Exchange:
    text = (SAMPLES / f"{name}.http").read_text(encoding="utf-8")
    lines = [line for line in text.split("\n") if not line.startswith("# ")]
    request, _, response = "\n".join(lines).partition("\n### response\n")
    method, url = request.strip().split("\n", 1)[0].split(" ")[:2]  # "HTTP/1.1" may follow
    head, _, body = response.partition("\n\n")
    status_line, *header_lines = head.strip().split("\n")
    headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
    return Exchange(method, url, int(status_line.split(" ")[1]), headers, body.encode())


def _key(url: str) -> tuple[str, dict[str, str]]:
    """A URL as (path, query) with OData's key form unfolded and case ignored in the path:
    Graph's links say mailfolders('ID') where its documentation says mailFolders/ID."""
    parts = urlsplit(url)
    path = re.sub(r"\('([^']*)'\)", r"/\1", unquote(parts.path)).lower()
    path = path.removeprefix("/v1.0")
    return path, dict(parse_qsl(parts.query, keep_blank_values=True))


class SampleGraph:
    """Answers each request with the documented exchange whose request it matches (same path;
    every query parameter the documented request had, with the same value); others are 404."""

    def __init__(self, *names: str) -> None:
        self.exchanges = [load(name) for name in names]
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}/v1.0"
        self._serving = ServedInThread(self._server)

    def close(self) -> None:
        self._serving.close()

    def __enter__(self) -> SampleGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, documented: str) -> str:
        """A documented Graph URL, on this server."""
        return documented.replace(GRAPH, self.base_url)

    def _find(self, method: str, url: str) -> Exchange | None:
        path, query = _key(url)
        for exchange in self.exchanges:
            want_path, want_query = _key(exchange.url)
            same_query = all(query.get(k) == v for k, v in want_query.items())
            if exchange.method == method and want_path == path and same_query:
                return exchange
        return None

    def _body(self, exchange: Exchange) -> bytes:
        return exchange.body.replace(GRAPH.encode(), self.base_url.encode())

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.method == "POST" and request.path.endswith("/$batch"):
            response = self._batch(request.get_json())
        else:
            exchange = self._find(request.method, request.full_path)
            response = (
                Response(self._body(exchange), exchange.status, exchange.headers)
                if exchange
                else Response(b"", 404)
            )
        return response(environ, start_response)

    def _batch(self, batch: dict[str, Any]) -> Response:
        """Each part answered like a request of its own (learn.microsoft.com/graph/
        json-batching: a JSON body inline, with the part's status and headers)."""
        answers = []
        for part in batch["requests"]:
            exchange = self._find(part.get("method", "GET"), "/v1.0" + part["url"])
            if exchange is None:
                answers.append({"id": part["id"], "status": 404, "headers": {}, "body": None})
                continue
            answers.append(
                {
                    "id": part["id"],
                    "status": exchange.status,
                    "headers": exchange.headers,
                    "body": json.loads(self._body(exchange)),
                }
            )
        return Response(json.dumps({"responses": answers}), 200, mimetype="application/json")
