"""boto3 KMS scenarios against s3seal's KMS API; prints a JSON result or raises.

  lifecycle            create, alias, encrypt/decrypt with context, disable/enable,
                       rotation, deletion scheduling, data keys, tags, paging, errors
  policies             key policy denial for a second principal, grants that allow it,
                       retiring and revoking grants
  s3-denied BUCKET     an S3 GET denied because the caller lacks kms:Decrypt
  crash-load FILE      creates keys, rotates and encrypts until killed, appending
                       every returned ciphertext to FILE (fsynced) before the next call
  crash-verify FILE    every ciphertext in FILE still decrypts
  asymmetric DIR       every asymmetric key spec: sign/verify (checked with openssl),
                       GetPublicKey, RSA encryption, HMAC keys, data key pairs
  byok DIR             AWS's openssl procedure for importing key material
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


def openssl(*args, stdin=None):
    import subprocess
    out = subprocess.run(["openssl", *args], input=stdin, capture_output=True)
    assert out.returncode == 0, (args, out.stderr.decode())
    return out.stdout


def asymmetric(workdir):
    import hashlib
    k = kms()
    unchecked = kms(validate=False)
    hashes = {"SHA_256": hashlib.sha256, "SHA_384": hashlib.sha384, "SHA_512": hashlib.sha512}
    message = b"the message s3seal signs " * 10
    checked_with_openssl = []
    specs = ["RSA_2048", "RSA_3072", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
             "ECC_NIST_EDWARDS25519", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87"]
    for spec in specs:
        meta = k.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY", Description=spec)["KeyMetadata"]
        key_id = meta["KeyId"]
        assert meta["KeySpec"] == spec and meta["KeyUsage"] == "SIGN_VERIFY", meta
        public = k.get_public_key(KeyId=key_id)
        assert public["SigningAlgorithms"] == meta["SigningAlgorithms"], public
        pub_der = os.path.join(workdir, f"{spec}.der")
        with open(pub_der, "wb") as f:
            f.write(public["PublicKey"])
        for algorithm in meta["SigningAlgorithms"]:
            cases = [("RAW", message)]
            suffix = algorithm.rsplit("_", 2)
            digest_name = "_".join(suffix[-2:])
            if algorithm == "ED25519_PH_SHA_512":
                cases = [("DIGEST", hashlib.sha512(message).digest())]
            elif digest_name in hashes and not algorithm.startswith("ED25519"):
                cases.append(("DIGEST", hashes[digest_name](message).digest()))
            for message_type, payload in cases:
                sig = k.sign(KeyId=key_id, Message=payload, MessageType=message_type, SigningAlgorithm=algorithm)["Signature"]
                ok = k.verify(KeyId=key_id, Message=payload, MessageType=message_type, Signature=sig, SigningAlgorithm=algorithm)
                assert ok["SignatureValid"], (spec, algorithm, message_type)
                bad = payload[:-1] + bytes([payload[-1] ^ 1])
                assert error(lambda: k.verify(KeyId=key_id, Message=bad, MessageType=message_type, Signature=sig,
                                              SigningAlgorithm=algorithm)) == "KMSInvalidSignatureException", (spec, algorithm)
                if message_type == "RAW" and not spec.startswith("ML_DSA") and algorithm != "ED25519_PH_SHA_512":
                    checked_with_openssl.append(verify_with_openssl(workdir, pub_der, algorithm, message, sig))
        wrong = "RSASSA_PSS_SHA_256" if not spec.startswith("RSA") else "ECDSA_SHA_256"
        assert error(lambda: k.sign(KeyId=key_id, Message=message, SigningAlgorithm=wrong)) == "InvalidKeyUsageException", spec
        assert error(lambda: k.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")) == "InvalidKeyUsageException", spec

    # RSA encryption: KMS both ways, and openssl encrypting for KMS to decrypt.
    rsa = k.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert rsa["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"], rsa
    for algorithm in rsa["EncryptionAlgorithms"]:
        blob = k.encrypt(KeyId=rsa["KeyId"], Plaintext=b"rsa secret", EncryptionAlgorithm=algorithm)["CiphertextBlob"]
        assert k.decrypt(KeyId=rsa["KeyId"], CiphertextBlob=blob, EncryptionAlgorithm=algorithm)["Plaintext"] == b"rsa secret"
    pub = os.path.join(workdir, "rsa-enc.der")
    with open(pub, "wb") as f:
        f.write(k.get_public_key(KeyId=rsa["KeyId"])["PublicKey"])
    plain = os.path.join(workdir, "plain.bin")
    with open(plain, "wb") as f:
        f.write(b"from openssl")
    wrapped = openssl("pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", pub, "-in", plain,
                      "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
    assert k.decrypt(KeyId=rsa["KeyId"], CiphertextBlob=wrapped, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"from openssl"
    assert error(lambda: k.encrypt(KeyId=rsa["KeyId"], Plaintext=b"x" * 191, EncryptionAlgorithm="RSAES_OAEP_SHA_256")) == "ValidationException"
    assert error(lambda: k.sign(KeyId=rsa["KeyId"], Message=b"x", SigningAlgorithm="RSASSA_PSS_SHA_256")) == "InvalidKeyUsageException"

    # HMAC keys.
    for bits in ["224", "256", "384", "512"]:
        h = k.create_key(KeySpec=f"HMAC_{bits}", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
        assert h["MacAlgorithms"] == [f"HMAC_SHA_{bits}"], h
        mac = k.generate_mac(KeyId=h["KeyId"], Message=message, MacAlgorithm=f"HMAC_SHA_{bits}")["Mac"]
        assert len(mac) == int(bits) // 8
        assert k.verify_mac(KeyId=h["KeyId"], Message=message, Mac=mac, MacAlgorithm=f"HMAC_SHA_{bits}")["MacValid"]
        assert error(lambda: k.verify_mac(KeyId=h["KeyId"], Message=message + b"!", Mac=mac,
                                          MacAlgorithm=f"HMAC_SHA_{bits}")) == "KMSInvalidMacException"
        assert error(lambda: k.get_public_key(KeyId=h["KeyId"])) == "UnsupportedOperationException"

    # Data key pairs under a symmetric key.
    sym = k.create_key()["KeyMetadata"]["KeyId"]
    for pair_spec in ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_EDWARDS25519"]:
        pair = k.generate_data_key_pair(KeyId=sym, KeyPairSpec=pair_spec, EncryptionContext={"pair": pair_spec})
        private = k.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"], EncryptionContext={"pair": pair_spec})["Plaintext"]
        assert private == pair["PrivateKeyPlaintext"]
        derived = openssl("pkey", "-inform", "DER", "-pubout", "-outform", "DER", stdin=private)
        assert derived == pair["PublicKey"], pair_spec
    without = k.generate_data_key_pair_without_plaintext(KeyId=sym, KeyPairSpec="ECC_NIST_P384")
    assert "PrivateKeyPlaintext" not in without and without["PublicKey"]

    # Invalid combinations, as AWS refuses them.
    assert error(lambda: unchecked.create_key(KeySpec="ECC_NIST_P256", KeyUsage="ENCRYPT_DECRYPT")) == "ValidationException"
    assert error(lambda: unchecked.create_key(KeySpec="HMAC_256", KeyUsage="SIGN_VERIFY")) == "ValidationException"
    assert error(lambda: k.sign(KeyId=sym, Message=b"x", SigningAlgorithm="ECDSA_SHA_256")) == "InvalidKeyUsageException"
    print(json.dumps({"openssl_verified": len(checked_with_openssl)}))


def verify_with_openssl(workdir, pub_der, algorithm, message, signature):
    pem = pub_der + ".pem"
    openssl("pkey", "-pubin", "-inform", "DER", "-in", pub_der, "-out", pem)
    msg, sig = os.path.join(workdir, "msg.bin"), os.path.join(workdir, "sig.bin")
    with open(msg, "wb") as f:
        f.write(message)
    with open(sig, "wb") as f:
        f.write(signature)
    if algorithm == "ED25519_SHA_512":
        openssl("pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin", "-in", msg, "-sigfile", sig)
        return algorithm
    digest = "-" + algorithm.rsplit("_", 2)[-2].lower() + algorithm.rsplit("_", 1)[-1]
    extra = []
    if algorithm.startswith("RSASSA_PSS"):
        extra = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]
    openssl("dgst", digest, "-verify", pem, "-signature", sig, *extra, msg)
    return algorithm


def byok(workdir):
    """AWS's documented openssl procedure for importing key material."""
    k = kms()
    key_id = k.create_key(Origin="EXTERNAL", Description="byok")["KeyMetadata"]["KeyId"]
    assert k.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert error(lambda: k.encrypt(KeyId=key_id, Plaintext=b"x")) == "KMSInvalidStateException"
    material = os.path.join(workdir, "PlaintextKeyMaterial.bin")
    openssl("rand", "-out", material, "32")

    def wrap(algorithm):
        params = k.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_3072")
        pub = os.path.join(workdir, "WrappingPublicKey.bin")
        with open(pub, "wb") as f:
            f.write(params["PublicKey"])
        oaep = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"]
        if algorithm == "RSAES_OAEP_SHA_256":
            wrapped = openssl("pkeyutl", "-encrypt", "-in", material, "-inkey", pub, "-keyform", "DER", "-pubin", *oaep)
        else:  # RSA_AES_KEY_WRAP_SHA_256: an ephemeral AES key wraps the material (RFC 5649), RSA-OAEP wraps that key
            aes = openssl("rand", "-hex", "32").decode().strip()
            aes_bin = os.path.join(workdir, "aes.bin")
            with open(aes_bin, "wb") as f:
                f.write(bytes.fromhex(aes))
            wrapped_material = openssl("enc", "-id-aes256-wrap-pad", "-K", aes, "-iv", "A65959A6", "-in", material)
            wrapped_aes = openssl("pkeyutl", "-encrypt", "-in", aes_bin, "-inkey", pub, "-keyform", "DER", "-pubin", *oaep)
            wrapped = wrapped_aes + wrapped_material
        return params["ImportToken"], wrapped

    token, wrapped = wrap("RSAES_OAEP_SHA_256")
    assert error(lambda: k.import_key_material(KeyId=key_id, ImportToken=b"not-the-token", EncryptedKeyMaterial=wrapped,
                                               ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")) == "InvalidImportTokenException"
    k.import_key_material(KeyId=key_id, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    meta = k.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["Origin"] == "EXTERNAL", meta
    blob = k.encrypt(KeyId=key_id, Plaintext=b"byok", EncryptionContext={"a": "b"})["CiphertextBlob"]
    # Deleting the material makes the key unusable until the same material returns.
    k.delete_imported_key_material(KeyId=key_id)
    assert k.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert error(lambda: k.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})) == "KMSInvalidStateException"
    other = os.path.join(workdir, "other.bin")
    openssl("rand", "-out", other, "32")
    params = k.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    pub = os.path.join(workdir, "pub2048.der")
    with open(pub, "wb") as f:
        f.write(params["PublicKey"])
    wrong = openssl("pkeyutl", "-encrypt", "-in", other, "-inkey", pub, "-keyform", "DER", "-pubin",
                    "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
    assert error(lambda: k.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrong,
                                               ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")) == "IncorrectKeyMaterialException"
    token, wrapped = wrap("RSA_AES_KEY_WRAP_SHA_256")
    import datetime
    valid_to = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
    k.import_key_material(KeyId=key_id, ImportToken=token, EncryptedKeyMaterial=wrapped,
                          ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    meta = k.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and "ValidTo" in meta, meta
    assert k.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"byok"
    print(json.dumps({"key": key_id}))


if __name__ == "__main__":
    scenario, args = sys.argv[1], sys.argv[2:]
    {"lifecycle": lifecycle, "policies": policies, "s3-denied": s3_denied,
     "crash-load": crash_load, "crash-verify": crash_verify, "asymmetric": asymmetric,
     "byok": byok}[scenario](*args)
