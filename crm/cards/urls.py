from django.urls import path

from crm.cards.views import message_page

# The contact and account cards are routed with their lists (crm/contacts, crm/accounts).
urlpatterns = [
    path("emails/<int:message_id>/", message_page, name="message"),
]
