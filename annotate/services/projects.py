"""Creating and changing projects, and managing their members."""

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from annotate.models import Criterion, Membership, Project, ProjectMode, Role
from annotate.services.assignment import project_open_pairs_refresh
from concord.api_errors import ApplicationError

# The project settings a lead may change after creation; criteria have their own rows.
PROJECT_UPDATABLE = ("name", "slug", "instructions", "overlap", "mode", "lease_minutes")

DEFAULT_QUESTIONS = {
    "helpfulness": "Which response is more helpful?",
    "truthfulness": "Which response is more truthful and accurate?",
}


def criterion_default_question(key: str) -> str:
    return DEFAULT_QUESTIONS.get(key, f"Which response is better on {key}?")


@transaction.atomic
def project_create(
    *,
    name: str,
    slug: str | None = None,
    criteria: Iterable[str] = ("helpfulness", "truthfulness"),
    scale_points: int = 8,
    tie_option: bool = True,
    overlap: int = 3,
    mode: str = ProjectMode.BLIND,
    instructions: str = "",
    lease_minutes: int | None = None,
) -> Project:
    """A new project with its criteria; `lease_minutes` defaults to ASSIGNMENT_LEASE_MINUTES."""
    if lease_minutes is None:
        lease_minutes = settings.ASSIGNMENT_LEASE_MINUTES
    name = name.strip()
    if not name:
        raise ApplicationError("A project needs a name.")
    slug = slugify(slug if slug else name)
    if not slug:
        raise ApplicationError(
            f"Cannot make a slug from {name!r}; give one with letters or digits."
        )
    _check_mode(mode)
    if not 2 <= scale_points <= 11:
        raise ApplicationError(f"The scale must have 2..11 points, got {scale_points}.")
    _check_overlap(overlap)
    _check_lease_minutes(lease_minutes)
    keys = [slugify(key) for key in criteria]
    if not keys or any(not key for key in keys):
        raise ApplicationError("Give at least one criterion, each a non-empty key.")
    if len(set(keys)) != len(keys):
        raise ApplicationError(f"Criteria must be distinct, got {', '.join(keys)}.")
    # Checked here, not left to the unique index, so the caller gets a readable message.
    if Project.objects.filter(slug=slug).exists():
        raise ApplicationError(f"A project with the slug {slug!r} already exists.")

    project = Project.objects.create(
        name=name,
        slug=slug,
        overlap=overlap,
        mode=mode,
        instructions=instructions,
        lease_minutes=lease_minutes,
    )
    Criterion.objects.bulk_create(
        Criterion(
            project=project,
            key=key,
            question=criterion_default_question(key),
            scale_points=scale_points,
            tie_option=tie_option,
            position=position,
        )
        for position, key in enumerate(keys)
    )
    return project


@transaction.atomic
def project_update(*, project: Project, data: Mapping[str, Any]) -> Project:
    """Changes the given settings of the project (names from PROJECT_UPDATABLE).

    A new overlap changes which pairs have room, so the project's open-pair count (the total of
    every labeler's progress) is recounted. The project row is locked meanwhile, so claims that
    move the count wait for the recount instead of being lost in it.
    """
    unknown = sorted(set(data) - set(PROJECT_UPDATABLE))
    if unknown:
        raise ApplicationError(
            f"Cannot change {', '.join(unknown)}; changeable: {', '.join(PROJECT_UPDATABLE)}."
        )
    changes = dict(data)
    if "name" in changes:
        changes["name"] = str(changes["name"]).strip()
        if not changes["name"]:
            raise ApplicationError("A project needs a name.")
    if "slug" in changes:
        changes["slug"] = slugify(changes["slug"])
        if not changes["slug"]:
            raise ApplicationError("The slug needs letters or digits.")
        if Project.objects.filter(slug=changes["slug"]).exclude(id=project.pk).exists():
            raise ApplicationError(f"A project with the slug {changes['slug']!r} already exists.")
    if "mode" in changes:
        _check_mode(changes["mode"])
    if "overlap" in changes:
        _check_overlap(changes["overlap"])
    if "lease_minutes" in changes:
        _check_lease_minutes(changes["lease_minutes"])
    Project.objects.select_for_update().filter(id=project.pk).values_list("id").first()
    for field, value in changes.items():
        setattr(project, field, value)
    if changes:
        project.save(update_fields=list(changes))
    if "overlap" in changes:
        project_open_pairs_refresh(project=project)
    return project


def _check_mode(mode: str) -> None:
    if mode not in ProjectMode.values:
        raise ApplicationError(
            f"Unknown mode {mode!r}; choose one of {', '.join(ProjectMode.values)}."
        )


def _check_overlap(overlap: int) -> None:
    if overlap < 1:
        raise ApplicationError(f"Overlap (labelers per pair) must be at least 1, got {overlap}.")


def _check_lease_minutes(lease_minutes: int) -> None:
    if lease_minutes < 1:
        raise ApplicationError(f"The lease must be at least 1 minute, got {lease_minutes}.")


@transaction.atomic
def member_add(
    *, project: Project, username: str, role: str, password: str | None = None
) -> Membership:
    """Make `username` a member with `role`, creating the user when missing.

    A user created without a password gets an unusable one (they sign in once an admin sets it).
    An existing user's password is changed only when one is given.
    """
    username = username.strip()
    if not username:
        raise ApplicationError("A member needs a username.")
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    if created or password is not None:
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save()
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership
