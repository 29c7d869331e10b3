"""GraphQL types and resolvers, one module per area.

A module's root fields are the class it names `…Query`; the schema's `Query` is built from
every module's (`query_roots`), so a new area of the API is one new module here.
"""

from __future__ import annotations

import importlib
import pkgutil


def query_roots() -> tuple[type, ...]:
    """The `…Query` class of each module of this package, by module name."""
    roots: list[type] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        roots += [
            value
            for name, value in vars(module).items()
            if name.endswith("Query")
            and isinstance(value, type)
            and value.__module__ == module.__name__
        ]
    return tuple(roots)
