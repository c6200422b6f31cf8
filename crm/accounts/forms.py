from django import forms

from crm.accounts.models import Account
from crm.core.forms import split_lines
from hierarchy.models import User


class AccountForm(forms.Form):
    name = forms.CharField(max_length=Account._meta.get_field("name").max_length)
    website = forms.URLField(
        max_length=Account._meta.get_field("website").max_length,
        required=False,
        assume_scheme="https",
    )
    domains = forms.CharField(
        label="Email domains",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "acme.com"}),
        help_text="One per line. Mail from these domains belongs to this company.",
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True, is_sync_only=False), required=False
    )

    def clean_domains(self) -> list[str]:
        return split_lines(self.cleaned_data["domains"])

    @classmethod
    def initial_for(cls, account: Account) -> dict[str, object]:
        return {
            "name": account.name,
            "website": account.website,
            "owner": account.owner_id,
            "domains": "\n".join(d.domain for d in account.domains.all()),
        }
