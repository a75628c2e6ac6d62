# Shared helpers for s3seal's scripts (sourced, not executed).

GARAGE_VERSION=2.5.0

# Installs Garage $GARAGE_VERSION with cargo unless it is already on PATH.
ensure_garage() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if garage --version 2>/dev/null | grep -q "cargo:$GARAGE_VERSION"; then
    return 0
  fi
  echo ">> installing Garage $GARAGE_VERSION (cargo install, ~8 minutes the first time)" >&2
  cargo install --locked garage --version "$GARAGE_VERSION" >&2
}

# Installs Debian package $1 (with sudo unless root), updating the package
# lists first if the install fails on stale ones.
apt_install() {
  echo ">> installing $1" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y "$1" >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y "$1" >&2; }
}

# SoftHSM2 (a software PKCS#11 token, from Debian) for the HSM root-of-trust tests.
ensure_softhsm() {
  if [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null 2>&1; then
    return 0
  fi
  apt_install softhsm2
}

# PostgreSQL (Debian's package; 15 on bookworm) for the shared-store tests.
ensure_postgres() {
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    return 0
  fi
  apt_install postgresql
}

# nginx (Debian's package) as the plain reverse proxy of scripts/bench-compare.
ensure_nginx() {
  if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    return 0
  fi
  apt_install nginx
}

# Installs the aws CLI and boto3 (pinned in scripts/requirements-test.txt) unless present.
ensure_aws_clients() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  if command -v aws >/dev/null 2>&1 && python3 -c "import boto3, awscrt" 2>/dev/null; then
    return 0
  fi
  echo ">> installing awscli and boto3" >&2
  python3 -m pip install --quiet -r "$here/requirements-test.txt" >&2
  hash -r
}

# cargo-fuzz (crates.io) and a toolchain that takes its sanitizer flags: the
# nightly toolchain if rustup has one, else the stable one with
# RUSTC_BOOTSTRAP=1 (what the flags need; no toolchain is downloaded).
# Sets FUZZ_CARGO to the cargo command to run `fuzz` with.
ensure_cargo_fuzz() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo ">> installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz >&2
  fi
  if cargo +nightly --version >/dev/null 2>&1; then
    FUZZ_CARGO=(cargo +nightly)
  else
    echo ">> no nightly toolchain: fuzzing with stable and RUSTC_BOOTSTRAP=1" >&2
    export RUSTC_BOOTSTRAP=1
    FUZZ_CARGO=(cargo)
  fi
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Random lowercase hex of $1 bytes.
random_hex() {
  od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'
}

# Waits until 127.0.0.1:$1 accepts connections (up to ~$2 seconds).
wait_for_port() {
  local port=$1 tries=$(( ${2:-20} * 10 ))
  for _ in $(seq 1 "$tries"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
