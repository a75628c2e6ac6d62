"""Clients for the fault tests; each prints a JSON result.

  disconnect-put BUCKET KEY SIZE SENT
                     a signed PUT announcing SIZE bytes; the connection is
                     closed after SENT of them
  disconnect-post BUCKET KEY SIZE SENT
                     a browser POST upload (presigned by boto3) of a SIZE-byte
                     file; the connection is closed after SENT body bytes
  get BUCKET KEY     GetObject read to the end: bytes received, the length
                     announced, the SHA-256 of what arrived, or the error
  head BUCKET KEY    HeadObject: the length, or the error
  put BUCKET KEY SIZE
                     PutObject of SIZE bytes: the ETag, or the error
  slow-put BUCKET KEY PIECES PAUSE
                     a signed PUT of PIECES pieces of 256 KiB, each sent
                     PAUSE seconds after the one before: status, SHA-256
  (get, head and put report how long they took, in seconds, as elapsed)
  put-load LEDGER BUCKET
                     PUTs objects of 0 B to 2 MiB until killed, appending each
                     acknowledged one (key, size, SHA-256) to LEDGER
  put-verify LEDGER BUCKET
                     reads back every object in LEDGER and compares it
"""
import hashlib
import json
import os
import random
import socket
import sys
import time
import urllib.parse

import boto3
import botocore
from botocore.config import Config

import rawsign


def client():
    endpoint, ak, sk, region = rawsign.env()
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk,
                        region_name=region,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def content(key, size):
    seed = hashlib.sha256(key.encode()).digest()
    block = hashlib.sha256(seed).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def send_and_close(head, body, sent):
    endpoint = rawsign.env()[0]
    u = urllib.parse.urlparse(endpoint)
    sock = socket.create_connection((u.hostname, u.port), timeout=30)
    sock.sendall(head + body[:sent])
    time.sleep(0.3)
    sock.close()


def disconnect_put(bucket, key, size, sent):
    endpoint, ak, sk, region = rawsign.env()
    netloc = urllib.parse.urlparse(endpoint).netloc
    body = content(key, int(size))
    path = f"/{bucket}/{key}"
    headers = {"host": netloc}
    rawsign.sign("PUT", path, [], headers, "UNSIGNED-PAYLOAD", ak, sk, region)
    headers["content-length"] = str(len(body))
    head = (f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    send_and_close(head, body, int(sent))
    print(json.dumps({"sent": int(sent), "of": len(body)}))


def disconnect_post(bucket, key, size, sent):
    endpoint = rawsign.env()[0]
    netloc = urllib.parse.urlparse(endpoint).netloc
    post = client().generate_presigned_post(Bucket=bucket, Key=key, ExpiresIn=600)
    boundary = "s3sealfaultboundary"
    parts = b""
    for name, value in post["fields"].items():
        parts += f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
    parts += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
              "Content-Type: application/octet-stream\r\n\r\n").encode()
    body = parts + content(key, int(size)) + f"\r\n--{boundary}--\r\n".encode()
    path = f"/{bucket}"
    head = (f"POST {path} HTTP/1.1\r\nhost: {netloc}\r\n"
            f"content-type: multipart/form-data; boundary={boundary}\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode()
    send_and_close(head, body, len(parts) + int(sent))
    print(json.dumps({"sent": int(sent), "of": int(size)}))


def timed(call):
    """Runs call(result); prints result with the time taken, and the error if any."""
    s3 = client()
    result = {}
    started = time.monotonic()
    try:
        call(s3, result)
    except Exception as err:  # the test reads what kind of failure it was
        result["error"] = f"{type(err).__name__}: {err}"
    result["elapsed"] = time.monotonic() - started
    print(json.dumps(result))


def get(bucket, key):
    def call(s3, result):
        response = s3.get_object(Bucket=bucket, Key=key)
        result["announced"] = response["ContentLength"]
        data = response["Body"].read()
        result["received"] = len(data)
        result["sha256"] = hashlib.sha256(data).hexdigest()
    timed(call)


def head(bucket, key):
    def call(s3, result):
        result["length"] = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    timed(call)


def put(bucket, key, size):
    def call(s3, result):
        result["etag"] = s3.put_object(Bucket=bucket, Key=key, Body=content(key, int(size)))["ETag"]
    timed(call)


def slow_put(bucket, key, pieces, pause):
    endpoint, ak, sk, region = rawsign.env()
    piece = 256 * 1024
    body = content(key, int(pieces) * piece)
    conn, netloc = rawsign.connection(endpoint)
    path = f"/{bucket}/{key}"
    headers = {"host": netloc}
    rawsign.sign("PUT", path, [], headers, "UNSIGNED-PAYLOAD", ak, sk, region)
    headers["content-length"] = str(len(body))
    conn.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    for start in range(0, len(body), piece):
        time.sleep(float(pause))
        conn.send(body[start:start + piece])
    response = conn.getresponse()
    print(json.dumps({"status": response.status, "body": response.read().decode(errors="replace"),
                      "sha256": hashlib.sha256(body).hexdigest()}))


def put_load(ledger, bucket):
    s3 = client()
    rng = random.Random(os.getpid())
    n = 0
    with open(ledger, "a") as out:
        while True:
            n += 1
            key = f"load-{os.getpid()}-{n}"
            size = rng.choice([0, 1, 1000, 65536, 65537, 300000, 2 * 1024 * 1024])
            body = content(key, size)
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
            except Exception:
                continue
            out.write(json.dumps({"key": key, "size": size, "sha256": hashlib.sha256(body).hexdigest()}) + "\n")
            out.flush()


def put_verify(ledger, bucket):
    s3 = client()
    checked, wrong = 0, []
    for line in open(ledger):
        entry = json.loads(line)
        try:
            data = s3.get_object(Bucket=bucket, Key=entry["key"])["Body"].read()
            if hashlib.sha256(data).hexdigest() != entry["sha256"] or len(data) != entry["size"]:
                wrong.append(entry["key"])
        except Exception as err:
            wrong.append(f"{entry['key']}: {err}")
        checked += 1
    print(json.dumps({"checked": checked, "wrong": wrong}))


def main():
    what, args = sys.argv[1], sys.argv[2:]
    {
        "disconnect-put": disconnect_put,
        "disconnect-post": disconnect_post,
        "get": get,
        "head": head,
        "put": put,
        "slow-put": slow_put,
        "put-load": put_load,
        "put-verify": put_verify,
    }[what](*args)


if __name__ == "__main__":
    main()
