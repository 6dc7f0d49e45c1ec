"""What a token's holder is; its own module so that the command line can offer it without loading the model."""

from __future__ import annotations

from enum import StrEnum


class PrincipalKind(StrEnum):
    """What a token's holder is: a domain team, a reader, or the bootstrap admin."""

    DOMAIN = "domain"
    READER = "reader"
    ADMIN = "admin"
