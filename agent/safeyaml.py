"""Composing a YAML text into a node tree, within bounds that a config file from anyone can not break.

A hub's config is a few kilobytes; what is refused here is far beyond that, and
each refusal is a `Refused` error with the line it happened at:
- depth beyond MAX_DEPTH, before Python's recursion limit turns it into a crash;
- more than MAX_VALUES values once aliases are expanded: an alias is the same node
  object as its anchor, so every later walk of the tree expands it, and a few
  lines of nested aliases (an "alias bomb") stand for billions of values;
- an alias of a list or mapping inside itself (a loop no walk ever leaves);
- explicit tags beyond the plain YAML ones (`!!python/object`, `!custom`...).

libyaml scans and parses (in C, fast); PyYAML's Python composer builds the tree so
that these limits are checked node by node while it grows, never after.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent, MappingStartEvent, NodeEvent, ScalarEvent, SequenceStartEvent

MAX_DEPTH = 50
# Above the largest config the schema accepts (16 cameras with 16 zones and 16 masks of 32 points: about
# 50,000), far above a real one (a few thousand); composing this many takes well under a second.
MAX_VALUES = 60_000
_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    ScalarEvent: {_CORE + t for t in ("str", "int", "float", "bool", "null")},
    SequenceStartEvent: {_CORE + "seq"},
    MappingStartEvent: {_CORE + "map"},
}
_Base: Any = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


class Refused(yaml.MarkedYAMLError):
    """The text is valid YAML but beyond what a config may be."""


def compose(text: str) -> yaml.Node | None:
    """The single document of TEXT as a node tree (None when empty), bounded as the module says."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


class _BoundedLoader(_Base):  # type: ignore[misc]
    # PyYAML's own composer, in Python, over the (C) parser's events; only compose_node is ours.
    get_single_node = Composer.get_single_node
    compose_document = Composer.compose_document
    compose_scalar_node = Composer.compose_scalar_node
    compose_sequence_node = Composer.compose_sequence_node
    compose_mapping_node = Composer.compose_mapping_node

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.anchors: dict[str, yaml.Node] = {}
        self.depth = 0
        self.values = 0  # values composed so far, each alias counted as everything it stands for
        self.sizes: dict[int, int] = {}  # id(node) -> values it stands for, once complete

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            node = Composer.compose_node(self, parent, index)  # an unknown alias raises here
            if id(node) not in self.sizes:
                raise Refused(None, None, f"alias *{event.anchor} is used inside its own anchor", event.start_mark)
            self._count(self.sizes[id(node)], event)
            return node
        self._check_tag(event)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Refused(
                None, None, f"nested deeper than {MAX_DEPTH} levels; expected a config a few levels deep",
                event.start_mark,
            )  # fmt: skip
        before = self.values
        self._count(1, event)
        node = Composer.compose_node(self, parent, index)
        self.depth -= 1
        self.sizes[id(node)] = self.values - before
        return node

    def _count(self, values: int, event: NodeEvent) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise Refused(
                None, None,
                f"more than {MAX_VALUES} values (aliases counted as what they repeat); "
                "expected a config of a few thousand",
                event.start_mark,
            )  # fmt: skip

    def _check_tag(self, event: NodeEvent) -> None:
        allowed = _ALLOWED_TAGS[type(event)]
        if event.tag in (None, "!") or event.tag in allowed:  # `!` alone: the value read as written
            return
        raise Refused(
            None, None,
            f"tag {short_tag(event.tag)} is not allowed here; expected no tag or one of "
            + ", ".join(sorted(short_tag(t) for t in allowed)),
            event.start_mark,
        )  # fmt: skip
