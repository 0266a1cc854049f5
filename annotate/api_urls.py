from django.urls import path

from annotate import api

urlpatterns = [
    path("auth/token/", api.TokenObtainApi.as_view(), name="api_token"),
    path("projects/<slug:slug>/next/", api.AssignmentNextApi.as_view(), name="api_next"),
    path(
        "assignments/<int:assignment_id>/ratings/",
        api.RatingSubmitApi.as_view(),
        name="api_rating_submit",
    ),
    path(
        "assignments/<int:assignment_id>/skip/",
        api.AssignmentSkipApi.as_view(),
        name="api_assignment_skip",
    ),
    path("projects/<slug:slug>/imports/", api.ImportApi.as_view(), name="api_import"),
]
