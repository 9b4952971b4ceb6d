"""factory_boy factories for the project's models. Add a factory here when you add a model."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from calls.models import (
    Agent,
    Call,
    Callback,
    CallbackStatus,
    CallConversation,
    CallState,
    PostCallAction,
    PostCallRule,
    PostCallStep,
    WebhookEvent,
    WebhookStatus,
)
from campaigns.models import Campaign, CampaignKind, DialEntry
from contacts.models import (
    ConsentRecord,
    ConsentType,
    Contact,
    ContactImport,
    ContactImportRejection,
    CustomerPush,
    DoNotCallEntry,
    ImportStatus,
    PushStatus,
)
from dashboard.models import Alert, AlertMetric, AlertRule
from vendors.models import Speaker, VendorAccount, VendorKind, VoiceFlow


class VendorAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VendorAccount
        skip_postgeneration_save = True

    kind = VendorKind.REVRAG
    name = factory.Sequence(lambda n: f"Vendor account {n}")
    base_url = "http://127.0.0.1:9/revrag"
    api_key = factory.PostGeneration(
        lambda account, create, value: _store_key(account, value or "test-key-0000", create)
    )


def _store_key(account: VendorAccount, key: str, create: bool) -> None:
    account.set_api_key(key)
    if create:
        account.save()


class VoiceAccountFactory(VendorAccountFactory):
    kind = VendorKind.VOICE_PLATFORM
    base_url = "http://127.0.0.1:9/voice_platform"


class VoiceFlowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VoiceFlow

    vendor_account = factory.SubFactory(VoiceAccountFactory)
    vendor_flow_id = factory.Faker("uuid4")
    name = factory.Sequence(lambda n: f"Flow {n}")


class SpeakerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Speaker

    vendor_account = factory.SubFactory(VoiceAccountFactory)
    name = factory.Sequence(lambda n: f"speaker-{n}")


# A sub-object built for a call or campaign belongs to the same vendor account.
SAME_VENDOR_ACCOUNT = factory.SelfAttribute("..vendor_account")


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    vendor_account = factory.SubFactory(VendorAccountFactory)
    vendor_agent_id = factory.Faker("uuid4")
    name = factory.Sequence(lambda n: f"Agent {n}")
    synced_at = factory.LazyFunction(timezone.now)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    name = factory.Faker("name")
    phone_e164 = factory.Sequence(lambda n: f"+1415555{n:04d}")
    email = factory.Faker("email")
    time_zone = "America/Los_Angeles"


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    vendor_account = factory.SubFactory(VendorAccountFactory)
    agent = factory.SubFactory(AgentFactory, vendor_account=SAME_VENDOR_ACCOUNT)
    kind = CampaignKind.PACED


class CallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Call

    vendor_account = factory.SubFactory(VendorAccountFactory)
    agent = factory.SubFactory(AgentFactory, vendor_account=SAME_VENDOR_ACCOUNT)
    contact = factory.SubFactory(ContactFactory)
    to_number = factory.SelfAttribute("contact.phone_e164")
    state = CallState.PENDING


class CallConversationFactory(factory.django.DjangoModelFactory):
    """An ended call's measured conversation; tests of the figures measure real transcripts
    (calls.conversation_metrics.conversation_measure) instead."""

    class Meta:
        model = CallConversation

    call = factory.SubFactory(CallFactory, state=CallState.ENDED)
    computed_at = factory.LazyFunction(timezone.now)
    lines = 0
    turns = 0
    agent_words = 0
    customer_words = 0
    timed = False
    silence_threshold_seconds = 3.0


class DialEntryFactory(factory.django.DjangoModelFactory):
    """One contact of a campaign's audience, not dialled yet."""

    class Meta:
        model = DialEntry

    campaign = factory.SubFactory(CampaignFactory)
    contact = factory.SubFactory(ContactFactory)
    phone_e164 = factory.SelfAttribute("contact.phone_e164")


class ConsentRecordFactory(factory.django.DjangoModelFactory):
    """Written consent given yesterday, without expiry."""

    class Meta:
        model = ConsentRecord

    contact = factory.SubFactory(ContactFactory)
    consent_type = ConsentType.WRITTEN
    given_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    evidence = "Signed web form"


class DoNotCallEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DoNotCallEntry

    phone_e164 = factory.Sequence(lambda n: f"+1212555{n:04d}")
    reason = "asked not to be called"


class ContactImportFactory(factory.django.DjangoModelFactory):
    """A finished import with one rejected row (as the pages show it)."""

    class Meta:
        model = ContactImport
        skip_postgeneration_save = True

    file_name = "contacts.csv"
    headers = factory.LazyFunction(lambda: ["name", "phone"])
    mapping = factory.LazyFunction(lambda: ["name", "phone"])
    status = ImportStatus.DONE
    total_rows = 2
    processed_rows = 2
    created_count = 1
    rejected_count = 1
    rejection = factory.RelatedFactory(
        "tests.factories.ContactImportRejectionFactory", factory_related_name="contact_import"
    )


class ContactImportRejectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactImportRejection

    contact_import = factory.SubFactory(ContactImportFactory, rejection=None)
    line_number = 3
    raw = factory.LazyFunction(lambda: ["Nobody", "123"])
    reason = "phone: too short"


class UserFactory(factory.django.DjangoModelFactory):
    """A user with no role; add one with `groups` or tests/conftest.py's make_user."""

    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """An API token; the built object carries its plaintext as `.plaintext` (never stored)."""

    class Meta:
        model = "accounts.ApiToken"

    name = factory.Sequence(lambda n: f"Integration {n}")
    role = "operator"
    # Admins make tokens, and a token never does more than its creator may.
    created_by = factory.SubFactory(UserFactory, is_superuser=True)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from accounts.authentication import generate_token

        new = generate_token()
        kwargs.setdefault("prefix", new.prefix)
        kwargs.setdefault("secret_hash", new.secret_hash)
        token = super()._create(model_class, *args, **kwargs)
        token.plaintext = new.plaintext
        return token


class WebhookEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEvent

    vendor_account = factory.SubFactory(VendorAccountFactory)
    dedupe_key = factory.Sequence(lambda n: f"evt-{n}")
    headers = factory.LazyFunction(lambda: {"content-type": "application/json"})
    body = '{"unexpected": true}'
    status = WebhookStatus.FAILED
    error = "The Revrag webhook body is not a call status."


class CallReviewFactory(factory.django.DjangoModelFactory):
    """A finished review of an ended call."""

    class Meta:
        model = "calls.CallReview"

    call = factory.SubFactory(CallFactory, state=CallState.ENDED)
    reviewer = factory.SubFactory(UserFactory)
    is_reviewed = True
    reviewed_at = factory.LazyFunction(timezone.now)
    rating = 4


class PostCallRuleFactory(factory.django.DjangoModelFactory):
    """A rule for a Revrag account's calls that analyses them with a CallCov account."""

    class Meta:
        model = PostCallRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    vendor_account = factory.SubFactory(VendorAccountFactory)
    analysis_account = factory.SubFactory(
        VendorAccountFactory, kind=VendorKind.CALLCOV, base_url="http://127.0.0.1:9/callcov"
    )


class PostCallStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PostCallStep

    rule = factory.SubFactory(PostCallRuleFactory)
    call = factory.SubFactory(
        CallFactory, vendor_account=factory.SelfAttribute("..rule.vendor_account"), state="ended"
    )
    rule_name = factory.SelfAttribute("rule.name")
    action = PostCallAction.ANALYSE
    vendor_account = factory.SelfAttribute("rule.analysis_account")


class CustomerPushFactory(factory.django.DjangoModelFactory):
    """A finished push of no contacts (the pages' frame; tests add rows they need)."""

    class Meta:
        model = CustomerPush

    vendor_account = factory.SubFactory(VoiceAccountFactory)
    selection = "2 selected contacts"
    status = PushStatus.DONE


class AlertRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertRule

    name = factory.Sequence(lambda n: f"Alert rule {n}")
    metric = AlertMetric.STUCK_CALLS
    threshold = 1
    clear_threshold = 0
    webhook_url = "https://hooks.example.com/callops"


class AlertFactory(factory.django.DjangoModelFactory):
    """An open alert of its rule."""

    class Meta:
        model = Alert

    rule = factory.SubFactory(AlertRuleFactory)
    opened_at = factory.LazyFunction(timezone.now)
    opened_value = 3
    last_value = 3
    last_evaluated_at = factory.LazyFunction(timezone.now)
    last_notified_at = factory.LazyFunction(timezone.now)


class CallbackFactory(factory.django.DjangoModelFactory):
    """A callback asked for on an ended call, booked an hour ahead in the contact's zone."""

    class Meta:
        model = Callback

    source_call = factory.SubFactory(CallFactory, state=CallState.ENDED)
    contact = factory.SelfAttribute("source_call.contact")
    to_number = factory.SelfAttribute("source_call.to_number")
    vendor_account = factory.SelfAttribute("source_call.vendor_account")
    agent = factory.SelfAttribute("source_call.agent")
    status = CallbackStatus.BOOKED
    due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
    time_zone = "America/Los_Angeles"
    requested = "call me back in an hour"
