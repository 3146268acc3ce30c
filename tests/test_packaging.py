"""Packaging: every package directory is listed, and the rules ship inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _listed_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(config["packages"])


def test_every_package_directory_is_listed() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("advisor", "runners")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found <= _listed_packages(), f"add to [tool.setuptools] packages: {sorted(found - _listed_packages())}"


def test_wheel_ships_the_rules(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("advisor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {Path(n).name for n in names if n.startswith("advisor/_rules/")}
    assert {p.name for p in (ROOT / "rules").glob("*.yaml")} <= shipped
    assert "advisor/py.typed" in names
