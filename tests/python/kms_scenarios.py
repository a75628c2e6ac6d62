"""boto3 KMS scenarios against s3seal's KMS API; prints a JSON result or raises.

  lifecycle            create, alias, encrypt/decrypt with context, disable/enable,
                       rotation, deletion scheduling, data keys, tags, paging, errors
  policies             key policy denial for a second principal, grants that allow it,
                       retiring and revoking grants
  s3-denied BUCKET     an S3 GET denied because the caller lacks kms:Decrypt
  crash-load FILE      creates keys, rotates and encrypts until killed, appending
                       every returned ciphertext to FILE (fsynced) before the next call
  crash-verify FILE    every ciphertext in FILE still decrypts
"""
import base64
import json
import os
import struct
import sys

import boto3
import botocore
from botocore.config import Config

ACCOUNT = "000000000000"


def kms(key=None, secret=None, validate=True):
    return boto3.client(
        "kms", endpoint_url=os.environ["S3SEAL_ENDPOINT"],
        aws_access_key_id=key or os.environ["S3SEAL_KEY"],
        aws_secret_access_key=secret or os.environ["S3SEAL_SECRET"],
        region_name=os.environ["S3SEAL_REGION"],
        config=Config(retries={"max_attempts": 1}, parameter_validation=validate),
    )


def s3(key=None, secret=None):
    return boto3.client(
        "s3", endpoint_url=os.environ["S3SEAL_ENDPOINT"],
        aws_access_key_id=key or os.environ["S3SEAL_KEY"],
        aws_secret_access_key=secret or os.environ["S3SEAL_SECRET"],
        region_name=os.environ["S3SEAL_REGION"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def bob():
    return os.environ["SECOND_KEY"], os.environ["SECOND_SECRET"]


def error(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


def blob_version(blob):
    """Key version inside an s3seal ciphertext blob (docs/kms.md: magic, format, key id, version)."""
    assert blob[0] == 0xA5 and blob[1] == 1, blob[:2]
    return struct.unpack(">I", blob[18:22])[0]


def lifecycle():
    k = kms()
    unchecked = kms(validate=False)  # sends what boto3 would refuse, to see the server refuse it
    meta = k.create_key(Description="lifecycle", Tags=[{"TagKey": "team", "TagValue": "platform"}])["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    assert arn == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}", arn
    assert meta["KeyState"] == "Enabled" and meta["KeySpec"] == "SYMMETRIC_DEFAULT", meta
    k.create_alias(AliasName="alias/lifecycle", TargetKeyId=key_id)
    for ref in [key_id, arn, "alias/lifecycle", f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/lifecycle"]:
        assert k.describe_key(KeyId=ref)["KeyMetadata"]["KeyId"] == key_id, ref
    assert error(lambda: k.create_alias(AliasName="alias/lifecycle", TargetKeyId=key_id)) == "AlreadyExistsException"
    assert error(lambda: k.create_alias(AliasName="alias/aws/mine", TargetKeyId=key_id)) == "NotAuthorizedException"
    assert error(lambda: k.describe_key(KeyId="alias/none")) == "NotFoundException"

    # Encryption context is bound; Decrypt needs no KeyId.
    ctx = {"purpose": "test", "tenant": "a"}
    blob = k.encrypt(KeyId="alias/lifecycle", Plaintext=b"secret", EncryptionContext=ctx)["CiphertextBlob"]
    out = k.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert out["Plaintext"] == b"secret" and out["KeyId"] == arn, out
    assert error(lambda: k.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "other"})) == "InvalidCiphertextException"
    assert error(lambda: k.decrypt(CiphertextBlob=blob)) == "InvalidCiphertextException"
    assert error(lambda: k.decrypt(CiphertextBlob=b"garbage-garbage-garbage-garbage-garbage-garbage")) == "InvalidCiphertextException"
    other = k.create_key(Description="other")["KeyMetadata"]["KeyId"]
    assert error(lambda: k.decrypt(CiphertextBlob=blob, EncryptionContext=ctx, KeyId=other)) == "IncorrectKeyException"
    re = k.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=ctx, DestinationKeyId=other,
                      DestinationEncryptionContext={"moved": "yes"})
    assert re["SourceKeyId"] == arn and re["KeyId"].endswith(other), re
    assert k.decrypt(CiphertextBlob=re["CiphertextBlob"], EncryptionContext={"moved": "yes"})["Plaintext"] == b"secret"
    assert error(lambda: unchecked.encrypt(KeyId=key_id, Plaintext=b"x" * 4097)) == "ValidationException"

    # Disable → use fails; enable → works again.
    k.disable_key(KeyId=key_id)
    assert k.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    assert error(lambda: k.encrypt(KeyId=key_id, Plaintext=b"x")) == "DisabledException"
    assert error(lambda: k.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)) == "DisabledException"
    k.enable_key(KeyId=key_id)

    # Rotation on demand: old ciphertexts still decrypt, new ones use the new version.
    assert blob_version(blob) == 1
    k.rotate_key_on_demand(KeyId=key_id)
    rotations = k.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"], rotations
    assert k.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"secret"
    newer = k.encrypt(KeyId=key_id, Plaintext=b"newer")["CiphertextBlob"]
    assert blob_version(newer) == 2
    assert k.decrypt(CiphertextBlob=newer)["Plaintext"] == b"newer"
    # Automatic rotation settings.
    assert error(lambda: unchecked.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=30)) == "ValidationException"
    k.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = k.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 90 and "NextRotationDate" in status, status
    k.disable_key_rotation(KeyId=key_id)
    assert not k.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]

    # Data keys and randomness.
    dk = k.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=ctx)
    assert len(dk["Plaintext"]) == 32
    assert k.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"] == dk["Plaintext"]
    assert len(k.generate_data_key(KeyId=key_id, NumberOfBytes=64)["Plaintext"]) == 64
    assert len(k.generate_data_key(KeyId=key_id, KeySpec="AES_128")["Plaintext"]) == 16
    wp = k.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256")
    assert "Plaintext" not in wp and len(k.decrypt(CiphertextBlob=wp["CiphertextBlob"])["Plaintext"]) == 32
    assert error(lambda: k.generate_data_key(KeyId=key_id)) == "ValidationException"
    assert error(lambda: k.generate_data_key(KeyId=key_id, KeySpec="AES_256", NumberOfBytes=8)) == "ValidationException"
    assert len(k.generate_random(NumberOfBytes=48)["Plaintext"]) == 48

    # Tags, description, paging.
    k.tag_resource(KeyId=key_id, Tags=[{"TagKey": "env", "TagValue": "test"}])
    tags = {t["TagKey"]: t["TagValue"] for t in k.list_resource_tags(KeyId=key_id)["Tags"]}
    assert tags == {"team": "platform", "env": "test"}, tags
    k.untag_resource(KeyId=key_id, TagKeys=["team"])
    assert [t["TagKey"] for t in k.list_resource_tags(KeyId=key_id)["Tags"]] == ["env"]
    k.update_key_description(KeyId=key_id, Description="renamed")
    assert k.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "renamed"
    first = k.list_keys(Limit=1)
    assert first["Truncated"] and len(first["Keys"]) == 1, first
    rest = k.list_keys(Marker=first["NextMarker"])
    all_ids = [x["KeyId"] for x in first["Keys"] + rest["Keys"]]
    assert key_id in all_ids and other in all_ids and len(set(all_ids)) == len(all_ids)
    assert error(lambda: k.list_keys(Marker="nonsense")) == "InvalidMarkerException"
    k.update_alias(AliasName="alias/lifecycle", TargetKeyId=other)
    assert k.describe_key(KeyId="alias/lifecycle")["KeyMetadata"]["KeyId"] == other
    k.delete_alias(AliasName="alias/lifecycle")
    assert error(lambda: k.delete_alias(AliasName="alias/lifecycle")) == "NotFoundException"

    # Deletion: 7-30 days, unusable while pending, cancellable (back disabled).
    assert error(lambda: unchecked.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=3)) == "ValidationException"
    scheduled = k.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingDeletion" and scheduled["PendingWindowInDays"] == 7, scheduled
    meta = k.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and "DeletionDate" in meta, meta
    assert error(lambda: k.encrypt(KeyId=key_id, Plaintext=b"x")) == "KMSInvalidStateException"
    assert error(lambda: k.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)) == "KMSInvalidStateException"
    assert error(lambda: k.enable_key(KeyId=key_id)) == "KMSInvalidStateException"
    k.cancel_key_deletion(KeyId=key_id)
    assert k.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    k.enable_key(KeyId=key_id)
    assert k.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"secret"
    print(json.dumps({"key": key_id}))


def admin_only_policy(extra_statements=()):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "admin", "Effect": "Allow", "Principal": {"AWS": os.environ["ADMIN_ARN"]},
             "Action": "kms:*", "Resource": "*"},
            *extra_statements,
        ],
    })


def policies():
    admin, other = kms(), kms(*bob())
    key_id = admin.create_key(Description="policies")["KeyMetadata"]["KeyId"]
    # The default policy (the account) lets the second principal use the key.
    blob = other.encrypt(KeyId=key_id, Plaintext=b"hi")["CiphertextBlob"]
    default = json.loads(admin.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert default["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, default
    assert admin.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]
    # A policy that would lock the caller out is refused (unless bypassed).
    lockout = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": os.environ["SECOND_ARN"]},
                                         "Action": "kms:*", "Resource": "*"}]})
    assert error(lambda: admin.put_key_policy(KeyId=key_id, PolicyName="default", Policy=lockout)) == "MalformedPolicyDocumentException"
    assert error(lambda: admin.put_key_policy(KeyId=key_id, PolicyName="default", Policy="{not json")) == "MalformedPolicyDocumentException"
    admin.put_key_policy(KeyId=key_id, PolicyName="default", Policy=admin_only_policy())
    assert json.loads(admin.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])["Statement"][0]["Sid"] == "admin"
    assert error(lambda: other.encrypt(KeyId=key_id, Plaintext=b"hi")) == "AccessDeniedException"
    assert error(lambda: other.decrypt(CiphertextBlob=blob)) == "AccessDeniedException"
    assert error(lambda: other.describe_key(KeyId=key_id)) == "AccessDeniedException"
    assert admin.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hi"

    # A grant lets the second principal decrypt, within its constraints.
    grant = admin.create_grant(KeyId=key_id, GranteePrincipal=os.environ["SECOND_ARN"],
                               RetiringPrincipal=os.environ["SECOND_ARN"],
                               Operations=["Decrypt", "Encrypt"], Name="g1",
                               Constraints={"EncryptionContextSubset": {"tenant": "a"}})
    again = admin.create_grant(KeyId=key_id, GranteePrincipal=os.environ["SECOND_ARN"],
                               RetiringPrincipal=os.environ["SECOND_ARN"],
                               Operations=["Decrypt", "Encrypt"], Name="g1",
                               Constraints={"EncryptionContextSubset": {"tenant": "a"}})
    assert again["GrantId"] == grant["GrantId"], "CreateGrant with the same name is idempotent"
    ctx = {"tenant": "a"}
    tenant_blob = other.encrypt(KeyId=key_id, Plaintext=b"granted", EncryptionContext=ctx)["CiphertextBlob"]
    assert other.decrypt(CiphertextBlob=tenant_blob, EncryptionContext=ctx)["Plaintext"] == b"granted"
    assert error(lambda: other.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"tenant": "b"})) == "AccessDeniedException"
    assert error(lambda: other.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=ctx)) == "AccessDeniedException"
    grants = admin.list_grants(KeyId=key_id)["Grants"]
    assert [g["GrantId"] for g in grants] == [grant["GrantId"]] and grants[0]["Operations"] == ["Decrypt", "Encrypt"], grants
    retirable = admin.list_retirable_grants(RetiringPrincipal=os.environ["SECOND_ARN"])["Grants"]
    assert grant["GrantId"] in [g["GrantId"] for g in retirable]
    assert error(lambda: other.list_grants(KeyId=key_id)) == "AccessDeniedException"
    other.retire_grant(GrantToken=grant["GrantToken"])
    assert error(lambda: other.decrypt(CiphertextBlob=tenant_blob, EncryptionContext=ctx)) == "AccessDeniedException"
    # Revoking.
    g2 = admin.create_grant(KeyId=key_id, GranteePrincipal=os.environ["SECOND_ARN"], Operations=["Decrypt"])
    assert other.decrypt(CiphertextBlob=tenant_blob, EncryptionContext=ctx)["Plaintext"] == b"granted"
    admin.revoke_grant(KeyId=key_id, GrantId=g2["GrantId"])
    assert error(lambda: other.decrypt(CiphertextBlob=tenant_blob, EncryptionContext=ctx)) == "AccessDeniedException"
    assert error(lambda: admin.revoke_grant(KeyId=key_id, GrantId=g2["GrantId"])) == "NotFoundException"
    # An explicit deny beats everything, even the key's own account.
    deny = {"Sid": "no-encrypt", "Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "blocked"}}}
    admin.put_key_policy(KeyId=key_id, PolicyName="default", Policy=admin_only_policy([deny]))
    assert error(lambda: admin.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"tenant": "blocked"})) == "AccessDeniedException"
    admin.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"tenant": "open"})
    print(json.dumps({"key": key_id}))


def s3_denied(bucket):
    admin_kms = kms()
    writer_only = {"Sid": "second-writes", "Effect": "Allow", "Principal": {"AWS": os.environ["SECOND_ARN"]},
                   "Action": ["kms:GenerateDataKey", "kms:DescribeKey"], "Resource": "*",
                   "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}
    key = admin_kms.create_key(Description="payments", Policy=admin_only_policy([writer_only]))["KeyMetadata"]["Arn"]
    admin_s3, other_s3 = s3(), s3(*bob())
    admin_s3.create_bucket(Bucket=bucket)
    other_s3.put_object(Bucket=bucket, Key="report", Body=b"confidential", ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    assert other_s3.head_object(Bucket=bucket, Key="report")["SSEKMSKeyId"] == key
    try:
        other_s3.get_object(Bucket=bucket, Key="report")["Body"].read()
        raise AssertionError("the second principal read without kms:Decrypt")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied", e.response
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert admin_s3.get_object(Bucket=bucket, Key="report")["Body"].read() == b"confidential"
    # Without kms:GenerateDataKey the admin-only key refuses uploads by others, storing nothing.
    admin_kms.put_key_policy(KeyId=key, PolicyName="default", Policy=admin_only_policy())
    code = error(lambda: other_s3.put_object(Bucket=bucket, Key="blocked", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key))
    assert code == "AccessDenied", code
    assert error(lambda: admin_s3.head_object(Bucket=bucket, Key="blocked")) == "404"
    print(json.dumps({"key": key}))


def crash_load(path):
    k = kms()
    with open(path, "a") as out:
        n = 0
        while True:
            if n % 3 == 0:
                key_id = k.create_key(Description=f"crash-{n}")["KeyMetadata"]["KeyId"]
            if n % 3 == 1:
                k.rotate_key_on_demand(KeyId=key_id)
            ctx = {"n": str(n)}
            blob = k.encrypt(KeyId=key_id, Plaintext=f"value-{n}".encode(), EncryptionContext=ctx)["CiphertextBlob"]
            out.write(json.dumps({"n": n, "blob": base64.b64encode(blob).decode()}) + "\n")
            out.flush()
            os.fsync(out.fileno())
            n += 1


def crash_verify(path):
    k = kms()
    count = 0
    with open(path) as lines:
        for line in lines:
            if not line.endswith("\n"):
                continue  # the writer was killed mid-line
            entry = json.loads(line)
            plain = k.decrypt(CiphertextBlob=base64.b64decode(entry["blob"]), EncryptionContext={"n": str(entry["n"])})["Plaintext"]
            assert plain == f"value-{entry['n']}".encode(), entry
            count += 1
    print(json.dumps({"verified": count}))


if __name__ == "__main__":
    scenario, args = sys.argv[1], sys.argv[2:]
    {"lifecycle": lifecycle, "policies": policies, "s3-denied": s3_denied,
     "crash-load": crash_load, "crash-verify": crash_verify}[scenario](*args)
