from django.urls import path

from crm.cards.views import contact_card, contact_conversation
from crm.contacts import views

urlpatterns = [
    path("", views.contact_list_page, name="contact-list"),
    path("new/", views.contact_create_page, name="contact-create"),
    path("<int:contact_id>/", contact_card, name="contact-card"),
    path(
        "<int:contact_id>/conversations/<str:thread_key>/",
        contact_conversation,
        name="contact-conversation",
    ),
    path("<int:contact_id>/edit/", views.contact_edit_page, name="contact-edit"),
    path("<int:contact_id>/delete/", views.contact_delete_page, name="contact-delete"),
]
