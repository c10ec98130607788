"""Install the console's and the API docs' front-end packages from the npm registry
(run by `make setup`).

Nothing is ever loaded from a CDN: ECharts (console charts), @wecom/jssdk (the chat
sidebar's JS-SDK) and swagger-ui-dist (the
interactive API docs at /api/docs) are fetched once at set-up with `npm pack`, each
file checked against a pinned SHA-256 and copied to siyu/web/static/vendor/
(git-ignored). Without them the console still works and says charts are unavailable,
and /api/docs says how to install the docs (the spec stays at /api/openapi.json).

Usage: python scripts/fetch_assets.py [--force]
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "siyu" / "web" / "static" / "vendor"

# npm spec → [(file inside the package tarball, path in vendor/, sha256 of that file)]
ASSETS: dict[str, list[tuple[str, str, str]]] = {
    "echarts@6.1.0": [
        (
            "package/dist/echarts.min.js",
            "echarts.min.js",
            "b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0",
        ),
    ],
    # The chat sidebar's JS-SDK (ww.register …), served at /static/vendor/wecom/jssdk.js (MIT).
    "@wecom/jssdk@2.4.4": [
        (
            "package/dist/wecom.global.prod.js",
            "wecom/jssdk.js",
            "6a99cd5a09794bc4a267be3103c33dd0e5782491891121c66014e4fdf518ad8a",
        ),
    ],
    "swagger-ui-dist@5.36.0": [
        (
            "package/swagger-ui-bundle.js",
            "swagger-ui/swagger-ui-bundle.js",
            "b164c5a22535e40dae08c00271674a67e437ec195098c55fcedf8ffac7ac3c88",
        ),
        (
            "package/swagger-ui.css",
            "swagger-ui/swagger-ui.css",
            "7eb9f5a125e4bc9b3f0b71869b66d1a3d7c501f972f53d44ef91c2ae6c5bda5e",
        ),
        (
            "package/LICENSE",
            "swagger-ui/LICENSE",
            "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
        ),
    ],
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(spec: str, files: list[tuple[str, Path, str]]) -> None:
    """Download one npm package with `npm pack` and copy checked files out of it."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (apt-get install npm)")
    found: dict[Path, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [npm, "pack", spec, "--silent", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"npm pack {spec} failed: {out.stderr.strip() or out.stdout.strip()}")
        tarballs = list(Path(tmp).glob("*.tgz"))
        if len(tarballs) != 1:
            raise RuntimeError(f"npm pack {spec} produced {len(tarballs)} tarballs")
        with tarfile.open(tarballs[0]) as tar:
            for member, target, sha256 in files:
                source = tar.extractfile(member)
                if source is None:
                    raise RuntimeError(f"{member} is missing from {spec}")
                data = source.read()
                digest = hashlib.sha256(data).hexdigest()
                if digest != sha256:
                    raise RuntimeError(f"{spec}:{member} has sha256 {digest}, expected {sha256}")
                found[target] = data
    for target, data in found.items():  # all checked first: never half a package
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(target)


WITHOUT = {
    "echarts": "console charts will be unavailable",
    "swagger-ui-dist": "/api/docs will say how to install them",
}


def main(argv: list[str]) -> int:
    force = "--force" in argv
    failed = 0
    for spec, members in ASSETS.items():
        files = [(member, VENDOR / name, sha256) for member, name, sha256 in members]
        if not force and all(t.exists() and _sha256(t) == sha for _, t, sha in files):
            continue
        try:
            fetch(spec, files)
        except (RuntimeError, OSError, subprocess.TimeoutExpired, tarfile.TarError) as exc:
            # Not fatal: the console and the API work without these.
            print(f"warning: {spec} not installed ({exc}); {WITHOUT[spec.rsplit('@', 1)[0]]}")
            failed += 1
            continue
        for _, target, _ in files:
            print(f"installed {spec} → {target.relative_to(VENDOR.parent.parent.parent.parent)}")
    return 1 if failed and "--strict" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
