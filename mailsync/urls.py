from django.urls import path

from mailsync import views

urlpatterns = [
    path("emails/<int:message_id>/", views.message_page, name="message"),
    path("emails/<int:message_id>/body/", views.message_body_fragment, name="message-body"),
]
