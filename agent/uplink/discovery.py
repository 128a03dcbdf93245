"""Home Assistant MQTT discovery (off by default, `mqtt.homeassistant.enabled`).

Per camera, a binary sensor for person presence and one for vehicle presence,
fed by retained `ON`/`OFF` on `{prefix}/{hub}/{camera}/presence/{kind}`; and
the hub's connectivity from its `availability` topic. Configs are retained and
republished whenever Home Assistant announces `online` on its status topic.
"""

from __future__ import annotations

import json

from agent import __version__
from agent.config import HubConfig
from agent.detect.labels import VEHICLE_LABELS
from agent.events import Event, ObjectEvent
from agent.uplink.topics import Topics

KINDS: dict[str, tuple[str, ...]] = {"person": ("person",), "vehicle": VEHICLE_LABELS}
_ICONS = {"person": "mdi:account", "vehicle": "mdi:motorbike"}


def kind_of(label: object) -> str | None:
    return next((kind for kind, labels in KINDS.items() if label in labels), None)


class Presence:
    """Which kinds of object each camera sees now, from the events as they are made."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[str, str]] = {}  # camera -> object id -> kind

    def update(self, event: Event) -> list[tuple[str, str, bool]]:
        """Apply one event; returns the (camera, kind, present) that changed.
        Only the presence events (new, update, end) say who is in view."""
        if not isinstance(event, ObjectEvent):
            return []
        camera = event.camera
        objects = self._objects.setdefault(camera, {})
        before = {kind: self.present(camera, kind) for kind in KINDS}
        kind = kind_of(event.label)
        if event.type == "end" or kind is None:
            objects.pop(event.obj, None)
        else:
            objects[event.obj] = kind
        return [(camera, k, now) for k in KINDS if (now := self.present(camera, k)) != before[k]]

    def present(self, camera: str, kind: str) -> bool:
        return kind in self._objects.get(camera, {}).values()


def presence_payload(present: bool) -> bytes:
    return b"ON" if present else b"OFF"


def status_topic(config: HubConfig) -> str:
    """Where Home Assistant says `online` after it starts."""
    return f"{config.mqtt.homeassistant.prefix}/status"


def discovery_messages(config: HubConfig, topics: Topics) -> list[tuple[str, bytes]]:
    """The retained config messages announcing this hub's entities."""
    hub = config.hub_id
    base = f"{config.mqtt.homeassistant.prefix}/binary_sensor/camhub_{hub}"
    device = {
        "identifiers": [f"camhub_{hub}"],
        "name": f"camhub {hub}",
        "manufacturer": "camhub",
        "model": "camhub-agent",
        "sw_version": __version__,
    }
    messages = [(f"{base}/availability/config", {
        "name": "connectivity",
        "unique_id": f"camhub_{hub}_availability",
        "state_topic": topics.availability,
        "payload_on": "online",
        "payload_off": "offline",
        "device_class": "connectivity",
        "entity_category": "diagnostic",
        "device": device,
    })]
    for camera in config.cameras:
        for kind in KINDS:
            messages.append((f"{base}/{camera.id}_{kind}/config", {
                "name": f"{camera.id} {kind}",
                "unique_id": f"camhub_{hub}_{camera.id}_{kind}",
                "state_topic": topics.presence(camera.id, kind),
                "availability_topic": topics.availability,
                "payload_available": "online",
                "payload_not_available": "offline",
                "device_class": "occupancy",
                "icon": _ICONS[kind],
                "device": device,
            }))
    return [(topic, json.dumps(body, separators=(",", ":")).encode()) for topic, body in messages]
