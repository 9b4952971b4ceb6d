"""factory_boy factories for the project's models. Add a factory here when you add a model."""

from __future__ import annotations

import factory
from django.utils import timezone

from calls.models import Agent, Call, CallState
from campaigns.models import Campaign, CampaignKind
from contacts.models import Contact
from vendors.models import VendorAccount, VendorKind


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
