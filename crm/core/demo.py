"""A believable demo company: team tree, mailboxes, accounts, contacts, mail threads, activities.

Used by `manage.py seed_demo` (and its mail writer by the benchmarks). Everything is drawn from one
random.Random(seed), so a seed always yields the same company; dates are relative to `now`.
Accounts, contacts and activities go through the services; mail is bulk-inserted as a sync would
store it (one row per holding mailbox, a location in INBOX or Sent, participants by canonical
address), because 3,000 messages one by one would take minutes.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from crm.accounts.models import Account
from crm.accounts.services import account_create
from crm.activities.models import Task
from crm.activities.services import meeting_create, task_create
from crm.contacts.models import Contact
from crm.contacts.services import contact_create
from crm.core.addresses import normalize_address
from hierarchy.models import User
from mailsync.card_links import card_links_add_messages
from mailsync.models import (
    Direction,
    Folder,
    FolderRole,
    Mailbox,
    MailboxState,
    Message,
    MessageLocation,
    Participant,
    ParticipantRole,
    Provider,
)

DEMO_DOMAIN = "postcard-demo.com"
DEMO_PASSWORD = "postcard-demo"  # noqa: S105 - public demo login, printed by `dev.py start`
DEMO_COMPANY = "Postcard Demo Inc."
DEFAULT_MESSAGES = 3000
BATCH_SIZE = 1000

T = TypeVar("T")


# --- The team ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seat:
    key: str
    first: str
    last: str
    title: str
    manager: str | None
    level: int
    username: str = ""  # first.last unless set
    email: str = ""  # first.last@DEMO_DOMAIN unless set
    superuser: bool = False
    sync_only: bool = False


TEAM: tuple[Seat, ...] = (
    Seat("ceo", "Eleanor", "Whitfield", "Chief Executive Officer", None, 4),
    Seat("vp_sales", "Marcus", "Bell", "VP Sales", "ceo", 3, username="manager"),
    Seat("sm_east", "Sofia", "Alvarez", "Sales Manager, East", "vp_sales", 1),
    Seat("ae_daniel", "Daniel", "Kim", "Account Executive", "sm_east", 0),
    Seat("ae_hannah", "Hannah", "Schultz", "Account Executive", "sm_east", 0),
    Seat("ae_omar", "Omar", "Haddad", "Senior Account Executive", "sm_east", 2),
    Seat("ae_grace", "Grace", "Liu", "Account Executive", "sm_east", 0),
    Seat("sm_west", "Ryan", "Mitchell", "Sales Manager, West", "vp_sales", 2),
    Seat("ae_chloe", "Chloe", "Martin", "Account Executive", "sm_west", 0),
    Seat("ae_lucas", "Lucas", "Ferreira", "Account Executive", "sm_west", 0),
    Seat("ae_aisha", "Aisha", "Bello", "Senior Account Executive", "sm_west", 1),
    Seat("hos", "Nadia", "Petrova", "Head of Support", "ceo", 1),
    Seat("agent_tom", "Tom", "Becker", "Support Engineer", "hos", 0),
    Seat("agent_mei", "Mei", "Tanaka", "Support Engineer", "hos", 0),
    Seat("agent_jonas", "Jonas", "Lindqvist", "Support Engineer", "hos", 0),
    # The shared support@ address, synced as a second mailbox: it holds every ticket thread.
    Seat(
        "support_inbox",
        "Support",
        "Team",
        "Customer Support",
        "hos",
        0,
        username="support",
        email=f"support@{DEMO_DOMAIN}",
        sync_only=True,
    ),
    Seat("cfo", "Richard", "Osei", "Chief Financial Officer", "ceo", 2),
    Seat("ar", "Laura", "Novak", "Accounts Receivable", "cfo", 0),
    Seat("marketing", "Isabelle", "Dubois", "Head of Marketing", "ceo", 2),
    Seat("admin", "Priya", "Raman", "IT & Operations", "ceo", 4, username="admin", superuser=True),
)
ACCOUNT_EXECUTIVES = (
    "ae_daniel",
    "ae_hannah",
    "ae_omar",
    "ae_grace",
    "ae_chloe",
    "ae_lucas",
    "ae_aisha",
)
SUPPORT_AGENTS = ("agent_tom", "agent_mei", "agent_jonas")


@dataclass(frozen=True)
class Person:
    """Someone who writes mail: a user or a contact."""

    address: str
    first: str
    name: str
    title: str
    org: str
    phone: str = ""


@dataclass
class DemoMailbox:
    mailbox: Mailbox
    inbox: Folder
    sent: Folder

    def folder_for(self, direction: str) -> Folder:
        return self.sent if direction == Direction.OUTGOING else self.inbox


@dataclass
class Staff:
    user: User
    seat: Seat
    person: Person

    @property
    def manager_key(self) -> str | None:
        return self.seat.manager


@dataclass
class Customer:
    contact: Contact
    account: Account
    person: Person
    personal: str = ""  # a private address the contact sometimes writes from


@dataclass
class Summary:
    users: int = 0
    mailboxes: int = 0
    accounts: int = 0
    contacts: int = 0
    threads: int = 0
    emails: int = 0
    messages: int = 0
    shared_emails: int = 0
    meetings: int = 0
    tasks: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)


def demo_email(seat: Seat) -> str:
    return seat.email or f"{seat.first}.{seat.last}@{DEMO_DOMAIN}".lower()


def create_team(rng: random.Random, *, now: datetime) -> dict[str, Staff]:
    """Users parents-first; MPTT inserts each under its manager (create_user would re-hash)."""
    password = make_password(DEMO_PASSWORD)  # one slow PBKDF2 run instead of twenty
    staff: dict[str, Staff] = {}
    for seat in TEAM:
        if seat.superuser and User.objects.filter(username=seat.username).exists():
            continue  # keep an admin created by hand; the company tree does not need it
        email = demo_email(seat)
        user = User(
            username=seat.username or f"{seat.first}.{seat.last}".lower(),
            first_name=seat.first,
            last_name=seat.last,
            email=email,
            parent=staff[seat.manager].user if seat.manager else None,
            visibility_level=seat.level,
            is_sync_only=seat.sync_only,
            is_superuser=seat.superuser,
            is_staff=seat.superuser,
            date_joined=now - timedelta(days=rng.randint(200, 1500)),
        )
        if seat.sync_only:
            user.set_unusable_password()
        else:
            user.password = password
        user.save()
        person = Person(
            email,
            seat.first,
            f"{seat.first} {seat.last}",
            seat.title,
            DEMO_COMPANY,
            f"+1 415 555 01{rng.randint(10, 99)}",
        )
        staff[seat.key] = Staff(user=user, seat=seat, person=person)
    return staff


def create_mailbox(user: User, *, now: datetime) -> DemoMailbox:
    """An IMAP mailbox as the settings page would save it, already synced (no credentials).

    Marked as demo data: the settings page says so and the sync never tries it."""
    address = normalize_address(user.email)
    mailbox = Mailbox.objects.create(
        owner=user,
        address=address,
        provider=Provider.IMAP,
        state=MailboxState.ACTIVE,
        is_demo=True,
        connection_settings={
            "imap_host": "imap.postcard-demo.com",
            "imap_port": 993,
            "imap_security": "ssl",
            "smtp_host": "smtp.postcard-demo.com",
            "smtp_port": 587,
            "smtp_security": "starttls",
            "username": address,
        },
        sync_since_days=180,
        last_synced_at=now,
    )
    inbox = Folder.objects.create(mailbox=mailbox, name="INBOX", role=FolderRole.INBOX)
    sent = Folder.objects.create(mailbox=mailbox, name="Sent", role=FolderRole.SENT)
    return DemoMailbox(mailbox=mailbox, inbox=inbox, sent=sent)


# --- Accounts and contacts ----------------------------------------------------------------

ACCOUNTS: tuple[tuple[str, str], ...] = (
    ("Northwind Logistics", "northwind-logistics.com"),
    ("Bluebird Analytics", "bluebird-analytics.io"),
    ("Harbor & Pine Furniture", "harborandpine.com"),
    ("Cobalt Ridge Energy", "cobaltridge-energy.com"),
    ("Meridian Health Partners", "meridianhealthpartners.org"),
    ("Alder Creek Foods", "aldercreekfoods.com"),
    ("Brightwater Labs", "brightwaterlabs.com"),
    ("Fennel & Finch Marketing", "fennelfinch.co.uk"),
    ("Granite Peak Construction", "granitepeak-construction.com"),
    ("Helios Solar Systems", "helios-solar.com"),
    ("Ironleaf Security", "ironleafsecurity.com"),
    ("Juniper Learning", "juniperlearning.edu"),
    ("Kestrel Aviation Services", "kestrel-aviation.com"),
    ("Lumen Retail Group", "lumenretail.com"),
    ("Maple Street Bakeries", "maplestreetbakeries.com"),
    ("Nimbus Hosting", "nimbushosting.net"),
    ("Orchard Valley Farms", "orchardvalleyfarms.com"),
    ("Pinnacle Legal LLP", "pinnaclelegal.co.uk"),
    ("Quarrystone Architects", "quarrystone-architects.com"),
    ("Redwood Insurance Brokers", "redwood-insurance.com"),
    ("Silverline Transit", "silverlinetransit.com"),
    ("Tidewater Shipping", "tidewatershipping.com"),
    ("Umbra Design Studio", "umbradesign.studio"),
    ("Vantage Point Consulting", "vantagepoint-consulting.com"),
    ("Willow & Oak Hotels", "willowandoakhotels.com"),
    ("Xylo Music Academy", "xylomusic.academy"),
    ("Yellowfin Seafood Co.", "yellowfinseafood.com"),
    ("Zephyr Outdoor Gear", "zephyroutdoor.com"),
    ("Atlas Freight Partners", "atlasfreight.com"),
    ("Beacon Dental Group", "beacondental.com"),
    ("Cedar Lane Property Management", "cedarlane-pm.com"),
    ("Driftwood Media", "driftwoodmedia.tv"),
    ("Evergreen Credit Union", "evergreencu.org"),
    ("Foxglove Pharmacy", "foxglovepharmacy.co.uk"),
    ("Gullwing Robotics", "gullwing-robotics.com"),
    ("Hollowell Veterinary Clinics", "hollowellvets.com"),
    ("Indigo Bay Resorts", "indigobayresorts.com"),
    ("Keystone Manufacturing", "keystone-mfg.com"),
    ("Larkspur Biotech", "larkspurbio.com"),
    ("Mosaic Event Rentals", "mosaicevents.com"),
)

FIRST_NAMES = (
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Ethan",
    "Sophia",
    "Mason",
    "Isabella",
    "Lucas",
    "Mia",
    "Benjamin",
    "Amelia",
    "Henry",
    "Harper",
    "Alexander",
    "Evelyn",
    "Samuel",
    "Abigail",
    "Jack",
    "Emily",
    "Owen",
    "Ella",
    "Wyatt",
    "Scarlett",
    "Leo",
    "Zoe",
    "Julian",
    "Nora",
    "Mateo",
    "Layla",
    "Gabriel",
    "Priya",
    "Arjun",
    "Yuki",
    "Kenji",
    "Fatima",
    "Ahmed",
    "Ingrid",
    "Lars",
    "Chiara",
    "Marco",
    "Aoife",
    "Ciaran",
    "Thandiwe",
    "Kwame",
    "Lucia",
    "Diego",
    "Mei",
    "Wei",
    "Anika",
    "Rohan",
    "Elena",
    "Dmitri",
    "Sven",
    "Freya",
    "Camille",
    "Antoine",
    "Nadia",
    "Tariq",
    "Rosa",
    "Miguel",
    "Hana",
    "Jae",
    "Beatriz",
    "Tomás",
    "Maya",
    "Eli",
    "Grace",
    "Ruth",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Nguyen",
    "Hill",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Campbell",
    "Patel",
    "Shah",
    "Singh",
    "Chen",
    "Wang",
    "Sato",
    "Yamamoto",
    "Okafor",
    "Mensah",
    "Novak",
    "Kowalski",
    "Larsen",
    "Nilsson",
    "Rossi",
    "Bianchi",
    "Murphy",
    "O'Brien",
    "Fischer",
    "Weber",
    "Dubois",
    "Moreau",
    "Silva",
    "Costa",
    "Ivanova",
    "Haddad",
    "Khan",
    "Ali",
    "Fernandes",
    "Gallagher",
    "Brennan",
    "Lindgren",
    "Park",
    "Cho",
)
CONTACT_TITLES = (
    "Chief Operating Officer",
    "Head of Procurement",
    "IT Director",
    "Operations Manager",
    "VP Engineering",
    "Office Manager",
    "Purchasing Lead",
    "CTO",
    "Finance Controller",
    "Marketing Director",
    "Customer Success Lead",
    "Head of People",
    "Systems Administrator",
    "Project Manager",
    "Sales Operations Analyst",
    "General Counsel",
    "CFO",
    "Founder & CEO",
    "Data Analyst",
    "Facilities Manager",
)
PERSONAL_DOMAINS = ("gmail.com", "outlook.com", "icloud.com", "proton.me", "yahoo.com")
ADDRESS_PATTERNS = ("{f}.{l}", "{f}{l}", "{i}{l}", "{f}", "{f}_{l}", "{i}.{l}")


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())


def _local_part(pattern: str, first: str, last: str) -> str:
    return pattern.format(f=_slug(first), l=_slug(last), i=_slug(first)[:1])


def _phone(rng: random.Random, domain: str) -> str:
    if domain.endswith(".co.uk"):
        return f"+44 20 7946 0{rng.randint(100, 999)}"  # Ofcom's range kept for drama
    return f"+1 {rng.choice((212, 312, 415, 503, 617, 646, 720, 206))} 555 01{rng.randint(10, 99)}"


def create_accounts(rng: random.Random, staff: Mapping[str, Staff]) -> list[Account]:
    sellers = [staff[key].user for key in ACCOUNT_EXECUTIVES]
    managers = [staff["sm_east"].user, staff["sm_west"].user]
    accounts = []
    for index, (name, domain) in enumerate(ACCOUNTS):
        owner = rng.choice(managers) if rng.random() < 0.1 else sellers[index % len(sellers)]
        accounts.append(
            account_create(
                name=name, website=f"https://www.{domain}", domains=[domain], owner=owner
            )
        )
    return accounts


def _spread(rng: random.Random, total: int, buckets: int, minimum: int) -> list[int]:
    """`total` split over `buckets`, each at least `minimum`, unevenly as in a real CRM."""
    sizes = [minimum] * buckets
    weights = [rng.uniform(0.2, 3.0) for _ in range(buckets)]
    for index in rng.choices(range(buckets), weights=weights, k=total - minimum * buckets):
        sizes[index] += 1
    return sizes


def create_contacts(
    rng: random.Random, accounts: Sequence[Account], *, total: int = 200
) -> list[Customer]:
    customers: list[Customer] = []
    taken: set[str] = set()
    for account, size in zip(accounts, _spread(rng, total, len(accounts), 2), strict=True):
        domain = account.website.removeprefix("https://www.")
        pattern = rng.choice(ADDRESS_PATTERNS)
        for _ in range(size):
            customers.append(_create_customer(rng, account, domain, pattern, taken))
    return customers


def _create_customer(
    rng: random.Random, account: Account, domain: str, pattern: str, taken: set[str]
) -> Customer:
    while True:  # a name whose work address is still free
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        primary = f"{_local_part(pattern, first, last)}@{domain}"
        if primary not in taken:
            break
    emails = [primary]
    if rng.random() < 0.3:  # an alias or the old address format
        alias = f"{_local_part(rng.choice(ADDRESS_PATTERNS), first, last)}@{domain}"
        if alias not in taken and alias != primary:
            emails.append(alias)
    personal = ""
    if rng.random() < 0.1:
        personal = (
            f"{_slug(first)}.{_slug(last)}{rng.randint(1, 99)}@{rng.choice(PERSONAL_DOMAINS)}"
        )
        emails.append(personal)
    taken.update(emails)
    title = rng.choice(CONTACT_TITLES)
    phone = _phone(rng, domain) if rng.random() < 0.85 else ""
    contact = contact_create(
        first_name=first,
        last_name=last,
        title=title,
        phone=phone,
        account=account,
        owner=account.owner,
        emails=emails,
    )
    person = Person(primary, first, f"{first} {last}", title, account.name, phone)
    return Customer(contact=contact, account=account, person=person, personal=personal)


# --- Mail ----------------------------------------------------------------------------------


@dataclass
class Email:
    """One email as sent; stored once per mailbox of the company that took part in it."""

    message_id: str
    thread_key: str
    subject: str
    body: str
    sent_at: datetime
    sender: Person
    to: list[Person]
    cc: list[Person] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    is_internal: bool = False

    def roles(self) -> Iterator[tuple[str, Person]]:
        yield ParticipantRole.FROM, self.sender
        yield from ((ParticipantRole.TO, person) for person in self.to)
        yield from ((ParticipantRole.CC, person) for person in self.cc)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def store_emails(emails: Sequence[Email], boxes: Mapping[str, DemoMailbox]) -> int:
    """Bulk-insert each email into every mailbox among its participants; returns rows made."""
    uids: Counter[int] = Counter()  # per folder, the last IMAP UID handed out
    stored = 0
    for chunk in _chunks(emails, BATCH_SIZE):
        stored += _store_chunk(chunk, boxes, uids)
    return stored


def _store_chunk(
    chunk: Sequence[Email], boxes: Mapping[str, DemoMailbox], uids: Counter[int]
) -> int:
    copies: list[tuple[Email, Message, Folder]] = []
    for email in chunk:
        key = hashlib.sha256(email.message_id.encode()).hexdigest()
        holders = dict.fromkeys(p.address for _, p in email.roles() if p.address in boxes)
        for address in holders:
            box = boxes[address]
            direction = (
                Direction.OUTGOING if email.sender.address == address else Direction.INCOMING
            )
            message = Message(
                mailbox=box.mailbox,
                dedupe_key=key,
                message_id=email.message_id,
                thread_key=email.thread_key,
                subject=email.subject,
                sent_at=email.sent_at,
                received_at=email.sent_at + timedelta(seconds=len(holders) * 2 + 1),
                direction=direction,
                body_text=email.body,
                attachment_names=email.attachments,
                is_internal=email.is_internal,
            )
            copies.append((email, message, box.folder_for(direction)))
    Message.objects.bulk_create([message for _, message, _ in copies], batch_size=BATCH_SIZE)
    locations: list[MessageLocation] = []
    participants: list[Participant] = []
    for email, message, folder in copies:
        uids[folder.pk] += 1
        locations.append(
            MessageLocation(message=message, folder=folder, remote_id=str(uids[folder.pk]))
        )
        participants.extend(
            Participant(message=message, role=role, address=person.address, name=person.name)
            for role, person in email.roles()
        )
    MessageLocation.objects.bulk_create(locations, batch_size=BATCH_SIZE)
    Participant.objects.bulk_create(participants, batch_size=BATCH_SIZE)
    card_links_add_messages([message.pk for _, message, _ in copies if not message.is_internal])
    return len(copies)


# Thread content. Placeholders: {first} (the reader), {company}, {seats}, {amount}, {q},
# {weekday}, {ticket}, {product}.

SALES_SUBJECTS = (
    "Q{q} renewal quote",
    "Follow-up on yesterday's demo",
    "Pricing for {seats} additional seats",
    "Contract redlines - MSA v3",
    "Security questionnaire",
    "Pilot success criteria",
    "Updated proposal for {company}",
    "Procurement paperwork",
    "Implementation timeline",
    "Reference call request",
    "Multi-year pricing",
    "Kickoff agenda",
    "Order form and PO number",
    "Budget planning for next year",
    "Intro: {company} x Postcard Demo",
)
SUPPORT_SUBJECTS = (
    "[#{ticket}] CSV export times out on large reports",
    "[#{ticket}] SSO login loop",
    "[#{ticket}] Duplicate records after import",
    "[#{ticket}] Calendar events not syncing",
    "[#{ticket}] Dashboard totals don't match the export",
    "[#{ticket}] Cannot invite new users",
    "[#{ticket}] Notification emails arrive hours late",
    "[#{ticket}] API returns 429 errors",
    "[#{ticket}] Mobile app crashes on login",
    "[#{ticket}] Webhook deliveries failing",
)
FINANCE_SUBJECTS = (
    "Invoice INV-{q}{ticket}",
    "Payment reminder: invoice INV-{q}{ticket}",
    "Updated billing contact",
    "Vendor registration form",
    "Credit note request",
)
MARKETING_SUBJECTS = (
    "Case study with {company}?",
    "Speaking slot at our customer summit",
    "Co-hosting a webinar in Q{q}",
    "Logo usage approval",
    "Quote for our press release",
)
EXEC_SUBJECTS = (
    "Executive check-in",
    "Thank you for the partnership",
    "Roadmap session with our founders",
)
INTERNAL_SUBJECTS = (
    "Discount approval for {company}",
    "Pipeline review notes",
    "Handover: {company}",
    "Escalation: {company}",
    "Forecast for Q{q}",
    "Churn risk at {company}",
)

VENDOR_SALES = (
    "Thanks again for taking the time on {weekday}. As promised, I've attached the updated "
    "proposal for {company}. It covers {seats} seats, the onboarding package and premium support, "
    "for a total of ${amount} per year.",
    "Would {weekday} at 10:00 or 14:00 work for a 30-minute call to walk your IT team through SSO "
    "and provisioning?",
    "Our security team has gone through the questionnaire. Most answers are in the attached "
    "document; for the data residency questions I'd suggest a short call with our CISO.",
    "On the implementation side, a typical rollout for a team your size takes four to six weeks. "
    "We would start with a kickoff, then migrate your historical data, then train the team leads.",
    "Happy to set up a reference call with another customer in your industry if that helps your "
    "internal review.",
    "Let me know if anything in the redlines is a blocker on your side. Legal has accepted the "
    "liability cap change; the auto-renewal clause is the only open point.",
    "I've looped in my manager so that we can move quickly on the commercial terms you raised.",
    "I spoke with our finance team and we can hold the current pricing until the end of the "
    "quarter if we get the order form signed by then. After that, list prices go up by about 6%.",
)
CUSTOMER_SALES = (
    "Thanks for sending this over. I shared the proposal with our COO and she had a few "
    "questions about the onboarding package, mainly whether the training sessions can be remote.",
    "We are still comparing two other vendors, so pricing will matter. Is there any flexibility "
    "if we commit to {seats} seats for two years?",
    "The pilot went well overall. The team liked the reporting, but the mobile app felt slow on "
    "older phones. Is that on your roadmap?",
    "Could you join our steering meeting on {weekday}? It would help to have you answer the "
    "integration questions directly.",
    "Our legal team reviewed the MSA and left comments in the attached version. The main point is "
    "the auto-renewal clause, which we would like to remove.",
    "Procurement needs a W-9, your certificate of insurance and the completed vendor form before "
    "they can issue a PO. Could you send those this week?",
    "We got budget approval for next year. I'd like to start the rollout in Q{q} if possible.",
    "Quick update: our CFO signed off. I'll send the signed order form once our CEO has "
    "countersigned, probably by {weekday}.",
)
VENDOR_SUPPORT = (
    "Thanks for the detailed report, that helps a lot. I was able to reproduce the problem on a "
    "test account with the same settings as yours.",
    "Could you send me a screenshot of the error and the approximate time it happened? With that "
    "I can find the matching entries in our logs.",
    "Until we have a fix, a workaround that helps most customers is to run the same action in "
    "smaller batches, outside of peak hours.",
    "I've escalated this to our engineering team with high priority and will update you as soon "
    "as I hear back, at the latest by {weekday}.",
    "Our engineers found the cause: a change in last week's release that affects accounts with "
    "a lot of historical data. The fix is scheduled for the next release.",
    "We deployed a fix this morning. Could you try again and let me know if the problem is gone?",
)
CUSTOMER_SUPPORT = (
    "Since this morning several of our users at {company} can't complete the task. They get an "
    "error after about a minute and nothing is saved.",
    "This is becoming urgent for us because our month-end reporting depends on it.",
    "Here is the screenshot you asked for. It happened around 9:40 our time, for three users.",
    "I tried the workaround but unfortunately it didn't help. The error still appears every time.",
    "Is there an ETA for the fix? Our team is working around it manually for now.",
    "That fixed it, thank you! Feel free to close the ticket.",
)
FINANCE_TEXT = (
    "Please find attached invoice INV-{q}{ticket} for ${amount}, due in 30 days. Let me know if "
    "you need a PO number on it.",
    "Our records show the invoice from last month is still open. Could you check with your "
    "accounts payable team?",
    "Payment was sent on {weekday}; the remittance advice is attached.",
    "We changed our billing address; the new one is in my signature. Could you update your "
    "records and reissue the invoice?",
)
MARKETING_TEXT = (
    "Your team at {company} has done great things with the product and we would love to tell "
    "that story in a short case study. It would take about an hour of your time.",
    "We're planning our customer summit for next spring and wondered if you'd like to speak on "
    "the panel about scaling customer operations.",
    "I'd need to run this past our communications team first, but in principle we're happy to "
    "help.",
    "Attached is the draft. Could you check the quotes attributed to you?",
)
EXEC_TEXT = (
    "I wanted to personally thank you for the trust {company} has placed in us this year.",
    "Our founders are planning the roadmap for next year and would value thirty minutes of your "
    "perspective.",
    "It was good to catch up. I've asked our team to follow up on the two points you raised.",
)
INTERNAL_TEXT = (
    "They are asking for 18% off a two-year deal. I think 12% is defensible if they sign this "
    "quarter; can you approve?",
    "Notes from today's pipeline review are below. Main risks are timing on two of the larger "
    "renewals.",
    "Handing this account over to you from next week. The main contact is responsive; the open "
    "item is the security review.",
    "Approved, as long as the contract has no termination for convenience.",
    "Let's discuss at Monday's forecast call.",
)
GREETINGS = (
    "Hi {first},",
    "Hello {first},",
    "Dear {first},",
    "{first},",
    "Hi {first}, hope you're well.",
)
CLOSINGS = ("Best regards,", "Thanks,", "Kind regards,", "Best,", "Cheers,", "Many thanks,")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
ATTACHMENTS = {
    "sales": (
        "Proposal_{slug}.pdf",
        "Order_Form_{slug}.pdf",
        "MSA_v3_redlines.docx",
        "Security_Questionnaire.xlsx",
    ),
    "support": ("screenshot.png", "export-error.log", "har-capture.har"),
    "finance": ("INV-{q}{ticket}.pdf", "remittance_advice.pdf"),
    "marketing": ("case-study-draft.docx",),
}


@dataclass
class ThreadPlan:
    kind: str
    subject: str
    us: Person  # who writes from our side
    them: list[Person]  # the contacts, the first one writes
    cc: list[Person]  # colleagues copied all along
    customer: Customer | None
    length: int
    they_start: bool
    internal: bool = False
    first_to: Person | None = None  # where their first mail goes (the shared support@ address)


class MailWriter:
    """Turns thread plans into emails with quoted replies and signatures."""

    def __init__(self, rng: random.Random, *, now: datetime, start_days: int = 180) -> None:
        self.rng, self.now, self.start_days = rng, now, start_days

    def thread(self, plan: ThreadPlan, number: int) -> list[Email]:
        context = self._context(plan)
        subject = plan.subject.format(**context)
        sent_at = self._start()
        root_id = self._message_id(number, 0, plan.them[0] if plan.they_start else plan.us)
        thread_key = hashlib.sha256(root_id.encode()).hexdigest()
        emails: list[Email] = []
        for index in range(plan.length):
            if sent_at > self.now:
                break  # the conversation has not got that far yet
            theirs = plan.they_start == (index % 2 == 0)
            email = self._email(plan, index, theirs, subject, sent_at, context, emails)
            email.message_id = (
                root_id if index == 0 else self._message_id(number, index, email.sender)
            )
            email.thread_key = thread_key
            emails.append(email)
            sent_at += self._gap()
        return emails

    def _email(
        self,
        plan: ThreadPlan,
        index: int,
        theirs: bool,
        subject: str,
        sent_at: datetime,
        context: dict[str, str],
        earlier: list[Email],
    ) -> Email:
        rng = self.rng
        if theirs:
            sender = plan.them[index // 2 % len(plan.them)] if not plan.internal else plan.them[0]
            if plan.customer and plan.customer.personal and rng.random() < 0.2:
                sender = Person(
                    plan.customer.personal,
                    sender.first,
                    sender.name,
                    sender.title,
                    sender.org,
                    sender.phone,
                )
            opening_ticket = index == 0 and plan.first_to is not None
            to = [plan.first_to] if plan.first_to and index == 0 else [plan.us]
            others = [p for p in plan.them if p.address != sender.address]
            if not opening_ticket:
                others += plan.cc
        else:
            sender, to = plan.us, list(plan.them)
            others = ([plan.first_to] if plan.first_to else []) + plan.cc
        reader = to[0]
        body = self._body(_pool(plan.kind, theirs), sender, reader, context, index / plan.length)
        if earlier:
            body += _quote(earlier[-1])
        attachments: list[str] = []
        if plan.kind in ATTACHMENTS and rng.random() < 0.15:
            attachments = [rng.choice(ATTACHMENTS[plan.kind]).format(**context)]
        return Email(
            message_id="",
            thread_key="",
            subject=f"Re: {subject}" if index else subject,
            body=body,
            sent_at=sent_at,
            sender=sender,
            to=to,
            cc=others,
            attachments=attachments,
            is_internal=plan.internal,
        )

    def _body(
        self,
        pool: Sequence[str],
        sender: Person,
        reader: Person,
        context: dict[str, str],
        stage: float,
    ) -> str:
        # Pools run from opening to closing remarks: later mails of a thread draw from further on.
        rng = self.rng
        start = int(stage * max(len(pool) - 3, 0))
        window = range(start, min(start + 4, len(pool)))
        picked = sorted(rng.sample(window, k=min(len(window), rng.randint(1, 3))))
        text = "\n\n".join(
            [rng.choice(GREETINGS).format(first=reader.first)]
            + [pool[i].format(**context) for i in picked]
            + [rng.choice(CLOSINGS)]
        )
        return f"{text}\n{_signature(rng, sender)}"

    def _context(self, plan: ThreadPlan) -> dict[str, str]:
        rng = self.rng
        company = plan.customer.account.name if plan.customer else rng.choice(ACCOUNTS)[0]
        return {
            "company": company,
            "slug": _slug(company)[:20],
            "seats": str(rng.choice((10, 15, 25, 40, 50, 75, 120, 200))),
            "amount": f"{rng.randint(8, 240) * 500:,}",
            "q": str(rng.randint(1, 4)),
            "weekday": rng.choice(WEEKDAYS),
            "ticket": str(rng.randint(1000, 9999)),
            "product": "Postcard Demo",
        }

    def _start(self) -> datetime:
        day = self.now - timedelta(days=self.rng.uniform(0, self.start_days))
        return day.replace(hour=self.rng.randint(7, 18), minute=self.rng.randint(0, 59), second=0)

    def _gap(self) -> timedelta:
        if self.rng.random() < 0.6:
            return timedelta(minutes=self.rng.randint(12, 240))
        return timedelta(hours=self.rng.randint(16, 96))

    def _message_id(self, thread: int, index: int, sender: Person) -> str:
        domain = sender.address.rpartition("@")[2]
        return f"<{thread:05d}.{index}.{self.rng.getrandbits(48):012x}@{domain}>"


def _pool(kind: str, theirs: bool) -> tuple[str, ...]:
    if kind == "sales":
        return CUSTOMER_SALES if theirs else VENDOR_SALES
    if kind == "support":
        return CUSTOMER_SUPPORT if theirs else VENDOR_SUPPORT
    return {
        "finance": FINANCE_TEXT,
        "marketing": MARKETING_TEXT,
        "exec": EXEC_TEXT,
        "internal": INTERNAL_TEXT,
    }[kind]


def _signature(rng: random.Random, sender: Person) -> str:
    if sender.org != DEMO_COMPANY and rng.random() < 0.15:
        return "\nSent from my iPhone"
    lines = ["--", sender.name, f"{sender.title}, {sender.org}"]
    if sender.phone:
        lines.append(sender.phone)
    if sender.org == DEMO_COMPANY:
        lines.append(f"https://{DEMO_DOMAIN}")
    return "\n".join(lines)


def _quote(previous: Email) -> str:
    when = previous.sent_at.strftime("%a, %d %b %Y at %H:%M")
    quoted = "\n".join(f"> {line}" if line else ">" for line in previous.body.splitlines())
    return f"\n\nOn {when}, {previous.sender.name} <{previous.sender.address}> wrote:\n{quoted}"


class ThreadPlanner:
    """Who writes to whom about what: sales, support tickets, invoices, and internal notes."""

    KINDS = ("sales", "support", "finance", "marketing", "exec", "internal")
    WEIGHTS = (55, 25, 6, 4, 3, 7)

    def __init__(
        self, rng: random.Random, staff: Mapping[str, Staff], customers: Sequence[Customer]
    ) -> None:
        self.rng, self.staff, self.customers = rng, staff, customers
        self.by_account: dict[int, list[Customer]] = {}
        for customer in customers:
            self.by_account.setdefault(customer.account.pk, []).append(customer)
        self.by_user = {member.user.pk: member for member in staff.values()}

    def plan(self) -> ThreadPlan:
        kind = self.rng.choices(self.KINDS, weights=self.WEIGHTS)[0]
        if kind == "internal":
            return self._internal()
        plans = {
            "sales": self._sales,
            "support": self._support,
            "finance": self._finance,
            "marketing": self._marketing,
            "exec": self._exec,
        }
        return plans[kind](self.rng.choice(self.customers))

    def _person(self, key: str) -> Person:
        return self.staff[key].person

    def owner_of(self, customer: Customer) -> Staff:
        owner_id = customer.account.owner_id
        assert owner_id is not None
        return self.by_user[owner_id]

    def _maybe(self, chance: float, key: str | None) -> list[Person]:
        return [self._person(key)] if key and self.rng.random() < chance else []

    def _them(self, customer: Customer, extra_chance: float) -> list[Person]:
        them = [customer.person]
        colleagues = [c for c in self.by_account[customer.account.pk] if c is not customer]
        if colleagues and self.rng.random() < extra_chance:
            them.append(self.rng.choice(colleagues).person)
        return them

    def _sales(self, customer: Customer) -> ThreadPlan:
        rng, owner = self.rng, self.owner_of(customer)
        us = owner.person
        if rng.random() < 0.08:
            us = self._person("vp_sales")
        cc = self._maybe(0.25, owner.manager_key) + self._maybe(0.06, "vp_sales")
        cc = [p for i, p in enumerate(cc) if p != us and p not in cc[:i]]
        return ThreadPlan(
            "sales",
            rng.choice(SALES_SUBJECTS),
            us,
            self._them(customer, 0.3),
            cc,
            customer,
            length=rng.choices((1, 2, 3, 4, 5, 6), weights=(15, 25, 25, 18, 10, 7))[0],
            they_start=rng.random() < 0.3,
        )

    def _support(self, customer: Customer) -> ThreadPlan:
        rng = self.rng
        agent = self._person(rng.choice(SUPPORT_AGENTS))
        cc = self._maybe(0.15, "hos")
        if rng.random() < 0.1:
            cc.append(self.owner_of(customer).person)
        return ThreadPlan(
            "support",
            rng.choice(SUPPORT_SUBJECTS),
            agent,
            self._them(customer, 0.15),
            cc,
            customer,
            length=rng.choices((2, 3, 4, 5, 6), weights=(30, 25, 20, 15, 10))[0],
            they_start=True,
            first_to=self._person("support_inbox"),
        )

    def _finance(self, customer: Customer) -> ThreadPlan:
        us = self._person(self.rng.choice(("ar", "ar", "cfo")))
        return self._simple("finance", FINANCE_SUBJECTS, us, customer, owner_cc=0.4, longest=3)

    def _marketing(self, customer: Customer) -> ThreadPlan:
        us = self._person("marketing")
        return self._simple("marketing", MARKETING_SUBJECTS, us, customer, owner_cc=0.6, longest=4)

    def _exec(self, customer: Customer) -> ThreadPlan:
        plan = self._simple("exec", EXEC_SUBJECTS, self._person("ceo"), customer, 0.5, longest=3)
        plan.cc.insert(0, self._person("vp_sales"))
        return plan

    def _simple(
        self,
        kind: str,
        subjects: Sequence[str],
        us: Person,
        customer: Customer,
        owner_cc: float,
        longest: int,
    ) -> ThreadPlan:
        rng = self.rng
        cc = [self.owner_of(customer).person] if rng.random() < owner_cc else []
        return ThreadPlan(
            kind,
            rng.choice(subjects),
            us,
            [customer.person],
            cc,
            customer,
            length=rng.randint(1, longest),
            they_start=rng.random() < 0.25,
        )

    def _internal(self) -> ThreadPlan:
        rng = self.rng
        seller = self.staff[rng.choice(ACCOUNT_EXECUTIVES)]
        manager_key = seller.manager_key
        assert manager_key is not None
        cc = self._maybe(0.3, "vp_sales")
        return ThreadPlan(
            "internal",
            rng.choice(INTERNAL_SUBJECTS),
            seller.person,
            [self._person(manager_key)],
            cc,
            None,
            length=rng.randint(1, 4),
            they_start=False,
            internal=True,
        )


def create_mail(
    rng: random.Random,
    staff: Mapping[str, Staff],
    customers: Sequence[Customer],
    boxes: Mapping[str, DemoMailbox],
    *,
    now: datetime,
    target: int,
) -> tuple[int, int, int]:
    """Threads until about `target` stored rows; returns (threads, emails, rows)."""
    planner, writer = ThreadPlanner(rng, staff, customers), MailWriter(rng, now=now)
    emails: list[Email] = []
    rows = threads = 0
    while rows < target:
        thread = writer.thread(planner.plan(), threads + 1)
        threads += bool(thread)  # a thread starting later today has no mail yet
        for email in thread:
            emails.append(email)
            rows += len({p.address for _, p in email.roles() if p.address in boxes})
    return threads, len(emails), store_emails(emails, boxes)


# --- Meetings and tasks --------------------------------------------------------------------

MEETING_TITLES = (
    "Quarterly business review",
    "Product demo",
    "Renewal negotiation",
    "Onboarding kickoff",
    "Technical deep-dive: SSO and provisioning",
    "Pilot check-in",
    "Executive sponsor lunch",
    "Contract walkthrough with legal",
    "Training session for team leads",
    "Roadmap preview",
)
MEETING_PLACES = (
    "Zoom",
    "Google Meet",
    "Microsoft Teams",
    "Phone",
    "Their office",
    "Our office, room Atlas",
    "Café Lumière",
)
TASK_TITLES = (
    "Send revised quote to {name}",
    "Follow up with {name} on the proposal",
    "Prepare QBR deck for {company}",
    "Chase signed order form from {company}",
    "Book onboarding sessions with {name}",
    "Check ticket status for {company}",
    "Share case study draft with {name}",
    "Update forecast for {company}",
    "Send security documentation to {name}",
    "Schedule reference call for {company}",
)


def create_activities(
    rng: random.Random,
    staff: Mapping[str, Staff],
    customers: Sequence[Customer],
    *,
    now: datetime,
    count: int,
) -> tuple[int, int]:
    planner = ThreadPlanner(rng, staff, customers)
    done: list[Task] = []
    for _ in range(count):
        customer = rng.choice(customers)
        owner = planner.owner_of(customer).user if rng.random() < 0.8 else staff["vp_sales"].user
        # The person a task or meeting names comes first among its contacts.
        sampled = _sample_upto(rng, planner.by_account[customer.account.pk])
        others = [c.contact for c in sampled if c.contact != customer.contact]
        contacts = [customer.contact, *others][:3]
        _meeting(rng, owner, customer, contacts, now)
        task = _task(rng, owner, customer, contacts, now)
        if task.done_at is not None:
            done.append(task)
    # The service stamps done_at with now; real tasks were ticked off around their due date.
    for task in done:
        task.done_at = min(now, task.due_at + timedelta(hours=rng.randint(-48, 24)))
    Task.objects.bulk_update(done, ["done_at"])
    return count, count


def _sample_upto(rng: random.Random, people: Sequence[Customer]) -> list[Customer]:
    return rng.sample(list(people), k=min(len(people), rng.choice((1, 1, 2, 3))))


def _business_hour(rng: random.Random, now: datetime, days: float) -> datetime:
    day = (now + timedelta(days=days)).replace(second=0, microsecond=0)
    return day.replace(hour=rng.randint(8, 16), minute=rng.choice((0, 15, 30, 45)))


def _meeting(
    rng: random.Random, owner: User, customer: Customer, contacts: list[Contact], now: datetime
) -> None:
    starts_at = _business_hour(rng, now, rng.uniform(-150, 45))
    place = rng.choice(MEETING_PLACES)
    meeting_create(
        owner=owner,
        title=f"{rng.choice(MEETING_TITLES)} - {customer.account.name}",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=rng.choice((30, 45, 60, 60, 90))),
        location=f"{place}, {customer.account.name}" if place == "Their office" else place,
        notes=rng.choice(("", "Agenda shared in advance.", "Bring the updated pricing sheet.")),
        account=customer.account,
        contacts=contacts,
        show_in_external_calendar=rng.random() < 0.35,
    )


def _task(
    rng: random.Random, owner: User, customer: Customer, contacts: list[Contact], now: datetime
) -> Task:
    due_at = _business_hour(rng, now, rng.uniform(-120, 30))
    done = rng.random() < (0.85 if due_at < now else 0.1)
    title = rng.choice(TASK_TITLES).format(name=customer.person.name, company=customer.account.name)
    return task_create(
        owner=owner,
        title=title,
        due_at=due_at,
        account=customer.account,
        contacts=contacts,
        notes=rng.choice(("", "", "See the last email thread for context.")),
        show_in_external_calendar=rng.random() < 0.25,
        done=done,
    )


# --- Entry point ---------------------------------------------------------------------------


def company_is_seeded() -> bool:
    return User.objects.filter(is_superuser=False).exists()


@transaction.atomic
def build_demo(
    *,
    seed: int = 1,
    now: datetime | None = None,
    messages: int = DEFAULT_MESSAGES,
    contacts: int = 200,
    activities: int = 150,
) -> Summary:
    rng = random.Random(seed)  # reproducible demo data, not secrets
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    staff = create_team(rng, now=now)
    boxes = {
        member.person.address: create_mailbox(member.user, now=now)
        for index, member in enumerate(staff.values())
    }
    accounts = create_accounts(rng, staff)
    customers = create_contacts(rng, accounts, total=contacts)
    threads, emails, rows = create_mail(rng, staff, customers, boxes, now=now, target=messages)
    meetings, tasks = create_activities(rng, staff, customers, now=now, count=activities)
    return Summary(
        users=len(staff),
        mailboxes=len(boxes),
        accounts=len(accounts),
        contacts=len(customers),
        threads=threads,
        emails=emails,
        messages=rows,
        shared_emails=_shared_emails(),
        meetings=meetings,
        tasks=tasks,
        logins=[(m.user.username, m.seat.title) for m in staff.values() if not m.seat.sync_only],
    )


def _shared_emails() -> int:
    """Emails held in more than one mailbox (shown once on a card, with several holders)."""
    return Message.objects.values("dedupe_key").annotate(n=Count("id")).filter(n__gt=1).count()
