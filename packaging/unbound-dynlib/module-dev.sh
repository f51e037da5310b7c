#!/bin/sh
# Fills the unbound-module-dev binary package; packaging/unbound-dynlib/build.sh
# copies this into the rebuilt unbound source package (debian/module-dev.sh)
# and debian/rules runs it after the daemon build, from the source root:
#
#   sh debian/module-dev.sh BUILDDIR DESTDIR MULTIARCH DEBIAN_VERSION
#
# BUILDDIR is the daemon's configured build directory (b/unbound), DESTDIR the
# package's staging root (debian/unbound-module-dev).
#
# What a module compiled against the daemon's internals needs, and nothing
# picked by hand: every .h of the source tree plus every .h the daemon's
# configure generated (config.h first of all), so that a module including
# another Unbound header next release still finds it; the configure line and
# an ABI stamp; a pkg-config file, unbound-module.pc.
set -eu
builddir=$1 dest=$2 multiarch=$3 debversion=$4
inc=usr/include/unbound-module
config=$builddir/config.h
grep -q '^#define WITH_DYNLIBMODULE 1' "$config" || {
	echo "module-dev.sh: $config has no dynlib module" >&2; exit 1; }

# The value of a string #define in config.h, with its \\ and \" undone.
config_h() {
	sed -n "s/^#define $1 \"\\(.*\\)\"\$/\\1/p" "$config" |
		sed -e 's/\\"/"/g' -e 's/\\\\/\\/g'
}
version=$(config_h PACKAGE_VERSION)
confline=$(config_h CONFCMDLINE)
[ -n "$version" ] || { echo "module-dev.sh: no PACKAGE_VERSION in $config" >&2; exit 1; }

mkdir -p "$dest/$inc"
# The source tree's headers; not the packaging's, the build directories'
# or quilt's copies.
find . \( -path ./debian -o -path ./b -o -path ./.pc \) -prune -o \
	-name '*.h' -type f -print | LC_ALL=C sort | while read -r h; do
	install -D -m 0644 "$h" "$dest/$inc/${h#./}"
done
# The generated ones win over a same-named source file (config.h, dnstap's).
(cd "$builddir" && find . -name '*.h' -type f -print) | LC_ALL=C sort |
	while read -r h; do
		install -D -m 0644 "$builddir/$h" "$dest/$inc/${h#./}"
	done

# The configure line exactly as `unbound -V` prints it, in a file: Debian's
# contains a literal ${prefix}, which pkg-config would expand in a variable.
printf '%s\n' "$confline" >"$dest/$inc/unbound-configure-line"
# The ABI stamp: what dotpool's ABI guard compares with the running daemon
# (version and configure line), plus the Debian version and a digest of
# config.h, which covers every feature the configure line turned on or
# autodetected.
{
	echo "version: $version"
	echo "debian-version: $debversion"
	echo "configure-line: $confline"
	echo "config.h-sha256: $(sha256sum "$config" | cut -d' ' -f1)"
} >"$dest/$inc/unbound-abi-stamp"
chmod 0644 "$dest/$inc/unbound-configure-line" "$dest/$inc/unbound-abi-stamp"

# The -dev packages of the libraries the headers include because of what
# this build's configure turned on (util/netevent.h includes nghttp2's header
# with HAVE_NGHTTP2_NGHTTP2_H, the dnstap headers protobuf-c's, ...), for
# dh_gencontrol: ${unbound-module:Depends}. libssl-dev and libevent-dev,
# which every daemon build dotpool loads into has, are in the control file.
deps=
has() { grep -q "^#define $1 1\$" "$config"; }
has HAVE_NGHTTP2_NGHTTP2_H && deps="$deps, libnghttp2-dev"
has USE_DNSTAP && deps="$deps, libprotobuf-c-dev"
has USE_DNSCRYPT && deps="$deps, libsodium-dev"
has HAVE_LIBBSD && deps="$deps, libbsd-dev"
echo "unbound-module:Depends=${deps#, }" >>"${dest%/}.substvars"

# config.h is per architecture: the .pc goes in the multiarch pkgconfig dir.
pcdir=$dest/usr/lib/$multiarch/pkgconfig
mkdir -p "$pcdir"
cat >"$pcdir/unbound-module.pc" <<PC
prefix=/usr
includedir=\${prefix}/include/unbound-module
debian_version=$debversion
configure_line_file=\${includedir}/unbound-configure-line
abi_stamp_file=\${includedir}/unbound-abi-stamp

Name: unbound-module
Description: configured internals of the unbound daemon, for modules it loads (dynlib)
Version: $version
Cflags: -I\${includedir}
PC
chmod 0644 "$pcdir/unbound-module.pc"
