#!/bin/sh
# Builds dist/chatd_VERSION_ARCH.deb from `make install` staged under PREFIX=/usr.
set -eu
version="$1"; arch="$2"; out="$3"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
make --no-print-directory install DESTDIR="$root" PREFIX=/usr UNITDIR=/lib/systemd/system SYSUSERSDIR=/usr/lib/sysusers.d >/dev/null
# Shipped world-readable as policy asks; postinst makes it root:chatd 0640 (it may hold tokens).
chmod 0644 "$root/etc/chatd/chatd.toml"
# Debian's documentation layout: copyright and a compressed changelog.
install -m 0644 packaging/deb/copyright "$root/usr/share/doc/chatd/copyright"
gzip -9n -c packaging/deb/changelog > "$root/usr/share/doc/chatd/changelog.gz"
gzip -9n "$root"/usr/share/man/man*/*
install -d "$root/usr/share/lintian/overrides"
install -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/chatd"
install -d "$root/DEBIAN"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
echo /etc/chatd/chatd.toml > "$root/DEBIAN/conffiles"
# Shared-library dependencies, as dpkg-shlibdeps finds them for the two binaries.
shlib=$(mktemp -d)
mkdir -p "$shlib/debian"
printf 'Source: chatd\n\nPackage: chatd\nArchitecture: any\n' > "$shlib/debian/control"
depends=$(cd "$shlib" && dpkg-shlibdeps -O "$root/usr/bin/chatd" "$root/usr/bin/chatctl" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shlib"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    packaging/deb/control.in > "$root/DEBIAN/control"
find "$root" -type d -exec chmod 0755 {} +
mkdir -p "$(dirname "$out")"
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "built $out"
lintian --fail-on error,warning "$out" 2>&1 | grep -v 'running with root privileges is not recommended' || true
lintian --fail-on error,warning "$out" >/dev/null 2>&1
