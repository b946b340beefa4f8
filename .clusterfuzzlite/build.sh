#!/bin/bash -eu
# SPDX-License-Identifier: MIT
# .clusterfuzzlite/build.sh - builds physim's fuzz harnesses (tests/fuzz/)
# the OSS-Fuzz way: the library and each harness compiled with $CC $CFLAGS
# (the builders' sanitizer and coverage flags), linked with
# $LIB_FUZZING_ENGINE, binaries and seed corpora in $OUT. No meson needed:
# the library is every lib/*.c plus every arch/<family>/*.c.
#
# Local check, as the builders call it:
#   CC=clang CFLAGS="-fsanitize=address,fuzzer-no-link" \
#   LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/out SRC=/tmp/src \
#   bash .clusterfuzzlite/build.sh
# ($SRC/physim is the source tree; without it, the tree this script is in.)

if [ -d "${SRC}/physim/include/physim" ]; then
	top="${SRC}/physim"
else
	top="$(cd "$(dirname "$0")/.." && pwd)"
fi
work="${WORK:-$(mktemp -d)}/physim-fuzz"
mkdir -p "$work" "$OUT"

defs=(-std=c11 -D_GNU_SOURCE -DPHYSIM_BUILDING_LIBRARY)
for family in "$top"/arch/*/; do
	name="$(basename "$family")"
	defs+=("-DPHYSIM_HAVE_${name^^}")
done
incs=(-I"$top/include" -I"$top/lib" -I"$top/arch" -I"$top/tests" -I"$top/tests/fuzz")

# The library, with the builders' instrumentation.
objs=()
for src in "$top"/lib/*.c "$top"/arch/*/*.c; do
	obj="$work/$(echo "${src#"$top"/}" | tr / _).o"
	# shellcheck disable=SC2086 # CFLAGS is a list of flags
	$CC $CFLAGS "${defs[@]}" "${incs[@]}" -c "$src" -o "$obj"
	objs+=("$obj")
done
rm -f "$work/libphysim-fuzz.a"
ar rcs "$work/libphysim-fuzz.a" "${objs[@]}"

# The test library (tests/common: the reference model and helpers), the
# harnesses linked with it, and their seed corpora. (A meson build can do the
# same with -Dfuzzing_engine=oss-fuzz; this script needs no meson.)
common_objs=()
for src in "$top"/tests/common/*.c; do
	obj="$work/common_$(basename "$src" .c).o"
	# shellcheck disable=SC2086
	$CC $CFLAGS "${defs[@]}" "${incs[@]}" -c "$src" -o "$obj"
	common_objs+=("$obj")
done
for src in "$top"/tests/fuzz/fuzz_*.c; do
	name="$(basename "$src" .c)"
	# shellcheck disable=SC2086
	$CC $CFLAGS "${defs[@]}" "${incs[@]}" -c "$src" -o "$work/$name.o"
	# shellcheck disable=SC2086 # so is LIB_FUZZING_ENGINE
	${CXX:-$CC} $CFLAGS "$work/$name.o" "${common_objs[@]}" "$work/libphysim-fuzz.a" \
		$LIB_FUZZING_ENGINE -lpthread -o "$OUT/$name"
	corpus="$top/tests/fuzz/corpus/${name#fuzz_}"
	if [ -d "$corpus" ]; then
		rm -f "$OUT/${name}_seed_corpus.zip"
		(cd "$corpus" && zip -q -j "$OUT/${name}_seed_corpus.zip" ./*)
	fi
done
