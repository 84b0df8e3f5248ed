#!/usr/bin/env bash
# Revocation at scale: certgate and nginx side by side with CRLs of 1,000 / 100,000 / 1,000,000
# entries (the usual layout: the root is trusted, the client sends leaf + intermediate, and the
# intermediate's CRL lists the revoked serials).
#
#   bench/crl.sh                       # sizes 0 1000 100000 1000000, 5 s of handshakes each
#   SIZES="0 1000" bench/crl.sh        # other sizes (0 = no --crl at all, the baseline)
#   DURATION=10 bench/crl.sh           # longer handshake measurements
#   NO_BUILD=1 bench/crl.sh            # use the existing release binaries
#
# For each size and proxy, one at a time (proxy pinned to CPU $PROXY_CPU, load generator and
# upstream to CPU $LOAD_CPU):
#   start-up    CPU seconds (utime+stime) from exec until the port accepts, and the wall time;
#   memory      VmRSS after start-up, and its growth over the no-CRL run per revoked entry;
#   handshakes  proxy CPU µs per full TLS 1.3 handshake + one request (examples/bench_loadgen.rs
#               handshake mode, 16 workers): CPU seconds, not wall time, because the machine is
#               shared and wall time would measure the neighbours.
# Sanity first, per size: a good leaf gets 200 and a revoked leaf is refused by both proxies.
#
# The PKI and the CRLs are made with the openssl CLI (`openssl ca -gencrl` over an index.txt
# with N generated revoked entries) and cached in $CACHE (default target/bench-crl-cache), so
# only the first run pays for generating the 1,000,000-entry CRL.
#
# Exit status: 0 when every measurement completed, 1 when a sanity check or handshake failed,
# 2 on a set-up problem. Nothing is asserted about the numbers.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=${SIZES:-"0 1000 100000 1000000"}
DURATION=${DURATION:-5}
HS_CONCURRENCY=${HS_CONCURRENCY:-16}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
CACHE=${CACHE:-$ROOT/target/bench-crl-cache}
KEEP_TMP=${KEEP_TMP:-0}

die() { echo "crl.sh: $*" >&2; exit 2; }
log() { echo "== $*" >&2; }

for n in $SIZES; do
    [[ $n =~ ^[0-9]+$ ]] && ((n <= 5000000)) || die "SIZES must be integers up to 5000000"
done
awk -v d="$DURATION" 'BEGIN { exit !(d > 0 && d <= 600) }' || die "DURATION must be in (0, 600]"

CLK_TCK=$(getconf CLK_TCK)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/certgate-crl-bench.XXXXXX")
PIDS=()
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
cleanup() {
    local rc=$?
    trap - INT TERM
    stop_started crl.sh
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PIN=1
command -v taskset >/dev/null || { echo "crl.sh: taskset not found, not pinning" >&2; PIN=0; }
# pin and start_bg come from bench/lib.sh.
stop_pid() { # PID: stop one process started here and wait for it
    kill "$1" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}


cpu_ticks() { # PID: utime+stime in clock ticks (all threads)
    local s
    s=$(cat /proc/"$1"/stat 2>/dev/null) || { echo 0; return; }
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo $((${12} + ${13}))
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' /proc/"$1"/status 2>/dev/null || echo 0; }

# ---------------------------------------------------------------------------------------------
# Build and nginx

release_binaries
command -v openssl >/dev/null || die "openssl is needed to make the PKI and CRLs"

NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
if [[ -z $NGINX ]]; then
    log "nginx not found: installing it from Debian packages"
    SUDO=
    [[ $(id -u) == 0 ]] || SUDO=sudo
    $SUDO apt-get update >&2 || die "apt-get update failed"
    $SUDO apt-get install -y nginx-light >&2 || $SUDO apt-get install -y nginx >&2 || die "cannot install nginx"
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')

# ---------------------------------------------------------------------------------------------
# PKI (openssl, cached): root -> intermediate -> {good, revoked} client leaves; server by root.

PKI="$CACHE/pki"
ossl() { openssl "$@" >>"$CACHE/openssl.log" 2>&1 || die "openssl $* failed (see $CACHE/openssl.log)"; }
ca_conf() { # DIR: an openssl ca configuration in DIR
    cat >"$1/ca.cnf" <<EOF
[ ca ]
default_ca = cg
[ cg ]
dir = $1
database = \$dir/index.txt
new_certs_dir = \$dir/issued
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
default_days = 3650
default_crl_days = 3650
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
organizationName = optional
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
EOF
    mkdir -p "$1/issued"
    : >"$1/index.txt"
    echo 1000 >"$1/serial"
    echo 01 >"$1/crlnumber"
}
if [[ ! -f $PKI/done ]]; then
    log "making the PKI with openssl in $PKI"
    rm -rf "$PKI"
    mkdir -p "$PKI/root" "$PKI/int"
    : >"$CACHE/openssl.log"
    ca_conf "$PKI/root"
    ca_conf "$PKI/int"
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/root/ca.key"
    ossl req -x509 -new -key "$PKI/root/ca.key" -subj "/O=Bench Inc/CN=Bench Root CA" -days 3650 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" -out "$PKI/root/ca.pem"
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/int/ca.key"
    ossl req -new -key "$PKI/int/ca.key" -subj "/O=Bench Inc/CN=Bench Issuing CA" -out "$PKI/int/ca.csr"
    ossl ca -batch -notext -config "$PKI/root/ca.cnf" -extensions v3_ca -in "$PKI/int/ca.csr" -out "$PKI/int/ca.pem"
    for who in good revoked; do
        ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$who.key"
        ossl req -new -key "$PKI/$who.key" -subj "/O=Bench Inc/CN=bench-$who" -out "$PKI/$who.csr"
        ossl ca -batch -notext -config "$PKI/int/ca.cnf" -extensions client -in "$PKI/$who.csr" -out "$PKI/$who.pem"
        cat "$PKI/$who.pem" "$PKI/int/ca.pem" >"$PKI/$who.chain.pem"
    done
    ossl ca -config "$PKI/int/ca.cnf" -revoke "$PKI/revoked.pem" -crl_reason keyCompromise
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/server.key"
    ossl req -new -key "$PKI/server.key" -subj "/CN=localhost" -out "$PKI/server.csr"
    ossl ca -batch -notext -config "$PKI/root/ca.cnf" -extensions server -in "$PKI/server.csr" -out "$PKI/server.pem"
    ossl ca -config "$PKI/root/ca.cnf" -gencrl -out "$PKI/root.crl.pem"
    cp "$PKI/int/index.txt" "$PKI/int/index.base"
    touch "$PKI/done"
fi

# crl_file N: the CRL bundle with N revoked entries (the root's CRL + the intermediate's);
# cached. The intermediate's index.txt is the real one (good + revoked leaf) plus N - 1
# generated revoked serials (8 bytes each, like `openssl ca -rand_serial` would give).
crl_file() {
    local n=$1 f="$CACHE/crl-$1.pem"
    if [[ ! -f $f ]]; then
        log "generating a CRL with $n entries (openssl ca -gencrl; cached in $f)"
        local dir="$CACHE/gen-$n"
        rm -rf "$dir"
        cp -r "$PKI/int" "$dir"
        sed -i "s|^dir = .*|dir = $dir|" "$dir/ca.cnf"
        cp "$PKI/int/index.base" "$dir/index.txt"
        awk -v n="$((n - 1))" 'BEGIN {
            for (i = 1; i <= n; i++)
                printf "R\t351231000000Z\t250101000000Z,keyCompromise\t7%07X%08X\tunknown\t/CN=gen-%d\n", i % 268435456, (i * 2654435761) % 4294967296, i
        }' >>"$dir/index.txt"
        ossl ca -config "$dir/ca.cnf" -gencrl -out "$dir/int.crl.pem"
        cat "$PKI/root.crl.pem" "$dir/int.crl.pem" >"$f.tmp"
        mv "$f.tmp" "$f"
        rm -rf "$dir"
    fi
    echo "$f"
}

# ---------------------------------------------------------------------------------------------
# Runs

UP_PORT=$(free_port)
start_bg "$LOAD_CPU" "$TMP/upstream.log" "$UPSTREAM" --listen "127.0.0.1:$UP_PORT"
UP_PID=$BG_PID
wait_port "$UP_PORT" "$UP_PID" upstream

# wait_listen PORT PID NAME: poll every 5 ms until PORT accepts (60 s at most).
wait_listen() {
    local i
    for i in $(seq 1 12000); do
        port_in_use "$1" && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited during start-up (log: $TMP/$3.log)"
        sleep 0.005
    done
    die "$3 did not listen on port $1 within 60 s"
}

# status PORT CHAIN KEY: the HTTP status curl gets (000 when refused).
status() {
    curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --resolve "localhost:$1:127.0.0.1" \
        --cacert "$PKI/root/ca.pem" --cert "$2" --key "$3" "https://localhost:$1/" 2>>"$TMP/curl.log" || true
}

declare -A R
FAILED=0
RAW="$TMP/results.txt"
: >"$RAW"

# run_one PROXY N: start PROXY with the N-entry CRL (none for 0), measure, stop.
run_one() {
    local proxy=$1 n=$2 crl="" port pid t0 t1 c ok out
    ((n > 0)) && crl=$(crl_file "$n")
    port=$(free_port)
    if [[ $proxy == certgate ]]; then
        local args=(run --listen "127.0.0.1:$port" --admin-listen off
            --server-cert "$PKI/server.pem" --server-key "$PKI/server.key"
            --trust "$PKI/root/ca.pem" --upstream "http://127.0.0.1:$UP_PORT"
            --route b=/ --allow b=any)
        [[ -n $crl ]] && args+=(--crl "$crl")
        t0=$(date +%s.%N)
        start_bg "$PROXY_CPU" "$TMP/certgate-$n.log" env RUST_LOG=warn "$CERTGATE" "${args[@]}"
    else
        local conf="$TMP/nginx-$n"
        mkdir -p "$conf"
        local crl_line=""
        [[ -n $crl ]] && crl_line="ssl_crl $crl;"
        cat >"$conf/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $conf/nginx.pid;
error_log $conf/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $conf/body;
    proxy_temp_path $conf/proxy;
    fastcgi_temp_path $conf/fastcgi;
    uwsgi_temp_path $conf/uwsgi;
    scgi_temp_path $conf/scgi;
    upstream up { server 127.0.0.1:$UP_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $PKI/server.pem;
        ssl_certificate_key $PKI/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_client_certificate $PKI/root/ca.pem;
        $crl_line
        ssl_session_tickets off;
        ssl_session_cache off;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Client-Cert-Subject \$ssl_client_s_dn;
        }
    }
}
EOF
        t0=$(date +%s.%N)
        start_bg "$PROXY_CPU" "$TMP/nginx-$n.log" "$NGINX" -p "$conf" -e "$conf/error.log" -c "$conf/nginx.conf"
    fi
    pid=$BG_PID
    wait_listen "$port" "$pid" "$proxy-$n"
    t1=$(date +%s.%N)
    c=$(cpu_ticks "$pid")
    R[$proxy.$n.start_cpu]=$(awk -v t="$c" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
    R[$proxy.$n.start_wall]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    R[$proxy.$n.rss_kb]=$(rss_kb "$pid")

    # Sanity: the good leaf passes, the revoked one does not (when there is a CRL).
    local good revoked
    good=$(status "$port" "$PKI/good.chain.pem" "$PKI/good.key")
    revoked=$(status "$port" "$PKI/revoked.chain.pem" "$PKI/revoked.key")
    if [[ $good != 200 ]]; then
        echo "crl.sh: $proxy with $n entries answered $good to the good leaf" >&2
        FAILED=1
    fi
    if ((n > 0)) && [[ $revoked == 200 ]]; then
        echo "crl.sh: $proxy with $n entries let the revoked leaf through" >&2
        FAILED=1
    fi

    out="$TMP/$proxy-$n.hs"
    local c0 c1 rc=0
    c0=$(cpu_ticks "$pid")
    pin "$LOAD_CPU" "$LOADGEN" handshake --connect "127.0.0.1:$port" --ca "$PKI/root/ca.pem" \
        --cert "$PKI/good.chain.pem" --key "$PKI/good.key" \
        --concurrency "$HS_CONCURRENCY" --duration "$DURATION" >"$out" 2>"$out.err" || rc=$?
    c1=$(cpu_ticks "$pid")
    kill -0 "$pid" 2>/dev/null || die "$proxy died during the handshake test (log: $TMP/$proxy-$n.log)"
    grep -q '^RESULT ' "$out" || { cat "$out.err" >&2; die "load generator failed against $proxy ($n)"; }
    ((rc == 0)) || { echo "crl.sh: errors during handshakes against $proxy ($n):" >&2; head -n 3 "$out.err" >&2; FAILED=1; }
    ok=$(grep '^RESULT ' "$out" | tr ' ' '\n' | sed -n 's/^ok=//p')
    R[$proxy.$n.hs_us]=$(awk -v t="$((c1 - c0))" -v hz="$CLK_TCK" -v n="${ok:-0}" \
        'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "nan" }')
    R[$proxy.$n.hs_rate]=$(awk -v n="${ok:-0}" -v d="$DURATION" 'BEGIN { printf "%.0f", n / d }')
    R[$proxy.$n.rss_after_kb]=$(rss_kb "$pid")
    echo "$proxy entries=$n start_cpu_s=${R[$proxy.$n.start_cpu]} start_wall_s=${R[$proxy.$n.start_wall]} rss_kb=${R[$proxy.$n.rss_kb]} rss_after_kb=${R[$proxy.$n.rss_after_kb]} hs_cpu_ticks=$((c1 - c0)) $(grep '^RESULT ' "$out")" >>"$RAW"
    stop_pid "$pid"
}

for n in $SIZES; do
    ((n > 0)) && crl_file "$n" >/dev/null
    for proxy in certgate nginx; do
        log "$proxy, CRL with $n entries: start-up, memory, ${DURATION}s of handshakes"
        run_one "$proxy" "$n"
    done
done

# ---------------------------------------------------------------------------------------------
# Report

echo
echo "Revocation at scale: certgate vs $NGINX_VERSION, proxy on CPU $PROXY_CPU, load on CPU $LOAD_CPU"
echo "handshakes: TLS 1.3, $HS_CONCURRENCY workers, ${DURATION}s, client sends leaf + intermediate, root trusted, intermediate's CRL"
echo "CPU = utime+stime of the proxy process; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%10s  %-9s %12s %12s %10s %14s %14s %10s\n' "entries" "proxy" "start CPU s" "start wall s" "RSS MB" "RSS B/entry" "CPU µs/hs" "hs/s"
for n in $SIZES; do
    for proxy in certgate nginx; do
        per=$(awk -v a="${R[$proxy.$n.rss_kb]}" -v b="${R[$proxy.0.rss_kb]:-}" -v n="$n" \
            'BEGIN { if (n > 0 && b != "") printf "%.0f", (a - b) * 1024 / n; else print "-" }')
        printf '%10s  %-9s %12s %12s %10s %14s %14s %10s\n' "$n" "$proxy" "${R[$proxy.$n.start_cpu]}" \
            "${R[$proxy.$n.start_wall]}" "$(awk -v k="${R[$proxy.$n.rss_kb]}" 'BEGIN { printf "%.1f", k / 1024 }')" \
            "$per" "${R[$proxy.$n.hs_us]}" "${R[$proxy.$n.hs_rate]}"
    done
done
echo
echo "raw results:"
sed 's/^/  /' "$RAW"
exit "$FAILED"
