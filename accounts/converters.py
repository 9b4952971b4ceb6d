"""Path converters. `<id:pk>`: a database id; a number no column can hold is a 404, not a 500."""

from django.urls import register_converter
from django.urls.converters import IntConverter

MAX_ID = 2**63 - 1


class IdConverter(IntConverter):
    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError("no database id is that large")
        return number


register_converter(IdConverter, "id")
