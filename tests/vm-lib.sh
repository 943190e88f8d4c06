# Helpers for tests/vm.d/*.sh (POSIX sh, sourced).  Each part exits non-zero
# when anything in it failed.

# load MODULE.ko [params]: insmod with a TAP line
load() {
	ko=$1
	shift
	if insmod "$ko" "$@" 2>/tmp/insmod.err; then
		echo "ok - insmod $(basename "$ko")"
	else
		echo "not ok - insmod $(basename "$ko"): $(cat /tmp/insmod.err)"
		return 1
	fi
}

# unload NAME: rmmod with a TAP line
unload() {
	if rmmod "$1" 2>/tmp/rmmod.err; then
		echo "ok - rmmod $1"
	else
		echo "not ok - rmmod $1: $(cat /tmp/rmmod.err)"
		return 1
	fi
}

# run NAME CMD...: a kselftest program under a time limit
run() {
	name=$1
	shift
	echo "# run $name"
	timeout -k 5 "${TEST_TIMEOUT:-600}" "$@"
	st=$?
	[ $st = 124 ] && echo "not ok - $name timed out"
	return $st
}

# kmemleak_count: the unreferenced objects kmemleak lists, less those that
# the insmod of 6.12's test_hmm.ko allocated (it leaks by design: part 30
# records that insmod's pid).
kmemleak_count() {
	skip=$(cat /tmp/test_hmm.insmod.pid 2>/dev/null)
	awk -v skip="comm \"insmod\", pid ${skip:-none}," '
		/^unreferenced object/ { n++ }
		index($0, skip) { n-- }
		END { print n + 0 }' /sys/kernel/debug/kmemleak
}

# kmemleak_check NAME: with kmemleak (make test DEBUG=1), a TAP line for
# the leaks reported so far; nothing without it.
kmemleak_check() {
	kl=/sys/kernel/debug/kmemleak
	[ -w $kl ] || return 0
	# Objects younger than 5 s are not reported: scan twice.
	echo scan > $kl
	sleep 6
	echo scan > $kl
	n=$(kmemleak_count)
	if [ "$n" = 0 ]; then
		echo "ok - kmemleak: no leaks after $1"
		return 0
	fi
	echo "not ok - kmemleak: $n leaks after $1"
	sed -n '1,40s/^/# /p' $kl
	return 1
}
