"""Names of layers, tables and data products, one spelling everywhere (`<domain>.<name>`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
EVENT_LOG = "event_log"
"""The name of every domain's event log table (`<domain>.event_log`)."""


class Layer(StrEnum):
    """The medallion layer a table belongs to."""

    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"
    QUARANTINE = "quarantine"
    EVENT_LOG = "event_log"


def check_identifier(value: str, what: str) -> str:
    """Return `value` if it is a lower-case identifier, else raise naming `what`.

    Raises:
        ValueError: `value` is not `[a-z][a-z0-9_]*`.
    """
    if not _IDENT.match(value):
        raise ValueError(f"{what} {value!r} must be a lower-case identifier ([a-z][a-z0-9_]*)")
    return value


@dataclass(frozen=True, order=True)
class TableId:
    """A table of a domain: `orders.bronze_order_placed`, `orders.daily_revenue`."""

    domain: str
    name: str

    def __post_init__(self) -> None:
        check_identifier(self.domain, "domain")
        check_identifier(self.name, "table name")

    def __str__(self) -> str:
        return f"{self.domain}.{self.name}"

    @classmethod
    def parse(cls, text: str) -> TableId:
        """Parse `<domain>.<name>`.

        Raises:
            ValueError: the text is not two dot-separated identifiers.
        """
        domain, dot, name = text.partition(".")
        if not dot or "." in name:
            raise ValueError(f"table name {text!r} must look like <domain>.<name>")
        return cls(domain, name)

    @classmethod
    def bronze(cls, domain: str, event: str) -> TableId:
        return cls(domain, f"bronze_{event}")

    @classmethod
    def silver(cls, domain: str, entity: str) -> TableId:
        return cls(domain, f"silver_{entity}")

    @classmethod
    def quarantine(cls, domain: str) -> TableId:
        return cls(domain, "quarantine")

    @classmethod
    def event_log(cls, domain: str) -> TableId:
        return cls(domain, EVENT_LOG)
