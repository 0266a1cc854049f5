"""factory_boy factories for the annotate models."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from annotate import models
from annotate.services.assignment import project_open_pairs_refresh


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-concord-1")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class CriterionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Criterion

    project = factory.SubFactory(ProjectFactory)
    key = "helpfulness"
    question = "Which response is more helpful?"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = models.Role.LABELER


class PromptSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.PromptSet

    project = factory.SubFactory(ProjectFactory)
    name = "prompts.csv"
    kind = "completions"
    sha256 = "0" * 64


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Prompt

    prompt_set = factory.SubFactory(PromptSetFactory)
    project = factory.SelfAttribute("prompt_set.project")
    external_id = factory.Sequence(lambda n: f"p{n}")
    text = factory.Sequence(lambda n: f"Question number {n}?")
    category = "general"


class CompletionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Completion

    prompt = factory.SubFactory(PromptFactory)
    model = "model-a"
    text = factory.Sequence(lambda n: f"Answer {n}.")


def make_pair(
    project: models.Project,
    *,
    external_id: str | None = None,
    category: str = "general",
    models_: tuple[str, str] = ("alpha-7b", "beta-13b"),
    texts: tuple[str, str] = ("First answer.", "Second answer."),
) -> models.Pair:
    """A prompt with two completions and their canonical pair."""
    prompt_set = models.PromptSet.objects.filter(project=project).first() or PromptSetFactory(
        project=project
    )
    prompt = PromptFactory(
        project=project,
        prompt_set=prompt_set,
        category=category,
        **({"external_id": external_id} if external_id else {}),
    )
    (model_a, text_a), (model_b, text_b) = sorted(zip(models_, texts, strict=True))
    comp_a = CompletionFactory(prompt=prompt, model=model_a, text=text_a)
    comp_b = CompletionFactory(prompt=prompt, model=model_b, text=text_b)
    pair = models.Pair.objects.create(
        project=project,
        prompt=prompt,
        completion_a=comp_a,
        completion_b=comp_b,
        model_a=model_a,
        model_b=model_b,
    )
    project_open_pairs_refresh(project=project)
    return pair


def make_labeler(project: models.Project) -> User:
    """A new user with the labeler role in the project."""
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=models.Role.LABELER)
    return user


def label_all(project: models.Project, labeler: User, values: dict[str, int | str]) -> int:
    """The labeler rates every pair they are offered, with the same values; answers how many."""
    from annotate.services.assignment import assignment_next, rating_submit

    rated = 0
    while (held := assignment_next(project=project, labeler=labeler)) is not None:
        rating_submit(labeler=labeler, assignment_id=held.pk, values=values)
        rated += 1
    return rated
