"""scripts/install.sh into a staging root on this machine: install, upgrade, uninstall, purge.

The venv is real (Debian's /usr/bin/python3, as on Raspberry Pi OS Bookworm) and the package is really built and
installed by pip from a copy of the checkout. Only the dependencies are not downloaded: pip runs offline with
--no-deps, and between the first and second run the venv is pointed at this interpreter's site-packages, which
stands in for what pip would have fetched.
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from tests.shared import MODELS, REPO

PYTHON = Path("/usr/bin/python3")
OFFLINE_PIP = "--no-deps --no-build-isolation --no-index"

pytestmark = pytest.mark.skipif(not PYTHON.exists(), reason="needs the distribution's python3, as on the Pi")


def _install(source: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(source / "scripts" / "install.sh"), "--root", str(root), "--no-apt", "--python", str(PYTHON),
         "--pip-args", OFFLINE_PIP, *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _tree(root: Path) -> set[str]:
    """Everything installed, except the venv's own contents."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if "venv/" not in str(p.relative_to(root))}


def test_install_upgrade_uninstall_purge(tmp_path: Path) -> None:
    # A copy, so that pip's in-tree build leaves nothing in the real checkout.
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "*.egg-info", "build", "tests", "benchmarks", ".*_cache"))  # fmt: skip
    root = tmp_path / "root"
    venv = root / "opt/camhub-agent/venv"
    config = root / "etc/camhub/config.yaml"
    unit = root / "etc/systemd/system/camhub-agent.service"
    enabled = root / "etc/systemd/system/multi-user.target.wants/camhub-agent.service"

    first = _install(source, root, "--no-model")
    assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()
    assert (venv / "bin/camhub-agent").exists()
    assert filecmp.cmp(config, REPO / "config/example.yaml", shallow=False)
    assert filecmp.cmp(unit, REPO / "systemd/camhub-agent.service", shallow=False)
    assert enabled.is_symlink() and str(enabled.readlink()) == "/etc/systemd/system/camhub-agent.service"
    assert "would run: useradd --system --user-group --groups video" in first.stdout
    installed = _tree(root)

    site = next((venv / "lib").glob("python3.*/site-packages"))
    (site / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    config.write_text(config.read_text() + "# edited on the hub\n")

    second = _install(source, root, "--model", "yolox_nano", "--model-file", str(MODELS["yolox_nano"]))
    assert config.read_text().endswith("# edited on the hub\n")
    assert "keeping existing" in second.stdout
    model = root / "var/lib/camhub-agent/models/yolox_nano.tflite"
    assert filecmp.cmp(model, MODELS["yolox_nano"], shallow=False)
    assert _tree(root) - installed == {"var", "var/lib", "var/lib/camhub-agent", "var/lib/camhub-agent/models",
                                       str(model.relative_to(root))}  # fmt: skip
    assert "Successfully installed camhub-agent" in second.stdout  # an upgrade reinstalls the package

    _install(source, root, "--uninstall")
    assert not (root / "opt/camhub-agent").exists()
    assert not unit.exists() and not enabled.is_symlink()
    assert config.read_text().endswith("# edited on the hub\n")
    assert model.exists()  # the spool and models stay with the config

    _install(source, root, "--uninstall", "--purge")
    assert not (root / "etc/camhub").exists()
    assert not (root / "var/lib/camhub-agent").exists()


def test_unknown_option_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(REPO / "scripts/install.sh"), "--root", str(tmp_path), "--frobnicate"],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 2 and "unknown option --frobnicate" in result.stderr
    assert list(tmp_path.iterdir()) == []
