#!/bin/bash
# summarize.sh OUTPUT CONSOLE VMSTATUS [KERNEL]: count TAP lines from the VM
# run, fail on a kernel warning in the guest's log, name the kernel, print
# "N passed, N failed".
set -u
out=$1 console=$2 vmrc=$3 kernel=${4:-}

passed=$(grep -cE '^ok ' "$out" | head -1)
skipped=$(grep -E '^ok ' "$out" | grep -c '# SKIP')
passed=$((passed - skipped))
failed=$(grep -cE '^not ok ' "$out")

# The in-VM runner exits non-zero when a program failed, timed out or did
# not run at all; a guest that died or timed out has no status.
case "$vmrc" in
0) ;;
124|125) echo "not ok - the test VM did not finish (status $vmrc)"
	failed=$((failed + 1)) ;;
*) if [ "$failed" = 0 ]; then
	echo "not ok - the in-VM runner failed (status $vmrc) without a failing test"
	failed=$((failed + 1))
   fi ;;
esac
# Warnings in the guest kernel log fail the run even if every test passed.
bad=$(grep -nE 'WARNING:|BUG:|Oops|Kernel panic|possible circular|possible recursive|inconsistent lock state|KASAN:|unreferenced object|INFO: task .* blocked|general protection fault|UBSAN:' "$console" 2>/dev/null | head -20)
if [ -n "$bad" ]; then
	echo "not ok - guest kernel log is clean"
	echo "$bad" | sed 's/^/#   /'
	failed=$((failed + 1))
else
	echo "ok - guest kernel log is clean"
	passed=$((passed + 1))
fi
[ -z "$kernel" ] || echo "# kernel: $kernel"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
