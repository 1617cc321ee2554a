"""Build the web app into the package while hatchling builds an sdist or a wheel from a checkout.

The built app (``src/tokenwire/static/app/``) is not in git; it is made here with
``scripts/build-web`` (npm), and both artifacts carry it. A wheel built from the sdist finds it
already there and needs no npm. An editable install skips the build: ``scripts/setup`` runs it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

APP = Path("src/tokenwire/static/app/index.html")


class WebAppBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        root = Path(self.root)
        # An unpacked sdist has a PKG-INFO at its root and the app built; a checkout has neither.
        from_sdist = (root / "PKG-INFO").is_file()
        if not from_sdist:
            self.app.display_info("building the web app (scripts/build-web)")
            subprocess.run(["bash", str(root / "scripts/build-web")], check=True)
        if not (root / APP).is_file():
            raise RuntimeError(
                f"{APP} is missing: the web app was not built, so the package would serve no app"
            )
