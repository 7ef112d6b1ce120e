# Waiting in the test scripts without a deadline on total work (source it from bash).
#
#   wait_until PID DESCRIPTION CMD...
#       Runs CMD every 0.2 s until it succeeds. Fails (returns 1, with a message on stderr) at
#       once if process PID has exited, and after the stall interval if CMD never succeeded.
#       For conditions with no progress signal: a port opening, /health answering, a file.
#       Use as `wait_until "$pid" "the server to answer" curl -sf -o /dev/null "$url" || exit 1`.
#       CMD runs in the calling shell, so a function CMD can set variables for the caller.
#
#   progress_start
#   progress_check DESCRIPTION VALUE
#       For a loop that watches something move (a count, a lag): progress_check restarts the
#       clock whenever VALUE differs from the VALUE of the previous call, and fails (returns 1,
#       with a message on stderr) once VALUE has stayed the same for the stall interval.
#       progress_start begins a new watch.
#
# The stall interval is STELE_TEST_STALL_SECONDS (whole seconds), 120 by default.

stall_seconds() {
    local s=${STELE_TEST_STALL_SECONDS:-120}
    s=${s%%.*}
    if ! [[ $s =~ ^[0-9]+$ ]]; then s=120; elif [ "$s" -eq 0 ]; then s=1; fi
    echo "$s"
}

# The current time in whole seconds since the epoch, into the variable named $1 (no fork).
_wait_now() { printf -v "$1" '%(%s)T' -1; }

wait_until() {
    local pid=$1 what=$2 stall started now
    shift 2
    stall=$(stall_seconds)
    _wait_now started
    while true; do
        if "$@"; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "FAIL: waiting for $what: process $pid exited" >&2
            return 1
        fi
        _wait_now now
        if [ $((now - started)) -ge "$stall" ]; then
            echo "FAIL: waiting for $what: still not there after $stall s (STELE_TEST_STALL_SECONDS)" >&2
            return 1
        fi
        sleep 0.2
    done
}

_progress_value=""
_progress_since=""

progress_start() {
    _progress_value=""
    _progress_since=""
}

progress_check() {
    local what=$1 value=$2 stall now
    stall=$(stall_seconds)
    _wait_now now
    if [ -z "$_progress_since" ] || [ "$value" != "$_progress_value" ]; then
        _progress_value=$value
        _progress_since=$now
        return 0
    fi
    if [ $((now - _progress_since)) -ge "$stall" ]; then
        echo "FAIL: no progress for $stall s waiting for $what (stuck at $value)" >&2
        return 1
    fi
    return 0
}
