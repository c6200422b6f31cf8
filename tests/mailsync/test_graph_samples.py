"""The Graph provider reads the exchanges Microsoft documents (../shared/provider-samples/graph),
served as documented by tests/servers/graph_samples.py: not only what our own fake says."""

from __future__ import annotations

import pytest

from mailsync.parsing import parse_message
from mailsync.providers import graph
from mailsync.providers.base import DeltaRequest, RemoteFolder, Throttled
from mailsync.providers.graph import GraphClient, GraphProvider
from tests.servers.graph_samples import SampleGraph, load

FOLDER = RemoteFolder("AQMkADNkNAAAgEMAAAA", "inbox", "Inbox")
PAGES = ("messages-delta-page1-nextlink", "messages-delta-page2-nextlink")
LAST_PAGE = "messages-delta-page3-deltalink"


def provider(samples: SampleGraph) -> GraphProvider:
    client = GraphClient(samples.base_url, lambda refresh: "documented-token")
    return GraphProvider(client, max_message_bytes=1_000_000)


def held(ids: set[str]):
    return lambda among=None: frozenset(ids if among is None else ids & set(among))


def test_the_documented_delta_rounds_give_new_and_removed_messages():
    names = (*PAGES, LAST_PAGE, "messages-delta-next-round-removed")
    with SampleGraph(*names) as samples:
        first_link = samples.url(load(PAGES[0]).url)
        [first] = provider(samples).folder_deltas(
            [DeltaRequest(FOLDER, first_link, held(set()))], since=None
        )
        assert first.new_ids == [
            "AAMkADNkNAAASq35xAAA=",
            "AQMkADNkNAAAVRMKAAAAA==",
            "AQMkADNkNAAAgWkAAAA",
            "AQMkADNkNAAAgWJAAAA",
            "AAMkADk0MGFkODE3LWEAAA=",
        ]
        assert first.cursor.startswith(samples.base_url)
        assert "$deltatoken=GwcBoTmPuoGNlgXgF1nyUNMXY" in first.cursor

        removed = "AAMkADk0MGFkODE3LWE4MmYtNDRhOS0Dh_6qB-pB2Sa2pUum19a6YAAKnLuxoAAA="
        [second] = provider(samples).folder_deltas(
            [DeltaRequest(FOLDER, first.cursor, held({*first.new_ids, removed}))], since=None
        )
        # The updated message (read) is held already: nothing to fetch; the removed one goes.
        assert (second.new_ids, second.removed_ids) == ([], [removed])


def test_the_documented_mime_is_downloaded_and_parsed():
    exchange = load("message-get-mime-value")
    with SampleGraph("message-get-mime-value") as samples:
        [raw] = provider(samples).fetch_raw(FOLDER, ["4aade2547798441eab5188a7a2436bc1"])

    assert raw.raw == exchange.body
    parsed = parse_message(raw.raw)
    assert parsed.subject == "This email has attachment."


def test_the_documented_429_is_a_pause_of_its_fractional_retry_after(monkeypatch):
    monkeypatch.setattr(graph, "LONGEST_WAIT", 1.0)  # wait no 2 s here: pause the mailbox
    with SampleGraph("throttling-429") as samples:
        client = GraphClient(samples.base_url, lambda refresh: "documented-token")
        with pytest.raises(Throttled) as throttled:
            client.get(f"{samples.base_url}/me/messages")

    assert throttled.value.retry_after == pytest.approx(2.128)
