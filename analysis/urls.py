from django.urls import URLPattern, URLResolver, path

from analysis import api, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<slug:slug>/report/", views.report_page, name="analysis_report"),
    path(
        "projects/<slug:slug>/report/download/<str:kind>/",
        views.report_download,
        name="analysis_report_download",
    ),
    path("api/projects/<slug:slug>/report/", api.ReportApi.as_view(), name="api_report"),
]
