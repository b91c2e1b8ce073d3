"""The object server speaks real S3 through boto3: put/get/list, multipart, ranged GET, presigned URLs."""

import os
import uuid

import httpx
import pytest

from vodflow.clients import s3_client


@pytest.fixture()
def s3(stack):
    return s3_client(stack)


def test_put_get_list_with_metadata(stack, s3):
    prefix = f"test/{uuid.uuid4().hex}/"
    for i in range(3):
        s3.put_object(Bucket=stack.bucket_origin, Key=f"{prefix}seg{i}.m4s", Body=b"x" * (i + 1),
                      ContentType="video/iso.segment", CacheControl="public, max-age=31536000, immutable")
    listed = s3.list_objects_v2(Bucket=stack.bucket_origin, Prefix=prefix)
    assert [o["Key"] for o in listed["Contents"]] == [f"{prefix}seg{i}.m4s" for i in range(3)]
    head = s3.head_object(Bucket=stack.bucket_origin, Key=f"{prefix}seg2.m4s")
    assert head["ContentType"] == "video/iso.segment"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert head["ContentLength"] == 3


def test_list_objects_v2_paginates(stack, s3):
    prefix = f"test/{uuid.uuid4().hex}/"
    for i in range(7):
        s3.put_object(Bucket=stack.bucket_origin, Key=f"{prefix}{i:02d}", Body=b"1")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket_origin, Prefix=prefix,
                                                              PaginationConfig={"PageSize": 3}):
        keys += [o["Key"] for o in page.get("Contents", [])]
    assert keys == [f"{prefix}{i:02d}" for i in range(7)]


def test_multipart_upload_and_ranged_get(stack, s3):
    key = f"test/{uuid.uuid4().hex}/big.bin"
    part1, part2 = os.urandom(5 * 1024 * 1024), os.urandom(1024 * 1024 + 7)
    mpu = s3.create_multipart_upload(Bucket=stack.bucket_masters, Key=key, ContentType="video/mp4")
    parts = []
    for n, data in enumerate((part1, part2), start=1):
        r = s3.upload_part(Bucket=stack.bucket_masters, Key=key, UploadId=mpu["UploadId"], PartNumber=n, Body=data)
        parts.append({"ETag": r["ETag"], "PartNumber": n})
    s3.complete_multipart_upload(Bucket=stack.bucket_masters, Key=key, UploadId=mpu["UploadId"],
                                 MultipartUpload={"Parts": parts})
    body = s3.get_object(Bucket=stack.bucket_masters, Key=key)["Body"].read()
    assert body == part1 + part2
    rng = s3.get_object(Bucket=stack.bucket_masters, Key=key, Range="bytes=5242870-5242889")
    assert rng["Body"].read() == (part1 + part2)[5242870:5242890]
    assert rng["ResponseMetadata"]["HTTPStatusCode"] == 206


def test_presigned_url_over_plain_http(stack, s3):
    key = f"test/{uuid.uuid4().hex}/hello.txt"
    s3.put_object(Bucket=stack.bucket_origin, Key=key, Body=b"presigned hello", ContentType="text/plain")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": stack.bucket_origin, "Key": key},
                                    ExpiresIn=60)
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == b"presigned hello"
    # Tampering with the signature is refused by the server.
    bad = httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=00"))
    assert bad.status_code == 403
    # And an unsigned request to a private object is refused too.
    assert httpx.get(f"{stack.s3_endpoint}/{stack.bucket_origin}/{key}").status_code == 403


def test_missing_object_is_a_clear_error(stack, s3):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=stack.bucket_origin, Key="no/such/key")
    assert e.value.response["Error"]["Code"] in ("NoSuchKey", "404")
