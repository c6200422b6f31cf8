"""Bidirectional control characters in Chromium: a name ending in U+202E RIGHT-TO-LEFT OVERRIDE
must not reverse the text after it ("Eve\u202e → Bob" would show "Eve boB →"). Measured on the
screen: the characters after the name keep their left-to-right order."""

import pytest
from django.urls import reverse
from playwright.sync_api import Locator, Page

from mailsync.models import Participant
from tests.browser.signin import sign_in
from tests.factories import UserFactory, make_account, make_contact, make_mailbox, make_message

pytestmark = pytest.mark.browser

RLO, PDI = "\u202e", "\u2069"

# The left edge on screen of the first occurrence of each string in the element's text.
LEFT_EDGES = """(element, needles) => {
  const found = {};
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const needle of needles) {
      const at = node.data.indexOf(needle);
      if (needle in found || at < 0) continue;
      const range = document.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + needle.length);
      found[needle] = range.getBoundingClientRect().left;
    }
  }
  return found;
}"""


def left_edges(element: Locator, *needles: str) -> list[float]:
    found = element.evaluate(LEFT_EDGES, list(needles))
    assert set(found) == set(needles), found
    return [found[n] for n in needles]


def test_text_after_a_name_with_an_override_still_reads_left_to_right(page: Page, live_server):
    viewer = UserFactory.create(first_name="Sam", last_name="Seller")
    account = make_account(name="Acme Freight", domains=["acme.test"])
    # A stray PDI before the override would end an isolate early and let the override out.
    eve = make_contact(
        first_name="Eve",
        last_name=f"Evans{RLO}",
        title=f"Buyer{PDI}{RLO}",
        account=account,
        emails=["eve@acme.test"],
    )
    box = make_mailbox(viewer)
    message = make_message(box, sender="eve@acme.test", to=("bob@acme.test",), subject="Pallets")
    Participant.objects.filter(message=message, address="eve@acme.test").update(
        name=f"Eve{PDI}{RLO}"
    )
    Participant.objects.filter(message=message, address="bob@acme.test").update(name="Bob Baker")
    sign_in(page, viewer, live_server.url)

    page.goto(reverse("contact-card", args=[eve.pk]))
    at, company = left_edges(page.locator(".card-title p"), " at ", "Acme")
    assert at < company  # "Buyer at Acme Freight", not "Buyer thgierF emcA ta"
    arrow, bob = left_edges(page.locator(".email-summary .people"), "→", "Bob")
    assert arrow < bob  # "Eve → Bob Baker", not "Eve rekaB boB →"

    page.goto(reverse("message", args=[message.pk]))
    sender = page.locator(".headers dd").first
    opening, closing = left_edges(sender, "<", ">")
    assert opening < closing  # "Eve <eve@acme.test>", not "Eve >tset.emca@eve<"
