"""Demo data for `make run`: one login per role, a few contacts, vendor accounts on the sandbox.

Everything is created with get_or_create on natural keys, so running it twice changes nothing.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from accounts.roles import Role
from calls.models import Agent, Call, CallReview, CallState, PostCallRule
from calls.reviews import review_save
from calls.revont_import import revont_import
from calls.services import agents_sync
from campaigns.models import Campaign
from campaigns.services import CampaignError, campaign_save, campaign_transition
from contacts.models import Contact
from vendors.errors import VendorError
from vendors.models import VendorAccount, VendorKind
from vendors.services import vendor_client_for

logger = logging.getLogger(__name__)

DEMO_CONTACTS = (
    ("Ada Lovelace", "+14155550101", "ada@example.com", "America/Los_Angeles"),
    ("Alan Turing", "+442079460102", "alan@example.com", "Europe/London"),
    ("Grace Hopper", "+12125550103", "grace@example.com", "America/New_York"),
    ("Katherine Johnson", "+17575550104", "katherine@example.com", "America/New_York"),
    ("Hedy Lamarr", "+4930901820105", "hedy@example.com", "Europe/Berlin"),
    ("Srinivasa Ramanujan", "+914422570106", "srinivasa@example.com", "Asia/Kolkata"),
)

SANDBOX_ACCOUNT_NAMES = {
    VendorKind.REVRAG: "Revrag (sandbox)",
    VendorKind.VOICE_PLATFORM: "Voice platform (sandbox)",
    VendorKind.REVONT: "Revont (sandbox)",
    VendorKind.CALLCOV: "CallCov (sandbox)",
    VendorKind.REVOR: "Revor (sandbox)",
}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: Role


def demo_logins_path() -> Path:
    return Path(settings.VAR_DIR) / "demo-logins.json"


def _load_or_make_passwords() -> dict[str, str]:
    path = demo_logins_path()
    if path.exists():
        return json.loads(path.read_text())
    passwords = {role.value: f"{role.value}-{secrets.token_urlsafe(9)}" for role in Role}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(passwords, indent=2))
    path.chmod(0o600)
    return passwords


@transaction.atomic
def seed_users() -> list[DemoLogin]:
    passwords = _load_or_make_passwords()
    user_model = get_user_model()
    logins = []
    for role in Role:
        user, created = user_model.objects.get_or_create(username=role.value)
        if created or not user.check_password(passwords[role.value]):
            user.set_password(passwords[role.value])
            user.save()
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
        logins.append(DemoLogin(role.value, passwords[role.value], role))
    return logins


@transaction.atomic
def seed_contacts() -> None:
    for name, phone, email, time_zone in DEMO_CONTACTS:
        Contact.objects.get_or_create(
            phone_e164=phone,
            defaults={"name": name, "email": email, "time_zone": time_zone},
        )


@transaction.atomic
def seed_sandbox_accounts(sandbox_vendors: list[dict[str, str]]) -> list[VendorAccount]:
    """One vendor account per sandbox vendor; keys are refreshed if the sandbox's changed."""
    accounts = []
    for vendor in sandbox_vendors:
        kind = VendorKind(vendor["vendor"])
        account = VendorAccount.objects.filter(name=SANDBOX_ACCOUNT_NAMES[kind]).first()
        if account is None:
            account = VendorAccount(name=SANDBOX_ACCOUNT_NAMES[kind], kind=kind)
        account.base_url = vendor["base_url"]
        if account.pk is None or account.get_api_key() != vendor["api_key"]:
            account.set_api_key(vendor["api_key"])
        account.save()
        accounts.append(account)
    return accounts


def connect_sandbox(accounts: list[VendorAccount], admin_url: str) -> None:
    """Make the sandbox behave like configured vendors: webhooks to callops, agents copied.

    Revrag and Revont configure webhooks through their support (here: the sandbox's admin),
    the voice platform through its API; each account keeps the secret that signs them.
    """
    for account in accounts:
        try:
            if account.kind in (VendorKind.REVRAG, VendorKind.REVONT):
                secret = account.get_webhook_secret() or secrets.token_urlsafe(24)
                config = {
                    "vendor": account.kind,
                    "webhook_url": account.webhook_url,
                    "webhook_secret": secret,
                }
                if account.kind == VendorKind.REVONT:
                    config["records_per_hour"] = settings.CALLOPS_DEMO_REVONT_RECORDS_PER_HOUR
                requests.post(f"{admin_url}/config", json=config, timeout=10).raise_for_status()
                account.set_webhook_secret(secret)
                account.save(update_fields=["webhook_secret_encrypted"])
            elif account.kind == VendorKind.VOICE_PLATFORM:
                with vendor_client_for(account) as client:
                    hook = client.register_webhook(url=account.webhook_url)
                if hook.secret:
                    account.set_webhook_secret(hook.secret)
                    account.save(update_fields=["webhook_secret_encrypted"])
            if account.is_calling:
                agents_sync(account=account)
            if account.kind == VendorKind.REVONT:
                revont_import(account=account)
        except (VendorError, requests.RequestException) as exc:
            logger.warning("could not connect %s to the sandbox: %s", account, exc)


DEMO_RULE_NAME = "Analyse and follow up (demo)"


def seed_post_call_rule(accounts: list[VendorAccount]) -> None:
    """A post-call rule on the sandbox's voice platform, so a demo call shows the whole flow:
    CallCov analyses it, the results go back to the voice platform, Revor sends an email.
    Made only while there is no post-call rule at all, so edited rules are left alone."""
    by_kind = {account.kind: account for account in accounts}
    voice, callcov, revor = (
        by_kind.get(kind)
        for kind in (VendorKind.VOICE_PLATFORM, VendorKind.CALLCOV, VendorKind.REVOR)
    )
    if not (voice and callcov and revor) or PostCallRule.objects.exists():
        return
    try:
        with vendor_client_for(revor) as client:
            senders = client.list_accounts(channel="email", can_send=True)
    except VendorError as exc:
        logger.warning("no demo post-call rule: Revor did not list its senders: %s", exc)
        return
    if not senders:
        return
    PostCallRule.objects.create(
        name=DEMO_RULE_NAME,
        vendor_account=voice,
        outcomes=["completed", "callback_requested"],
        analysis_account=callcov,
        write_back=True,
        follow_up_account=revor,
        follow_up_channel="email",
        follow_up_sender=senders[0].account_id,
        follow_up_subject="Thanks for your time, {{ contact.first_name }}",
        follow_up_message=(
            "Hi {{ contact.first_name }},\n\nthanks for talking with {{ call.agent }} today. "
            "In short: {{ call.summary }}\n\nThe callops demo team"
        ),
    )


ALL_WEEK = [0, 1, 2, 3, 4, 5, 6]


def seed_demo_campaigns(accounts: list[VendorAccount]) -> list[Campaign]:
    """On a first run: a paced campaign (Revrag, dialled by callops) and a native one (the voice
    platform runs it), both launched for real against the sandbox over the demo contacts, so
    the campaign pages, the call log and the post-call rule fill with true results within a
    few minutes. Made only while there is no campaign at all."""
    if Campaign.objects.exists():
        return []
    operator = get_user_model().objects.filter(username=Role.OPERATOR.value).first()
    contacts = list(Contact.objects.filter(phone_e164__in=[c[1] for c in DEMO_CONTACTS]))
    by_kind = {account.kind: account for account in accounts}
    plans = [
        (VendorKind.REVRAG, "Renewal reminders (demo, paced)", contacts),
        (VendorKind.VOICE_PLATFORM, "Plan upgrade offer (demo, native)", contacts[:3]),
    ]
    launched = []
    for kind, name, audience in plans:
        account = by_kind.get(kind)
        agent = Agent.objects.filter(vendor_account=account, is_active=True).first()
        if account is None or agent is None or not audience:
            continue
        data = {
            "name": name,
            "vendor_account": account,
            "agent": agent,
            "variables_template": {"customer_name": "{{ contact.first_name }}"},
            # Around the clock, so the demo runs whenever it is started.
            "window_days": ALL_WEEK,
            "window_start_hour": 0,
            "window_end_hour": 24,
            "calls_per_minute": 6,
            "max_concurrent_calls": 2,
        }
        try:
            campaign = campaign_save(
                campaign=None, data=data, contacts=audience, created_by=operator
            )
            launched.append(campaign_transition(campaign_id=campaign.pk, action="launch"))
        except CampaignError as exc:
            logger.warning("no demo campaign %r: %s", name, exc)
    return launched


DEMO_REVIEWS = ((5, ["clear next step"], "Good discovery questions."), (3, ["pricing"], ""))


def seed_demo_reviews() -> int:
    """Two of the imported human reps' calls reviewed by the demo manager, so the review queue
    shows both states and analytics has review scores. Made only while there is no review."""
    manager = get_user_model().objects.filter(username=Role.MANAGER.value).first()
    if manager is None or CallReview.objects.exists():
        return 0
    calls = Call.objects.filter(state=CallState.ENDED).order_by("-created_at")[: len(DEMO_REVIEWS)]
    for call, (rating, tags, note) in zip(calls, DEMO_REVIEWS, strict=False):
        review_save(
            call=call, reviewer=manager, is_reviewed=True, rating=rating, tags=tags, note=note
        )
    return len(calls)
