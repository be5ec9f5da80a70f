"""Packaging: units, man pages, make install, the .deb, and the nginx site, checked with the
real tools (systemd-analyze, mandoc, dpkg-deb, lintian, nginx)."""
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT

RELEASE = ROOT / ".build" / "release"
UNITS = ROOT / "packaging" / "systemd"


def run(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def staged():
    """`make install` into a scratch DESTDIR with PREFIX=/usr, as the .deb does."""
    dest = Path(tempfile.mkdtemp(prefix="chatd-install-"))
    r = run("make", "--no-print-directory", "install", f"DESTDIR={dest}", "PREFIX=/usr", cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    yield dest
    shutil.rmtree(dest, ignore_errors=True)


def rendered_units(tmp_path, bindir):
    """The unit files with their paths pointing at binaries that exist here."""
    out = tmp_path / "units"
    out.mkdir()
    service = (UNITS / "chatd.service.in").read_text()
    service = service.replace("@BINDIR@", str(bindir)).replace("@SYSCONFDIR@", "/etc").replace("@DATADIR@", "/usr/share")
    (out / "chatd.service").write_text(service)
    for name in ("chatd.socket", "chatd-metrics.socket"):
        shutil.copy(UNITS / name, out / name)
    return out


def test_units_verify_silently(tmp_path, staged):
    units = rendered_units(tmp_path, staged / "usr" / "bin")
    # Documentation= names man pages: verify looks them up, here in the installed tree.
    r = run("systemd-analyze", "verify", *(str(p) for p in sorted(units.iterdir())),
            env=dict(os.environ, MANPATH=str(staged / "usr" / "share" / "man")))
    # verify exits 0 on unknown keys and typos: any output at all is a failure.
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


def test_security_exposure_is_at_most_2(tmp_path, staged):
    units = rendered_units(tmp_path, staged / "usr" / "bin")
    r = run("systemd-analyze", "security", "--offline=yes", "--no-pager", str(units / "chatd.service"))
    match = re.search(r"Overall exposure level for chatd\.service: ([0-9.]+)", r.stdout + r.stderr)
    assert match, r.stdout + r.stderr
    assert float(match.group(1)) <= 2.0, r.stdout


def test_man_pages_lint_clean():
    for page in sorted((ROOT / "man").iterdir()):
        r = run("mandoc", "-T", "lint", "-W", "warning", str(page))
        assert r.returncode == 0 and r.stdout == "" and r.stderr == "", f"{page.name}: {r.stdout}{r.stderr}"


def config_keys():
    """Every `section.key` of the example config, which the Swift tests check against the schema."""
    keys, section = [], None
    for line in (ROOT / "etc" / "chatd.toml").read_text().splitlines():
        line = line.strip().lstrip("# ")
        if m := re.fullmatch(r"\[(\w+)\]", line):
            section = m.group(1)
        elif section and (m := re.match(r"(\w+) =", line)):
            keys.append((section, m.group(1)))
    return keys


def test_man_page_names_every_config_key():
    page = (ROOT / "man" / "chatd.toml.5").read_text()
    keys = config_keys()
    assert len(keys) >= 19  # the schema has 19 keys; the Swift tests keep the two in step
    for section, key in keys:
        assert f".SH [{section}]" in page, section
        body = page.split(f".SH [{section}]")[1].split(".SH ")[0]
        assert f".B {key}\n" in body, f"{section}.{key} missing from chatd.toml(5)"


def test_man_page_names_every_chatctl_command():
    page = (ROOT / "man" / "chatctl.1").read_text()
    help_text = run(str(RELEASE / "chatctl"), "--help").stdout
    commands = re.findall(r"^  (\w[\w-]*)\s{2,}", help_text.split("SUBCOMMANDS:")[1], re.M)
    assert {"status", "connections", "rooms", "kick", "reload", "smoke"} <= set(commands)
    commands_section = page.split(".SH COMMANDS")[1].split(".SH ")[0].replace("\\-", "-")
    for command in commands:
        if command == "help":
            continue
        assert f".B {command}\n" in commands_section, f"chatctl {command} missing from chatctl(1)"


def test_chatd_man_page_names_every_option():
    page = (ROOT / "man" / "chatd.8").read_text()
    help_text = run(str(RELEASE / "chatd"), "--help").stdout
    for option in re.findall(r"(--[a-z-]+)", help_text):
        assert option.replace("-", r"\-") in page, f"{option} missing from chatd(8)"


def test_install_layout_and_static_stdlib(staged):
    for path in ("usr/bin/chatd", "usr/bin/chatctl", "usr/share/chatd/www/index.html", "usr/share/chatd/www/app.js",
                 "usr/share/chatd/www/admin.html", "usr/share/chatd/www/admin.js", "usr/share/chatd/www/admin.css",
                 "usr/share/chatd/www/chatd.js", "usr/share/chatd/www/chatd.d.ts",
                 "etc/chatd/chatd.toml", "lib/systemd/system/chatd.service", "lib/systemd/system/chatd.socket",
                 "lib/systemd/system/chatd-metrics.socket", "usr/lib/sysusers.d/chatd.conf",
                 "usr/share/man/man8/chatd.8", "usr/share/man/man1/chatctl.1", "usr/share/man/man5/chatd.toml.5"):
        assert (staged / path).exists(), path
    service = (staged / "lib/systemd/system/chatd.service").read_text()
    assert "ExecStart=/usr/bin/chatd --config /etc/chatd/chatd.toml" in service
    # No Swift runtime needed on the target.
    libs = run("ldd", str(staged / "usr/bin/chatd")).stdout
    assert "libswiftCore" not in libs and "libFoundation" not in libs, libs
    assert run(str(staged / "usr/bin/chatd"), "--check-config", "--config", str(staged / "etc/chatd/chatd.toml")).returncode == 0


def test_uninstall_removes_what_install_put(staged):
    dest = Path(tempfile.mkdtemp(prefix="chatd-uninstall-"))
    try:
        shutil.copytree(staged, dest, dirs_exist_ok=True, symlinks=True)
        r = run("make", "--no-print-directory", "uninstall", f"DESTDIR={dest}", "PREFIX=/usr", cwd=ROOT)
        assert r.returncode == 0, r.stderr
        left = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
        assert left == ["etc/chatd/chatd.toml"], left
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_deb_builds_and_is_lintian_clean():
    r = run("make", "--no-print-directory", "deb", cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    deb = next((ROOT / "dist").glob("chatd_*.deb"))
    info = run("dpkg-deb", "--info", str(deb)).stdout
    assert "Depends:" in info and "libsystemd0" in info
    contents = run("dpkg-deb", "--contents", str(deb)).stdout
    assert "./usr/bin/chatd" in contents and "./lib/systemd/system/chatd.socket" in contents
    conffiles = run("dpkg-deb", "--ctrl-tarfile", str(deb), ).returncode == 0
    assert conffiles
