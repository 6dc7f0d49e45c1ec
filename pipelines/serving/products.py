"""Which data products exist, which a principal may read, and why a name is not readable."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from pipelines.bootstrap import Runtime
from pipelines.core.names import EVENT_LOG, Layer, TableId
from pipelines.ports.table_store import TableStore


@dataclass(frozen=True)
class ServedProduct:
    """A gold data product of a local domain and the store holding its table."""

    name: str  # "<domain>.<product>"
    table: TableId
    store: TableStore
    owner: str
    description: str
    public: bool
    event_log: bool = False
    """The domain's event log rather than a data product: queried alike, readable by its owner and admins."""


@dataclass(frozen=True)
class Access:
    """Who queries and what they may read.

    Attributes:
        principal: the domain (or reader) name; None for local access by whoever owns the files.
        readable: the `<domain>.<product>` names the principal may read (from the catalog); None: all.
        kind: what the principal is (`domain`, `reader`, `admin`): a domain reads its own event log,
            an admin every domain's.
    """

    principal: str | None = None
    readable: frozenset[str] | None = None
    kind: str = "domain"

    def allows(self, product: str) -> bool:
        if self.readable is None:
            return True
        domain, _, name = product.partition(".")
        if name == EVENT_LOG:
            return self.kind == "admin" or (self.kind == "domain" and domain == self.principal)
        return product in self.readable

    @property
    def who(self) -> str:
        return f"principal {self.principal!r}" if self.principal else "local access"


def all_products(runtime: Runtime) -> dict[str, ServedProduct]:
    """Every gold product the runtime's domains declare, by `<domain>.<product>` (materialised or not)."""
    found: dict[str, ServedProduct] = {}
    for domain in runtime.domains.values():
        for name, spec in domain.spec.products.items():
            table = domain.product_table(name)
            found[str(table)] = ServedProduct(
                name=str(table),
                table=table,
                store=runtime.store_for(domain.name, Layer.GOLD, name),
                owner=domain.spec.owner,
                description=spec.description,
                public=spec.public,
            )
    return found


def event_logs(runtime: Runtime) -> dict[str, ServedProduct]:
    """The event log of every domain of the runtime, by `<domain>.event_log` (written yet or not)."""
    found: dict[str, ServedProduct] = {}
    for domain in runtime.domains.values():
        table = domain.event_log_table()
        found[str(table)] = ServedProduct(
            name=str(table),
            table=table,
            store=runtime.store_for(domain.name, Layer.EVENT_LOG),
            owner=domain.spec.owner,
            description=f"What happened to the {domain.name} domain's tables, one row per event",
            public=False,
            event_log=True,
        )
    return found


def access_for(runtime: Runtime, principal: str | None) -> Access:
    """The access of `principal`: what the catalog says it may read (public, own domain's, granted).

    Raises:
        RegistryError: the catalog refused or could not answer.
    """
    if principal is None:
        return Access()
    return Access(principal, frozenset(runtime.registry(principal).readable_products()))


def _internal_layer(name: str) -> str | None:
    for prefix, layer in (("silver_", "silver"), ("bronze_", "bronze"), ("quarantine", "quarantine")):
        if name.startswith(prefix):
            return layer
    return None


def explain_unreadable(
    name: str, products: Mapping[str, ServedProduct], access: Access, served: Collection[str]
) -> str | None:
    """Why `<schema>.<name>` is not readable by `access`, or None when it names nothing meshlake knows."""
    domain, _, table = name.partition(".")
    domains = {p.table.domain for p in products.values()}
    served_list = ", ".join(sorted(served)) or "none"
    if name in products and products[name].event_log and not access.allows(name):
        return (
            f"{access.who} may not read {name}: it is the event log of domain {domain!r}, readable by its "
            f"owner ({products[name].owner}) and admins only"
        )
    if domain in domains and (layer := _internal_layer(table)):
        return (
            f"{name} is a {layer} table, internal to domain {domain!r}: only data products are served "
            f"(readable by {access.who}: {served_list})"
        )
    if name in products and not access.allows(name):
        product = products[name]
        return (
            f"{access.who} may not read {name}: it is not public and not granted to {access.principal!r}; "
            f"ask its owner ({product.owner}) for a grant"
        )
    if name in products:
        if products[name].event_log:
            return f"{name} has no rows yet: no run of domain {domain!r} has written it"
        return f"{name} has not been materialised yet: there is no table to read"
    return None
