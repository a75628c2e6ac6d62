"""Clients that misbehave on purpose, for the [limits] tests; each prints a JSON result.

  stalled-body BUCKET KEY  a signed PUT announcing 1000 bytes that sends 10, then
                           stops: the answer s3seal gives once the body goes idle
  slow-head                a request head sent in part, never finished: seconds
                           until s3seal closes the connection
  idle-keepalive           one complete request, then silence on the kept-alive
                           connection: seconds until s3seal closes it
  held-connections N BUCKET
                           N connections opened and held silent, then one boto3
                           request (503 SlowDown expected past the limit); then one
                           held connection closed and the request tried again
  big-xml BUCKET           a 3 MiB DeleteObjects body and a 1001-key one: the answers
  burst N BUCKET           N ListObjectsV2, N KMS ListKeys and N browser POST
                           uploads (presigned by boto3) in a row, without retries:
                           how many of each were throttled, how, and how long the
                           calls took
"""
import hashlib
import json
import re
import socket
import sys
import time
import urllib.parse

import boto3
import botocore
from botocore.config import Config

import rawsign


def address():
    u = urllib.parse.urlparse(rawsign.env()[0])
    return u.hostname, u.port, u.netloc


def seconds_until_closed(sock, limit=60):
    """Reads until the server closes; returns (seconds waited, bytes read)."""
    start = time.monotonic()
    sock.settimeout(limit)
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    return time.monotonic() - start, got


def stalled_body(bucket, key):
    host, port, netloc = address()
    _, ak, sk, region = rawsign.env()
    path = f"/{bucket}/{key}"
    headers = {"host": netloc}
    rawsign.sign("PUT", path, [], headers, "UNSIGNED-PAYLOAD", ak, sk, region)
    headers["content-length"] = "1000"
    sock = socket.create_connection((host, port), timeout=60)
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode() + b"0123456789")
    waited, answer = seconds_until_closed(sock)
    status_line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    body = answer.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")
    print(json.dumps({"seconds": waited, "status_line": status_line, "body": body}))


def slow_head():
    host, port, netloc = address()
    sock = socket.create_connection((host, port))
    sock.sendall(f"GET / HTTP/1.1\r\nhost: {netloc}\r\nx-amz-date: 2".encode())
    waited, answer = seconds_until_closed(sock)
    print(json.dumps({"seconds": waited, "answer": answer.decode(errors="replace")}))


def idle_keepalive():
    host, port, netloc = address()
    sock = socket.create_connection((host, port))
    sock.sendall(f"GET / HTTP/1.1\r\nhost: {netloc}\r\n\r\n".encode())
    status = rawsign.read_response(sock.makefile("rb"))
    waited, rest = seconds_until_closed(sock)
    print(json.dumps({"first_status": status, "seconds": waited, "after": rest.decode(errors="replace")}))


def boto(service):
    endpoint, ak, sk, region = rawsign.env()
    return boto3.client(service, endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk,
                        region_name=region,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"}))


def error_of(call):
    try:
        call()
        return "ok"
    except botocore.exceptions.ClientError as err:
        return f"{err.response['ResponseMetadata']['HTTPStatusCode']} {err.response['Error']['Code']}"


def held_connections(n, bucket):
    host, port, _ = address()
    held = [socket.create_connection((host, port)) for _ in range(n)]
    time.sleep(0.5)
    s3 = boto("s3")
    try:
        s3.list_objects_v2(Bucket=bucket)
        over, over_request_id = "ok", None
    except botocore.exceptions.ClientError as err:
        over = f"{err.response['ResponseMetadata']['HTTPStatusCode']} {err.response['Error']['Code']}"
        over_request_id = err.response["ResponseMetadata"].get("RequestId")
    held.pop().close()
    time.sleep(0.5)
    s3 = boto("s3")
    after_one_closed = error_of(lambda: s3.list_objects_v2(Bucket=bucket))
    print(json.dumps({"over_the_limit": over, "request_id": over_request_id,
                      "after_one_closed": after_one_closed}))


def post_outcome(s3, bucket, key):
    """A browser POST upload of one byte: "ok", or the status and S3 error code."""
    post = s3.generate_presigned_post(Bucket=bucket, Key=key, ExpiresIn=600)
    boundary = "s3sealburstboundary"
    body = b""
    for name, value in post["fields"].items():
        body += f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
    body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
             f"Content-Type: application/octet-stream\r\n\r\nx\r\n--{boundary}--\r\n").encode()
    conn, _ = rawsign.connection(rawsign.env()[0])
    conn.request("POST", f"/{bucket}", body=body,
                 headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    response = conn.getresponse()
    answer = response.read().decode(errors="replace")
    if response.status < 300:
        return "ok"
    code = re.search(r"<Code>(.*?)</Code>", answer)
    return f"{response.status} {code.group(1) if code else answer}"


def burst(n, bucket):
    s3, kms = boto("s3"), boto("kms")
    outcomes = {"s3": {}, "kms": {}, "post": {}}
    start = time.monotonic()
    for i in range(int(n)):
        for name, call in (("s3", lambda: error_of(lambda: s3.list_objects_v2(Bucket=bucket))),
                           ("kms", lambda: error_of(kms.list_keys)),
                           ("post", lambda: post_outcome(s3, bucket, f"burst-{i}"))):
            outcome = call()
            outcomes[name][outcome] = outcomes[name].get(outcome, 0) + 1
    outcomes["seconds"] = time.monotonic() - start
    print(json.dumps(outcomes))


def big_xml(bucket):
    import base64
    answers = {}
    def delete_body(keys):
        objects = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
        return f'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{objects}</Delete>'.encode()
    for name, body in (("huge", delete_body(["k" * 1000] * 3100)), ("too_many", delete_body([f"k{i}" for i in range(1001)]))):
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        status, answer = rawsign.request("POST", f"/{bucket}", body=body, query=[("delete", "")],
                                         headers={"content-md5": md5})
        answers[name] = {"status": status, "body": answer.decode(errors="replace")}
    print(json.dumps(answers))


def main():
    what, args = sys.argv[1], sys.argv[2:]
    if what == "stalled-body":
        stalled_body(*args)
    elif what == "slow-head":
        slow_head()
    elif what == "idle-keepalive":
        idle_keepalive()
    elif what == "held-connections":
        held_connections(int(args[0]), args[1])
    elif what == "big-xml":
        big_xml(*args)
    elif what == "burst":
        burst(int(args[0]), args[1])
    else:
        raise SystemExit(f"unknown scenario {what}")


if __name__ == "__main__":
    main()
