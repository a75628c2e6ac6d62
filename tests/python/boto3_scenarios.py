"""boto3 scenarios against s3seal; prints a JSON result or raises.

  roundtrip BUCKET      sizes 0, 1, 65535-65537, 1 MiB with metadata, content type,
                        cache-control, content-disposition; default checksum behaviour
  bad-md5 BUCKET KEY    Content-MD5 of another body → BadDigest, nothing stored
  checksums BUCKET      each x-amz-checksum-* right (stored) and wrong (BadDigest)
  empty-then-sized BUCKET
                        empty and sized PUTs alternating on one pooled connection
  ranges BUCKET         random ranges (open, suffix, across segment boundaries) against
                        a plaintext model, 416s, HEAD with Range, a directly written object
"""
import random
import base64
import hashlib
import json
import os
import sys
import zlib

import boto3
import botocore
from botocore.config import Config


def client(endpoint, key, secret, region, **cfg):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
        region_name=region, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **cfg),
    )


def proxy(**cfg):
    return client(os.environ["S3SEAL_ENDPOINT"], os.environ["S3SEAL_KEY"], os.environ["S3SEAL_SECRET"],
                  os.environ["S3SEAL_REGION"], **cfg)


def upstream():
    return client(os.environ["UPSTREAM_ENDPOINT"], os.environ["UPSTREAM_KEY"], os.environ["UPSTREAM_SECRET"], "garage")


def data(n, seed):
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def error_code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


def roundtrip(bucket):
    s3 = proxy()
    results = []
    for n in [0, 1, 65535, 65536, 65537, 1024 * 1024]:
        key = f"obj-{n}"
        body = data(n, n)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-test",
                      CacheControl="max-age=60", ContentDisposition='attachment; filename="x.bin"',
                      Metadata={"owner": "tests", "size": str(n)})
        got = s3.get_object(Bucket=bucket, Key=key)
        read = got["Body"].read()
        head = s3.head_object(Bucket=bucket, Key=key)
        raw = upstream().get_object(Bucket=bucket, Key=key)["Body"].read()
        assert read == body, f"{n}: bytes differ"
        assert got["ContentLength"] == n and head["ContentLength"] == n, (n, got["ContentLength"], head["ContentLength"])
        assert head["ContentType"] == "application/x-test", head["ContentType"]
        assert head["CacheControl"] == "max-age=60"
        assert head["ContentDisposition"] == 'attachment; filename="x.bin"'
        assert head["Metadata"] == {"owner": "tests", "size": str(n)}, head["Metadata"]
        # No SSE parameters: the bucket default, SSE-S3 (AES256), as on AWS.
        assert head["ServerSideEncryption"] == "AES256", head
        assert "SSEKMSKeyId" not in head
        assert len(raw) == 36 + n + 16 * max(1, -(-n // 65536)) + 56, (n, len(raw))
        assert n < 32 or body[:32] not in raw
        results.append(n)
    return {"sizes": results}


def bad_md5(bucket, key):
    s3 = proxy()
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    code = error_code(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"payload" * 1000, ContentMD5=wrong))
    stored = error_code(lambda: upstream().head_object(Bucket=bucket, Key=key))
    good = base64.b64encode(hashlib.md5(b"payload" * 1000).digest()).decode()
    s3.put_object(Bucket=bucket, Key=key + "-ok", Body=b"payload" * 1000, ContentMD5=good)
    return {"put": code, "upstream_head": stored}


def checksums(bucket):
    s3 = proxy(request_checksum_calculation="when_supported")
    out = {}
    body = data(200_000, 7)
    for algo in ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]:
        try:
            r = s3.put_object(Bucket=bucket, Key=f"sum-{algo}", Body=body, ChecksumAlgorithm=algo)
        except botocore.exceptions.ClientError as e:
            out[algo] = {"error": e.response["Error"]["Code"]}
            continue
        back = s3.get_object(Bucket=bucket, Key=f"sum-{algo}")["Body"].read()
        out[algo] = {"ok": back == body, "echo": r.get(f"Checksum{algo}")}
    # A wrong CRC32, sent as a header with a signed payload.
    wrong = base64.b64encode((zlib.crc32(b"not the body") & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    out["wrong_crc32"] = error_code(lambda: s3.put_object(Bucket=bucket, Key="sum-wrong", Body=body, ChecksumCRC32=wrong))
    out["wrong_stored"] = error_code(lambda: upstream().head_object(Bucket=bucket, Key="sum-wrong"))
    return out


def ranges(bucket):
    s3 = proxy()
    rng = random.Random(1234)
    checked = 0
    for n in [1, 65536, 65537, 300_000, 1024 * 1024 + 7]:
        key = f"range-{n}"
        body = data(n, n + 1)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        for i in range(40):
            kind = i % 4
            a = rng.randrange(n)
            if kind == 0:
                b = rng.randrange(a, n)
                spec, want = f"bytes={a}-{b}", body[a:b + 1]
            elif kind == 1:
                spec, want = f"bytes={a}-", body[a:]
            elif kind == 2:
                k = rng.randrange(1, n + 10)
                spec, want = f"bytes=-{k}", body[-k:]
            else:  # around a segment boundary
                edge = 65536 * rng.randrange(1, max(2, n // 65536 + 1))
                a = max(0, min(n - 1, edge - rng.randrange(1, 3)))
                b = min(n - 1, edge + rng.randrange(0, 3))
                spec, want = f"bytes={a}-{b}", body[a:b + 1]
            got = s3.get_object(Bucket=bucket, Key=key, Range=spec)
            read = got["Body"].read()
            assert read == want, (n, spec, len(read), len(want))
            assert got["ContentLength"] == len(want), (n, spec)
            first = n - len(want)
            if kind != 2:
                first = int(spec.split("=")[1].split("-")[0])
            assert got["ContentRange"] == f"bytes {first}-{first + len(want) - 1}/{n}", (spec, got["ContentRange"])
            checked += 1
    big = "range-300000"
    unsatisfiable = error_code(lambda: s3.get_object(Bucket=bucket, Key=big, Range="bytes=300000-"))
    head = s3.head_object(Bucket=bucket, Key=big, Range="bytes=10-19")
    multi = s3.get_object(Bucket=bucket, Key=big, Range="bytes=0-1,5-6")
    whole = len(multi["Body"].read())
    # A plaintext object written straight to the upstream is ranged as stored.
    upstream().put_object(Bucket=bucket, Key="direct", Body=b"0123456789")
    direct = s3.get_object(Bucket=bucket, Key="direct", Range="bytes=2-4")["Body"].read().decode()
    return {"checked": checked, "unsatisfiable": unsatisfiable, "head_length": head["ContentLength"],
            "head_range": head["ContentRange"], "multi_range_length": whole, "direct": direct}


def empty_then_sized(bucket):
    """Zero-byte PUTs (botocore sends `Expect: 100-continue` on them) followed by
    sized PUTs on the same pooled connection: every response keeps its ETag."""
    s3 = proxy(max_pool_connections=1)
    etags = []
    for i in range(6):
        s3.put_object(Bucket=bucket, Key=f"empty-{i}", Body=b"")
        put = s3.put_object(Bucket=bucket, Key=f"sized-{i}", Body=data(70000, i))
        etags.append(put["ETag"])
    return {"etags": etags}


def main():
    cmd = sys.argv[1]
    if cmd == "empty-then-sized":
        result = empty_then_sized(sys.argv[2])
    elif cmd == "roundtrip":
        result = roundtrip(sys.argv[2])
    elif cmd == "bad-md5":
        result = bad_md5(sys.argv[2], sys.argv[3])
    elif cmd == "ranges":
        result = ranges(sys.argv[2])
    elif cmd == "checksums":
        result = checksums(sys.argv[2])
    else:
        raise SystemExit(f"unknown scenario {cmd}")
    print(json.dumps(result))


main()
