import pytest
from django.core.exceptions import ValidationError

from crm.core.addresses import clean_address, clean_domain, normalize_address


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
