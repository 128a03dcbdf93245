"""Families of labels: objects the model confuses with one another (a motorbike
seen now and then as a bicycle, a van as a car or a truck) and that move alike.
Association and duplicate suppression work within a family, while each track
still reports its own (voted) label; tracker settings are given per family."""

from __future__ import annotations

from typing import Literal

Family = Literal["person", "two_wheeler", "vehicle"]
FAMILIES: tuple[Family, ...] = ("person", "two_wheeler", "vehicle")
FAMILY: dict[str, Family] = {
    "person": "person",
    "bicycle": "two_wheeler",
    "motorcycle": "two_wheeler",
    "car": "vehicle",
    "bus": "vehicle",
    "truck": "vehicle",
}


def family_of(label: str) -> str:
    """A label outside every family is a family of its own."""
    return FAMILY.get(label, label)
