from __future__ import annotations

from django.db.models import Q, QuerySet

from contacts.models import Contact


def contact_list(*, search: str = "") -> QuerySet[Contact]:
    contacts = Contact.objects.all()
    if search:
        contacts = contacts.filter(
            Q(name__icontains=search) | Q(phone_e164__contains=search) | Q(email__icontains=search)
        )
    return contacts
