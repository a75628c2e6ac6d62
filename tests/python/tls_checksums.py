"""boto3 over HTTPS against s3seal: botocore's default checksum behaviour;
prints a JSON result or raises.

Over HTTPS botocore sends PutObject and UploadPart bodies as aws-chunked
`STREAMING-UNSIGNED-PAYLOAD-TRAILER` with the checksum in a trailer (over
plain HTTP it sends a header instead), so this is the path these scenarios
exercise. Every request's payload mode and content encoding is recorded, so
the caller can check that trailers were really used.

  run BUCKET MODE    MODE is request_checksum_calculation: when_supported or
                     when_required. For the default (no algorithm named) and
                     each of CRC32, CRC32C, CRC64NVME, SHA1, SHA256: the right
                     value (stored, read back, checksum echoed) and a wrong
                     trailer value (BadDigest, nothing stored on the upstream)
"""
import json
import os
import re
import sys

import boto3
import botocore
from botocore.config import Config

ALGORITHMS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]
TRAILER = re.compile(rb"(x-amz-checksum-[a-z0-9]+:)([A-Za-z0-9+/=]+)")


def client(mode):
    return boto3.client(
        "s3",
        endpoint_url=os.environ["S3SEAL_HTTPS_ENDPOINT"],
        verify=os.environ["S3SEAL_CA_BUNDLE"],
        aws_access_key_id=os.environ["S3SEAL_KEY"],
        aws_secret_access_key=os.environ["S3SEAL_SECRET"],
        region_name=os.environ["S3SEAL_REGION"],
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            request_checksum_calculation=mode,
        ),
    )


def upstream():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["UPSTREAM_ENDPOINT"],
        aws_access_key_id=os.environ["UPSTREAM_KEY"],
        aws_secret_access_key=os.environ["UPSTREAM_SECRET"],
        region_name="garage",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def body(n):
    out = bytearray()
    x = 0x9E3779B9
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out += x.to_bytes(4, "big")
    return bytes(out[:n])


class Recorder:
    """Records how each PutObject body was sent; can corrupt its trailer."""

    def __init__(self, s3):
        self.sent = []
        self.corrupt = False
        s3.meta.events.register("before-send.s3.PutObject", self.before_send)

    def before_send(self, request, **_):
        def header(name):
            value = request.headers.get(name)
            return value.decode() if isinstance(value, bytes) else value

        self.sent.append({
            "payload": header("x-amz-content-sha256"),
            "encoding": header("Content-Encoding"),
            "trailer": header("X-Amz-Trailer"),
        })
        if self.corrupt:
            data = request.body.read()
            request.body = TRAILER.sub(lambda m: m.group(1) + flip(m.group(2)), data)

    def last(self):
        return self.sent[-1]


def flip(value):
    """The same-length base64 value with its first character changed."""
    first = b"A" if value[:1] != b"A" else b"B"
    return first + value[1:]


def put(s3, bucket, key, data, algorithm):
    extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    return s3.put_object(Bucket=bucket, Key=key, Body=data, **extra)


def stored(bucket, key):
    try:
        upstream().head_object(Bucket=bucket, Key=key)
        return True
    except botocore.exceptions.ClientError as e:
        if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise


def run(bucket, mode):
    s3 = client(mode)
    recorder = Recorder(s3)
    data = body(300_000)
    out = {}
    for algorithm in [None] + ALGORITHMS:
        name = algorithm or "default"
        key = f"{mode}-{name}"
        result = {}
        response = put(s3, bucket, key, data, algorithm)
        result["sent"] = recorder.last()
        result["echo"] = response.get(f"Checksum{algorithm}") if algorithm else None
        result["read_back"] = s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data

        recorder.corrupt = True
        try:
            put(s3, bucket, key + "-wrong", data, algorithm)
            result["wrong"] = None
        except botocore.exceptions.ClientError as e:
            result["wrong"] = [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
        finally:
            recorder.corrupt = False
        result["wrong_sent"] = recorder.last()
        result["wrong_stored"] = stored(bucket, key + "-wrong")
        out[name] = result
    return out


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "run":
        print(json.dumps(run(sys.argv[2], sys.argv[3])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
