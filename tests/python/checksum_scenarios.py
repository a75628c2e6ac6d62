"""Flexible checksums kept with sealed objects, read back through s3seal with boto3;
prints a JSON result or raises (assertions name what differed).

  single BUCKET     PutObject with each algorithm (and none): HEAD/GET with
                    ChecksumMode=ENABLED report the plaintext checksum (botocore
                    validates the GET body against it), ranges and plain reads
                    report none, GetObjectAttributes agrees
  multipart BUCKET  composite SHA256, full-object CRC32 and the default CRC64NVME:
                    UploadPart, ListParts and Complete answers, HEAD (whole and partNumber),
                    GetObjectAttributes parts; a wrong part checksum in Complete
                    (InvalidPart), a part of another algorithm (InvalidRequest)
"""
import base64
import hashlib
import json
import os
import sys
import zlib

import awscrt.checksums as crt
import boto3
import botocore
from botocore.config import Config


def client(**cfg):
    return boto3.client(
        "s3", endpoint_url=os.environ["S3SEAL_ENDPOINT"], aws_access_key_id=os.environ["S3SEAL_KEY"],
        aws_secret_access_key=os.environ["S3SEAL_SECRET"], region_name=os.environ["S3SEAL_REGION"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **cfg),
    )


def data(n, seed):
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def raw_digest(algo, body):
    if algo == "CRC32":
        return zlib.crc32(body).to_bytes(4, "big")
    if algo == "CRC32C":
        return crt.crc32c(body).to_bytes(4, "big")
    if algo == "CRC64NVME":
        return crt.crc64nvme(body).to_bytes(8, "big")
    if algo == "SHA1":
        return hashlib.sha1(body).digest()
    return hashlib.sha256(body).digest()


def b64(raw):
    return base64.b64encode(raw).decode()


def expect(what, actual, wanted):
    assert actual == wanted, f"{what}: got {actual!r}, expected {wanted!r}"


def error_code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


def single(bucket):
    s3 = client(request_checksum_calculation="when_required", response_checksum_validation="when_supported")
    body = data(150_000, 3)
    checked = []
    for algo in ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", None]:
        key = f"single-{algo}"
        extra = {"ChecksumAlgorithm": algo} if algo else {}
        put = s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        shown = algo or "CRC64NVME"  # S3's default checksum when the client sends none
        wanted = b64(raw_digest(shown, body))
        expect(f"{key} PUT answer", put.get(f"Checksum{shown}"), wanted)
        expect(f"{key} PUT type", put.get("ChecksumType"), "FULL_OBJECT")
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        expect(f"{key} HEAD checksum", head.get(f"Checksum{shown}"), wanted)
        expect(f"{key} HEAD type", head.get("ChecksumType"), "FULL_OBJECT")
        plain_head = s3.head_object(Bucket=bucket, Key=key)
        expect(f"{key} HEAD without checksum mode", plain_head.get(f"Checksum{shown}"), None)
        got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        expect(f"{key} GET checksum", got.get(f"Checksum{shown}"), wanted)
        expect(f"{key} GET body", got["Body"].read(), body)
        ranged = s3.get_object(Bucket=bucket, Key=key, Range="bytes=10-99", ChecksumMode="ENABLED")
        expect(f"{key} ranged GET checksum", ranged.get(f"Checksum{shown}"), None)
        expect(f"{key} ranged body", ranged["Body"].read(), body[10:100])
        attrs = s3.get_object_attributes(Bucket=bucket, Key=key,
                                         ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass", "ObjectParts"])
        expect(f"{key} attributes checksum", attrs["Checksum"].get(f"Checksum{shown}"), wanted)
        expect(f"{key} attributes size", attrs["ObjectSize"], len(body))
        expect(f"{key} attributes etag", attrs["ETag"], head["ETag"].strip('"'))
        expect(f"{key} attributes parts", attrs.get("ObjectParts"), None)
        checked.append(shown)
    # A copy re-sealed by the upstream copy keeps its checksum (same stored streams).
    s3.copy_object(Bucket=bucket, Key="single-copy", CopySource={"Bucket": bucket, "Key": "single-SHA256"})
    copy_head = s3.head_object(Bucket=bucket, Key="single-copy", ChecksumMode="ENABLED")
    expect("copy checksum", copy_head.get("ChecksumSHA256"), b64(raw_digest("SHA256", body)))
    return {"checked": checked}


def upload(s3, bucket, key, parts, create_args, part_algo):
    mpu = s3.create_multipart_upload(Bucket=bucket, Key=key, **create_args)
    done = []
    for number, body in enumerate(parts, start=1):
        extra = {"ChecksumAlgorithm": part_algo} if part_algo else {}
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=mpu["UploadId"], PartNumber=number, Body=body, **extra)
        entry = {"ETag": r["ETag"], "PartNumber": number}
        if part_algo:
            entry[f"Checksum{part_algo}"] = r[f"Checksum{part_algo}"]
        done.append(entry)
    return mpu, done


def multipart(bucket):
    s3 = client(request_checksum_calculation="when_required", response_checksum_validation="when_supported")
    parts = [data(5 * 1024 * 1024, 10), data(1_000_001, 11)]
    whole = b"".join(parts)
    results = {}

    # Composite SHA256: the checksum of the parts' checksums, "-2".
    mpu, done = upload(s3, bucket, "mp-sha256", parts, {"ChecksumAlgorithm": "SHA256"}, "SHA256")
    for entry, body in zip(done, parts):
        expect("SHA256 part answer", entry["ChecksumSHA256"], b64(raw_digest("SHA256", body)))
    listed = s3.list_parts(Bucket=bucket, Key="mp-sha256", UploadId=mpu["UploadId"])
    expect("ListParts checksums", [p.get("ChecksumSHA256") for p in listed["Parts"]],
           [b64(raw_digest("SHA256", p)) for p in parts])
    expect("ListParts sizes", [p["Size"] for p in listed["Parts"]], [len(p) for p in parts])
    complete = s3.complete_multipart_upload(Bucket=bucket, Key="mp-sha256", UploadId=mpu["UploadId"],
                                            MultipartUpload={"Parts": done})
    composite = b64(hashlib.sha256(b"".join(raw_digest("SHA256", p) for p in parts)).digest()) + "-2"
    expect("composite Complete answer", complete.get("ChecksumSHA256"), composite)
    expect("composite type", complete.get("ChecksumType"), "COMPOSITE")
    head = s3.head_object(Bucket=bucket, Key="mp-sha256", ChecksumMode="ENABLED")
    expect("composite HEAD", head.get("ChecksumSHA256"), composite)
    part2 = s3.head_object(Bucket=bucket, Key="mp-sha256", PartNumber=2, ChecksumMode="ENABLED")
    expect("part 2 HEAD checksum", part2.get("ChecksumSHA256"), b64(raw_digest("SHA256", parts[1])))
    got = s3.get_object(Bucket=bucket, Key="mp-sha256", ChecksumMode="ENABLED")
    expect("composite GET body", got["Body"].read(), whole)
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mp-sha256",
                                     ObjectAttributes=["Checksum", "ObjectParts", "ObjectSize"])
    expect("attributes checksum", attrs["Checksum"].get("ChecksumSHA256"), composite)
    expect("attributes type", attrs["Checksum"].get("ChecksumType"), "COMPOSITE")
    expect("attributes size", attrs["ObjectSize"], len(whole))
    listed = attrs["ObjectParts"]
    expect("attributes parts count", listed["TotalPartsCount"], 2)
    expect("attributes part sizes", [p["Size"] for p in listed["Parts"]], [len(p) for p in parts])
    expect("attributes part checksums", [p.get("ChecksumSHA256") for p in listed["Parts"]],
           [b64(raw_digest("SHA256", p)) for p in parts])
    page = s3.get_object_attributes(Bucket=bucket, Key="mp-sha256", ObjectAttributes=["ObjectParts"], MaxParts=1)
    expect("first page", ([p["PartNumber"] for p in page["ObjectParts"]["Parts"]], page["ObjectParts"]["IsTruncated"]),
           ([1], True))
    results["composite"] = composite

    # Full-object CRC32: the CRC of the whole object, combined from the parts'.
    mpu, done = upload(s3, bucket, "mp-crc32", parts, {"ChecksumAlgorithm": "CRC32", "ChecksumType": "FULL_OBJECT"},
                       "CRC32")
    full = b64(raw_digest("CRC32", whole))
    complete = s3.complete_multipart_upload(Bucket=bucket, Key="mp-crc32", UploadId=mpu["UploadId"],
                                            MultipartUpload={"Parts": done}, ChecksumCRC32=full,
                                            ChecksumType="FULL_OBJECT")
    expect("full-object Complete answer", complete.get("ChecksumCRC32"), full)
    expect("full-object type", complete.get("ChecksumType"), "FULL_OBJECT")
    got = s3.get_object(Bucket=bucket, Key="mp-crc32", ChecksumMode="ENABLED")
    expect("full-object GET checksum", got.get("ChecksumCRC32"), full)
    expect("full-object GET body", got["Body"].read(), whole)  # botocore validated the CRC
    results["full_object"] = full

    # No algorithm at all: S3's default, a full-object CRC64NVME.
    mpu, done = upload(s3, bucket, "mp-default", parts, {}, None)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp-default", UploadId=mpu["UploadId"],
                                 MultipartUpload={"Parts": done})
    head = s3.head_object(Bucket=bucket, Key="mp-default", ChecksumMode="ENABLED")
    expect("default checksum", head.get("ChecksumCRC64NVME"), b64(raw_digest("CRC64NVME", whole)))
    expect("default type", head.get("ChecksumType"), "FULL_OBJECT")

    # A part checksum in Complete that is not the part's.
    mpu, done = upload(s3, bucket, "mp-wrong", parts, {"ChecksumAlgorithm": "SHA256"}, "SHA256")
    done[1]["ChecksumSHA256"] = b64(raw_digest("SHA256", b"something else"))
    results["wrong_part_checksum"] = error_code(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mp-wrong", UploadId=mpu["UploadId"], MultipartUpload={"Parts": done}))
    # A wrong whole-object checksum in Complete.
    done[1]["ChecksumSHA256"] = b64(raw_digest("SHA256", parts[1]))
    results["wrong_object_checksum"] = error_code(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mp-wrong", UploadId=mpu["UploadId"], MultipartUpload={"Parts": done},
        ChecksumSHA256=b64(raw_digest("SHA256", b"not it")) + "-2"))
    results["wrong_stored"] = error_code(lambda: s3.head_object(Bucket=bucket, Key="mp-wrong"))
    # A part of another algorithm than the upload's.
    results["other_algorithm"] = error_code(lambda: s3.upload_part(
        Bucket=bucket, Key="mp-wrong", UploadId=mpu["UploadId"], PartNumber=3, Body=b"x", ChecksumAlgorithm="CRC32"))
    s3.abort_multipart_upload(Bucket=bucket, Key="mp-wrong", UploadId=mpu["UploadId"])
    return results


def main():
    cmd, bucket = sys.argv[1], sys.argv[2]
    if cmd == "single":
        result = single(bucket)
    elif cmd == "multipart":
        result = multipart(bucket)
    else:
        raise SystemExit(f"unknown scenario {cmd}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
