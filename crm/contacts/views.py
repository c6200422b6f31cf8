from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from crm.contacts.forms import ContactForm
from crm.contacts.models import Contact
from crm.contacts.selectors import contact_list
from crm.contacts.services import contact_create, contact_delete, contact_update
from crm.core.bidi import isolated
from crm.core.views import form_page, paginated


@login_required
def contact_list_page(request: HttpRequest) -> HttpResponse:
    search, sort = request.GET.get("q", ""), request.GET.get("sort", "name")
    context = paginated(request, contact_list(search=search, sort=sort))
    return render(request, "contacts/list.html", {**context, "q": search, "sort": sort})


@login_required
def contact_create_page(request: HttpRequest) -> HttpResponse:
    def save(data: dict[str, Any]) -> Contact:
        return contact_create(**{"owner": request.user, **data})

    initial: dict[str, object] = {"account": request.GET.get("account"), "owner": request.user.pk}
    return form_page(
        request,
        form_class=ContactForm,
        initial=initial,
        save=save,
        template="contacts/form.html",
        context={"title": "New contact"},
        saved_message="Contact created.",
    )


@login_required
def contact_edit_page(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=contact_id)

    def save(data: dict[str, Any]) -> Contact:
        return contact_update(contact=contact, **data)

    return form_page(
        request,
        form_class=ContactForm.editing(contact),
        initial=ContactForm.initial_for(contact),
        save=save,
        template="contacts/form.html",
        context={"title": f"Edit {isolated(contact.full_name)}", "contact": contact},
        saved_message="Contact saved.",
    )


@login_required
@require_POST
def contact_delete_page(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=contact_id)
    contact_delete(contact=contact)
    messages.success(request, f"{isolated(contact.full_name)} was deleted.")
    return redirect("contact-list")
