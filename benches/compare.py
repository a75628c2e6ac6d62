#!/usr/bin/env python3
"""Side-by-side benchmark: Garage alone, nginx in front of Garage, s3seal in
front of Garage, on one machine, in one run.

Started by scripts/bench-compare (which installs Garage and nginx and builds
s3seal in release mode). Every figure comes from `s3seal bench` driving the
same workload at each target, in interleaved rounds (the order of targets
rotates each round), so slow drifts of the machine hit all three alike.
Each figure is reported as min/median/max over rounds, and s3seal's as a
ratio to Garage alone and to nginx of the same round.

Also measured: s3seal's CPU seconds per GB for the large-object workloads
(from /proc/<pid>/stat around each run), its idle and peak RSS, and KMS
GenerateDataKey / Decrypt requests per second at concurrency 32.

Writes benches/results/compare.json (every run's report) and compare.md.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, what, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"bench-compare: {what} did not start on port {port}")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


# --- the workloads -----------------------------------------------------------
# (name, bench operation, arguments). A GET reads what the PUT before it wrote
# to the same target, so PUT/GET pairs stay together and in this order.
def workloads(args):
    d = str(args.duration)
    small = ["--size", "4KiB", "--duration", d]
    mib = ["--size", "1MiB", "--concurrency", "16", "--objects", "64", "--duration", d]
    big = ["--size", args.big_size, "--concurrency", "4", "--objects", "4", "--count", str(args.big_count)]
    huge = ["--size", args.huge_size, "--objects", "1"]
    return [
        ("4KiB PUT c=1", "put", small + ["--concurrency", "1", "--objects", "64"]),
        ("4KiB GET c=1", "get", small + ["--concurrency", "1", "--objects", "64"]),
        ("4KiB PUT c=32", "put", small + ["--concurrency", "32", "--objects", "256"]),
        ("4KiB GET c=32", "get", small + ["--concurrency", "32", "--objects", "256"]),
        ("1MiB PUT c=16", "put", mib),
        ("1MiB GET c=16", "get", mib),
        (f"{args.big_size} PUT c=4", "put", big),
        (f"{args.big_size} GET c=4", "get", big),
        (f"{args.huge_size} multipart PUT c=8", "multipart-put", huge + ["--concurrency", "8"]),
        (f"{args.huge_size} ranged GET c=8", "range-get", huge + ["--concurrency", "8"]),
    ]


# --- the processes -----------------------------------------------------------
class Stack:
    """Garage, nginx and s3seal, each on its own port, in one directory."""

    def __init__(self, workdir, s3seal_bin):
        self.dir = workdir
        self.s3seal_bin = s3seal_bin
        self.procs = []
        self.garage_key = "GK" + os.urandom(12).hex()
        self.garage_secret = os.urandom(32).hex()
        self.client_key = "S3SEALBENCH" + os.urandom(4).hex().upper()
        self.client_secret = os.urandom(20).hex()

    def spawn(self, name, cmd, env=None):
        log = open(self.dir / f"{name}.log", "w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start_garage(self):
        g = self.dir / "garage"
        self.garage_port = free_port()
        run([str(ROOT / "scripts/garage-node"), "config", str(g), str(self.garage_port),
             str(free_port()), str(free_port())])
        self.spawn("garage", ["garage", "-c", str(g / "garage.toml"), "server"])
        run([str(ROOT / "scripts/garage-node"), "init", str(g), self.garage_key, self.garage_secret])
        wait_for_port(self.garage_port, "Garage")
        for bucket in ("bench-garage", "bench-nginx"):
            run(["garage", "-c", str(g / "garage.toml"), "bucket", "create", bucket])
            run(["garage", "-c", str(g / "garage.toml"), "bucket", "allow", "--read", "--write",
                 "--owner", bucket, "--key", self.garage_key])

    def start_nginx(self):
        self.nginx_port = free_port()
        n = self.dir / "nginx"
        n.mkdir()
        os.chmod(n, 0o777)
        # A plain reverse proxy as its docs and S3 guides set one up:
        # streaming both ways, no body size limit, HTTP/1.1 to the upstream.
        # No upstream keepalive: Garage does not set TCP_NODELAY, and nginx's
        # kept-alive upstream connections then wait 40 ms on every small GET
        # (see docs/benchmarks.md); fresh connections are nginx's best case.
        conf = f"""
daemon off;
worker_processes auto;
pid {n}/nginx.pid;
error_log {n}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {n}/body;
    proxy_temp_path {n}/proxy;
    fastcgi_temp_path {n}/fastcgi;
    uwsgi_temp_path {n}/uwsgi;
    scgi_temp_path {n}/scgi;
    server {{
        listen 127.0.0.1:{self.nginx_port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        location / {{ proxy_pass http://127.0.0.1:{self.garage_port}; }}
    }}
}}
"""
        (n / "nginx.conf").write_text(conf)
        self.spawn("nginx", [NGINX, "-c", str(n / "nginx.conf")])
        wait_for_port(self.nginx_port, "nginx")

    def start_s3seal(self):
        s = self.dir / "s3seal"
        s.mkdir()
        self.s3seal_port = free_port()
        root_key = run([self.s3seal_bin, "generate-root-key"]).stdout.strip()
        (s / "root.key").write_text(root_key + "\n")
        os.chmod(s / "root.key", 0o600)
        # s3seal's defaults: audit log on (each key use durable before the
        # answer), embedded store, every object sealed under the default key,
        # JSON logs at info level (to a file here).
        config = f"""
[server]
listen = "127.0.0.1:{self.s3seal_port}"
region = "us-east-1"

[upstream]
url = "http://127.0.0.1:{self.garage_port}"
region = "garage"
access_key_id = "{self.garage_key}"
secret_access_key = "{self.garage_secret}"

[store]
path = "{s}/s3seal.redb"

[kms]
root_key_file = "{s}/root.key"

[[auth.credentials]]
access_key_id = "{self.client_key}"
secret_access_key = "{self.client_secret}"
principal = "bench"

"""
        (s / "s3seal.toml").write_text(config)
        self.s3seal_config = s / "s3seal.toml"
        self.s3seal = self.spawn("s3seal", [self.s3seal_bin, "serve", "--config", str(self.s3seal_config)])
        wait_for_port(self.s3seal_port, "s3seal")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.client_key,
                   AWS_SECRET_ACCESS_KEY=self.client_secret, AWS_DEFAULT_REGION="us-east-1")
        run(["aws", "--endpoint-url", f"http://127.0.0.1:{self.s3seal_port}", "s3api",
             "create-bucket", "--bucket", "bench-s3seal"], env=env)

    def targets(self):
        garage = dict(access=self.garage_key, secret=self.garage_secret, region="garage")
        return {
            "garage": dict(garage, url=f"http://127.0.0.1:{self.garage_port}", bucket="bench-garage"),
            "nginx": dict(garage, url=f"http://127.0.0.1:{self.nginx_port}", bucket="bench-nginx"),
            "s3seal": dict(access=self.client_key, secret=self.client_secret, region="us-east-1",
                           url=f"http://127.0.0.1:{self.s3seal_port}", bucket="bench-s3seal"),
        }

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def s3seal_cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def reset_peak_rss(pid):
    """Restarts VmHWM from the current RSS, so each run's peak is its own."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def s3seal_memory(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # MiB
    return None


def bench(bin_path, target, operation, extra, out, seed=1):
    cmd = [bin_path, "bench", operation, "--endpoint-url", target["url"], "--region", target["region"],
           "--json", str(out), "--seed", str(seed)] + extra
    if operation.startswith("kms-"):
        cmd += ["--key-id", "alias/aws/s3"]
    else:
        cmd += ["--bucket", target["bucket"]]
    if operation in ("get", "range-get"):
        cmd.append("--skip-prepare")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=target["access"], AWS_SECRET_ACCESS_KEY=target["secret"])
    done = subprocess.run(cmd, env=env, text=True, capture_output=True)
    if not out.exists():
        sys.exit(f"bench-compare: {' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")
    report = json.loads(out.read_text())
    if report["errors"]:
        print(f"   !! {report['errors']} errors: {report['error_counts']} {report['error_samples'][:2]}")
    return report


def prepare(bin_path, target, extra, out, seed):
    """PUTs every object a GET workload reads (its --objects), unmeasured."""
    args = list(extra)
    for flag in ("--duration", "--count"):
        if flag in args:
            i = args.index(flag)
            del args[i:i + 2]
    objects = args[args.index("--objects") + 1]
    bench(bin_path, target, "put", args + ["--count", objects], out, seed)


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--s3seal", required=True, help="the s3seal binary (release build)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per timed run")
    parser.add_argument("--big-size", default="64MiB", help="the large single-PUT object")
    parser.add_argument("--big-count", type=int, default=8, help="large objects per run")
    parser.add_argument("--huge-size", default="1GiB", help="the multipart / ranged-GET object")
    parser.add_argument("--kms-duration", type=float, default=5.0)
    parser.add_argument("--out", default=str(ROOT / "benches/results/compare"))
    parser.add_argument("--workdir", default=str(ROOT / "target/bench-compare"))
    parser.add_argument("--command-line", default="", help="how the run was started, for the report")
    args = parser.parse_args()

    workdir = Path(args.workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    runs_dir = workdir / "runs"
    runs_dir.mkdir()
    stack = Stack(workdir, args.s3seal)
    try:
        stack.start_garage()
        stack.start_nginx()
        stack.start_s3seal()
        pid = stack.s3seal.pid
        time.sleep(1)
        idle_rss = s3seal_memory(pid, "VmRSS")
        targets = stack.targets()
        names = list(targets)
        results = []  # one entry per run
        plan = workloads(args)
        for round_no in range(args.rounds):
            order = names[round_no % 3:] + names[:round_no % 3]
            print(f"== round {round_no + 1}/{args.rounds} (order: {', '.join(order)})", flush=True)
            for index, (label, operation, extra) in enumerate(plan):
                for name in order:
                    out = runs_dir / f"r{round_no}-w{index}-{name}.json"
                    # Every run writes bytes no earlier run wrote (Garage
                    # deduplicates blocks: rewriting the same bytes would
                    # skip its disk writes). A read uses the seed of what it reads.
                    seed = 1 + round_no * 1000 + index * 10 + names.index(name)
                    if operation == "range-get":
                        seed -= 10  # the multipart upload just before wrote it
                    if operation == "get":
                        # Write the objects first, outside the measured run
                        # and its CPU window.
                        prepare(args.s3seal, targets[name], extra, runs_dir / "prepare.json", seed)
                    reset_peak_rss(pid)
                    cpu_before = s3seal_cpu_seconds(pid)
                    report = bench(args.s3seal, targets[name], operation, extra, out, seed)
                    cpu = s3seal_cpu_seconds(pid) - cpu_before
                    peak = s3seal_memory(pid, "VmHWM")
                    results.append({"round": round_no, "workload": label, "target": name,
                                    "s3seal_cpu_seconds": cpu if name == "s3seal" else None,
                                    "s3seal_peak_rss_mib": peak if name == "s3seal" else None,
                                    "report": report})
                    print(f"   {label:<28} {name:<7} {report['mib_per_second']:9.1f} MiB/s "
                          f"{report['ops_per_second']:9.1f} ops/s  p50 {report['latency_ms']['p50']:.3f} ms"
                          f"  p99 {report['latency_ms']['p99']:.3f} ms", flush=True)
        kms = []
        for round_no in range(args.rounds):
            for operation in ("kms-generate-data-key", "kms-decrypt"):
                out = runs_dir / f"r{round_no}-{operation}.json"
                extra = ["--concurrency", "32", "--duration", str(args.kms_duration)]
                report = bench(args.s3seal, targets["s3seal"], operation, extra, out)
                kms.append({"round": round_no, "operation": operation, "report": report})
                print(f"   {operation:<28} s3seal {report['ops_per_second']:9.0f} req/s  "
                      f"p50 {report['latency_ms']['p50']:.3f} ms", flush=True)
        peak_rss = max(r["s3seal_peak_rss_mib"] or 0 for r in results)
    finally:
        stack.stop()
        # The stores' data (several GiB per run) is not needed afterwards.
        for data in ("garage", "s3seal"):
            shutil.rmtree(workdir / data, ignore_errors=True)

    summary = summarise(plan, names, results, kms, idle_rss, peak_rss)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = machine_info(args.s3seal)
    document = {"machine": machine, "command": args.command_line.strip(), "arguments": vars(args),
                "summary": summary, "runs": results, "kms_runs": kms}
    out.with_suffix(".json").write_text(json.dumps(document, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(document))
    print(markdown(document))


def summarise(plan, names, results, kms, idle_rss, peak_rss):
    rows = []
    for label, operation, _ in plan:
        runs = {n: sorted((r for r in results if r["workload"] == label and r["target"] == n),
                          key=lambda r: r["round"]) for n in names}
        row = {"workload": label, "operation": operation}
        for n in names:
            reports = [r["report"] for r in runs[n]]
            row[n] = {
                "mib_per_second": spread([r["mib_per_second"] for r in reports]),
                "ops_per_second": spread([r["ops_per_second"] for r in reports]),
                "p50_ms": spread([r["latency_ms"]["p50"] for r in reports]),
                "p99_ms": spread([r["latency_ms"]["p99"] for r in reports]),
                "errors": sum(r["errors"] for r in reports),
            }
        for base in ("garage", "nginx"):
            pairs = list(zip(runs["s3seal"], runs[base]))
            row[f"ratio_to_{base}"] = spread([
                s["report"]["ops_per_second"] / b["report"]["ops_per_second"]
                for s, b in pairs if b["report"]["ops_per_second"] > 0])
            row[f"added_p50_ms_vs_{base}"] = spread([
                s["report"]["latency_ms"]["p50"] - b["report"]["latency_ms"]["p50"] for s, b in pairs])
            row[f"added_p99_ms_vs_{base}"] = spread([
                s["report"]["latency_ms"]["p99"] - b["report"]["latency_ms"]["p99"] for s, b in pairs])
        # Per GB only where bytes dominate (not for 4 KiB objects).
        cpu = [r["s3seal_cpu_seconds"] / (r["report"]["bytes"] / 1e9)
               for r in runs["s3seal"] if r["report"]["bytes"] > 0 and not label.startswith("4KiB")]
        row["s3seal_cpu_seconds_per_gb"] = spread(cpu)
        row["s3seal_peak_rss_mib"] = spread([r["s3seal_peak_rss_mib"] for r in runs["s3seal"]])
        rows.append(row)
    kms_rows = {}
    for operation in ("kms-generate-data-key", "kms-decrypt"):
        reports = [k["report"] for k in kms if k["operation"] == operation]
        kms_rows[operation] = {
            "requests_per_second": spread([r["ops_per_second"] for r in reports]),
            "p50_ms": spread([r["latency_ms"]["p50"] for r in reports]),
            "p99_ms": spread([r["latency_ms"]["p99"] for r in reports]),
            "errors": sum(r["errors"] for r in reports),
        }
    return {"workloads": rows, "kms": kms_rows,
            "s3seal_rss_mib": {"idle": idle_rss, "peak": peak_rss}}


def machine_info(s3seal_bin):
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    version = lambda cmd: subprocess.run(cmd, text=True, capture_output=True).stdout.strip() or \
        subprocess.run(cmd, text=True, capture_output=True).stderr.strip()
    return {
        "cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "garage": version(["garage", "--version"]).splitlines()[0],
        "nginx": version([NGINX, "-v"]),
        "s3seal": version([s3seal_bin, "--version"]),
        "rustc": version(["rustc", "--version"]),
        "date": time.strftime("%Y-%m-%d"),
    }


def fmt(s, digits=2):
    if s is None:
        return "–"
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def markdown(doc):
    m = doc["machine"]
    lines = [
        f"Machine: {m['cpus']} vCPU {m['cpu']}, {m['memory_gib']} GiB RAM, Linux {m['kernel']}; "
        f"{m['garage']}; {m['nginx']}; {m['s3seal']}; {m['rustc']}; {m['date']}.",
        f"Command: `{doc['command']}`",
        "",
        "Each cell: median (min–max) over rounds. Ratios are s3seal ÷ the other target's ops/s "
        "(equal to the throughput ratio) in the same round; added latency is s3seal's minus the other's.",
        "",
        "| workload | Garage | nginx | s3seal | s3seal ÷ Garage | s3seal ÷ nginx | added p50 ms vs Garage | added p99 ms vs Garage | s3seal CPU s/GB | s3seal peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in doc["summary"]["workloads"]:
        small = row["workload"].startswith("4KiB")
        key, unit = ("ops_per_second", "ops/s") if small else ("mib_per_second", "MiB/s")
        cell = lambda n: fmt(row[n][key], 0 if small else 0) + f" {unit}"
        lines.append(
            f"| {row['workload']} | {cell('garage')} | {cell('nginx')} | {cell('s3seal')} | "
            f"{fmt(row['ratio_to_garage'])} | {fmt(row['ratio_to_nginx'])} | "
            f"{fmt(row['added_p50_ms_vs_garage'], 3)} | {fmt(row['added_p99_ms_vs_garage'], 3)} | "
            f"{fmt(row['s3seal_cpu_seconds_per_gb'])} | {fmt(row['s3seal_peak_rss_mib'], 1)} |")
    lines += ["", "| KMS API at concurrency 32 | requests/s | p50 ms | p99 ms |", "|---|---|---|---|"]
    for operation, row in doc["summary"]["kms"].items():
        lines.append(f"| {operation} | {fmt(row['requests_per_second'], 0)} | {fmt(row['p50_ms'], 3)} | "
                     f"{fmt(row['p99_ms'], 3)} |")
    rss = doc["summary"]["s3seal_rss_mib"]
    lines += ["", f"s3seal RSS: idle {rss['idle']:.1f} MiB, highest peak of any run {rss['peak']:.1f} MiB."]
    errors = sum(row[n]["errors"] for row in doc["summary"]["workloads"] for n in ("garage", "nginx", "s3seal"))
    lines.append(f"Errors over all runs: {errors} (every GET byte checked).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
