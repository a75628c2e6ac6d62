"""Bucket fixtures for tests/operator_tools.rs; prints a JSON result or raises.

  populate BUCKET COUNT MANIFEST   writes COUNT plaintext objects straight to the
                                   upstream (most small, some empty, every 100th
                                   a 9-20 MiB multipart upload; metadata, content
                                   types and cache-control on some); the manifest
                                   records what each must read back as
  check BUCKET MANIFEST            through s3seal: every object is sealed (its SSE
                                   headers), reads back byte-identical, keeps its
                                   metadata and content headers; straight from
                                   the upstream: its stored bytes are s3seal's
                                   sealed format, not the plaintext
"""
import concurrent.futures
import io
import hashlib
import json
import sys

import botocore
from boto3.s3.transfer import TransferConfig

from s3clients import MIB, data, proxy, upstream


def size_of(i):
    if i % 100 == 50:
        return 9 * MIB + (i // 100) * 2 * MIB + 12345  # 9..17 MiB: multipart
    if i % 37 == 0:
        return 0
    return (i * 7919) % 120_000 + 1


def headers_of(i):
    extra = {}
    if i % 3 == 0:
        extra["Metadata"] = {"index": str(i), "origin": "direct-upload"}
    if i % 4 == 0:
        extra["ContentType"] = "text/plain; charset=utf-8" if i % 8 == 0 else "application/x-test"
    if i % 10 == 0:
        extra["CacheControl"] = "max-age=%d" % i
        extra["ContentDisposition"] = 'attachment; filename="f%d.bin"' % i
    return extra


def populate(bucket, count, manifest_path):
    s3 = upstream()
    transfer = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)

    def put(i):
        key = "obj-%04d" % i
        body = data(size_of(i), i)
        extra = headers_of(i)
        if len(body) > 8 * MIB:
            s3.upload_fileobj(io.BytesIO(body), bucket, key, ExtraArgs=extra, Config=transfer)
        else:
            s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        return key, {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body), **extra}

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        manifest = dict(pool.map(put, range(count)))
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    multipart = [k for k, v in manifest.items() if v["size"] > 8 * MIB]
    etags = [s3.head_object(Bucket=bucket, Key=k)["ETag"] for k in multipart]
    assert all("-" in e for e in etags), etags
    return {"objects": len(manifest), "multipart": multipart,
            "bytes": sum(v["size"] for v in manifest.values()), "tagging": tag(s3, bucket)}


def tag(s3, bucket):
    """Tags obj-0007 if the upstream implements tagging; returns "ok" or its error code."""
    try:
        s3.put_object_tagging(Bucket=bucket, Key="obj-0007",
                              Tagging={"TagSet": [{"Key": "team", "Value": "a b&c"}]})
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "ok"


def check(bucket, manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    s3, raw = proxy(), upstream()

    def check_one(item):
        key, want = item
        head = s3.head_object(Bucket=bucket, Key=key)
        # The bucket has no default encryption: s3seal's default (SSE-S3 semantics).
        assert head.get("ServerSideEncryption") == "AES256", (key, head)
        assert head["ContentLength"] == want["size"], (key, head)
        assert head.get("Metadata", {}) == want.get("Metadata", {}), (key, head)
        for field in ["ContentType", "CacheControl", "ContentDisposition"]:
            if field in want:
                assert head.get(field) == want[field], (key, field, head)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == want["sha256"], key
        stored = raw.head_object(Bucket=bucket, Key=key)
        assert "s3seal-format" in stored["Metadata"], (key, stored)
        assert stored["ContentLength"] > want["size"], (key, stored)
        # Objects above the test's multipart threshold were copied part by part.
        assert ("s3seal-mpu" in stored["Metadata"]) == (want["size"] > 8 * MIB), (key, stored)
        return key

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        checked = list(pool.map(check_one, manifest.items()))
    return {"checked": len(checked)}


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "populate":
        result = populate(args[0], int(args[1]), args[2])
    elif command == "check":
        result = check(args[0], args[1])
    else:
        raise SystemExit("unknown command " + command)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
