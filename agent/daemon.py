"""`camhub-agent run`: the long-lived service.

Capture threads (one per camera) keep only their latest frame; this module's
main loop is the single consumer: it takes frames fairly from every camera,
runs them through each camera's pipeline on the one shared detector, and
hands events, counts and pictures to the uplink, which spools them before
publishing. One picture budget serves every camera, and outlives reloads. Commands
from MQTT are queued and executed here too, so pipeline state has exactly one
writer."""

from __future__ import annotations

import faulthandler
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from agent.annotate import draw_setup
from agent.capture.worker import CameraWorker
from agent.config import CameraConfig, HubConfig
from agent.configfile import load_config
from agent.detect.detector import Detector
from agent.errors import EX_CONFIG, ConfigError, StartupError
from agent.events import Counts, Event
from agent.evidence import EvidenceBudget, Picture
from agent.frame import Frame
from agent.health import Health
from agent.logs import setup_logging
from agent.pipeline import CameraPipeline, Output
from agent.scheduler import FairScheduler
from agent.snapshot import snapshot_jpeg
from agent.systemd import Notifier, ProgressWatchdog
from agent.uplink.commands import CommandError, CommandHandlers, Handler, NoArgs
from agent.uplink.mqtt import Uplink
from agent.uplink.spool import Spool

log = logging.getLogger(__name__)
START_TIMEOUT = 30.0  # seconds to wait for every camera's first frame before READY=1 anyway
COMMAND_TIMEOUT = 10.0
CAMERA_STOP_TIMEOUT = 5.0  # a capture thread still blocked in a read after this ends by itself
# After a reload that changed something, the next one waits this long: a burst of reloads (a script,
# an editor saving repeatedly) then restarts cameras at most once a second, each request answered
# by the reload that covered it.
RELOAD_INTERVAL = 1.0


def run(config_path: Path) -> int:
    try:
        config = load_config(config_path, startup_checks=True)  # the same checks as check-config
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    setup_logging(config.log.level, config.log.format)
    faulthandler.enable()  # a watchdog SIGABRT then leaves every thread's stack in the journal
    try:
        agent = Agent(config_path, config)
    except StartupError as exc:  # what changed between the checks and now (a file removed, a disk gone)
        log.error("%s", exc)
        return EX_CONFIG
    return agent.run()


class CameraArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    camera: str


class SetArgs(CameraArgs):
    detect: bool


class SnapshotArgs(CameraArgs):
    draw: bool = False  # zones, counting lines and masks drawn on: for setting a camera up from a phone


class Agent:
    def __init__(self, config_path: Path, config: HubConfig) -> None:
        self.config_path = config_path
        self.config = config
        self.notifier = Notifier()
        self.watchdog = ProgressWatchdog(self.notifier)
        self.detector = Detector.from_config(config.detector)
        self.spool = Spool.from_config(config.spool)
        self.pictures = Spool.for_pictures(config.spool, config.evidence.spool_mb)
        self.budget = EvidenceBudget(int(config.evidence.daily_mb * 1024 * 1024), config.timezone)
        self.commands = CommandHandlers()
        self.commands.register("snapshot", self._in_main_loop(self._cmd_snapshot), SnapshotArgs)
        self.commands.register("set", self._in_main_loop(self._cmd_set), SetArgs)
        self.commands.register("reload", self._cmd_reload, NoArgs)
        self.uplink = Uplink(config, self.spool, self.commands, self.pictures)
        self.health = Health(config, config_path, self.detector, self.spool, self.uplink, self.pictures, self.budget)
        self.workers: dict[str, CameraWorker] = {}
        self.pipelines: dict[str, CameraPipeline] = {}
        self.scheduler = FairScheduler()
        # Set by signal handlers: plain flags, because a handler that took a lock the
        # interrupted main loop holds (an Event's) would deadlock it.
        self._stop_requested = False
        self._reload_requested = False
        self._reload_lock = threading.Lock()
        self._reload_waiters: list[Future[dict[str, Any]]] = []  # reload commands the next reload answers
        self._next_reload = 0.0  # monotonic time before which no reload is applied
        self._wake = threading.Event()  # set by capture threads on each new frame
        self._tasks: queue.Queue[tuple[Any, dict[str, Any], Future[dict[str, Any]]]] = queue.Queue()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGHUP, self._request_reload)
        self.uplink.start()
        self._start_cameras(c for c in self.config.cameras if c.enabled)
        log.info("hub %s: %d camera(s) started", self.config.hub_id, len(self.workers))
        self.watchdog.start()
        try:
            self._main_loop()
        finally:
            self._shutdown()
        return 0

    def _request_stop(self, *_: object) -> None:
        self._stop_requested = True  # seen within one wait of the main loop (at most 0.1 s)

    def _request_reload(self, *_: object) -> None:
        self._reload_requested = True

    def _start_cameras(self, cameras: Iterable[CameraConfig]) -> None:
        for camera in cameras:
            worker = CameraWorker(camera, on_state=self._camera_state, on_frame=self._wake.set)
            self.workers[camera.id] = worker
            self.pipelines[camera.id] = CameraPipeline(self.config, camera, self.detector, budget=self.budget)
            self.scheduler.add(camera.id, worker, camera.fps)
            worker.start()

    def _stop_cameras(self, camera_ids: Iterable[str]) -> None:
        # One shared deadline: cameras hung in a read must not add up past systemd's stop timeout.
        deadline = time.monotonic() + CAMERA_STOP_TIMEOUT
        for camera_id in list(camera_ids):
            self.workers.pop(camera_id).stop(max(0.0, deadline - time.monotonic()))
            self._send(self.pipelines.pop(camera_id).finish())
            self.scheduler.remove(camera_id)

    def _main_loop(self) -> None:
        started = time.monotonic()
        ready = False
        while not self._stop_requested:
            self.watchdog.progress()
            self._run_tasks()
            if self._reload_requested and time.monotonic() >= self._next_reload:
                self._reload_requested = False
                self._reload()
            self._wake.clear()  # before looking: a frame that lands after the look sets it again
            frame = self.scheduler.next_frame()
            if frame is not None:
                self._process(frame)
            else:
                self._wake.wait(self.scheduler.idle_for())
            if not ready and (self._all_cameras_seen() or time.monotonic() - started > START_TIMEOUT):
                ready = True
                self.notifier.ready(self.health.summary_line(self.workers))
            if self.health.tick(self.workers, self.pipelines):
                self.notifier.status(self.health.summary_line(self.workers))
            if self.workers and all(w.state()["state"] == "ended" for w in self.workers.values()):
                log.info("every camera source has ended; stopping")
                break

    def _process(self, frame: Frame) -> None:
        try:
            outputs = self.pipelines[frame.camera].process(frame)
        except Exception:  # one bad frame (a corrupt stream, a model error) must not stop the hub
            log.exception("camera %s: frame %d could not be processed", frame.camera, frame.seq)
            return
        self._send(outputs)

    def _all_cameras_seen(self) -> bool:
        return all(w.latest(-1) is not None for w in self.workers.values())

    def _send(self, outputs: list[Output]) -> None:
        for item in outputs:
            if isinstance(item, Event):
                self.uplink.send_event(item)
            elif isinstance(item, Counts):
                self.uplink.send_counts(item)
            elif isinstance(item, Picture):
                self.uplink.send_picture(item)

    def _camera_state(self, camera_id: str, state: dict[str, Any]) -> None:
        # Called from capture threads: only flag it; the main loop publishes.
        self.health.camera_changed(camera_id, state)

    def _shutdown(self) -> None:
        self.notifier.stopping("stopping: closing open events and flushing the spool")
        self.watchdog.stop()
        self._stop_cameras(self.workers)
        with self._reload_lock:
            for waiter in self._reload_waiters:
                waiter.set_exception(CommandError("the agent is stopping; nothing was reloaded"))
            self._reload_waiters.clear()
        self.uplink.stop()
        self.spool.close()
        self.pictures.close()
        log.info("stopped")

    # Commands arrive on the MQTT thread; they run here, between two frames.

    def _in_main_loop(self, handler: Handler) -> Handler:
        def call(args: dict[str, Any]) -> dict[str, Any]:
            future: Future[dict[str, Any]] = Future()
            self._tasks.put((handler, args, future))
            self._wake.set()
            try:
                return future.result(timeout=COMMAND_TIMEOUT)
            except TimeoutError:
                if future.cancel():  # not started: it will not run later either
                    raise CommandError("the agent is busy; nothing was done, try again") from None
                return future.result()  # started just now: its own answer, soon

        return call

    def _run_tasks(self) -> None:
        while True:
            try:
                handler, args, future = self._tasks.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue  # the requester gave up waiting
            try:
                future.set_result(handler(args))
            except Exception as exc:  # a command must never take the agent down
                future.set_exception(exc)

    def _camera_arg(self, args: dict[str, Any]) -> str:
        camera = args["camera"]
        if camera not in self.pipelines:
            raise CommandError(f"unknown camera {camera!r}; expected one of: {', '.join(self.pipelines)}")
        return camera

    def _cmd_snapshot(self, args: dict[str, Any]) -> dict[str, Any]:
        camera = self._camera_arg(args)
        image = self.workers[camera].snapshot()
        if image is None:
            raise CommandError(f"camera {camera} has no frame yet")
        if args.get("draw"):
            image = image.copy()
            draw_setup(image, self.config.camera(camera))
        jpeg = snapshot_jpeg(image, self.config.camera(camera).masks)
        self.uplink.publish_snapshot(camera, jpeg)
        return {"camera": camera, "bytes": len(jpeg)}

    def _cmd_set(self, args: dict[str, Any]) -> dict[str, Any]:
        camera = self._camera_arg(args)
        detect = args["detect"]
        pipeline = self.pipelines[camera]
        if pipeline.enabled and not detect:
            self._send(pipeline.finish())
        pipeline.enabled = detect
        self.health.camera_changed(camera, self.workers[camera].state())
        return {"camera": camera, "detect": detect}

    def _cmd_reload(self, _args: dict[str, Any]) -> dict[str, Any]:
        """Runs on the command thread: asks the main loop for a reload and waits for the one that covers it."""
        future: Future[dict[str, Any]] = Future()
        with self._reload_lock:
            self._reload_waiters.append(future)
        self._reload_requested = True
        self._wake.set()
        try:
            return future.result(timeout=COMMAND_TIMEOUT)
        except TimeoutError:
            raise CommandError("the agent is busy; the reload is still to come (see config_hash in status)") from None

    def _reload(self) -> None:
        """One reload for every request waiting (SIGHUP, commands): each gets its result."""
        with self._reload_lock:
            waiters, self._reload_waiters = self._reload_waiters, []
        self.notifier.reloading()
        try:
            result = self._load_and_apply()
        except CommandError as exc:
            log.error("%s", exc)
            for waiter in waiters:
                waiter.set_exception(exc)
        else:
            for waiter in waiters:
                waiter.set_result(result)
        self.notifier.ready(self.health.summary_line(self.workers))

    def _load_and_apply(self) -> dict[str, Any]:
        try:
            # The start-up checks too: a config accepted now must not stop the hub at its next restart.
            new = load_config(self.config_path, startup_checks=True)
            detector = Detector.from_config(new.detector) if new.detector != self.config.detector else self.detector
        except ConfigError as exc:
            raise CommandError("config refused, still running the previous one: " + "; ".join(exc.lines())) from None
        except StartupError as exc:
            raise CommandError(f"model refused, still running the previous config: {exc}") from None
        if (new.hub_id, new.mqtt, new.spool) != (self.config.hub_id, self.config.mqtt, self.config.spool):
            log.warning("hub_id, mqtt and spool changes take effect at the next restart")
            new = new.model_copy(update={"hub_id": self.config.hub_id})
        if new.evidence.spool_mb != self.config.evidence.spool_mb:
            log.warning("evidence.spool_mb takes effect at the next restart")
        restarted = self._replace_config(new, detector) if new != self.config else []
        self.health.reconfigure(self.config, self.detector, restarted)
        return {"config_hash": self.health.config_hash, "restarted": restarted}

    def _replace_config(self, new: HubConfig, detector: Detector) -> list[str]:
        """Switch to NEW, restarting only the cameras it changes; their ids."""
        if new.log != self.config.log:
            setup_logging(new.log.level, new.log.format)
        wanted = {c.id: c for c in new.cameras if c.enabled}
        # The hub-wide settings a pipeline is built from: a change there restarts every camera.
        shared = (new.detector, new.tracker, new.evidence, new.timezone) != (
            self.config.detector, self.config.tracker, self.config.evidence, self.config.timezone
        )  # fmt: skip
        # The day's spending is kept: a reload must not grant a second day's pictures.
        self.budget.daily_bytes = int(new.evidence.daily_mb * 1024 * 1024)
        stop = [cid for cid, w in self.workers.items() if shared or wanted.get(cid) != w.camera]
        self._stop_cameras(stop)
        self.detector = detector
        self.config = new
        start = [c for cid, c in wanted.items() if cid not in self.workers]
        self._start_cameras(start)
        self._next_reload = time.monotonic() + RELOAD_INTERVAL
        restarted = sorted({*stop, *(c.id for c in start)})
        log.info("configuration reloaded from %s; cameras restarted: %s", self.config_path,
                 ", ".join(restarted) or "none")
        return restarted
