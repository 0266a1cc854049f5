"""A small rated project for the report's service, view, API and command tests."""

from annotate import models
from annotate.tests.factories import make_pair

MODELS = (("alpha-7b", "beta-13b"), ("alpha-7b", "gamma-70b"), ("beta-13b", "gamma-70b"))
HUMANS = ("hana", "ivan", "jules")


def _verdict(preference: int) -> str:
    return "a" if preference < 0 else "b" if preference > 0 else "tie"


def add_rating(
    pair: models.Pair,
    criterion: models.Criterion,
    *,
    rater: str,
    preference: int,
    kind: str = models.RaterKind.HUMAN,
    shown_first: str = "a",
    with_suggestion: bool = False,
) -> models.Rating:
    return models.Rating.objects.create(
        pair=pair,
        criterion=criterion,
        rater_kind=kind,
        rater=rater,
        shown_first=shown_first,
        value_shown="tie" if preference == 0 or kind == models.RaterKind.LLM else "",
        preference=preference,
        verdict=_verdict(preference),
        with_suggestion=with_suggestion,
        source="test",
    )


def rate_project(project: models.Project, *, n_prompts: int = 4) -> list[models.Pair]:
    """Pairs of three models over two categories; three humans and judge-x (both orders) on
    every criterion. gamma beats beta beats alpha, mostly, so leaderboards have a clear order.
    """
    pairs = []
    criteria = list(project.criteria.all())
    for prompt in range(n_prompts):
        for number, models_ in enumerate(MODELS):
            pair = make_pair(
                project,
                external_id=f"p{prompt}-{number}",
                category=("code", "writing")[prompt % 2],
                models_=models_,
                texts=("Short.", "A much longer answer " * (1 + prompt)),
            )
            pairs.append(pair)
            for criterion in criteria:
                for index, rater in enumerate(HUMANS):
                    # One dissenting human in three, at a different place per prompt.
                    preference = -2 if (prompt + number + index) % 3 == 0 else 3
                    if (prompt + index) % 4 == 3:
                        preference = 0
                    add_rating(
                        pair,
                        criterion,
                        rater=rater,
                        preference=preference,
                        shown_first="ab"[(prompt + index) % 2],
                    )
                for shown_first in "ab":
                    add_rating(
                        pair,
                        criterion,
                        rater="judge-x",
                        kind=models.RaterKind.LLM,
                        preference=4 if (prompt + number) % 4 else -4,
                        shown_first=shown_first,
                    )
    return pairs
