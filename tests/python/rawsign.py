"""A minimal, independent SigV4 signer for raw requests the SDKs refuse to make
(wrong payload hashes, skewed clocks, slow bodies). Deliberately separate from
s3seal's Rust implementation so each checks the other."""
import datetime
import hashlib
import hmac
import http.client
import os
import urllib.parse


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _encode(s, keep_slash):
    safe = "-_.~" + ("/" if keep_slash else "")
    return urllib.parse.quote(s, safe=safe)


def sign(method, path, query, headers, payload_hash, key, secret, region, when=None, service="s3"):
    """Adds x-amz-date, x-amz-content-sha256 and Authorization to `headers` (dict, lowercase keys)."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    headers["x-amz-date"] = amz_date
    headers["x-amz-content-sha256"] = payload_hash
    signed = sorted(headers)
    canonical_headers = "".join(f"{h}:{' '.join(str(headers[h]).split())}\n" for h in signed)
    canonical_query = "&".join(
        f"{_encode(k, False)}={_encode(v, False)}" for k, v in sorted(query)
    )
    creq = "\n".join([method, _encode(path, True), canonical_query, canonical_headers, ";".join(signed), payload_hash])
    scope = f"{date}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        k = _hmac(k, part)
    signature = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    return headers


def env():
    return (
        os.environ["S3SEAL_ENDPOINT"],
        os.environ["S3SEAL_KEY"],
        os.environ["S3SEAL_SECRET"],
        os.environ["S3SEAL_REGION"],
    )


def read_response_with_fields(stream, has_body=True):
    """Reads one response head (and its Content-Length body) from a raw
    socket's stream; returns the status line and the header fields (a dict,
    lowercase names)."""
    status = stream.readline().decode().strip()
    fields = {}
    while True:
        line = stream.readline().decode().strip()
        if not line:
            break
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    length = int(fields.get("content-length", "0"))
    if has_body and length:
        stream.read(length)
    return status, fields


def read_response(stream, has_body=True):
    """[read_response_with_fields], the status line only."""
    return read_response_with_fields(stream, has_body)[0]


def connection(endpoint):
    u = urllib.parse.urlparse(endpoint)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60), u.netloc


def request(method, path, body=b"", query=(), headers=None, payload_hash=None, when=None, send_body=None):
    """Signs and sends one request; returns (status, body bytes)."""
    endpoint, key, secret, region = env()
    conn, host = connection(endpoint)
    headers = dict(headers or {})
    headers["host"] = host
    if payload_hash is None:
        payload_hash = hashlib.sha256(body).hexdigest()
    sign(method, path, list(query), headers, payload_hash, key, secret, region, when=when)
    target = urllib.parse.quote(path, safe="/-_.~")
    if query:
        target += "?" + "&".join(f"{_encode(k, False)}={_encode(v, False)}" for k, v in query)
    actual = body if send_body is None else send_body
    headers["content-length"] = str(len(actual))
    conn.request(method, target, body=actual, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()
