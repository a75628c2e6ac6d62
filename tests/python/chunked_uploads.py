"""aws-chunked uploads (SigV4 streaming), built by hand with an independent
signer, against s3seal; prints a JSON result or raises.

  run BUCKET    signed chunks, signed chunks with a trailing checksum, unsigned
                chunks with a trailing checksum, tampered chunks and trailers
"""
import base64
import datetime
import hashlib
import hmac
import json
import sys
import zlib

import boto3
from botocore.config import Config

import rawsign

EMPTY = hashlib.sha256(b"").hexdigest()


def signing_key(secret, date, region):
    k = rawsign._hmac(("AWS4" + secret).encode(), date)
    for part in (region, "s3", "aws4_request"):
        k = rawsign._hmac(k, part)
    return k


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def put_chunked(bucket, key, data, mode, chunk=65536, tamper=None, trailer_value=None):
    """PUT `data` as aws-chunked in `mode`; returns (status, body)."""
    endpoint, access, secret, region = rawsign.env()
    conn, host = rawsign.connection(endpoint)
    when = datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    trailer = mode.endswith("TRAILER")
    headers = {
        "host": host,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
    }
    if trailer:
        headers["x-amz-trailer"] = "x-amz-checksum-crc32"
    rawsign.sign("PUT", f"/{bucket}/{key}", [], headers, mode, access, secret, region, when=when)
    seed = headers["authorization"].rsplit("Signature=", 1)[1]
    key_bytes = signing_key(secret, amz_date[:8], region)
    signed = mode.startswith("STREAMING-AWS4-HMAC")

    def chunk_sig(previous, payload):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY, hashlib.sha256(payload).hexdigest()])
        return hmac.new(key_bytes, sts.encode(), hashlib.sha256).hexdigest()

    body = bytearray()
    previous = seed
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for n, piece in enumerate(pieces):
        sent = piece
        if tamper == "chunk" and n == 1:
            sent = piece[:-1] + bytes([piece[-1] ^ 1])
        if signed:
            previous = chunk_sig(previous, piece)
            body += f"{len(sent):x};chunk-signature={previous}\r\n".encode()
        else:
            body += f"{len(sent):x}\r\n".encode()
        if sent:
            body += sent + b"\r\n"
    if trailer:
        value = trailer_value or crc32_b64(data)
        line = f"x-amz-checksum-crc32:{value}"
        body += (line + "\r\n").encode()
        if signed:
            sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous,
                             hashlib.sha256((line + "\n").encode()).hexdigest()])
            sig = hmac.new(key_bytes, sts.encode(), hashlib.sha256).hexdigest()
            if tamper == "trailer":
                sig = "0" * 64
            body += f"x-amz-trailer-signature:{sig}\r\n".encode()
    body += b"\r\n"
    headers["content-length"] = str(len(body))
    conn.request("PUT", f"/{bucket}/{key}", body=bytes(body), headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def client():
    endpoint, access, secret, region = rawsign.env()
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
                        region_name=region, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def exists(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except Exception:
        return False


def run(bucket):
    s3 = client()
    data = bytes(range(256)) * 1000  # 256,000 bytes: four chunks of 64 KiB
    results = {}
    for mode in ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                 "STREAMING-UNSIGNED-PAYLOAD-TRAILER"]:
        key = mode.lower()
        status, body = put_chunked(bucket, key, data, mode)
        assert status == 200, (mode, status, body)
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == data, mode
        assert got["ContentLength"] == len(data)
        results[mode] = status
    # Tampering: nothing is stored.
    cases = [
        ("bad-chunk", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", {"tamper": "chunk"}, 403, b"SignatureDoesNotMatch"),
        ("bad-trailer-sig", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", {"tamper": "trailer"}, 403, b"SignatureDoesNotMatch"),
        ("bad-crc", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", {"trailer_value": crc32_b64(b"other")}, 400, b"BadDigest"),
        ("bad-crc-signed", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", {"trailer_value": crc32_b64(b"other")}, 400, b"BadDigest"),
    ]
    for key, mode, kwargs, want_status, want_code in cases:
        status, body = put_chunked(bucket, key, data, mode, **kwargs)
        assert status == want_status and want_code in body, (key, status, body)
        assert not exists(s3, bucket, key), key
        results[key] = status
    print(json.dumps(results))


if __name__ == "__main__":
    {"run": run}[sys.argv[1]](*sys.argv[2:])
