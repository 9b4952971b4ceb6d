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
