from collections.abc import Callable
from typing import Any, Protocol

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from crm.core.forms import PreferencesForm, add_service_errors
from crm.core.pagination import querystring_without_page
from crm.core.selectors import home_for
from crm.core.services import user_preferences_update
from hierarchy.models import User


class HasAbsoluteUrl(Protocol):
    def get_absolute_url(self) -> str: ...


@login_required
def home(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    return render(request, "home.html", {"home": home_for(request.user)})


@login_required
def preferences_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    form = PreferencesForm(request.POST or None, initial={"time_zone": user.time_zone})
    if request.method == "POST" and form.is_valid():
        try:
            user_preferences_update(user=user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Preferences saved.")
            return redirect("preferences")
    return render(request, "core/preferences.html", {"form": form, "now": timezone.now()})


def form_page(
    request: HttpRequest,
    *,
    form_class: type[forms.Form],
    initial: dict[str, object],
    save: Callable[[dict[str, Any]], HasAbsoluteUrl],
    template: str,
    context: dict[str, object],
    saved_message: str,
) -> HttpResponse:
    """GET shows the form; POST validates it and calls the service, showing its errors in place.

    Services are atomic, so a ValidationError raised half-way leaves nothing saved.
    """
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = save(form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, saved_message)
            return redirect(safe_next(request) or saved)
    return render(request, template, {"form": form, "next": safe_next(request), **context})


def safe_next(request: HttpRequest) -> str | None:
    """The `next` URL to return to after a form, if it points back into this site."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return None


def paginated(request: HttpRequest, queryset: QuerySet[Any], per_page: int = 25) -> dict[str, Any]:
    page = Paginator(queryset, per_page).get_page(request.GET.get("page"))
    return {"page": page, "querystring": querystring_without_page(request)}
