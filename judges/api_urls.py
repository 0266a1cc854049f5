from django.urls import URLPattern, URLResolver, path

from judges import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<slug:slug>/judge-runs/", api.JudgeRunStartApi.as_view(), name="api_judge_runs"),
    path("judge-runs/<int:run_id>/", api.JudgeRunDetailApi.as_view(), name="api_judge_run"),
    path(
        "judge-runs/<int:run_id>/cancel/",
        api.JudgeRunCancelApi.as_view(),
        name="api_judge_run_cancel",
    ),
    path(
        "judge-runs/<int:run_id>/resume/",
        api.JudgeRunResumeApi.as_view(),
        name="api_judge_run_resume",
    ),
]
