"""Fixtures shared by every test: one user per role, logged-in clients."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.roles import Role

# The vendor sandbox fixtures (`sandbox`, `make_account`, `webhook_receiver`) for every folder.
pytest_plugins = ["tests.sandbox"]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def make_user(db, django_user_model):
    def make(username: str, role: Role | None = None, **extra):
        user = django_user_model.objects.create_user(username=username, password=PASSWORD, **extra)
        if role is not None:
            # get_or_create: transactional tests flush the groups the data migration made.
            user.groups.add(Group.objects.get_or_create(name=role.value)[0])
        return user

    return make


@pytest.fixture
def role_users(make_user):
    """A user for each role, plus None for anonymous: the permission matrix of every test."""
    return {
        "anonymous": None,
        Role.OPERATOR.value: make_user("olivia", Role.OPERATOR),
        Role.MANAGER.value: make_user("manuel", Role.MANAGER),
        Role.ADMIN.value: make_user("adele", Role.ADMIN),
    }


@pytest.fixture
def client_as(role_users):
    def make(role: str) -> Client:
        client = Client()
        user = role_users[role]
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Real hashing is deliberately slow; tests only need a hasher that works.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_dispatch_at_launch(settings):
    """Tasks run in the test's process, so a launch that starts its first calls at once would
    dial before the test looks at the launched campaign; tests of it turn it back on."""
    settings.CALLOPS_DISPATCH_AT_LAUNCH = False


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: with Redis (REDIS_URL, as in CI) the cache
    outlives a test, and a key one test left (the webhook drain's, a rate budget's window)
    would change what the next one sees."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True, scope="session")
def _celery_runs_tasks_in_process():
    """Tasks enqueued during a test run at once, in the test's process (no broker needed).

    Tests that need a real worker start one themselves with its own broker settings.
    """
    from dashboard.celery import app

    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield


@pytest.fixture(autouse=True)
def _calling_policy_open_all_hours(request):
    """Tests that touch the database run under a calling policy open at every hour without
    frequency caps, so that they do not depend on the clock of the machine running them.

    The compliance tests (tests/contacts/test_compliance*.py) restore the shipped policy or
    set their own.
    """
    marker = request.node.get_closest_marker("django_db")
    names = request.fixturenames
    if "transactional_db" in names or (marker and marker.kwargs.get("transaction")):
        request.getfixturevalue("transactional_db")
    elif "db" in names or marker is not None:
        request.getfixturevalue("db")
    else:
        return
    from tests.utils import calling_policy_open_all_hours

    calling_policy_open_all_hours()
