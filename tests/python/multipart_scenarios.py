"""boto3 multipart scenarios against s3seal; prints a JSON result or raises.

  uploads BUCKET     5 MiB parts, 5,000,000-byte parts, reverse order, a re-sent part,
                     parallel parts; full GETs, 200 random ranges, partNumber reads,
                     ListParts sizes, S3's completion errors
  tamper BUCKET      swapped parts, a dropped last part, a part spliced from another
                     object: every GET of the tampered object fails
  part-copy BUCKET   UploadPartCopy with ranges from single-part, multipart and
                     plaintext sources
  check BUCKET KEY SIZE SEED   full GET and 50 random ranges of an existing object
"""
import concurrent.futures
import json
import random
import sys

import botocore

from s3clients import MIB, data, proxy, upstream


def error_code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


def multipart(s3, bucket, key, parts, order=None, parallel=False, extra=None):
    """Uploads `parts` (list of bytes) as parts 1..n, in `order`; returns the upload's ETag list."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **(extra or {}))["UploadId"]
    numbers = order or list(range(1, len(parts) + 1))

    def send(n):
        return n, s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=parts[n - 1])["ETag"]

    if parallel:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(numbers)) as pool:
            etags = dict(pool.map(send, numbers))
    else:
        etags = dict(send(n) for n in numbers)
    done = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done})
    return upload


def check_object(s3, bucket, key, plain, part_sizes=None, ranges=200, seed=1):
    """Full GET, random ranges and (for multipart objects) partNumber reads against `plain`."""
    got = s3.get_object(Bucket=bucket, Key=key)
    body = got["Body"].read()
    assert body == plain, f"{key}: full GET differs ({len(body)} vs {len(plain)} bytes)"
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(plain), head
    # Uploads without SSE parameters get the bucket default, SSE-S3, as on AWS.
    assert head["ServerSideEncryption"] in ("aws:kms", "AES256"), head
    rng = random.Random(seed)
    n = len(plain)
    # Boundaries worth hitting: segments (64 KiB) and parts.
    edges = [0, n - 1, 65535, 65536, 65537]
    offset = 0
    for size in part_sizes or []:
        offset += size
        edges += [offset - 1, offset, offset + 1]
    edges = [e for e in edges if 0 <= e < n]
    for i in range(ranges):
        kind = i % 4
        if kind == 0:
            a = rng.choice(edges)
            b = min(n - 1, a + rng.choice([0, 1, 2, 65536, 3 * MIB]))
            header, expect = f"bytes={a}-{b}", plain[a:b + 1]
        elif kind == 1:
            a = rng.randrange(n)
            header, expect = f"bytes={a}-", plain[a:]
        elif kind == 2:
            k = rng.randrange(1, n + 10)
            header, expect = f"bytes=-{k}", plain[-k:] if k <= n else plain
        else:
            a = rng.randrange(n)
            b = rng.randrange(a, n)
            header, expect = f"bytes={a}-{b}", plain[a:b + 1]
        r = s3.get_object(Bucket=bucket, Key=key, Range=header)
        got = r["Body"].read()
        assert got == expect, f"{key} {header}: {len(got)} bytes, expected {len(expect)}"
        assert r["ContentLength"] == len(expect)
        assert r["ContentRange"].endswith(f"/{n}"), r["ContentRange"]
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={n}-"))[0] == "InvalidRange"
    if part_sizes:
        offset = 0
        for i, size in enumerate(part_sizes, start=1):
            r = s3.get_object(Bucket=bucket, Key=key, PartNumber=i)
            assert r["Body"].read() == plain[offset:offset + size], f"{key} part {i}"
            assert r["PartsCount"] == len(part_sizes), r
            assert r["ContentRange"] == f"bytes {offset}-{offset + size - 1}/{n}", r["ContentRange"]
            h = s3.head_object(Bucket=bucket, Key=key, PartNumber=i)
            assert h["ContentLength"] == size and h["PartsCount"] == len(part_sizes), h
            offset += size
        code = error_code(lambda: s3.get_object(Bucket=bucket, Key=key, PartNumber=len(part_sizes) + 1))
        assert code == ("InvalidPartNumber", 416), code


def listed_size(s3, bucket, key):
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", []):
        if obj["Key"] == key:
            return obj["Size"]
    raise AssertionError(f"{key} not listed")


def uploads(bucket):
    s3 = proxy()
    raw = upstream()
    results = {}

    # 5 MiB parts (segment-aligned) with a short last part.
    sizes = [5 * MIB, 5 * MIB, MIB + 7]
    parts = [data(s, 10 + i) for i, s in enumerate(sizes)]
    multipart(s3, bucket, "aligned", parts, extra={"ContentType": "text/x-parts", "Metadata": {"m": "1"}})
    plain = b"".join(parts)
    check_object(s3, bucket, "aligned", plain, sizes)
    assert listed_size(s3, bucket, "aligned") == len(plain)
    stored = raw.get_object(Bucket=bucket, Key="aligned")["Body"].read()
    assert plain[:4096] not in stored and parts[1][-4096:] not in stored, "plaintext reached the upstream"
    results["aligned"] = len(stored)

    # Parts that are not a multiple of the segment size: S3's 5 MiB minimum
    # rejects 5,000,000-byte parts that are not last (EntityTooSmall)...
    small = [data(5_000_000, 20 + i) for i in range(3)]
    code = error_code(lambda: multipart(s3, bucket, "too-small", small))
    assert code == ("EntityTooSmall", 400), code
    assert error_code(lambda: s3.head_object(Bucket=bucket, Key="too-small"))[1] == 404
    # ...and accepts them after 5 MiB+ parts that are not segment-aligned either.
    sizes = [5_300_001, 5 * MIB + 1, 5_000_000]
    parts = [data(s, 30 + i) for i, s in enumerate(sizes)]
    multipart(s3, bucket, "unaligned", parts)
    check_object(s3, bucket, "unaligned", b"".join(parts), sizes, seed=2)
    single = data(5_000_000, 25)
    multipart(s3, bucket, "one-5000000-part", [single])
    check_object(s3, bucket, "one-5000000-part", single, [5_000_000], ranges=20, seed=3)

    # Parts uploaded in reverse order, and in parallel.
    sizes = [5 * MIB + 3, 5 * MIB + 5, 4 * MIB]
    parts = [data(s, 40 + i) for i, s in enumerate(sizes)]
    multipart(s3, bucket, "reversed", parts, order=[3, 2, 1])
    check_object(s3, bucket, "reversed", b"".join(parts), sizes, ranges=40, seed=4)
    parts = [data(5 * MIB, 50 + i) for i in range(4)]
    multipart(s3, bucket, "parallel", parts, parallel=True)
    check_object(s3, bucket, "parallel", b"".join(parts), [5 * MIB] * 4, ranges=40, seed=5)

    # A re-sent part: the last upload of part 2 wins.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="resent")["UploadId"]
    first = data(5 * MIB, 60)
    e1 = s3.upload_part(Bucket=bucket, Key="resent", UploadId=upload, PartNumber=1, Body=first)["ETag"]
    s3.upload_part(Bucket=bucket, Key="resent", UploadId=upload, PartNumber=2, Body=data(3 * MIB, 61))
    second = data(2 * MIB + 9, 62)
    e2 = s3.upload_part(Bucket=bucket, Key="resent", UploadId=upload, PartNumber=2, Body=second)["ETag"]
    listed = s3.list_parts(Bucket=bucket, Key="resent", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 5 * MIB), (2, 2 * MIB + 9)], listed
    # Completion errors, as S3 reports them.
    bad = [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": '"0000"'}]
    code = error_code(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="resent", UploadId=upload, MultipartUpload={"Parts": bad}))
    assert code == ("InvalidPart", 400), code
    unordered = [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]
    code = error_code(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="resent", UploadId=upload, MultipartUpload={"Parts": unordered}))
    assert code == ("InvalidPartOrder", 400), code
    good = [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]
    s3.complete_multipart_upload(Bucket=bucket, Key="resent", UploadId=upload, MultipartUpload={"Parts": good})
    check_object(s3, bucket, "resent", first + second, [5 * MIB, 2 * MIB + 9], ranges=20, seed=6)

    # Unknown, aborted and foreign uploads.
    code = error_code(lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId="nope", PartNumber=1, Body=b"x"))
    assert code == ("NoSuchUpload", 404), code
    upload = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="aborted", UploadId=upload, PartNumber=1, Body=b"x" * 100)
    code = error_code(lambda: s3.upload_part(Bucket=bucket, Key="other-key", UploadId=upload, PartNumber=1, Body=b"x"))
    assert code == ("NoSuchUpload", 404), code
    code = error_code(lambda: s3.upload_part(Bucket=bucket, Key="aborted", UploadId=upload, PartNumber=10001, Body=b"x"))
    assert code[1] == 400, code
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload)
    code = error_code(lambda: s3.upload_part(Bucket=bucket, Key="aborted", UploadId=upload, PartNumber=1, Body=b"x"))
    assert code == ("NoSuchUpload", 404), code
    assert not [u for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) if u["Key"] == "aborted"]

    # SSE headers on UploadPart must agree with the upload's encryption.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="sse-parts", ServerSideEncryption="aws:kms")["UploadId"]
    injected = {}

    def inject(request, **_):
        for name, value in injected.items():
            request.headers[name] = value

    s3.meta.events.register("before-sign.s3.UploadPart", inject)
    part = lambda: s3.upload_part(Bucket=bucket, Key="sse-parts", UploadId=upload, PartNumber=1, Body=b"p" * 10)
    injected = {"x-amz-server-side-encryption": "AES256"}
    assert error_code(part) == ("InvalidArgument", 400)
    injected = {"x-amz-server-side-encryption": "aws:kms",
                "x-amz-server-side-encryption-aws-kms-key-id": "00000000-0000-4000-8000-000000000000"}
    assert error_code(part) == ("InvalidArgument", 400)
    injected = {"x-amz-server-side-encryption": "aws:kms"}
    assert error_code(part) == (None, 200)
    injected = {}
    s3.meta.events.unregister("before-sign.s3.UploadPart", inject)
    s3.abort_multipart_upload(Bucket=bucket, Key="sse-parts", UploadId=upload)

    # partNumber together with Range is refused; partNumber 1 of a single-part object is all of it.
    code = error_code(lambda: s3.get_object(Bucket=bucket, Key="aligned", PartNumber=1, Range="bytes=0-1"))
    assert code[1] == 400, code
    s3.put_object(Bucket=bucket, Key="single", Body=b"0123456789")
    r = s3.get_object(Bucket=bucket, Key="single", PartNumber=1)
    assert r["Body"].read() == b"0123456789" and r["ContentRange"] == "bytes 0-9/10", r
    assert "PartsCount" not in r
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="single", PartNumber=2)) == ("InvalidPartNumber", 416)
    results["conditionals"] = conditionals(s3, bucket, ["aligned", "single"])
    print(json.dumps(results))


def conditionals(s3, bucket, keys):
    """If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since as on S3,
    for whole, ranged and part reads."""
    import datetime
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    seen = {}
    for key in keys:
        etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
        for extra in [{}, {"Range": "bytes=1-2"}, {"PartNumber": 1}]:
            def get(**cond):
                return error_code(lambda: s3.get_object(Bucket=bucket, Key=key, **extra, **cond)["Body"].read())
            assert get(IfMatch=etag) == (None, 200), (key, extra)
            assert get(IfMatch='"0123"') == ("PreconditionFailed", 412), (key, extra)
            assert get(IfNoneMatch=etag)[1] == 304, (key, extra, get(IfNoneMatch=etag))
            assert get(IfNoneMatch='"0123"') == (None, 200), (key, extra)
            assert get(IfModifiedSince=future)[1] == 304, (key, extra)
            assert get(IfModifiedSince=past) == (None, 200), (key, extra)
            assert get(IfUnmodifiedSince=past) == ("PreconditionFailed", 412), (key, extra)
            assert get(IfUnmodifiedSince=future) == (None, 200), (key, extra)
        head = error_code(lambda: s3.head_object(Bucket=bucket, Key=key, IfNoneMatch=etag))
        assert head[1] == 304, head
        seen[key] = etag
    return seen


def copy_upstream_parts(raw, bucket, key, stored_parts, metadata):
    """Replaces `key` on the upstream with a multipart object made of `stored_parts`."""
    upload = raw.create_multipart_upload(Bucket=bucket, Key=key, Metadata=metadata)["UploadId"]
    done = []
    for n, body in enumerate(stored_parts, start=1):
        etag = raw.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=body)["ETag"]
        done.append({"PartNumber": n, "ETag": etag})
    raw.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done})


def stored_parts(raw, bucket, key):
    count = raw.head_object(Bucket=bucket, Key=key, PartNumber=1)["PartsCount"]
    return [raw.get_object(Bucket=bucket, Key=key, PartNumber=n)["Body"].read() for n in range(1, count + 1)]


def get_fails(s3, bucket, key, plain):
    """True if every way of reading `key` fails rather than returning wrong bytes."""
    outcomes = []
    for kwargs in [{}, {"Range": "bytes=0-"}, {"Range": f"bytes={5 * MIB}-{5 * MIB + 10}"}, {"PartNumber": 2}]:
        try:
            body = s3.get_object(Bucket=bucket, Key=key, **kwargs)["Body"].read()
            outcomes.append(("returned", len(body), body == plain))
        # A failure shows as an error status, a cut-off body, or (when the
        # first segment fails before the status line went out) a closed
        # connection: any of them, as long as no wrong byte is returned.
        except (botocore.exceptions.ClientError, botocore.exceptions.ResponseStreamingError,
                botocore.exceptions.IncompleteReadError,
                botocore.exceptions.ConnectionClosedError) as e:
            outcomes.append(("failed", type(e).__name__))
    return all(o[0] == "failed" for o in outcomes), outcomes


def tamper(bucket):
    s3 = proxy()
    raw = upstream()
    results = {}
    sizes = [5 * MIB, 5 * MIB, 5 * MIB]
    plain = {}
    for name, seed in [("victim", 70), ("other", 80)]:
        parts = [data(s, seed + i) for i, s in enumerate(sizes)]
        multipart(s3, bucket, name, parts)
        plain[name] = b"".join(parts)
    original = stored_parts(raw, bucket, "victim")
    other = stored_parts(raw, bucket, "other")
    metadata = raw.head_object(Bucket=bucket, Key="victim")["Metadata"]

    cases = {
        "swapped": [original[1], original[0], original[2]],
        "dropped-last": original[:2],
        "spliced": [original[0], other[1], original[2]],
    }
    for case, parts in cases.items():
        copy_upstream_parts(raw, bucket, "victim", parts, metadata)
        failed, outcomes = get_fails(s3, bucket, "victim", plain["victim"])
        assert failed, f"{case}: {outcomes}"
        results[case] = outcomes
    # Restoring the original parts makes it readable again.
    copy_upstream_parts(raw, bucket, "victim", original, metadata)
    check_object(s3, bucket, "victim", plain["victim"], sizes, ranges=10)
    print(json.dumps(results))


def part_copy(bucket):
    s3 = proxy()
    raw = upstream()
    single = data(5 * MIB + 5, 90)
    s3.put_object(Bucket=bucket, Key="src-single", Body=single)
    parts = [data(5 * MIB, 91), data(2 * MIB, 92)]
    multipart(s3, bucket, "src-multi", parts)
    multi = b"".join(parts)
    direct = data(MIB, 93)
    raw.put_object(Bucket=bucket, Key="src-direct", Body=direct)

    upload = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    pieces = [
        ("src-multi", f"bytes=100-{5 * MIB + 199}", multi[100:5 * MIB + 200]),  # crosses parts
        ("src-single", None, single),
        ("src-direct", "bytes=10-1000009", direct[10:1000010]),
    ]
    done = []
    for n, (src, rng, _) in enumerate(pieces, start=1):
        kwargs = {"CopySourceRange": rng} if rng else {}
        r = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload, PartNumber=n,
                                CopySource={"Bucket": bucket, "Key": src}, **kwargs)
        done.append({"PartNumber": n, "ETag": r["CopyPartResult"]["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=upload, MultipartUpload={"Parts": done})
    expect = b"".join(p[2] for p in pieces)
    check_object(s3, bucket, "assembled", expect, [len(p[2]) for p in pieces], ranges=30, seed=7)
    stored = raw.get_object(Bucket=bucket, Key="assembled")["Body"].read()
    assert direct[10:4106] not in stored and multi[:4096] not in stored, "plaintext reached the upstream"
    # A range beyond the source is refused.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="bad-range")["UploadId"]
    code = error_code(lambda: s3.upload_part_copy(Bucket=bucket, Key="bad-range", UploadId=upload, PartNumber=1,
                                                  CopySource={"Bucket": bucket, "Key": "src-single"},
                                                  CopySourceRange=f"bytes={10 * MIB}-{11 * MIB}"))
    assert code == ("InvalidRange", 416), code
    print(json.dumps({"assembled": len(expect)}))


def check(bucket, key, size, seed):
    s3 = proxy()
    check_object(s3, bucket, key, data(int(size), int(seed)), ranges=50)
    print(json.dumps({"checked": key}))


if __name__ == "__main__":
    scenario, args = sys.argv[1], sys.argv[2:]
    {"uploads": uploads, "tamper": tamper, "part-copy": part_copy, "check": check}[scenario](*args)
