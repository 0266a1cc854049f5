from django.urls import URLPattern, URLResolver, path

from exports import api, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<slug:slug>/export/", views.export_page, name="export_page"),
    path("projects/<slug:slug>/export/download/", views.export_download, name="export_download"),
    path("api/projects/<slug:slug>/export/", api.ExportApi.as_view(), name="api_export"),
]
