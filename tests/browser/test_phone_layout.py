"""Every page on a 390 px phone (390 x 844, an iPhone 12-15): nothing scrolls sideways, every
navigation link is whole and on screen, and no button sits on a page's heading. A full-page
screenshot of each goes to artifacts/screenshots/phone-*.png for people to look at.

The pages come from the URL names below; a name that does not resolve (a page not built yet) is
left out rather than failing, so the list may name pages ahead of their arrival.
"""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize

from crm.activities.services import meeting_create, task_create
from hierarchy.models import User, VisibilityLevel
from tests.browser.signin import sign_in
from tests.factories import (
    UserFactory,
    make_account,
    make_contact,
    make_mailbox,
    make_message,
    put_in_thread,
)

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}
JANE = "procurement.department.head@northwind-logistics-international.example"

# What the page shows that a phone must fit: overflow, cut or off-screen links, covered headings.
LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const width = document.documentElement.clientWidth;
  const scrollWidth = document.documentElement.scrollWidth;
  if (scrollWidth > width) problems.push(`the page is ${scrollWidth} px wide`);
  for (const link of document.querySelectorAll(".mainnav a")) {
    const box = link.getBoundingClientRect();
    if (link.scrollWidth > link.clientWidth || box.left < 0 || box.right > width)
      problems.push(`nav link "${link.textContent.trim()}" is cut or off screen`);
  }
  const overlap = (a, b) =>
    a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  for (const heading of document.querySelectorAll("h1")) {
    const h = heading.getBoundingClientRect();
    for (const button of document.querySelectorAll("button, .button")) {
      const b = button.getBoundingClientRect();
      if (b.width && overlap(h, b))
        problems.push(`"${button.textContent.trim()}" covers the heading`);
    }
  }
  return problems;
}"""


def a_week_of_work(user: User) -> dict[str, Any]:
    """Long names, long addresses, a conversation and mail held in several mailboxes."""
    now = timezone.now()
    account = make_account(name="Northwind Logistics International", domains=["northwind.example"])
    jane = make_contact(
        first_name="Jane",
        last_name="Doe-Fitzgerald",
        title="Head of Procurement and Strategic Sourcing",
        phone="+44 20 7946 0958",
        account=account,
        emails=[JANE, "jane@northwind.example"],
    )
    boxes = [make_mailbox(user)]
    for first, last in [("Laura", "Novak"), ("Omar", "Haddad"), ("Isabelle", "Dubois")]:
        boxes.append(
            make_mailbox(UserFactory.create(parent=user, first_name=first, last_name=last))
        )
    for box in boxes:
        message = make_message(
            box,
            sender=JANE,
            to=tuple(b.address for b in boxes),
            subject="Renewal of the warehouse and cross-docking contract for 2027-2029",
            body="Hi,\n\n" + "Please see https://northwind.example/" + "x" * 120 + "\n",
            message_id="<renewal@northwind.example>",
        )
    replies = [
        make_message(boxes[0], sender=boxes[0].address, to=(JANE,), subject="Re: Pallets")
        for _ in range(2)
    ]
    put_in_thread(message, *replies)
    start = now + timedelta(days=1)
    meeting = meeting_create(
        owner=user,
        title="Quarterly business review with Northwind procurement",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        location="Northwind HQ, 4th floor, meeting room Amsterdam",
        account=account,
        contacts=[jane],
    )
    task = task_create(
        owner=user,
        title="Send the signed renewal and the pallet schedule to Jane",
        due_at=start,
        account=account,
        contacts=[jane],
    )
    return {
        "contact": jane,
        "account": account,
        "message": message,
        "meeting": meeting,
        "task": task,
    }


# (URL name, how to build its arguments from the data above, query string)
PAGES: list[tuple[str, Callable[[dict[str, Any]], list[Any]], str]] = [
    ("home", lambda d: [], ""),
    ("contact-list", lambda d: [], ""),
    ("contact-create", lambda d: [], ""),
    ("contact-card", lambda d: [d["contact"].pk], ""),
    ("contact-card", lambda d: [d["contact"].pk], "?tab=meetings"),
    ("contact-card", lambda d: [d["contact"].pk], "?tab=tasks"),
    ("contact-conversation", lambda d: [d["contact"].pk, d["message"].thread_key], ""),
    ("contact-edit", lambda d: [d["contact"].pk], ""),
    ("account-list", lambda d: [], ""),
    ("account-create", lambda d: [], ""),
    ("account-card", lambda d: [d["account"].pk], ""),
    ("account-edit", lambda d: [d["account"].pk], ""),
    ("meeting-list", lambda d: [], ""),
    ("meeting-create", lambda d: [], ""),
    ("meeting-detail", lambda d: [d["meeting"].pk], ""),
    ("meeting-edit", lambda d: [d["meeting"].pk], ""),
    ("task-list", lambda d: [], ""),
    ("task-create", lambda d: [], ""),
    ("task-detail", lambda d: [d["task"].pk], ""),
    ("task-edit", lambda d: [d["task"].pk], ""),
    ("message", lambda d: [d["message"].pk], ""),
    ("mailbox-settings", lambda d: [], ""),
    ("mailbox-connect", lambda d: [], ""),
    ("mailbox-connect-provider", lambda d: [], ""),
    ("mailbox-connect-imap", lambda d: [], ""),
    ("mailbox-disconnect", lambda d: [], ""),
    ("preferences", lambda d: [], ""),
    ("api-docs", lambda d: [], ""),
]


def urls(data: dict[str, Any]) -> list[str]:
    found = []
    for name, args, query in PAGES:
        try:
            found.append(reverse(name, args=args(data)) + query)
        except NoReverseMatch:
            continue
    return found


def shot_name(url: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in url).strip("-")
    return f"phone-{slug or 'home'}.png"


def test_every_page_fits_a_390_px_phone(page: Page, live_server, screenshots_dir: Path):
    page.set_viewport_size(PHONE)
    page.goto(reverse("login"))
    problems = {"/login/": page.evaluate(LAYOUT_PROBLEMS)}
    page.screenshot(path=screenshots_dir / "phone-login.png", full_page=True)

    # Staff: one more link (Admin) in the bar.
    user = UserFactory.create(
        first_name="Maximilian", last_name="Oberholzer-Castellanos", is_staff=True
    )
    user.visibility_level = VisibilityLevel.EMPLOYEES
    user.save(update_fields=["visibility_level"])
    pages = urls(a_week_of_work(user))
    sign_in(page, user, live_server.url)
    for url in pages:
        response = page.goto(url)
        assert response is not None
        assert response.ok, f"{url} answered {response.status}"
        page.wait_for_load_state("networkidle")  # the API docs render after loading the schema
        problems[url] = page.evaluate(LAYOUT_PROBLEMS)
        page.screenshot(path=screenshots_dir / shot_name(url), full_page=True)

    assert len(pages) >= 15
    assert {url: found for url, found in problems.items() if found} == {}
