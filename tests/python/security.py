"""Security checks against s3seal (tests/security.rs); each prints a JSON
result or raises.

  replay BUCKET          one signed PUT sent twice, byte for byte: accepted while
                         its x-amz-date is within 15 minutes, refused once beyond
  presigned BUCKET       presigned URLs: an expired PUT stores nothing; an expired
                         URL with X-Amz-Expires or X-Amz-Date moved does not
                         verify; X-Amz-Expires over 7 days is refused
  keys BUCKET OTHER      keys with dot segments, encoded and double-encoded
                         slashes and dots, spaces, XML specials, NFC/NFD forms:
                         each stored and listed under exactly its name, in BUCKET;
                         a key beginning with '/' refused
  wire-keys BUCKET       paths as a client may put them on the wire (%2e%2e,
                         %2F, %2E): which key each names
  long-keys BUCKET       keys of 1024 bytes work; 1025 bytes: KeyTooLongError
  traffic BUCKET         uploads whose bytes must never reach the upstream in
                         clear: signed aws-chunked PUT, presigned PUT and GET
"""
import datetime
import hashlib
import json
import sys
import time
import unicodedata
import urllib.parse
from unittest import mock

import botocore.exceptions

import chunked_uploads
import presigned
import rawsign
import s3clients


def replay(bucket):
    """x-amz-date 15 minutes minus 5 seconds ago: the request is good for 5
    more seconds. Sent now, and again (the same bytes) 7 seconds later."""
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=15, seconds=-5)
    body = b"replayed body"
    first = rawsign.request("PUT", f"/{bucket}/replayed", body=body, when=when)
    time.sleep(7)
    again = rawsign.request("PUT", f"/{bucket}/replayed", body=body, when=when)
    return {"first": first[0], "replayed": again[0], "replayed_body": again[1].decode()}


def expect_error(status_body, status, code):
    got_status, body = status_body
    assert got_status == status and code.encode() in body, (status, code, got_status, body)


def presigned_urls(bucket):
    s3 = presigned.client()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="p", Body=b"presigned")
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "late"}, ExpiresIn=1)
    get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=1)
    time.sleep(2.5)
    # An expired PUT stores nothing.
    expect_error(presigned.curl("PUT", put, b"too late"), 403, "Request has expired")
    try:
        s3.head_object(Bucket=bucket, Key="late")
        raise AssertionError("an expired presigned PUT stored an object")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "404", e.response
    # The expiry is signed: lengthening it, or moving the date, breaks the signature.
    longer = get.replace("X-Amz-Expires=1&", "X-Amz-Expires=3600&")
    assert longer != get
    expect_error(presigned.curl("GET", longer), 403, "SignatureDoesNotMatch")
    signed_at = urllib.parse.parse_qs(urllib.parse.urlsplit(get).query)["X-Amz-Date"][0]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    moved = get.replace(f"X-Amz-Date={signed_at}", f"X-Amz-Date={now}")
    assert moved != get
    expect_error(presigned.curl("GET", moved), 403, "SignatureDoesNotMatch")
    # AWS's limit on a presigned URL's lifetime: seven days.
    week = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=604800)
    status, body = presigned.curl("GET", week)
    assert status == 200 and body == b"presigned", (status, body)
    too_long = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=604801)
    expect_error(presigned.curl("GET", too_long), 400, "AuthorizationHeaderMalformed")
    return {"ok": True}


NFC = unicodedata.normalize("NFC", "caf\u00e9")
NFD = unicodedata.normalize("NFD", "caf\u00e9")
KEYS = [
    "../escape",
    "../{other}/x",
    "./here",
    "a/./b",
    "a/../b",
    "a//b",
    "a/",
    "trailing-dots..",
    "..",
    ".",
    "%2F",
    "a%2Fb",
    "%252F",
    "%2e%2e/x",
    "%25",
    "100%",
    "a+b",
    "a b  c ",
    " ",
    "&<>\"'",
    NFC,
    NFD,
    "\u65e5\u672c\u8a9e/\u30ad\u30fc",
    "\U0001F511",
]


def keys(bucket, other):
    s3, up = s3clients.proxy(), s3clients.upstream()
    s3.create_bucket(Bucket=other)
    names = [k.format(other=other) for k in KEYS]
    assert NFC != NFD and len(set(names)) == len(names)
    for n, key in enumerate(names):
        s3.put_object(Bucket=bucket, Key=key, Body=f"body {n}".encode())
    for n, key in enumerate(names):
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert got == f"body {n}".encode(), (key, got)
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(got), key
    # Garage drops a key's leading slashes: s3seal refuses such keys rather
    # than act on another object than the one it authorised.
    try:
        s3.put_object(Bucket=bucket, Key="/leading-slash", Body=b"x")
        leading_slash = "accepted"
    except botocore.exceptions.ClientError as e:
        leading_slash = e.response["Error"]["Code"]
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    stored = [o["Key"] for o in up.list_objects_v2(Bucket=bucket)["Contents"]]
    # The same names in ListObjects (v1, no encoding-type: XML escaping only).
    listed_v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    other_listed = up.list_objects_v2(Bucket=other).get("Contents", [])
    for key in names:
        s3.delete_object(Bucket=bucket, Key=key)
    left = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {"names": sorted(names), "listed": sorted(listed), "listed_v1": sorted(listed_v1),
            "stored": sorted(stored), "other_bucket": other_listed, "left_after_delete": left,
            "leading_slash": leading_slash}


def send_verbatim(method, wire_path, body=b""):
    """Sends `wire_path` exactly as given, signed with it as the canonical URI
    (what s3seal verifies: the path as received)."""
    endpoint, key, secret, region = rawsign.env()
    conn, host = rawsign.connection(endpoint)
    headers = {"host": host}
    quote = rawsign._encode
    with mock.patch.object(rawsign, "_encode", lambda s, keep_slash: s if keep_slash else quote(s, False)):
        rawsign.sign(method, wire_path, [], headers, hashlib.sha256(body).hexdigest(), key, secret, region)
    headers["content-length"] = str(len(body))
    conn.request(method, wire_path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def wire_keys(bucket):
    s3 = s3clients.proxy()
    results = {}
    for wire in ["%2e%2e/wire-dots", "%2E%2E/%2E/wire-upper", "a%2Fb-wire", "%25252F-wire", "caf%C3%A9-wire"]:
        status, body = send_verbatim("PUT", f"/{bucket}/{wire}", wire.encode())
        assert status == 200, (wire, status, body)
    for o in s3.list_objects_v2(Bucket=bucket)["Contents"]:
        results[o["Key"]] = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode()
    return results


def long_keys(bucket):
    s3 = s3clients.proxy()
    s3.create_bucket(Bucket=bucket)
    at_limit = ["k" * 1022 + "\u00e9", ("d/" * 512)[:1023] + "x"]
    for key in at_limit:
        assert len(key.encode()) == 1024, len(key.encode())
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode()[-16:])
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()[-16:]
    copy = "c" * 1024
    s3.copy_object(Bucket=bucket, Key=copy, CopySource={"Bucket": bucket, "Key": at_limit[0]})
    assert s3.get_object(Bucket=bucket, Key=copy)["Body"].read() == at_limit[0].encode()[-16:]
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert listed == sorted(at_limit + [copy]), [len(k) for k in listed]
    refused = {}
    for name, key in [("1025-ascii", "k" * 1025), ("1025-utf8", "k" * 1023 + "\u00e9")]:
        for op, call in [
            ("PutObject", lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x")),
            ("CreateMultipartUpload", lambda: s3.create_multipart_upload(Bucket=bucket, Key=key)),
            ("CopyObject", lambda: s3.copy_object(Bucket=bucket, Key=key,
                                                  CopySource={"Bucket": bucket, "Key": copy})),
            ("GetObject", lambda: s3.get_object(Bucket=bucket, Key=key)),
        ]:
            try:
                call()
                refused[f"{name} {op}"] = "accepted"
            except botocore.exceptions.ClientError as e:
                refused[f"{name} {op}"] = e.response["Error"]["Code"]
    return {"listed": [len(k.encode()) for k in listed], "refused": refused}


TRAFFIC_PLAINTEXT = b"s3seal security check: this plaintext must never leave s3seal in clear. " * 2000


def traffic(bucket):
    status, body = chunked_uploads.put_chunked(bucket, "chunked", TRAFFIC_PLAINTEXT,
                                               "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
    assert status == 200, (status, body)
    s3 = presigned.client()
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=300)
    status, body = presigned.curl("PUT", put, TRAFFIC_PLAINTEXT)
    assert status == 200, (status, body)
    for key in ["chunked", "presigned"]:
        get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
        status, body = presigned.curl("GET", get)
        assert status == 200 and body == TRAFFIC_PLAINTEXT, (key, status, len(body))
    return {"keys": ["chunked", "presigned"]}


if __name__ == "__main__":
    scenarios = {"replay": replay, "presigned": presigned_urls, "keys": keys, "wire-keys": wire_keys,
                 "long-keys": long_keys, "traffic": traffic}
    print(json.dumps(scenarios[sys.argv[1]](*sys.argv[2:])))
