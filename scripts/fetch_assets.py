"""Install the console's front-end packages from the npm registry (run by `make setup`).

The console never loads anything from a CDN: ECharts is fetched once at set-up with
`npm pack`, checked against a pinned SHA-256 and copied to siyu/web/static/vendor/
(git-ignored). Without it the console still works and says charts are unavailable.

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

# (npm spec, file inside the package tarball, file name in vendor/, sha256 of that file)
ASSETS = [
    (
        "echarts@6.1.0",
        "package/dist/echarts.min.js",
        "echarts.min.js",
        "b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0",
    ),
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(spec: str, member: str, target: Path, sha256: str) -> None:
    """Download one npm package with `npm pack` and copy one checked file out of it."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (apt-get install npm)")
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
            source = tar.extractfile(member)
            if source is None:
                raise RuntimeError(f"{member} is missing from {spec}")
            data = source.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"{spec}:{member} has sha256 {digest}, expected {sha256}; not installed")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(target)


def main(argv: list[str]) -> int:
    force = "--force" in argv
    failed = 0
    for spec, member, name, sha256 in ASSETS:
        target = VENDOR / name
        if not force and target.exists() and _sha256(target) == sha256:
            continue
        try:
            fetch(spec, member, target, sha256)
        except (RuntimeError, OSError, subprocess.TimeoutExpired, tarfile.TarError) as exc:
            # Not fatal: the console works without charts and says so on the page.
            print(f"warning: {name} not installed ({exc}); console charts will be unavailable")
            failed += 1
            continue
        print(f"installed {spec} → {target.relative_to(VENDOR.parent.parent.parent.parent)}")
    return 1 if failed and "--strict" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
