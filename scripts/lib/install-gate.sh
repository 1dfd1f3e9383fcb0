# Sourced by the scripts that install pinned npm packages into a
# project-local directory (install-agents.sh, install-peers.sh).
#
# install_gate TAG DIR WHAT [--check]
#   Exits 0 when the caller's `installed` function already holds; with
#   --check exits 1 when it does not; otherwise checks for npm, creates DIR
#   and takes DIR/.install.lock (one installer at a time: parallel runs may
#   all find the packages missing), exiting 0 if a run it waited for has
#   installed them meanwhile. Returns, holding the lock, when the caller
#   should install.
install_gate() {
	local tag=$1 dir=$2 what=$3 mode=${4:-}
	if installed; then
		echo "$tag: $what already in $dir"
		exit 0
	fi
	if [ "$mode" = "--check" ]; then
		echo "$tag: $what missing in $dir" >&2
		exit 1
	fi
	command -v npm >/dev/null || { echo "$tag: npm not found" >&2; exit 1; }
	mkdir -p "$dir"
	exec 9>"$dir/.install.lock"
	flock 9
	if installed; then
		echo "$tag: installed by a concurrent run"
		exit 0
	fi
}
