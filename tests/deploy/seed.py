"""Seed the multi-process deployment test's own database, run as a process of the stack.

    DATABASE_URL=... python -m tests.deploy.seed '{"base_url": ..., "api_key": ..., ...}'

The test process keeps pytest's own test database; this runs in the stack's environment (its
fresh PostgreSQL database, its broker) as `manage.py` would, and prints one JSON line: the
vendor account, the agent, an operator's API token and the campaign's contacts.
"""

from __future__ import annotations

import json
import os
import sys

import django


def seed(config: dict) -> dict:
    import requests
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts.roles import Role
    from calls.models import Agent
    from calls.services import agents_sync
    from contacts.models import Contact
    from dashboard.services import api_token_create
    from tests.utils import calling_policy_open_all_hours
    from vendors.models import VendorAccount, VendorKind

    # The test is about processes, not the clock: the calling policy is open at every hour.
    calling_policy_open_all_hours()
    account = VendorAccount(
        kind=VendorKind.REVRAG,
        name="Revrag (deployment test)",
        base_url=config["base_url"],
        rate_limits={"default": config["rate_limit_per_minute"]},
    )
    account.set_api_key(config["api_key"])
    account.set_webhook_secret(config["webhook_secret"])
    account.save()
    # Revrag configures webhooks through its support; the sandbox's admin stands in for it.
    requests.post(
        f"{config['admin_url']}/config",
        json={
            "vendor": "revrag",
            "webhook_url": account.webhook_url,
            "webhook_secret": config["webhook_secret"],
        },
        timeout=10,
    ).raise_for_status()
    agents_sync(account=account)
    agent = Agent.objects.filter(vendor_account=account, is_active=True).order_by("pk").first()

    operator = get_user_model().objects.create_user(username="deploy-operator")
    operator.groups.add(Group.objects.get_or_create(name=Role.OPERATOR.value)[0])
    token = api_token_create(name="deployment test", role=Role.OPERATOR, created_by=operator)

    contacts = Contact.objects.bulk_create(
        Contact(name=f"Deploy {number}", phone_e164=number, time_zone="UTC")
        for number in config["campaign_numbers"]
    )
    return {
        "account": account.pk,
        "agent": agent.pk,
        "token": token.plaintext,
        "contacts": [contact.pk for contact in contacts],
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    django.setup()
    print(json.dumps(seed(json.loads(sys.argv[1]))), flush=True)
