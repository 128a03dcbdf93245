"""A real RTSP server for tests: serves an H.264 mp4 in a loop on a loopback port.

Run with Debian's /usr/bin/python3: the GStreamer RTSP server's GI bindings are a
system package, not in the venv. Prints "ready" once it listens; each client gets its
own pipeline from the start of the file.

    /usr/bin/python3 tests/rtsp_server.py CLIP.mp4 PORT [--mount /stream]
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402  (after require_version, as GI needs)


def _rewind(element: Gst.Element) -> bool:
    element.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH, 0)
    return False  # a one-shot idle callback


def _loop_at_eos(pad: Gst.Pad, info: Gst.PadProbeInfo, element: Gst.Element) -> Gst.PadProbeReturn:
    # The media owns its pipeline's bus, so the usual segment-done loop is out of reach: swallow the
    # end of stream before the payloader sees it, and seek back from the main loop (not this streaming thread).
    if info.get_event().type == Gst.EventType.EOS:
        GLib.idle_add(_rewind, element)
        return Gst.PadProbeReturn.DROP
    return Gst.PadProbeReturn.OK


def _configure(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
    element = media.get_element()
    pad = element.get_by_name("pay0").get_static_pad("sink")
    pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, _loop_at_eos, element)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clip", help="an mp4 file with an H.264 video track")
    parser.add_argument("port", type=int)
    parser.add_argument("--mount", default="/stream")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{args.clip}" ! qtdemux ! h264parse '
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"  # SPS/PPS every second: late joiners can decode
    )
    factory.connect("media-configure", _configure)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
