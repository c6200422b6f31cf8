import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm.contacts.models import Contact
from crm.core.addresses import clean_address, clean_domain, normalize_address
from mailsync.matching import match_context
from mailsync.parsing import parse_message
from mailsync.storage import Incoming, messages_store
from tests.api import client_for
from tests.factories import make_mailbox


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Jane.Doe@ACME.com ", "jane.doe@acme.com"),
        ("<jane@acme.com>", "jane@acme.com"),
        ("jane@Bücher.example", "jane@xn--bcher-kva.example"),
        ("jane@xn--bcher-kva.example", "jane@xn--bcher-kva.example"),
        ("jane@acme.com.", "jane@acme.com"),
    ],
)
def test_normalize_address_matches_header_and_typed_forms(raw, expected):
    assert normalize_address(raw) == expected


def test_normalize_address_never_raises_on_garbage():
    assert normalize_address("not an address") == "not an address"
    assert normalize_address("a@@\udcff") is not None


def test_clean_address_accepts_a_pasted_display_name():
    assert clean_address("Jane Doe <Jane@Acme.com>") == "jane@acme.com"


@pytest.mark.parametrize("raw", ["jane@", "@acme.com", "jane acme.com", "a" * 250 + "@x.com"])
def test_clean_address_rejects_with_the_address_in_the_message(raw):
    with pytest.raises(ValidationError) as error:
        clean_address(raw)
    assert raw.strip()[:20] in error.value.messages[0]


def test_clean_domain_strips_scheme_and_www_and_encodes_idn():
    assert clean_domain("https://www.Bücher.example/about") == "xn--bcher-kva.example"
    with pytest.raises(ValidationError):
        clean_domain("not a domain")


# --- Non-ASCII local parts (SMTPUTF8, RFC 6531) -----------------------------------------------

JOSE_NFD = "jose\u0301"  # "josé" as macOS types it: e + combining acute accent


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("josé@exemple.fr", "josé@exemple.fr"),
        ("JOSÉ@Exemple.FR", "josé@exemple.fr"),
        (f"{JOSE_NFD}@exemple.fr", "josé@exemple.fr"),  # NFC: one address, however typed
        ("José Martín <José@exemple.fr>", "josé@exemple.fr"),
        ("用户@例子.广告", "用户@xn--fsqu00a.xn--4rr70v"),
        ("θσερ@εχαμπλε.ψομ", "θσερ@xn--mxahbxey0c.xn--xxaf0a"),
        ("Straße@x.de", "straße@x.de"),  # lowercased, not casefolded to "strasse"
    ],
)
def test_clean_address_accepts_and_normalizes_utf8_local_parts(raw, expected):
    assert clean_address(raw) == expected
    assert normalize_address(raw.rpartition("<")[2].rstrip(">")) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "jos é@exemple.fr",  # a space
        "jos\u202eé@exemple.fr",  # a bidi override
        "jos\u00a0é@exemple.fr",  # a no-break space
        "jos\u200bé@exemple.fr",  # a zero-width space (format character)
        "josé..x@exemple.fr",  # empty atom
        ".josé@exemple.fr",
        "josé.@exemple.fr",
        "josé@",
        "josé@exemple",  # no top-level domain
        "jos\x00é@exemple.fr",
        "josé\ud800@exemple.fr",  # a lone surrogate
        "é" * 33 + "@exemple.fr",  # 66 octets: over the 64 of a local part
        "jo(sé@exemple.fr",  # "(" is not atext
    ],
)
def test_clean_address_still_rejects_garbage_with_non_ascii(raw):
    with pytest.raises(ValidationError) as error:
        clean_address(raw)
    assert error.value.messages == [f"“{raw.strip()}” is not a valid email address."]


def test_a_64_octet_utf8_local_part_is_the_longest_accepted():
    assert clean_address("é" * 32 + "@exemple.fr") == "é" * 32 + "@exemple.fr"


@pytest.mark.django_db
def test_mail_from_a_utf8_address_lands_on_the_contacts_card(logged_in_client, user):
    response = logged_in_client.post(
        reverse("contact-create"), {"last_name": "Martín", "emails": "José@Exemple.FR"}
    )
    assert response.status_code == 302, response.content.decode()
    contact = Contact.objects.get(last_name="Martín")
    assert [e.address for e in contact.emails.all()] == ["josé@exemple.fr"]

    mailbox = make_mailbox(user)
    raw = (
        f"From: =?utf-8?q?Jos=C3=A9?= <{JOSE_NFD}@exemple.fr>\n"  # raw UTF-8, decomposed
        f"To: {mailbox.address}\nSubject: Devis\nDate: Tue, 05 Mar 2024 10:15:00 +0100\n"
        "Message-ID: <devis-1@exemple.fr>\n\nBonjour\n"
    ).encode()
    incoming = Incoming("1", parse_message(raw), None)
    messages_store(mailbox, mailbox.folders.get(), [incoming], match_context(mailbox))

    listed = client_for(user).get(f"/api/contacts/{contact.pk}/emails/").json()
    assert [email["subject"] for email in listed["results"]] == ["Devis"]
    assert listed["results"][0]["participants"][0] == {
        "role": "from",
        "address": "josé@exemple.fr",
        "name": "José",
    }
    card = logged_in_client.get(reverse("contact-card", args=[contact.pk]))
    assert "Devis" in card.content.decode()
