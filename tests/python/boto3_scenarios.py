"""boto3 scenarios against s3seal; prints a JSON result or raises.

  roundtrip BUCKET      sizes 0, 1, 65535-65537, 1 MiB with metadata, content type,
                        cache-control, content-disposition; default checksum behaviour
  bad-md5 BUCKET KEY    Content-MD5 of another body → BadDigest, nothing stored
  checksums BUCKET      each x-amz-checksum-* right (stored) and wrong (BadDigest)
"""
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
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"].startswith("arn:aws:kms:")
        assert len(raw) == 36 + n + 16 * max(1, -(-n // 65536)), (n, len(raw))
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


def main():
    cmd = sys.argv[1]
    if cmd == "roundtrip":
        result = roundtrip(sys.argv[2])
    elif cmd == "bad-md5":
        result = bad_md5(sys.argv[2], sys.argv[3])
    elif cmd == "checksums":
        result = checksums(sys.argv[2])
    else:
        raise SystemExit(f"unknown scenario {cmd}")
    print(json.dumps(result))


main()
