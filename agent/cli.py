"""The `camhub-agent` command line. Each subcommand parses its arguments and
hands over to the module that does the work."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from agent import __version__, secrets
from agent.configfile import load_config
from agent.detect.catalog import CATALOG, DEFAULT_MODEL
from agent.errors import EX_CONFIG, ConfigError, ModelError, StartupError

log = logging.getLogger("agent")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command != "run":
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        for handler in logging.getLogger().handlers:
            handler.addFilter(secrets.MaskingFilter())
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    except StartupError as exc:
        print(f"camhub-agent: {secrets.mask(str(exc))}", file=sys.stderr)
        return EX_CONFIG
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="camhub-agent", description="Person and vehicle detection for camera hubs.")
    parser.add_argument("--version", action="version", version=f"camhub-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run the agent (the systemd service)")
    p.add_argument("--config", type=Path, required=True, help="the hub's YAML file")
    p.set_defaults(handler=_run)

    p = sub.add_parser("check-config", help="validate a config file and print it with secrets masked")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=_check_config)

    p = sub.add_parser("detect", help="detect objects on still images")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON object per detection and line")
    p.add_argument("--annotate", type=Path, metavar="OUT.jpg", help="write the (first) image with boxes drawn")
    p.add_argument("--config", type=Path, help="use this config's detector settings")
    p.add_argument("--all-labels", action="store_true", help="show every COCO label, not only people and vehicles")
    p.set_defaults(handler=_detect)

    p = sub.add_parser("replay", help="run the whole pipeline (all but the network) over a recorded video")
    p.add_argument("video", type=Path, metavar="VIDEO")
    p.add_argument("--config", type=Path, help="the hub's YAML file (default: built-in defaults)")
    p.add_argument("--camera", help="which camera's zones, masks and motion settings to use (default: the first)")
    p.add_argument("--events-out", type=Path, metavar="FILE.jsonl", help="write events here (default: stdout)")
    p.add_argument("--annotate", type=Path, metavar="OUT.mp4", help="write the video with detections and tracks drawn")
    p.add_argument("--every-frame", action="store_true", help="run the detector on every frame (no motion gate)")
    p.add_argument("--evidence-dir", type=Path, metavar="DIR", help="write the evidence pictures here as ID.jpg")
    p.set_defaults(handler=_replay)

    p = sub.add_parser("model", help="the detection models: list the catalog, install one")
    model_sub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    m = model_sub.add_parser("list", help="the catalog's models, which one is the default, which are installed")
    m.set_defaults(handler=_model_list)
    m = model_sub.add_parser("fetch", help="download a catalog model, verify its sha256, install it atomically")
    m.add_argument("name", nargs="?", default=DEFAULT_MODEL, choices=list(CATALOG), metavar="NAME",
                   help=f"a catalog name (default: {DEFAULT_MODEL}); see `model list`")  # fmt: skip
    src = m.add_mutually_exclusive_group()
    src.add_argument("--url", help="download from this address (a mirror) instead of the catalog's")
    src.add_argument("--file", type=Path, help="install a local copy (e.g. from a USB stick)")
    m.set_defaults(handler=_model_fetch)
    return parser


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file, startup_checks=True)
    effective = secrets.mask_data(config.model_dump(mode="json"))  # camera URLs carry passwords too
    print(yaml.safe_dump(effective, sort_keys=False, allow_unicode=True), end="")
    print(f"# {args.file}: OK", file=sys.stderr)
    return 0


def _detect(args: argparse.Namespace) -> int:
    from agent.detect.stills import detect_images

    config = load_config(args.config) if args.config else None
    return detect_images(args.images, config, as_json=args.json, annotate=args.annotate, all_labels=args.all_labels)


def _replay(args: argparse.Namespace) -> int:
    from agent.capture.base import SourceError
    from agent.replay import ReplayError, replay

    config = load_config(args.config) if args.config else None
    try:
        return replay(
            args.video,
            config,
            camera_id=args.camera,
            events_out=args.events_out,
            annotate=args.annotate,
            every_frame=args.every_frame,
            evidence_dir=args.evidence_dir,
        )
    except (ReplayError, SourceError, OSError) as exc:
        print(f"camhub-agent: {exc}", file=sys.stderr)
        return 1


def _model_list(args: argparse.Namespace) -> int:
    from agent.detect.model import installed_path

    print(f"  {'name':<30} {'decoder':<7} {'input':<32} {'boxes':>5}  {'licence':<10}  installed")
    for name, entry in CATALOG.items():
        spec, path = entry.spec, installed_path(name)
        mark = "*" if name == DEFAULT_MODEL else " "
        print(f"{mark} {name:<30} {spec.decoder:<7} {spec.input.describe():<32} {spec.max_boxes or 'any':>5}  "
              f"{entry.licence:<10}  {path if path.is_file() else 'no'}")  # fmt: skip
    print("* the default: used when detector.model and $CAMHUB_MODEL are unset")
    return 0


def _model_fetch(args: argparse.Namespace) -> int:
    from agent.detect.model import fetch_model

    entry = CATALOG[args.name]
    try:
        dest = fetch_model(entry, url=args.url, file=args.file)
    except (ModelError, OSError) as exc:
        print(f"camhub-agent: model fetch failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"model": entry.name, "installed": str(dest), "sha256": entry.sha256}))
    return 0


def _run(args: argparse.Namespace) -> int:
    from agent.daemon import run

    return run(args.config)
