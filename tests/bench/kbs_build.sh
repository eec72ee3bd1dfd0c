# Sourced by the bench scripts that compile a program against a built tree:
# the compiler flags for kbs-c's headers and static libraries, derived from
# the tree, so they follow the folders (docs/architecture.md) as they move.

# kbs_incs DIR...: -I for every folder under DIR... that holds a header
# (sources include headers by name: #include "jws.h").
kbs_incs() {
	find "$@" -name '*.h' -not -path '*/tests/*' -printf '-I%h\n' | sort -u
}

# kbs_libs BUILD DIR...: every static library built under BUILD/DIR...,
# as one group, so the order between the family libraries does not matter.
kbs_libs() {
	local build=$1 d; shift
	echo -Wl,--start-group
	for d in "$@"; do find "$build/$d" -name 'libkbs_*.a' | sort; done
	echo -Wl,--end-group
}
