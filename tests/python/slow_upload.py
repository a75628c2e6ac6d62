"""A signed PUT whose body arrives in two halves, for graceful-shutdown tests.

Sends the head with Expect: 100-continue and waits for "100 Continue" (so the
request is provably being served), sends half the body, prints "half-sent",
waits for a line on stdin, sends the rest and prints the final status code."""
import hashlib
import socket
import sys
import urllib.parse

import rawsign


def main():
    bucket, key = sys.argv[1:3]
    body = (bytes(range(256)) * 800)[:200000]
    endpoint, ak, sk, region = rawsign.env()
    u = urllib.parse.urlparse(endpoint)
    path = f"/{bucket}/{key}"
    headers = {"host": u.netloc, "expect": "100-continue"}
    rawsign.sign("PUT", path, [], headers, hashlib.sha256(body).hexdigest(), ak, sk, region)
    headers["content-length"] = str(len(body))
    sock = socket.create_connection((u.hostname, u.port), timeout=30)
    stream = sock.makefile("rb")
    sock.sendall((f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
    interim = stream.readline().decode().strip()
    assert interim.startswith("HTTP/1.1 100"), interim
    stream.readline()
    sock.sendall(body[:100000])
    print("half-sent", flush=True)
    sys.stdin.readline()
    sock.sendall(body[100000:])
    status = stream.readline().decode().split()
    print(status[1] if len(status) > 1 else "no-response", flush=True)


main()
