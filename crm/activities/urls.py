from django.urls import path

from crm.activities import views

urlpatterns = [
    path("meetings/", views.meeting_list_page, name="meeting-list"),
    path("meetings/new/", views.meeting_create_page, name="meeting-create"),
    path("meetings/<int:meeting_id>/", views.meeting_detail_page, name="meeting-detail"),
    path("meetings/<int:meeting_id>/edit/", views.meeting_edit_page, name="meeting-edit"),
    path("meetings/<int:meeting_id>/delete/", views.meeting_delete_page, name="meeting-delete"),
    path("tasks/", views.task_list_page, name="task-list"),
    path("tasks/new/", views.task_create_page, name="task-create"),
    path("tasks/<int:task_id>/", views.task_detail_page, name="task-detail"),
    path("tasks/<int:task_id>/edit/", views.task_edit_page, name="task-edit"),
    path("tasks/<int:task_id>/done/", views.task_done_page, name="task-done"),
    path("tasks/<int:task_id>/delete/", views.task_delete_page, name="task-delete"),
]
