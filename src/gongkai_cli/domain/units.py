"""Responsible units (责任单位): names, aliases, collectives and vague groups, and which unit a
name someone typed means for a task.

Who belongs to 各街镇 or 区政府各部门, and which short names mean the same unit, is data the
office edits (units.py reads the file); what a collective or a vague group is, and how a typed
name is resolved, is said here once, for single writes, batches, assignments and filters alike.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import NamedTuple

# The plan tables join units with 、; hand-edited copies also use commas. Mapped to one
# separator and split with str.split: a regular expression with a class of Chinese
# characters takes about half a millisecond to compile, which every listing would pay.
_TO_COMMA = str.maketrans("、，；;", ",,,,")

KINDS = ("department", "town", "group", "other")
KIND_LABELS = {"department": "部门", "town": "街镇", "group": "集合", "other": "其他"}


def unit_name(text: str) -> str:
    """A unit name as typed or read from a cell, without the spaces and line breaks
    that copying from Word or a merged cell leaves inside it."""
    return "".join(text.split())


def split_units(text: str) -> tuple[str, ...]:
    """Split a 责任单位 cell, keeping order (the first unit leads) and dropping repeats."""
    names: list[str] = []
    for part in (text or "").translate(_TO_COMMA).split(","):
        name = unit_name(part)
        if name and name not in names:
            names.append(name)
    return tuple(names)


class Unit(NamedTuple):
    name: str
    kind: str
    aliases: tuple[str, ...] = ()
    # Empty for a vague group (各相关部门): shown as written, never expanded.
    members: tuple[str, ...] = ()

    @property
    def collective(self) -> bool:
        """A group with members (各街镇): it stands for them and holds no task of its own."""
        return bool(self.members)

    @property
    def vague(self) -> bool:
        """A group without members (各相关部门): one assignment until the office names real units."""
        return self.kind == "group" and not self.members


class UnitDirectory:
    """Known units with their aliases and group memberships."""

    def __init__(self, units: list[Unit], source: str):
        self.source = source
        self._units = {unit.name: unit for unit in units}
        self._canonical = {unit.name: unit.name for unit in units}
        for unit in units:
            for alias in unit.aliases:
                self._canonical[alias] = unit.name
        self._groups: dict[str, list[str]] = {}
        for unit in units:
            for member in unit.members:
                self._groups.setdefault(self.canonical(member), []).append(unit.name)
        # The directory never changes once read, and a breakdown asks about the same
        # few names for every task of a plan.
        self._responsible: dict[str, tuple[str, ...]] = {}

    def __iter__(self) -> Iterator[Unit]:
        return iter(self._units.values())

    def get(self, name: str) -> Unit | None:
        return self._units.get(self.canonical(name))

    def canonical(self, name: str) -> str:
        """The unit's own name for any of its aliases; unknown names stay as they are."""
        return self._canonical.get(name, name)

    def known(self, name: str) -> bool:
        return name in self._canonical

    def collective(self, name: str) -> bool:
        unit = self.get(name)
        return unit is not None and unit.collective

    def vague(self, name: str) -> bool:
        unit = self.get(name)
        return unit is not None and unit.vague

    def spellings(self) -> list[str]:
        """Every name and alias, for suggestions and shell completion."""
        return list(self._canonical)

    def aliases_of(self, name: str) -> tuple[str, ...]:
        unit = self.get(name)
        return unit.aliases if unit else ()

    def responsible(self, name: str) -> tuple[str, ...]:
        """The units that have to act on a task naming `name`: a group's members (through
        nested groups), or the name itself for a unit or a vague group."""
        if name not in self._responsible:
            unit = self.get(name)
            if unit is None or not unit.collective:
                self._responsible[name] = (self.canonical(name),)
            else:
                found: list[str] = []
                for member in unit.members:
                    found += [m for m in self.responsible(member) if m not in found]
                self._responsible[name] = tuple(found)
        return self._responsible[name]

    def groups_of(self, name: str) -> tuple[str, ...]:
        """Groups that include `name`, directly or through a group inside a group."""
        found: list[str] = []
        pending = [self.canonical(name)]
        while pending:
            for group in self._groups.get(pending.pop(), ()):
                if group not in found:
                    found.append(group)
                    pending.append(group)
        return tuple(found)


# The refusals are plain classes: a NamedTuple costs start-up time every write pays, and
# only a refused name ever makes one.
class Collective:
    """The name is a collective whose members hold the task each on its own."""

    __slots__ = ("assigned", "size")

    def __init__(self, size: int, assigned: tuple[str, ...]):
        self.size = size  # how many units the collective stands for
        self.assigned = assigned  # those of them the task is given to


class UnknownUnit:
    """Neither the unit file nor the ledger knows the name."""

    __slots__ = ("close",)

    def __init__(self, close: tuple[str, ...]):
        self.close = close  # the closest known spellings, best first


class Unassigned:
    """A known unit the task is not given to."""

    __slots__ = ("units",)

    def __init__(self, units: tuple[str, ...]):
        self.units = units  # the units it is given to


UnitRefusal = Collective | UnknownUnit | Unassigned


def unknown_unit(directory: UnitDirectory, name: str, known_names: Collection[str],
                 assigned: Sequence[str] = ()) -> UnknownUnit | None:
    """Whether `name` (cleaned, any spelling) is no unit the unit file or the ledger
    (`known_names`) knows: then the closest spellings of those, and of `assigned`."""
    if directory.known(name) or name in known_names:
        return None
    import difflib

    candidates = list(dict.fromkeys([*assigned, *directory.spellings(), *known_names]))
    return UnknownUnit(tuple(difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)))


def resolve_unit(directory: UnitDirectory, assigned: Sequence[str], typed: str,
                 known_names: Collection[str]) -> str | UnitRefusal:
    """The unit `typed` (any alias, stray spaces and all) names among a task's `assigned` units,
    or why it names none: a collective of assigned members, a name nobody knows, or a unit the
    task is not given to, in that order. Every path that takes a unit for a task asks this."""
    name = directory.canonical(unit_name(typed))
    if name in assigned:
        return name
    if directory.collective(name):
        members = tuple(member for member in directory.responsible(name) if member in assigned)
        if members:
            return Collective(len(directory.responsible(name)), members)
    return unknown_unit(directory, name, known_names, assigned) or Unassigned(tuple(assigned))
