"""The contacts page's search and filters, read once from a query string: the page, "push
everyone matching" and the links from an import or a list all select the same contacts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict

from contacts import selectors
from contacts.models import Contact

FILTER_PARAMETERS = ("q", "email", "tz", "dnc", "list", "import")


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _id(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 19 else None


@dataclass(frozen=True)
class ContactFilters:
    q: str = ""
    email: str = ""
    tz: str = ""
    dnc: str = ""
    list: str = ""
    # "import" is a keyword; the query parameter keeps the plain name.
    import_: str = ""

    @classmethod
    def from_params(cls, params: QueryDict) -> ContactFilters:
        values = {
            name: params.get(name, "").replace("\x00", "").strip() for name in FILTER_PARAMETERS
        }
        values["import_"] = values.pop("import")
        return cls(**values)

    def params(self) -> dict[str, str]:
        """The filters as query parameters, without the empty ones."""
        values = asdict(self)
        values["import"] = values.pop("import_")
        return {name: value for name, value in values.items() if value}

    @property
    def filtered(self) -> bool:
        """Any filter beyond the search text."""
        return any(value for name, value in self.params().items() if name != "q")

    def contacts(self) -> QuerySet[Contact]:
        return selectors.contact_list(
            search=self.q,
            has_email=_yes_no(self.email),
            time_zone=self.tz,
            on_do_not_call=_yes_no(self.dnc),
            list_id=_id(self.list),
            import_id=_id(self.import_),
        )

    def context(self) -> dict[str, Any]:
        return {"filters": self, "search": self.q, "filtered": bool(self.q or self.filtered)}
