"""EC2 request signatures: AWS's published examples and keystoneclient's ``Ec2Signer``."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from keystoneclient.contrib.ec2.utils import Ec2Signer

from labs.identity import ec2_signature

# the example key of AWS's Signature Version 4 documentation and test suite
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
EMPTY = hashlib.sha256(b"").hexdigest()


def v4_request(params: dict[str, str] | None = None, verb: str = "GET",
               host: str = "example.amazonaws.com") -> dict[str, Any]:
    """A request of the SigV4 test suite (20150830, us-east-1, service "service")."""
    date = "20150830T123600Z"
    return {"access": "AKIDEXAMPLE", "verb": verb, "host": host, "path": "/",
            "params": params or {}, "body_hash": EMPTY,
            "headers": {"Host": host, "X-Amz-Date": date,
                        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/"
                                         "us-east-1/service/aws4_request, "
                                         "SignedHeaders=host;x-amz-date, Signature=x"}}


def test_v4_signing_key_of_the_aws_documentation() -> None:
    key = ec2_signature.signing_key(SECRET, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_v4_get_vanilla_of_the_aws_test_suite() -> None:
    assert ec2_signature.signature(SECRET, v4_request()) == \
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


def test_v4_query_order_of_the_aws_test_suite() -> None:
    request = v4_request({"Param2": "value2", "Param1": "value1"})
    assert ec2_signature.signature(SECRET, request) == \
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"


CASES: list[dict[str, Any]] = [
    {"params": {"SignatureVersion": "0", "Action": "DescribeInstances",
                "Timestamp": "2011-10-03T15:19:30"}},
    {"params": {"SignatureVersion": "1", "Action": "DescribeInstances", "b": "x y",
                "A": "ü"}},
    {"verb": "GET", "host": "ec2.example:8773", "path": "/services/Cloud",
     "params": {"SignatureVersion": "2", "SignatureMethod": "HmacSHA256",
                "Action": "DescribeImages", "AWSAccessKeyId": "k",
                "Filter.1.Value.1": "a b/c~d*e", "Timestamp": "2026-01-01T00:00:00Z"}},
    {**v4_request({"Action": "RunInstances", "Space": "a b", "Tilde": "~x"}),
     "verb": "POST"},
    {**v4_request({"X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                   "X-Amz-Credential": "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
                   "X-Amz-Date": "20150830T123600Z", "X-Amz-SignedHeaders": "host",
                   "Action": "ListBuckets"}),
     "headers": {"Host": "example.amazonaws.com"}},
    {**v4_request(), "headers": {**v4_request()["headers"], "User-Agent": "Boto/2.9.1",
                                 "Host": "example.amazonaws.com:443"}},
]


@pytest.mark.parametrize("credentials", CASES, ids=["v0", "v1", "v2", "v4-post", "v4-query",
                                                     "v4-old-boto"])
def test_the_same_signature_as_keystoneclient(credentials: dict[str, Any]) -> None:
    expected = Ec2Signer(SECRET).generate(copy.deepcopy(credentials))
    assert ec2_signature.signature(SECRET, credentials) == expected
    assert ec2_signature.matches(SECRET, {**credentials, "signature": expected})
    assert not ec2_signature.matches("another secret", {**credentials, "signature": expected})


def test_v2_with_sha1_as_the_request_says() -> None:
    params = {"SignatureVersion": "2", "SignatureMethod": "HmacSHA1", "Action": "X"}
    sha1 = ec2_signature.signature(SECRET, {"verb": "GET", "host": "h", "path": "/",
                                            "params": params})
    sha256 = ec2_signature.signature(SECRET, {"verb": "GET", "host": "h", "path": "/",
                                              "params": {**params,
                                                         "SignatureMethod": "HmacSHA256"}})
    assert len(sha1) == 28 and len(sha256) == 44


def test_a_signature_made_without_the_port_matches() -> None:
    request = {"verb": "GET", "host": "ec2.example", "path": "/",
               "params": {"SignatureVersion": "2", "Action": "X"}}
    signed = ec2_signature.signature(SECRET, request)
    assert ec2_signature.matches(SECRET, {**request, "host": "ec2.example:8773",
                                          "signature": signed})


@pytest.mark.parametrize("credentials", [
    {}, {"params": {"SignatureVersion": "7"}}, {"params": {"SignatureVersion": "0"}},
    {"params": {"SignatureVersion": "2", "SignatureMethod": "MD5"}},
    {"params": "x"}, {"headers": ["x"]},
    {**v4_request(), "headers": {"Authorization": "AWS4-HMAC-SHA256 Credential=a/b",
                                 "X-Amz-Date": "20150830T123600Z"}},
    {**v4_request(), "headers": {**v4_request()["headers"], "X-Amz-Date": "20990101T000000Z"}},
])
def test_requests_that_cannot_be_signed_are_refused(credentials: dict[str, Any]) -> None:
    with pytest.raises(ec2_signature.SignatureError):
        ec2_signature.matches(SECRET, {**credentials, "signature": "x"})


def test_no_signature_never_matches() -> None:
    assert not ec2_signature.matches(SECRET, v4_request())
    assert not ec2_signature.matches(SECRET, {**v4_request(), "signature": ""})
