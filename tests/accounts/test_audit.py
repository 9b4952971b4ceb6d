import pytest

from accounts.audit import audit_record
from accounts.models import AuditAction, AuditEvent


def test_it_refuses_to_change_an_audit_event(db):
    event = audit_record(action=AuditAction.TOKEN_CREATED, target="token 1")
    event.target = "something else"
    with pytest.raises(PermissionError):
        event.save()
    assert AuditEvent.objects.get().target == "token 1"


def test_it_refuses_to_delete_an_audit_event(db):
    event = audit_record(action=AuditAction.TOKEN_REVOKED, target="token 1")
    with pytest.raises(PermissionError):
        event.delete()
    assert AuditEvent.objects.count() == 1
