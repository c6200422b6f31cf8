from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from crm.accounts.forms import AccountForm
from crm.accounts.models import Account
from crm.accounts.selectors import account_list
from crm.accounts.services import account_create, account_delete, account_update
from crm.core.bidi import isolated
from crm.core.views import form_page, paginated


@login_required
def account_list_page(request: HttpRequest) -> HttpResponse:
    search, sort = request.GET.get("q", ""), request.GET.get("sort", "name")
    # PostgreSQL refuses a NUL character in a query parameter (a 500); no name holds one.
    search = search.replace("\x00", "")
    context = paginated(request, account_list(search=search, sort=sort))
    return render(request, "accounts/list.html", {**context, "q": search, "sort": sort})


@login_required
def account_create_page(request: HttpRequest) -> HttpResponse:
    def save(data: dict[str, Any]) -> Account:
        return account_create(**{"owner": request.user, **data})

    return form_page(
        request,
        form_class=AccountForm,
        initial={"owner": request.user.pk},
        save=save,
        template="accounts/form.html",
        context={"title": "New account"},
        saved_message="Account created.",
    )


@login_required
def account_edit_page(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(Account, pk=account_id)

    def save(data: dict[str, Any]) -> Account:
        return account_update(account=account, **data)

    return form_page(
        request,
        form_class=AccountForm,
        initial=AccountForm.initial_for(account),
        save=save,
        template="accounts/form.html",
        context={"title": f"Edit {isolated(account.name)}", "account": account},
        saved_message="Account saved.",
    )


@login_required
@require_POST
def account_delete_page(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(Account, pk=account_id)
    account_delete(account=account)
    messages.success(request, f"{isolated(account.name)} was deleted. Its contacts were kept.")
    return redirect("account-list")
