"""Memory bound of s3seal under concurrent large transfers.

Runs N concurrent multipart uploads of SIZE bytes each through s3seal, then N
concurrent streaming downloads of the same objects, while sampling s3seal's
resident set size (VmRSS) every 50 ms. Writes the measurements as JSON.

    python3 benches/memory_bound.py --pid PID --out FILE [--objects 8] [--size-mib 1024]

Run it through scripts/bench-memory, which starts the dev stack and passes
the pid and endpoint. This is a measurement, not a pass/fail test: the limit
it is compared with is documented in docs/performance.md.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import threading
import time

import boto3
from botocore.config import Config

MIB = 1024 * 1024
PART = 8 * MIB


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples, self.running = pid, 0, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            self.samples += 1
            time.sleep(0.05)

    def stop(self):
        self.running = False
        self.join()
        return self.peak


def part_body(object_index, part_number):
    # Cheap, distinct, incompressible-enough content: a hash block repeated.
    block = hashlib.sha256(f"{object_index}/{part_number}".encode()).digest() * 2048  # 64 KiB
    return block * (PART // len(block))


def upload(s3, bucket, index, size):
    key = f"mem-{index}"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for n in range(1, size // PART + 1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n,
                              Body=part_body(index, n))["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    return key


def download(s3, bucket, key, size):
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    received = 0
    first = body.read(PART)
    received += len(first)
    assert first == part_body(int(key.split("-")[1]), 1), f"{key}: first part differs"
    while chunk := body.read(MIB):
        received += len(chunk)
    assert received == size, f"{key}: {received} of {size} bytes"


def phase(name, pid, work, count):
    sampler = Sampler(pid)
    sampler.start()
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        results = list(pool.map(work, range(count)))
    elapsed = time.monotonic() - start
    return results, {"phase": name, "peak_rss_mib": round(sampler.stop() / 1024, 1),
                     "seconds": round(elapsed, 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib * MIB
    s3 = boto3.client("s3", config=Config(max_pool_connections=args.objects * 2,
                                          s3={"addressing_style": "path"}))
    bucket = f"membench-{int(time.time())}"
    s3.create_bucket(Bucket=bucket)
    idle = rss_kib(args.pid) / 1024
    keys, up = phase("upload", args.pid, lambda i: upload(s3, bucket, i, size), args.objects)
    _, down = phase("download", args.pid, lambda i: download(s3, bucket, keys[i], size), args.objects)
    for key in keys:
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)
    total_gib = args.objects * size / (1024 * MIB)
    result = {
        "what": f"{args.objects} concurrent multipart uploads, then downloads, of {args.size_mib} MiB each",
        "idle_rss_mib": round(idle, 1),
        "phases": [up, down],
        "peak_above_idle_mib": round(max(up["peak_rss_mib"], down["peak_rss_mib"]) - idle, 1),
        "throughput_mib_s": {p["phase"]: round(total_gib * 1024 / p["seconds"], 1) for p in (up, down)},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{os.cpu_count()} CPUs",
    }
    with open(args.out, "w") as out:
        json.dump(result, out, indent=2)
        out.write("\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
