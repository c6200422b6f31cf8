from django.urls import path

from crm.accounts import views
from crm.cards.views import account_card, account_conversation

urlpatterns = [
    path("", views.account_list_page, name="account-list"),
    path("new/", views.account_create_page, name="account-create"),
    path("<int:account_id>/", account_card, name="account-card"),
    path(
        "<int:account_id>/conversations/<str:thread_key>/",
        account_conversation,
        name="account-conversation",
    ),
    path("<int:account_id>/edit/", views.account_edit_page, name="account-edit"),
    path("<int:account_id>/delete/", views.account_delete_page, name="account-delete"),
]
