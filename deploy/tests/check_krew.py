#!/usr/bin/env python3
"""Checks a filled krew manifest and installs it the way krew does.

Usage: check_krew.py MANIFEST ARCHIVE_DIR

- the manifest has what krew's validation requires (apiVersion, kind,
  name matching the plugin, semver version, short description, platforms
  with os/arch selectors, https URIs, 64-hex sha256, files, bin);
- for this machine's platform: the archive's sha256 is the manifest's, the
  files operations extract what `bin` names, and (as krew does) a
  `kubectl-podwire` symlink to it on PATH makes `kubectl podwire` work:
  kubectl's own plugin lookup finds it and `kubectl podwire sniff --help`
  answers as the plugin. Skipped, with a reason, without kubectl.
"""
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

import yaml


def fail(msg):
    print(f"check_krew: FAIL: {msg}")
    sys.exit(1)


def main():
    manifest_path, archives = sys.argv[1], sys.argv[2]
    with open(manifest_path) as fh:
        m = yaml.safe_load(fh)
    if m.get("apiVersion") != "krew.googlecontainertools.github.com/v1alpha2" or m.get("kind") != "Plugin":
        fail("apiVersion/kind")
    if m["metadata"]["name"] != "podwire":
        fail("plugin name must be podwire (the binary is installed as kubectl-podwire)")
    spec = m["spec"]
    if not re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", spec.get("version", "")):
        fail(f"version {spec.get('version')!r} is not v-prefixed semver")
    if not spec.get("shortDescription") or len(spec["shortDescription"]) > 80:
        fail("shortDescription missing or longer than 80 characters")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    mine = None
    for p in spec.get("platforms") or []:
        labels = p["selector"]["matchLabels"]
        if not p["uri"].startswith("https://"):
            fail(f"uri {p['uri']} is not https")
        if not re.fullmatch(r"[0-9a-f]{64}", p["sha256"]):
            fail(f"sha256 {p['sha256']!r}")
        if not p.get("bin") or not p.get("files"):
            fail("bin and files are required")
        if labels.get("os") == "linux" and labels.get("arch") == arch:
            mine = p
    if mine is None:
        fail(f"no platform for linux/{arch}")
    archive = os.path.join(archives, os.path.basename(mine["uri"]))
    with open(archive, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    if digest != mine["sha256"]:
        fail(f"{archive}: sha256 {digest} is not the manifest's {mine['sha256']}")
    with tempfile.TemporaryDirectory() as root:
        work, install, bindir = (os.path.join(root, d) for d in ("work", "install", "bin"))
        for d in (work, install, bindir):
            os.mkdir(d)
        with tarfile.open(archive) as t:
            t.extractall(work, filter="data")
        for op in mine["files"]:
            src = os.path.join(work, op["from"])
            if not os.path.exists(src):
                fail(f"files: {op['from']} is not in the archive")
            shutil.copy2(src, os.path.join(install, op["to"]))
        target = os.path.join(install, mine["bin"])
        if not os.access(target, os.X_OK):
            fail(f"bin {mine['bin']} is not an executable after the file operations")
        os.symlink(target, os.path.join(bindir, "kubectl-podwire"))
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            print("check_krew: manifest and archive ok; SKIPPED the plugin run: kubectl not installed")
            return
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
        listed = subprocess.run([kubectl, "plugin", "list"], env=env, capture_output=True, text=True)
        if "kubectl-podwire" not in listed.stdout:
            fail(f"kubectl plugin list does not find it: {listed.stdout}{listed.stderr}")
        helped = subprocess.run([kubectl, "podwire", "sniff", "--help"], env=env, capture_output=True, text=True)
        if helped.returncode != 0 or "Usage: kubectl podwire sniff" not in helped.stdout:
            fail(f"kubectl podwire sniff --help: {helped.returncode} {helped.stdout}{helped.stderr}")
    print(f"check_krew: ok (linux/{arch}: sha256 matches, installed as kubectl-podwire, kubectl runs it)")


if __name__ == "__main__":
    main()
