"""The demo data `make run` seeds on top of the sandbox."""

from __future__ import annotations

from calls.models import PostCallAction, PostCallRule
from dashboard import demo


def sandbox_accounts(sandbox):
    return demo.seed_sandbox_accounts(
        [
            {"vendor": kind, "base_url": vendor.base_url, "api_key": vendor.api_key}
            for kind, vendor in sandbox.vendors.items()
        ]
    )


def test_it_seeds_one_post_call_rule_for_the_sandbox_voice_platform(db, sandbox):
    accounts = sandbox_accounts(sandbox)
    demo.seed_post_call_rule(accounts)
    demo.seed_post_call_rule(accounts)
    rule = PostCallRule.objects.get()
    assert rule.vendor_account.kind == "voice_platform"
    assert rule.actions == [
        PostCallAction.ANALYSE,
        PostCallAction.WRITE_BACK,
        PostCallAction.FOLLOW_UP,
    ]
    assert rule.follow_up_sender


def test_it_seeds_no_demo_rule_beside_rules_someone_made(db, sandbox):
    accounts = sandbox_accounts(sandbox)
    demo.seed_post_call_rule(accounts)
    PostCallRule.objects.update(name="My own rule", is_active=False)
    demo.seed_post_call_rule(accounts)
    assert list(PostCallRule.objects.values_list("name", flat=True)) == ["My own rule"]


def test_it_launches_a_paced_and_a_native_demo_campaign_once(
    db, sandbox, django_capture_on_commit_callbacks
):
    from calls.services import agents_sync
    from campaigns.models import Campaign, CampaignKind, CampaignStatus

    demo.seed_users()
    demo.seed_contacts()
    accounts = sandbox_accounts(sandbox)
    for account in accounts:
        if account.is_calling:
            agents_sync(account=account)
    with django_capture_on_commit_callbacks():
        launched = demo.seed_demo_campaigns(accounts)
    assert {c.kind for c in launched} == {CampaignKind.PACED, CampaignKind.NATIVE}
    assert all(c.status == CampaignStatus.RUNNING for c in launched)
    paced = next(c for c in launched if c.kind == CampaignKind.PACED)
    assert paced.entries.count() == len(demo.DEMO_CONTACTS)
    assert paced.created_by.username == "operator"
    assert demo.seed_demo_campaigns(accounts) == []
    assert Campaign.objects.count() == 2


def test_it_reviews_two_ended_calls_as_the_demo_manager_once(db, sandbox):
    from calls.models import CallReview
    from calls.revont_import import revont_import
    from tests.calls.test_revont_import import wait_for_records

    demo.seed_users()
    accounts = sandbox_accounts(sandbox)
    wait_for_records(sandbox, 3)
    revont_import(account=next(a for a in accounts if a.kind == "revont"))
    assert demo.seed_demo_reviews() == 2
    assert demo.seed_demo_reviews() == 0
    reviews = CallReview.objects.order_by("rating")
    assert [r.rating for r in reviews] == [3, 5]
    assert {r.reviewer.username for r in reviews} == {"manager"}
