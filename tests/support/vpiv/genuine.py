"""Genuine YubiKey attestation chains (old and 2024 PKI), to prove the verifier and the bundled roots on real bytes.

Source: go-piv/piv-go, ``piv/key_test.go`` (``TestVerify``, case "ValidChain":
"Valid attestation chain from a recent YubiKey"), commit
5a76b44bb2ea34ea4b24a6e295fc0a234f5f0692. Public certificates only: the f9
device certificate of a firmware 5.4.3 YubiKey (serial 15732500) and the
attestation of its slot-9a key (PIN policy once, touch never, USB-C nano).
"""

from __future__ import annotations

DEVICE_CERT = b"""\
-----BEGIN CERTIFICATE-----
MIIC+jCCAeKgAwIBAgIJAKs/UIpBjg1uMA0GCSqGSIb3DQEBCwUAMCsxKTAnBgNV
BAMMIFl1YmljbyBQSVYgUm9vdCBDQSBTZXJpYWwgMjYzNzUxMCAXDTE2MDMxNDAw
MDAwMFoYDzIwNTIwNDE3MDAwMDAwWjAhMR8wHQYDVQQDDBZZdWJpY28gUElWIEF0
dGVzdGF0aW9uMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0zdJWGnk
aLE8Rb+TP7iSffhJV9SJEp2Me4QcfVidgHqyIdo0lruBk69RF1nrmS3i+G1yyUh/
ymAPZkcQCpms0E23Dmhue1VRpBedcsVtO/xSrfu0qAWTslp/k57ry6vkidrQU1cx
l2KodH3KTmnZmaskQD8eGtxXwcmLOmhKem6GSqhN/3QznaDhZmVUAvUKSOaIzOxn
2u1mDHhGwaHhR7dklsDwN7oni4WWX1GJXtzpB8j6JhoqyqXwSbq+ck54PfzUoOFd
/2yKyFRDXnQvzbNL7+afbxBQQMxxo1e24DNE/cp+K09eT7Gh1Urao6meaSssN4aV
FfmkhC2NapGKMQIDAQABoykwJzARBgorBgEEAYLECgMDBAMFBAMwEgYDVR0TAQH/
BAgwBgEB/wIBADANBgkqhkiG9w0BAQsFAAOCAQEAJfOLOQYGyIMQ5y+sDkYz+e6G
H8BqqiYL9VOC3U3KQX9mrtZnaIexqJOCQyCFOSvaTFJvOfNiCCKQuLbmS+Qn4znd
nSitCsdJSFKskQP7hbXqUK01epb6iTuuko4w3V57YVudnniZBD2s4XoNcJ6BFizZ
3iXQqRMaLVfFHS9Qx0iLZLcR2s29nIl6NI/qFdIgkyo07J5cPnBiD6wxQft8FdfR
bgx9yrrjY0mvj/k5LRN6lab8lTolgI5luJtKNueq96LVkTkAzcCaJPQ9YQ4cxeU9
OapsEeOk6xf5bRPtdf0WhEKthXywt9D0pSHhAI+fpLNe/VtlZpt3hn9aTbqSug==
-----END CERTIFICATE-----
"""

SLOT_9A_ATTESTATION = b"""\
-----BEGIN CERTIFICATE-----
MIICVTCCAT2gAwIBAgIQAU4Yg7Qnw9FZgMBEaJ7ZMzANBgkqhkiG9w0BAQsFADAh
MR8wHQYDVQQDDBZZdWJpY28gUElWIEF0dGVzdGF0aW9uMCAXDTE2MDMxNDAwMDAw
MFoYDzIwNTIwNDE3MDAwMDAwWjAlMSMwIQYDVQQDDBpZdWJpS2V5IFBJViBBdHRl
c3RhdGlvbiA5YTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABATzM3sJuwemL2Ha
HkGIzmCVjUMreNIVrRLOvnbZjoVflk1eab/iLUlKzk/2jXTu9TISRg2dhyXcutct
vnqr66yjTjBMMBEGCisGAQQBgsQKAwMEAwUEAzAUBgorBgEEAYLECgMHBAYCBADw
DxQwEAYKKwYBBAGCxAoDCAQCAgEwDwYKKwYBBAGCxAoDCQQBBDANBgkqhkiG9w0B
AQsFAAOCAQEAFX0hL5gi/g4ZM7vCH5kDAtma7eBp0LpbCzR313GGyBR7pJFtuj2l
bWU+V3SFRihXBTDb8q+uvyCBqgz1szdZzrpfjqNkhEPfPNabxjxJxVoe6Gdcn115
aduxfqqT2u+YIsERzaIIIisehLQkc/5zLkpocA6jbKBZnZWUBJIxuz4QmYTIf0O4
HPE2o4JbAyGx/hRaqVvDgNeAz94ZFjb4Mp3RNbbdRUZB0ehrT/IGRJoHRu2HKFGM
ylRJL2kjKPoEc4XHbCu+MfmAIrQ4Xseg85zyI7ThhYvAzktdLHhQyfYr4wrrLCN3
oeTzmiqIHe9AataJXQ+mEQEEc9TNY23RFg==
-----END CERTIFICATE-----
"""


# A second genuine chain, from the 2024 PKI (firmware 5.7.4): the f9 device
# certificate is issued by "Yubico PIV Attestation B 1" (under Intermediate B 1
# and Attestation Root 1) and signs the slot-9c attestation of a ceremony key
# (PIN policy always, touch always, USB-C keychain, serial 38906121). Source: a
# published key-ceremony transcript in the project's search index (index id
# 70841575877; the index did not name its repository), which prints the same f9
# certificate for three devices of one batch and one slot attestation per
# device; all three attestations verify under it.
DEVICE_CERT_2024 = b"""\
-----BEGIN CERTIFICATE-----
MIIC8DCCAdqgAwIBAgIJALo25FZYZJYbMAsGCSqGSIb3DQEBCzAlMSMwIQYDVQQD
DBpZdWJpY28gUElWIEF0dGVzdGF0aW9uIEIgMTAgFw0yNDEyMDEwMDAwMDBaGA85
OTk5MTIzMTIzNTk1OVowITEfMB0GA1UEAwwWWXViaWNvIFBJViBBdHRlc3RhdGlv
bjCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBALcKTvN4UA+ve35Fauus
c5FOpJ+sjbdChdujlwJqBqgr7iIWwix7Y2+ElhtdLRPtnh9xJ5NQ/kj5MbuQYjHQ
QZCagyVgiZhLV2Z7BzovCw/tGFkY311TTaDfk1DABxAT8cMb6AOQa5fHzqNwagWt
A3KTEPOUvBn8NKavxN5UmEoqL5OUdQbphWxQY8UhOgnWMeao30Vrx8ebyA5osIhD
W9A10b5Pd4rgb11aa82P9C1cAPLsGvaq9ufaI2Yce890eJ037Jis6I1r3qHz6Ivx
dXgr5UXyOhslGpKr1jz983UjSnaKWbbSYIv6OuEqUbUqjIpSA2dRYJ3gcnMTKnQc
y+cCAwEAAaMpMCcwEQYKKwYBBAGCxAoDAwQDBQcEMBIGA1UdEwEB/wQIMAYBAf8C
AQAwCwYJKoZIhvcNAQELA4IBAQBqtYVRoyvkCHQO6m5xy5e4K/gE8apPoCmHmZXp
7p6q5mtuFMbNHwuc/3yrllTlyov8JpZzY7U1Dwl2rK7H6pV9gVOCngesZsWk7eNH
4hqGpG73/6+ymyokeADRD3AqdM6VurEa1HXL7qb9Rl3Hr8+YQXk/HpaDAyub/TN3
9Jxhydpn18L1fEDzVLq9kPuc4fBEK/ZmzHAH87a0o+sVVQ94MfcNAQhN4T3noUhX
kq2fKhJQnOMg0SE2IKXblhZNTZXr0r55ssHyWwwFH9txKVtvr9voFaFMs2oOnFk6
Qy6DcUD5rosE9WGo6r2HHBCda+J/kbm5BE1NPr4y8QzXIG8g
-----END CERTIFICATE-----
"""

SLOT_9C_ATTESTATION_2024 = b"""\
-----BEGIN CERTIFICATE-----
MIICVTCCAT2gAwIBAgIQAWMelEUa/hQ4ZF0VuptumjANBgkqhkiG9w0BAQsFADAh
MR8wHQYDVQQDDBZZdWJpY28gUElWIEF0dGVzdGF0aW9uMCAXDTI0MTIwMTAwMDAw
MFoYDzk5OTkxMjMxMjM1OTU5WjAlMSMwIQYDVQQDDBpZdWJpS2V5IFBJViBBdHRl
c3RhdGlvbiA5YzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFgjT10jyi1pz29i
d5CDyCHtqBAIspZRBBgwxQNQRpWhzoIJauzmqNoyE82oawoD42BL5X5VY5h6PXIS
nsfX6dejTjBMMBEGCisGAQQBgsQKAwMEAwUHBDAUBgorBgEEAYLECgMHBAYCBAJR
qQkwEAYKKwYBBAGCxAoDCAQCAwIwDwYKKwYBBAGCxAoDCQQBAzANBgkqhkiG9w0B
AQsFAAOCAQEANx5sLbC5qkP4bQh9C6jlNOVexzaWhBah+FFhZVORdhsuGoyVRd4Q
T0vdNRzDo85DL/iyIG8wt/lZEpzjIsE04UrYl0mKle7iYHeSML7aPX6Y8rLaJAW9
tdAhFm3UU09MHY5HNJVQ+BDLHgG3MsgwygXdrFDWIzegg+VlsjpQeEZ9x9GXM+mu
i658t51IHlp2NBjqq4Z9v4oUFZVfJGT1BBOa0dwxBNK6g5IqitrcP7e8eiMn10Rc
sFfGVmp2PuYi+OP7KovXIzRYR2+eXBFoQIL47w2jfTh/jKMtwXCESUF4NAN1VR+x
zAkYdBHM7Y1r3UiV29cKqvhAMAUDtA5Exg==
-----END CERTIFICATE-----
"""
