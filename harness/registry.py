"""Registries: a name -> where its implementation lives, loaded on first use.

Every pluggable kind of part (engines, backends, meters, datasets, report
formats, commands) has one ``Registry`` listing its members as
``"package.module:attribute"``. Adding a member is one new module plus one
line here-and-there; nothing else in the tree names it. Members are imported
only when asked for, so ``bench boards`` never imports torch and a vendor
package is needed only by the member that uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from typing import Generic, TypeVar

from harness.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Lowercase names -> ``"module:attribute"``, resolved lazily.

    Args:
        kind: what a member is, for messages ("engine", "backend").
        members: name -> import path of the member (a class, a function or
            an instance, as the kind's own module documents).
    """

    def __init__(self, kind: str, members: dict[str, str]) -> None:
        for name, where in members.items():
            if name != name.lower() or ":" not in where:
                raise ValueError(f"{kind} registry: bad entry {name!r} -> {where!r}")
        self.kind = kind
        self._members = dict(members)

    def names(self) -> list[str]:
        return list(self._members)

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)

    def where(self, name: str) -> str:
        """The member's ``module:attribute``, without importing it."""
        self._check(name)
        return self._members[name]

    def load(self, name: str) -> T:
        """The member itself; ConfigError naming the known ones if unknown."""
        self._check(name)
        module, _, attr = self._members[name].partition(":")
        member: T = getattr(import_module(module), attr)  # Python caches the import
        return member

    def _check(self, name: str) -> None:
        if name not in self._members:
            raise ConfigError(f"unknown {self.kind} {name!r}; known {self.kind}s: "
                              f"{', '.join(self._members)}")
