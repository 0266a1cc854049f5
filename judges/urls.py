from django.urls import URLPattern, URLResolver, path

from judges import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("judges/", views.judge_list, name="judge_list"),
    path("judges/new/", views.judge_form, name="judge_create"),
    path("judges/<int:judge_id>/edit/", views.judge_form, name="judge_edit"),
    path("projects/<slug:slug>/judges/", views.project_judge_runs, name="project_judge_runs"),
    path(
        "projects/<slug:slug>/judges/runs/<int:run_id>/",
        views.judge_run_detail,
        name="judge_run_detail",
    ),
    path(
        "projects/<slug:slug>/judges/runs/<int:run_id>/cancel/",
        views.judge_run_cancel_view,
        name="judge_run_cancel",
    ),
    path(
        "projects/<slug:slug>/judges/runs/<int:run_id>/resume/",
        views.judge_run_resume_view,
        name="judge_run_resume",
    ),
]
