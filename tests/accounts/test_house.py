"""The house keeps its shape: each app imports only the apps below it (pyproject.toml's
import-linter contracts), checked on every test run, and a wrong import makes the check fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = [
    "accounts",
    "vendors",
    "contacts",
    "calls",
    "campaigns",
    "quality",
    "analytics",
    "dashboard",
    "simulators",
]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # import-linter reads the packages found from the working directory first.
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_keeps_every_floor_pointing_down():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        ("contacts/wrong_way.py", "import campaigns.models", "Floors point one way"),
        ("accounts/wrong_way.py", "from dashboard import selectors", "Floors point one way"),
        ("simulators/wrong_way.py", "import vendors.models", "The vendor sandbox imports"),
        # A copy of services.py that imports the tasks, as the calls circle used to.
        ("calls/services.py", "import calls.tasks", "Inside calls/, tasks import services"),
    ],
)
def test_it_fails_on_an_import_that_crosses_the_house_the_wrong_way(
    tmp_path, module, wrong_import, contract
):
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / module).write_text(f"{wrong_import}\n")

    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{contract}" in result.stdout
    assert "BROKEN" in result.stdout
