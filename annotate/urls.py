from django.urls import path

from annotate import views

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("projects/<slug:slug>/", views.project_detail, name="project_detail"),
    path("projects/<slug:slug>/label/", views.label, name="label"),
    path("projects/<slug:slug>/label/skip/", views.label_skip, name="label_skip"),
    path("projects/<slug:slug>/import/", views.import_upload, name="import_upload"),
]
