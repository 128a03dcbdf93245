"""The MQTT topic contract: every topic the hub publishes or listens on, in one place.

Root `{prefix}/{hub}`; see README "MQTT topics" for the payloads.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.config import HubConfig


@dataclass(frozen=True)
class Topics:
    prefix: str
    hub: str

    @classmethod
    def from_config(cls, config: HubConfig) -> Topics:
        return cls(config.mqtt.topic_prefix, config.hub_id)

    @property
    def root(self) -> str:
        return f"{self.prefix}/{self.hub}"

    @property
    def availability(self) -> str:
        """Retained `online` / `offline` (the Last Will)."""
        return f"{self.root}/availability"

    @property
    def status(self) -> str:
        return f"{self.root}/status"

    @property
    def stats(self) -> str:
        return f"{self.root}/stats"

    @property
    def commands(self) -> str:
        """Subscription filter for incoming commands; `+` keeps results (one level deeper) out."""
        return f"{self.root}/cmd/+"

    def events(self, camera: str) -> str:
        return f"{self.root}/{camera}/events"

    def counts(self, camera: str) -> str:
        """Retained: the camera's latest line counts."""
        return f"{self.root}/{camera}/counts"

    def is_counts(self, topic: str) -> bool:
        """TOPIC is a camera's counts topic."""
        head = f"{self.root}/"
        return topic.startswith(head) and topic[len(head) :].count("/") == 1 and topic.endswith("/counts")

    def evidence(self, camera: str, event_id: str) -> str:
        """The picture of the event EVENT_ID (one whose `evidence` is true)."""
        return f"{self.root}/{camera}/evidence/{event_id}"

    def snapshot(self, camera: str) -> str:
        return f"{self.root}/{camera}/snapshot"

    def presence(self, camera: str, kind: str) -> str:
        """Retained `ON` / `OFF` per camera and kind (person, vehicle), for Home Assistant."""
        return f"{self.root}/{camera}/presence/{kind}"

    def result(self, command: str) -> str:
        return f"{self.root}/cmd/{command}/result"

    def command_name(self, topic: str) -> str | None:
        """The command named by TOPIC, or None when TOPIC is not a command topic."""
        head = f"{self.root}/cmd/"
        if not topic.startswith(head):
            return None
        name = topic[len(head):]
        return name if name and "/" not in name else None
