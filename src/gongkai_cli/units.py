"""Responsible units (责任单位): splitting the table's joined cell into names."""

from __future__ import annotations

import re

# The plan tables join units with 、; hand-edited copies also use commas.
_SEPARATORS = re.compile(r"[、，,；;]+")


def split_units(text: str) -> tuple[str, ...]:
    """Split a 责任单位 cell, keeping order (the first unit leads) and dropping repeats."""
    names: list[str] = []
    for part in _SEPARATORS.split(text or ""):
        name = "".join(part.split())
        if name and name not in names:
            names.append(name)
    return tuple(names)
