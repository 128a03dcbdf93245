"""Objects left behind, on clips built from real frames, through the real motion
gate, model and tracker.

How the clips are made (in memory, from the shared footage; nothing is stored):
- the scene is quiet.mp4: vtest.avi's empty campus (the per-pixel median of its
  frames) with sensor noise and a slow brightness drift, at 10 fps;
- people are cut from vtest.avi frames: the pixels of a vtest frame that differ
  from the empty scene, in a rectangle around one person (the largest blob
  there), pasted on the quiet frame of the same index. The walker is the woman
  in red crossing the road leftwards in vtest frames 486-525; she leaves the
  rectangle's cut-out at its left side as if behind a wall. The man who stands
  on his phone is vtest frames 380-470, his standing frames 410-445 played back
  and forth to make him stand for 15 s;
- the objects are real pictures: the back of the car in licenseplate_motion.jpg
  (boot lid, plate and tail lights) shrunk to 44x24 pixels, a box-sized thing;
  and the dark bag lying by the cones in the scene's car park, moved onto the
  road;
- light and shadow multiply the quiet frames: the whole picture, or a soft-edged
  patch shaped like a person's silhouette from vtest.avi.
Frames are stamped with their time in the clip (index / 10), so stillness is
counted in scene seconds whatever this machine's speed."""

from __future__ import annotations

import re
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from agent.config import CameraConfig, HubConfig, LeftBehindConfig
from agent.detect.detector import Detector
from agent.detect.geometry import iou
from agent.events import LeftEvent
from agent.evidence import EvidenceBudget, Picture
from agent.frame import Frame
from agent.pipeline import CameraPipeline, Output
from agent.rules.findings import LeftObject
from agent.rules.left_behind import LeftBehindWatch, WatchedZone
from agent.track.tracker import Track
from tests.shared import CAR_JPG, MODEL, QUIET, VTEST

FPS = 10.0
WIDTH, HEIGHT = 768, 576
WHOLE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
WALK = range(486, 526)  # vtest frames: the woman in red crossing the road leftwards, alone
WALK_CUT = (0.22, 0.30, 0.60, 0.56)  # where she is cut from (fractions of the picture)
WALK_START = 15  # clip frame she appears on
PLACED = WALK_START + 14  # clip frame the box appears on: she has just passed the spot (vtest frame 500)
BOX_AT = (342, 236)  # top left pixel of the box: right behind her heels
BOX_SIZE = (44, 24)
AFTER = 5.0  # seconds of stillness before `left`: short, so that the clips stay short
CLIP = 140  # frames: 14 s
QUIET_FRAMES = 300


def read_frames(path: str, indices: range) -> list[np.ndarray]:
    cap = cv2.VideoCapture(path)
    cap.set(cv2.CAP_PROP_POS_FRAMES, indices.start)
    frames = []
    for _ in indices:
        ok, image = cap.read()
        assert ok, f"could not read {path}"
        frames.append(image)
    cap.release()
    return frames


@pytest.fixture(scope="module")
def quiet() -> list[np.ndarray]:
    return read_frames(str(QUIET), range(QUIET_FRAMES))


@pytest.fixture(scope="module")
def empty_scene(quiet: list[np.ndarray]) -> np.ndarray:
    """quiet.mp4 without its noise: to tell a person's pixels in vtest.avi from the ground."""
    return np.mean(quiet[:10], axis=0).astype(np.float32)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(MODEL, runtime="litert")


@pytest.fixture(scope="module")
def box_picture() -> np.ndarray:
    car = cv2.imread(str(CAR_JPG))
    return cv2.resize(car[150:330, 130:470], BOX_SIZE, interpolation=cv2.INTER_AREA)


def person_pixels(frame: np.ndarray, empty: np.ndarray, cut: tuple[float, float, float, float]) -> np.ndarray:
    """The largest blob of pixels that differ from the empty scene inside CUT."""
    x0, y0, x1, y1 = int(cut[0] * WIDTH), int(cut[1] * HEIGHT), int(cut[2] * WIDTH), int(cut[3] * HEIGHT)
    differs = (np.abs(frame.astype(np.float32) - empty).max(axis=2) > 30).astype(np.uint8)
    inside = np.zeros_like(differs)
    inside[y0:y1, x0:x1] = differs[y0:y1, x0:x1]
    inside = cv2.morphologyEx(inside, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inside)
    assert count > 1, "nobody in the cut-out"
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return cv2.dilate((labels == biggest).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def paste_people(
    clip: list[np.ndarray], vtest: list[np.ndarray], start: int, empty: np.ndarray, cut: tuple[float, ...]
) -> None:
    for offset, source in enumerate(vtest):
        mask = person_pixels(source, empty, cut)  # type: ignore[arg-type]
        clip[start + offset][mask] = source[mask]


def paste_box(clip: list[np.ndarray], picture: np.ndarray, start: int, at: tuple[int, int] = BOX_AT) -> None:
    x, y = at
    height, width = picture.shape[:2]
    for image in clip[start:]:
        image[y : y + height, x : x + width] = picture


def box_norm(picture: np.ndarray, at: tuple[int, int] = BOX_AT) -> tuple[float, float, float, float]:
    x, y = at
    height, width = picture.shape[:2]
    return x / WIDTH, y / HEIGHT, (x + width) / WIDTH, (y + height) / HEIGHT


def relit(image: np.ndarray, factor: np.ndarray | float) -> np.ndarray:
    scale = factor[..., None] if isinstance(factor, np.ndarray) else factor
    return np.clip(image * scale, 0, 255).astype(np.uint8)


def walker_clip(quiet: list[np.ndarray], empty: np.ndarray) -> list[np.ndarray]:
    clip = [image.copy() for image in quiet[:CLIP]]
    paste_people(clip, read_frames(str(VTEST), WALK), WALK_START, empty, WALK_CUT)
    return clip


def watch(
    clip: list[np.ndarray], detector: Detector, after: float = AFTER, near: float = 1.0
) -> tuple[list[LeftObject], dict[int, str]]:
    """The clip through gate, model and tracker as the agent runs them, and the watch
    beside them: its findings, and every confirmed track (id -> label)."""
    config = HubConfig(hub_id="t", cameras=[CameraConfig(id="c", source="clip")])
    pipeline = CameraPipeline(config, config.cameras[0], detector)
    zone = WatchedZone("road", WHOLE, LeftBehindConfig(after=after, near=near))
    left = LeftBehindWatch([zone], threshold=config.cameras[0].motion.threshold)
    found: list[LeftObject] = []
    tracks: dict[int, str] = {}

    def confirmed() -> list[Track]:
        return [t for t in pipeline.tracker.active() if t.confirmed]

    for index, image in enumerate(clip):
        ts = index / FPS
        pipeline.process(Frame("c", index, ts, ts, image))
        tracks.update((t.id, t.label) for t in confirmed())
        assert pipeline.gate.motion.grey is not None
        found += left.update(pipeline.gate.motion.grey, ts, confirmed)
    return found, tracks


@pytest.mark.parametrize(("thing", "brighter_from"), [("box", None), ("box", PLACED + 20), ("bag", None)])
def test_a_thing_left_on_the_road_by_a_passer_by_is_found_once(
    quiet: list[np.ndarray],
    empty_scene: np.ndarray,
    detector: Detector,
    box_picture: np.ndarray,
    thing: str,
    brighter_from: int | None,
) -> None:
    """The box, or the dark bag lying by the cones in the car park of the same scene
    (a 32x24-pixel cut of it, with the ground around it) moved onto the road. Also when
    the whole picture turns 30 % brighter while the box waits (the sun comes out)."""
    picture = box_picture if thing == "box" else quiet[0][160:184, 398:430].copy()
    clip = walker_clip(quiet, empty_scene)
    paste_box(clip, picture, PLACED)
    if brighter_from is not None:
        clip[brighter_from:] = [relit(image, 1.3) for image in clip[brighter_from:]]
    found, tracks = watch(clip, detector)
    assert len(found) == 1, found
    left = found[0]
    people = [i for i, label in tracks.items() if label == "person"]
    assert len(people) == 1, tracks
    assert (left.zone, left.nearest_id, left.nearest_label) == ("road", people[0], "person")
    assert iou(left.box, box_norm(picture)) > 0.5, left.box  # within a pixel of the small grey frame
    assert abs(left.appeared - PLACED / FPS) <= 0.5
    # Still for AFTER seconds once it is out of her box, and the short-term background took ~2 s.
    assert PLACED / FPS + AFTER <= left.ts <= PLACED / FPS + AFTER + 4.0


def test_a_box_that_appears_far_from_anyone_is_not_left(
    quiet: list[np.ndarray], empty_scene: np.ndarray, detector: Detector, box_picture: np.ndarray
) -> None:
    clip = walker_clip(quiet, empty_scene)
    far = (600, 470)  # on the grass, about 4 of her heights away when it appears
    paste_box(clip, box_picture, PLACED, far)
    found, _ = watch(clip, detector)
    assert found == []
    # The same box is found when "near" reaches that far: only the distance kept it quiet.
    found, _ = watch(clip, detector, near=5.0)
    assert [iou(f.box, box_norm(box_picture, far)) > 0.5 for f in found] == [True]


def test_a_box_taken_away_is_not_left(
    quiet: list[np.ndarray], empty_scene: np.ndarray, detector: Detector, box_picture: np.ndarray
) -> None:
    """The box stands on the road from the start and is gone once she has passed: the
    bare road where it stood is new to the background, but nothing was left there."""
    clip = walker_clip(quiet, empty_scene)
    for image in clip[:PLACED]:
        x, y = BOX_AT
        image[y : y + BOX_SIZE[1], x : x + BOX_SIZE[0]] = box_picture
    found, _ = watch(clip, detector)
    assert found == []


def test_a_car_that_parks_is_not_left(quiet: list[np.ndarray], detector: Detector) -> None:
    """The car of licenseplate_motion.jpg, shrunk to 130x104 pixels, drives onto the
    road from the right edge in 3 s and parks there for 11 s."""
    car = cv2.resize(cv2.imread(str(CAR_JPG))[20:440], (130, 104), interpolation=cv2.INTER_AREA)
    clip = [image.copy() for image in quiet[:CLIP]]
    for index, image in enumerate(clip[10:], start=10):
        x = max(WIDTH - (index - 10) * 10, 470)
        image[300:404, x : x + 130] = car[:, : WIDTH - x]
    found, tracks = watch(clip, detector)
    assert list(tracks.values()).count("car") == 2  # the one parked from the start, and this one
    assert found == []


STAND = [*range(380, 446), *range(444, 410, -1), *range(411, 446), *range(444, 410, -1), *range(411, 471)]
STAND_CUT = (0.28, 0.30, 0.58, 0.56)


def test_a_person_standing_still_is_not_left(
    quiet: list[np.ndarray], empty_scene: np.ndarray, detector: Detector
) -> None:
    """He walks in, stands on his phone for ~15 s (3 times `after`) and walks away."""
    vtest = read_frames(str(VTEST), range(380, 471))
    people = [vtest[i - 380] for i in STAND]
    clip = [image.copy() for image in quiet[: len(people) + 40]]
    paste_people(clip, people, 5, empty_scene, STAND_CUT)
    found, tracks = watch(clip, detector, after=3.0)
    assert "person" in tracks.values()
    assert found == []


def shadow_patch() -> np.ndarray:
    """A soft-edged shadow, as of a wall or a tree out of the picture, reaching onto the
    road where she has just walked."""
    patch = np.zeros((HEIGHT, WIDTH), np.float32)
    corners = np.array([[330, 215], [420, 205], [445, 262], [350, 275]], np.int32)
    cv2.fillPoly(patch, [corners], 1.0)
    return cv2.GaussianBlur(patch, (9, 9), 0)


def lamp_patch() -> np.ndarray:
    patch = np.zeros((HEIGHT, WIDTH), np.float32)
    cv2.ellipse(patch, (400, 270), (70, 30), 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(patch, (31, 31), 0)


LIGHTS: dict[str, tuple[Callable[[np.ndarray], np.ndarray | float], int]] = {
    # name: (the brightness factor once changed, given the empty scene; frames the change takes)
    # The whole picture 30 % brighter from the moment she passes (a cloud moves away).
    "brighter": (lambda empty: 1.3, 1),
    # The whole picture fading to 60 % over 8 s (dusk, fast).
    "dusk": (lambda empty: 0.6, 80),
    # A shadow falls where she passed, half as bright, and stays.
    "shadow": (lambda empty: 1.0 - 0.5 * shadow_patch(), 1),
    # A lamp lights an oval of the road, 40 % brighter, and stays on.
    "lamp": (lambda empty: 1.0 + 0.4 * lamp_patch(), 1),
}


@pytest.mark.parametrize("light", LIGHTS)
def test_light_and_shadow_are_not_left(
    quiet: list[np.ndarray], empty_scene: np.ndarray, detector: Detector, light: str
) -> None:
    change, frames = LIGHTS[light]
    full = change(empty_scene)
    clip = walker_clip(quiet, empty_scene)
    for index in range(PLACED, len(clip)):
        clip[index] = relit(clip[index], 1.0 + (full - 1.0) * min((index - PLACED + 1) / frames, 1.0))
    found, _ = watch(clip, detector)
    assert found == []


def test_config_shorthands_and_mistakes() -> None:
    assert LeftBehindConfig.model_validate(20).after == 20.0
    assert LeftBehindConfig.model_validate(True) == LeftBehindConfig()
    assert LeftBehindConfig.model_validate({"after": 60, "near": 2}).near == 2.0
    for wrong, message in [
        ({"after": 0}, "greater than 0"),
        ({"min_size": 0.2, "max_size": 0.1}, "min_size (0.2) must not exceed max_size (0.1)"),
        ({"afetr": 10}, "Extra inputs are not permitted"),
        (False, "valid dictionary"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            LeftBehindConfig.model_validate(wrong)


def wired(
    clip: list[np.ndarray], detector: Detector, every_frame: bool = False, masks: list | None = None
) -> list[Output]:
    """The clip through the pipeline as `run` and `replay` build it from the config: a zone
    with `left_behind` over the whole picture, evidence pictures under a budget."""
    zone = {"points": WHOLE, "left_behind": {"after": AFTER, "near": 1.0}}
    camera = CameraConfig(id="c", source="clip", zones={"road": zone}, masks=masks or [])
    config = HubConfig(hub_id="t", cameras=[camera])
    pipeline = CameraPipeline(config, camera, detector, every_frame=every_frame, budget=EvidenceBudget(10**6))
    out: list[Output] = []
    for index, image in enumerate(clip):
        ts = index / FPS
        out += pipeline.process(Frame("c", index, ts, 1_700_000_000.0 + ts, image))
    return out + pipeline.finish()


@pytest.mark.parametrize("every_frame", [False, True], ids=["gated", "every-frame"])
def test_the_pipeline_raises_one_left_event_with_its_picture(
    quiet: list[np.ndarray],
    empty_scene: np.ndarray,
    detector: Detector,
    box_picture: np.ndarray,
    every_frame: bool,
) -> None:
    """The box clip, also with the motion gate off (`--every-frame`): the watch then gets
    its small grey frame all the same."""
    clip = walker_clip(quiet, empty_scene)
    paste_box(clip, box_picture, PLACED)
    out = wired(clip, detector, every_frame)
    left = [o for o in out if isinstance(o, LeftEvent)]
    assert len(left) == 1, out
    assert left[0].evidence and left[0].label == "person" and iou(left[0].box, box_norm(box_picture)) > 0.5
    pictures = [o for o in out if isinstance(o, Picture)]
    assert [p.event_id for p in pictures] == [left[0].id]
    assert out.index(pictures[0]) == out.index(left[0]) + 1, "the picture follows its event"
    image = cv2.imdecode(np.frombuffer(pictures[0].jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and len(pictures[0].jpeg) <= 8 * 1024


def test_a_thing_left_under_a_mask_is_not_reported(
    quiet: list[np.ndarray], empty_scene: np.ndarray, detector: Detector, box_picture: np.ndarray
) -> None:
    clip = walker_clip(quiet, empty_scene)
    paste_box(clip, box_picture, PLACED)
    x1, y1, x2, y2 = box_norm(box_picture)
    mask = [[x1 - 0.02, y1 - 0.02], [x2 + 0.02, y1 - 0.02], [x2 + 0.02, y2 + 0.02], [x1 - 0.02, y2 + 0.02]]
    out = wired(clip, detector, masks=[mask])
    assert [o for o in out if isinstance(o, LeftEvent | Picture)] == []
