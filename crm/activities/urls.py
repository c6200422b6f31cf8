from django.urls import path

from crm.activities import views

urlpatterns = [
    path("meetings/new/", views.meeting_create_page, name="meeting-create"),
    path("meetings/<int:meeting_id>/", views.meeting_edit_page, name="meeting-edit"),
    path("meetings/<int:meeting_id>/delete/", views.meeting_delete_page, name="meeting-delete"),
    path("tasks/new/", views.task_create_page, name="task-create"),
    path("tasks/<int:task_id>/", views.task_edit_page, name="task-edit"),
    path("tasks/<int:task_id>/delete/", views.task_delete_page, name="task-delete"),
]
