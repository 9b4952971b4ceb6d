"""Writes of the settings pages: vendor connections, users and roles, API tokens.

Keyword-only and typed; each write runs in one transaction and records its audit event there.
No transaction is open while a vendor is asked anything (key tests run before the write).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.audit import audit_record
from accounts.authentication import generate_token
from accounts.models import ApiToken, AuditAction
from accounts.roles import Role
from dashboard.models import Heartbeat
from dashboard.selectors import active_admin_count, primary_role_of, worker_probe_name
from vendors.errors import VendorError
from vendors.models import VendorAccount, VendorKind
from vendors.services import ConnectionCheck, check_connection, vendor_client_for


class SettingsError(Exception):
    """A settings change the rules refuse; the message is shown to the admin as it is."""


class Keep:
    """The value of an optional argument that means "leave the stored value alone"."""


KEEP = Keep()


# ------------------------------------------------------------------------------------ vendors


@transaction.atomic
def vendor_account_create(
    *,
    kind: str,
    name: str,
    base_url: str,
    mode: str,
    api_key: str,
    webhook_secret: str,
    rate_limits: dict[str, Any],
    price_per_minute: Decimal | None = None,
    request: HttpRequest | None = None,
) -> VendorAccount:
    account = VendorAccount(
        kind=kind,
        name=name,
        base_url=base_url,
        mode=mode,
        rate_limits=rate_limits,
        price_per_minute=price_per_minute,
    )
    account.set_api_key(api_key)
    account.set_webhook_secret(webhook_secret)
    account.save()
    audit_record(
        action=AuditAction.VENDOR_KEY_CREATED,
        request=request,
        target=f"vendor account {account.name}",
        detail={"account_id": account.pk, "kind": kind, "key": account.api_key_mask},
    )
    return account


@transaction.atomic
def vendor_account_update(
    *,
    account: VendorAccount,
    name: str,
    base_url: str,
    mode: str,
    rate_limits: dict[str, Any],
    webhook_secret: str | None = None,
    price_per_minute: Decimal | None | Keep = KEEP,
    request: HttpRequest | None = None,
) -> VendorAccount:
    """Changes everything but the key (see vendor_key_rotate). `webhook_secret` None keeps it;
    `price_per_minute` None removes the price, KEEP (the default) leaves it as it is."""
    locked = VendorAccount.objects.select_for_update().get(pk=account.pk)
    values: list[tuple[str, Any]] = [
        ("name", name),
        ("base_url", base_url),
        ("mode", mode),
        ("rate_limits", rate_limits),
    ]
    if not isinstance(price_per_minute, Keep):
        values.append(("price_per_minute", price_per_minute))
    changed = [field for field, value in values if getattr(locked, field) != value]
    for field, value in values:
        setattr(locked, field, value)
    if webhook_secret is not None:
        # The old secret keeps verifying for a day: deliveries signed before the vendor
        # switched still arrive (an admin can retire it sooner).
        locked.rotate_webhook_secret(webhook_secret)
        changed.append("webhook_secret")
    locked.save()
    if changed:
        audit_record(
            action=AuditAction.VENDOR_ACCOUNT_UPDATED,
            request=request,
            target=f"vendor account {locked.name}",
            detail={"account_id": locked.pk, "changed": changed},
        )
    return locked


def vendor_webhook_secret_retire(
    *, account: VendorAccount, request: HttpRequest | None = None
) -> None:
    """End the overlap at once: deliveries signed with the previous secret are refused."""
    with transaction.atomic():
        locked = VendorAccount.objects.select_for_update().get(pk=account.pk)
        locked.retire_previous_webhook_secret()
        locked.save(
            update_fields=[
                "previous_webhook_secret_encrypted",
                "previous_webhook_secret_until",
                "updated_at",
            ]
        )
        audit_record(
            action=AuditAction.VENDOR_ACCOUNT_UPDATED,
            request=request,
            target=f"vendor account {locked.name}",
            detail={"account_id": locked.pk, "changed": ["previous_webhook_secret_retired"]},
        )


def vendor_webhooks_register(*, account: VendorAccount, request: HttpRequest | None = None) -> str:
    """Register callops' webhook URL for call.started and call.ended (voice platform).

    The vendor answers a known URL with the webhook it already has, so registering again makes
    no duplicate. The signing secret it returns is stored (encrypted) on the account. No
    transaction is open during the vendor request.
    """
    if account.kind != VendorKind.VOICE_PLATFORM:
        raise SettingsError(
            f"{account.get_kind_display()} does not register webhooks through its API: "
            "give the webhook URL shown below to the vendor."
        )
    try:
        with vendor_client_for(account) as client:
            hook = client.register_webhook(url=account.webhook_url)
    except VendorError as exc:
        raise SettingsError(f"The vendor refused the webhook: {exc.message}") from None
    if hook.secret:
        account.set_webhook_secret(hook.secret)
        account.save(update_fields=["webhook_secret_encrypted", "updated_at"])
    audit_record(
        action=AuditAction.VENDOR_ACCOUNT_UPDATED,
        request=request,
        target=f"vendor account {account.name}",
        detail={"account_id": account.pk, "webhook_registered": hook.url},
    )
    return f"Webhook registered for {', '.join(hook.events)} at {hook.url}."


def vendor_connection_test(*, account: VendorAccount) -> ConnectionCheck:
    """Asks the vendor with the stored key; the result is recorded on the account."""
    return check_connection(account)


def vendor_key_rotate(
    *, account: VendorAccount, new_key: str, request: HttpRequest | None = None
) -> ConnectionCheck:
    """Tests `new_key` first with a temporary copy of the account; only a key that works is kept.

    On failure the old key stays and the vendor's own message is returned.
    """
    trial = VendorAccount(
        pk=account.pk,
        kind=account.kind,
        name=account.name,
        base_url=account.base_url,
        rate_limits=account.rate_limits,
    )
    trial.set_api_key(new_key)
    before = VendorAccount.objects.filter(pk=account.pk).values(
        "last_check_at", "last_check_ok", "last_check_message"
    )[0]
    check = check_connection(trial)  # network: no transaction open here
    if not check.ok:
        # check_connection recorded the trial key's failure on the account; the stored key is
        # unchanged, so its own last result is the one to keep showing.
        VendorAccount.objects.filter(pk=account.pk).update(**before)
        return check
    with transaction.atomic():
        locked = VendorAccount.objects.select_for_update().get(pk=account.pk)
        old_mask = locked.api_key_mask
        locked.set_api_key(new_key)
        locked.save(update_fields=["api_key_encrypted", "api_key_mask", "updated_at"])
        audit_record(
            action=AuditAction.VENDOR_KEY_ROTATED,
            request=request,
            target=f"vendor account {locked.name}",
            detail={"account_id": locked.pk, "old_key": old_mask, "new_key": locked.api_key_mask},
        )
    account.refresh_from_db()
    return check


@transaction.atomic
def vendor_account_set_active(
    *, account: VendorAccount, active: bool, request: HttpRequest | None = None
) -> VendorAccount:
    updated = VendorAccount.objects.filter(pk=account.pk, is_active=not active).update(
        is_active=active, updated_at=timezone.now()
    )
    if updated:
        audit_record(
            action=(
                AuditAction.VENDOR_ACCOUNT_ENABLED
                if active
                else AuditAction.VENDOR_ACCOUNT_DISABLED
            ),
            request=request,
            target=f"vendor account {account.name}",
            detail={"account_id": account.pk},
        )
    account.is_active = active
    return account


# -------------------------------------------------------------------------------------- users


def _lock_admins() -> None:
    """Serializes every change that can lower the number of active admins.

    The admin group row is the lock (PostgreSQL row lock; SQLite's IMMEDIATE transactions
    serialize writers anyway), so two admins demoting each other cannot both pass the check.
    """
    Group.objects.select_for_update().get_or_create(name=Role.ADMIN.value)


def _set_role_groups(user: Any, role: Role) -> None:
    role_groups = Group.objects.filter(name__in=[r.value for r in Role])
    user.groups.remove(*role_groups)
    user.groups.add(Group.objects.get_or_create(name=role.value)[0])


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str,
    role: Role,
    password: str,
    request: HttpRequest | None = None,
) -> Any:
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    _set_role_groups(user, role)
    audit_record(
        action=AuditAction.USER_CREATED,
        request=request,
        target=f"user {user.username}",
        detail={"user_id": user.pk, "role": role.value},
    )
    return user


@transaction.atomic
def user_set_role(*, user: Any, role: Role, request: HttpRequest | None = None) -> Any:
    _lock_admins()
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    previous = primary_role_of(user)
    if previous == role:
        return user
    if previous == Role.ADMIN and user.is_active and active_admin_count(excluding=user) == 0:
        raise SettingsError(
            f"{user.username} is the last active admin: make another user an admin first."
        )
    if user.is_superuser and role != Role.ADMIN:
        # A superuser is an admin whatever its groups say.
        user.is_superuser = False
        user.save(update_fields=["is_superuser"])
    _set_role_groups(user, role)
    audit_record(
        action=AuditAction.ROLE_CHANGED,
        request=request,
        target=f"user {user.username}",
        detail={
            "user_id": user.pk,
            "from": previous.value if previous else None,
            "to": role.value,
        },
    )
    return user


@transaction.atomic
def user_set_active(*, user: Any, active: bool, request: HttpRequest | None = None) -> Any:
    _lock_admins()
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    if user.is_active == active:
        return user
    if not active:
        if request is not None and request.user.pk == user.pk:
            raise SettingsError("You cannot deactivate your own account.")
        if primary_role_of(user) == Role.ADMIN and active_admin_count(excluding=user) == 0:
            raise SettingsError(
                f"{user.username} is the last active admin and cannot be deactivated."
            )
    user.is_active = active
    user.save(update_fields=["is_active"])
    audit_record(
        action=AuditAction.USER_REACTIVATED if active else AuditAction.USER_DEACTIVATED,
        request=request,
        target=f"user {user.username}",
        detail={"user_id": user.pk},
    )
    return user


# ------------------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


@transaction.atomic
def api_token_create(
    *,
    name: str,
    role: Role,
    created_by: Any,
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> CreatedToken:
    new = generate_token()
    token = ApiToken.objects.create(
        name=name,
        role=role.value,
        prefix=new.prefix,
        secret_hash=new.secret_hash,
        created_by=created_by,
        expires_at=expires_at,
    )
    audit_record(
        action=AuditAction.TOKEN_CREATED,
        request=request,
        actor=created_by,
        target=f"API token {token.name}",
        detail={
            "token_id": token.pk,
            "prefix": token.prefix,
            "role": token.role,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return CreatedToken(token=token, plaintext=new.plaintext)


@transaction.atomic
def api_token_revoke(*, token: ApiToken, request: HttpRequest | None = None) -> ApiToken:
    now = timezone.now()
    if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
        audit_record(
            action=AuditAction.TOKEN_REVOKED,
            request=request,
            target=f"API token {token.name}",
            detail={"token_id": token.pk, "prefix": token.prefix},
        )
    token.refresh_from_db()
    return token


def worker_probe_send(*, node: str, expires_in: float) -> None:
    """Forget the worker `node`'s last probe answer and send it a probe task.

    The task goes to the worker's own queue (Celery's worker_direct), so no other worker takes
    it and no backlog in the shared queue delays it; only a free pool process can run it.
    Forgetting first means any answer seen later came after this call: no clocks compared.
    """
    from celery.utils.nodenames import worker_direct

    from dashboard.tasks import answer_worker_probe

    Heartbeat.objects.filter(name=worker_probe_name(node)).delete()
    # A probe left unanswered is of no use later: the worker drops it once it has expired.
    answer_worker_probe.apply_async(queue=worker_direct(node), expires=expires_in)


def worker_probe_answer(*, node: str) -> None:
    Heartbeat.objects.update_or_create(
        name=worker_probe_name(node), defaults={"seen_at": timezone.now()}
    )
