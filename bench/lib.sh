# Helpers shared by bench/run.sh and bench/instructions.sh (sourced; the caller defines `die`
# and `TMP`, where the started processes write NAME.log).

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port on 127.0.0.1 that nothing listens on.
free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        if ! port_in_use "$p"; then
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

# wait_port PORT PID NAME [SECONDS]: until PORT accepts connections (default 20 s), or die when
# PID exits first or time runs out.
wait_port() {
    local i tries=$((${4:-20} * 10))
    for i in $(seq 1 "$tries"); do
        port_in_use "$1" && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited during start-up (log: $TMP/$3.log)"
        sleep 0.1
    done
    die "$3 did not listen on port $1 within ${4:-20} s"
}
