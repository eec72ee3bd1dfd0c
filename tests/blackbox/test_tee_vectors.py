"""Real TEE evidence (tests/vectors) against the issuer's built-in
verifier: live handshakes refused on the binding (the vectors' report data
cannot match a fresh nonce) and `kbs-issuer verify-evidence`.

The issuer options used here (verifier.builtin, verifier.collateral_dir,
verifier.at, ...) are proposed in docs/verifier.md; the tests skip until
`kbs-issuer --help` lists them / the command exists.
"""
import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import kbsutil
from guest import Guest
from kbsutil import BIN, SRC, assert_error, check_cli, run_cli

VEC = Path(os.environ.get("KBS_TESTVECTORS", SRC / "tests" / "vectors"))
REF_AT = "2026-11-23T00:00:00Z"   # the vectors' reference date
COLL_AT = "2025-11-01T00:00:00Z"  # inside the TDX collateral's validity


def _help_text(args):
    try:
        cp = subprocess.run([str(BIN["kbs-issuer"])] + args, capture_output=True,
                            timeout=30)
    except OSError:
        return 1, ""
    return cp.returncode, (cp.stdout + cp.stderr).decode(errors="replace")


def _wired_config():
    rc, text = _help_text(["--help"])
    return rc == 0 and "verifier.collateral_dir" in text and "verifier.at" in text


def _wired_cli():
    rc, text = _help_text(["verify-evidence", "--help"])
    return rc == 0 and "--expect-report-data" in text


needs_config = pytest.mark.skipif(not _wired_config(),
                                  reason="verifier.* options not wired into kbs-issuer yet")
needs_cli = pytest.mark.skipif(not _wired_cli(),
                               reason="verify-evidence not wired into kbs-issuer yet")


def b64(data):
    return base64.b64encode(data).decode()


def read(rel):
    return (VEC / rel).read_bytes()


def vcek_der(rel):
    data = read(rel)
    if data.startswith(b"-----BEGIN"):
        body = b"".join(l for l in data.splitlines() if not l.startswith(b"-----"))
        return base64.b64decode(body)
    return data


def snp_evidence(report, vcek):
    return {"attestation_report": b64(read(report)),
            "cert_chain": [{"cert_type": "VCEK", "data": b64(vcek_der(vcek))}]}


def quote_evidence(rel):
    return {"quote": b64(read(rel)), "cc_eventlog": None}


VECTORS = [
    ("snp", "snp-milan", lambda: snp_evidence("snp/test-report.bin", "snp/test-vcek.der")),
    ("snp", "snp-genoa", lambda: snp_evidence("snp/genoa-azure-report.bin", "snp/vcek-genoa.pem")),
    ("tdx", "tdx-4", lambda: quote_evidence("tdx/tdx_quote_4.dat")),
    ("tdx", "tdx-6", lambda: quote_evidence("tdx/tdx_quote_6.dat")),
    ("sgx", "sgx", lambda: quote_evidence("sgx/occlum_quote.dat")),
]


@pytest.fixture(scope="module")
def collateral(tmp_path_factory):
    """An offline collateral directory named as docs/verifier.md says."""
    d = tmp_path_factory.mktemp("collateral")
    shutil.copy(VEC / "tdx" / "tcbInfo.json", d / "tdx_tcbinfo_00a06d080000.json")
    shutil.copy(VEC / "tdx" / "enclaveIdentity.json", d / "tdx_qeidentity.json")
    shutil.copy(VEC / "snp" / "test-vcek.der", d / "vcek.der")
    return d


# ---- live handshake ---------------------------------------------------------

@pytest.fixture(scope="module")
def tee_issuer(mfleet, collateral):
    if not _wired_config():
        pytest.skip("verifier.* options not wired into kbs-issuer yet")
    return mfleet.issuer(name="tee-issuer", over={"verifier": {
        "allow_sample": False,
        "builtin": ["snp", "tdx", "sgx"],
        "collateral_dir": str(collateral),
        "at": COLL_AT,
        "allow_expired_collateral": False,
        "kds_fetch": False,
        "pcs_fetch": False,
    }})


@needs_config
@pytest.mark.parametrize("tee,name,evidence", VECTORS, ids=[v[1] for v in VECTORS])
def test_real_vector_refused_on_binding(tee_issuer, tee, name, evidence):
    """Everything about the vector verifies except the binding: its report
    data was made for another session, so the issuer must refuse it and say
    why (not a signature or chain failure)."""
    g = Guest(tee_issuer.url)
    r = g.auth(tee=tee)
    assert r.status_code == 200, r.text
    body = g.attest_body()
    body["tee-evidence"]["primary_evidence"] = evidence()
    r = g.post_attest(body)
    assert_error(r, 401, "AttestationError")
    detail = r.json()["detail"]
    assert "report data does not match the session binding digest" in detail, detail
    assert "Set-Cookie" not in r.headers or "token" not in r.text


@needs_config
def test_tampered_vector_refused_on_signature(tee_issuer):
    q = bytearray(read("tdx/tdx_quote_6.dat"))
    q[48 + 200] ^= 1
    g = Guest(tee_issuer.url)
    assert g.auth(tee="tdx").status_code == 200
    body = g.attest_body()
    body["tee-evidence"]["primary_evidence"] = {"quote": b64(bytes(q))}
    r = g.post_attest(body)
    assert_error(r, 401, "AttestationError")
    assert "quote signature" in r.json()["detail"]


@needs_config
def test_evidence_for_another_tee_refused(tee_issuer):
    g = Guest(tee_issuer.url)
    assert g.auth(tee="tdx").status_code == 200
    body = g.attest_body()
    body["tee-evidence"]["primary_evidence"] = quote_evidence("sgx/occlum_quote.dat")
    r = g.post_attest(body)
    assert_error(r, 401, "AttestationError")
    assert "not a TDX quote" in r.json()["detail"]


# ---- verify-evidence --------------------------------------------------------

CLI_CASES = [
    ("snp", "snp/test-report.bin", ["--cert", VEC / "snp" / "test-vcek.der", "--at", REF_AT]),
    ("snp", "snp/genoa-azure-report.bin", ["--cert", VEC / "snp" / "vcek-genoa.pem", "--at", REF_AT]),
    ("tdx", "tdx/tdx_quote_4.dat", ["--at", REF_AT]),
    ("tdx", "tdx/tdx_quote_6.dat", ["--collateral", VEC / "tdx", "--at", COLL_AT]),
    ("sgx", "sgx/occlum_quote.dat", ["--at", REF_AT]),
]


def verify(args):
    cp = run_cli("kbs-issuer", ["verify-evidence"] + [str(a) for a in args])
    out, err = check_cli(cp)
    return cp.returncode, out, err


@needs_cli
@pytest.mark.parametrize("tee,rel,extra", CLI_CASES, ids=[c[1] for c in CLI_CASES])
def test_cli_vector_verifies(tee, rel, extra):
    import json
    rc, out, err = verify(["--tee", tee, "--evidence", VEC / rel] + extra)
    assert rc == 0, err
    claims = json.loads(out)
    data = read(rel)
    off = 0x50 if tee == "snp" else 48 + (520 if tee == "tdx" else 320)
    assert claims["report_data"] == data[off:off + 64].hex()
    # The vector's own report data, given as the expected value, passes too.
    rc, _, err = verify(["--tee", tee, "--evidence", VEC / rel,
                         "--expect-report-data", data[off:off + 64].hex()] + extra)
    assert rc == 0, err


@needs_cli
def test_cli_tcb_status_from_collateral():
    import json
    rc, out, err = verify(["--tee", "tdx", "--evidence", VEC / "tdx" / "tdx_quote_6.dat",
                           "--collateral", VEC / "tdx", "--at", COLL_AT])
    assert rc == 0, err
    claims = json.loads(out)
    assert claims["tcb_status"] == "OutOfDate"   # known but poor: reported, not refused
    rc, out, err = verify(["--tee", "tdx", "--evidence", VEC / "tdx" / "tdx_quote_4.dat",
                           "--at", REF_AT])
    assert rc == 0 and json.loads(out)["tcb_status"] == "unknown"


@needs_cli
def test_cli_expired_collateral():
    args = ["--tee", "tdx", "--evidence", VEC / "tdx" / "tdx_quote_6.dat",
            "--collateral", VEC / "tdx", "--at", REF_AT]
    rc, _, err = verify(args)
    assert rc != 0 and "tcbInfo: expired" in err
    rc, _, err = verify(args + ["--allow-expired-collateral"])
    assert rc == 0, err


@needs_cli
@pytest.mark.parametrize("tee,rel,extra,offset,check", [
    ("snp", "snp/test-report.bin",
     ["--cert", VEC / "snp" / "test-vcek.der", "--at", REF_AT], 0x90, "SNP report signature"),
    ("tdx", "tdx/tdx_quote_4.dat", ["--at", REF_AT], 48 + 100, "quote signature"),
    ("sgx", "sgx/occlum_quote.dat", ["--at", REF_AT], 48 + 100, "quote signature"),
    ("sgx", "sgx/occlum_quote.dat", ["--at", REF_AT], 432 + 4 + 64 + 64 + 10,
     "QE report signature"),
], ids=["snp", "tdx", "sgx", "sgx-qe-report"])
def test_cli_flipped_byte(tmp_path, tee, rel, extra, offset, check):
    data = bytearray(read(rel))
    data[offset] ^= 0x01
    f = tmp_path / "evidence.bin"
    f.write_bytes(bytes(data))
    rc, out, err = verify(["--tee", tee, "--evidence", f] + extra)
    assert rc == 1 and out == ""
    assert check in err, err


@needs_cli
@pytest.mark.parametrize("tee,rel,extra", CLI_CASES, ids=[c[1] for c in CLI_CASES])
def test_cli_wrong_report_data(tee, rel, extra):
    rc, out, err = verify(["--tee", tee, "--evidence", VEC / rel,
                           "--expect-report-data", "00" * 48] + extra)
    assert rc == 1 and out == ""
    assert "report data does not match --expect-report-data" in err


@needs_cli
def test_cli_wrong_generation_and_time():
    rc, _, err = verify(["--tee", "snp", "--evidence", VEC / "snp" / "genoa-azure-report.bin",
                         "--cert", VEC / "snp" / "test-vcek.der", "--at", REF_AT])
    assert rc == 1 and "certificate" in err, err
    rc, _, err = verify(["--tee", "tdx", "--evidence", VEC / "tdx" / "tdx_quote_4.dat",
                         "--at", "2060-01-01T00:00:00Z"])
    assert rc == 1 and "expired" in err, err


@needs_cli
def test_cli_evidence_json_and_bundle(tmp_path):
    """The CoCo evidence JSON (or a JSON string of base64) as FILE, and --cert
    as a VCEK+ASK+ARK bundle."""
    import json
    f = tmp_path / "ev.json"
    f.write_text(json.dumps(snp_evidence("snp/test-report.bin", "snp/test-vcek.der")))
    rc, _, err = verify(["--tee", "snp", "--evidence", f, "--at", REF_AT])
    assert rc == 0, err
    # A primary_evidence string saved as it came (a JSON string of base64).
    s = tmp_path / "ev-string.json"
    s.write_text(json.dumps(base64.b64encode(read("sgx/occlum_quote.dat")).decode()) + "\n")
    rc, _, err = verify(["--tee", "sgx", "--evidence", s, "--at", REF_AT])
    assert rc == 0, err
    s.write_text('"' + base64.b64encode(read("sgx/occlum_quote.dat")).decode())
    rc, _, err = verify(["--tee", "sgx", "--evidence", s, "--at", REF_AT])
    assert rc == 1 and "malformed JSON string" in err, err
    raw = tmp_path / "report.bin"
    raw.write_bytes(read("snp/test-report.bin"))
    pem = ("-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(
        read("snp/test-vcek.der")).decode() + "-----END CERTIFICATE-----\n")
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(pem + (VEC / "roots" / "amd" / "milan_ask_ark_asvk.pem").read_text())
    rc, _, err = verify(["--tee", "snp", "--evidence", raw, "--cert", bundle, "--at", REF_AT])
    assert rc == 0, err
    rc, _, err = verify(["--tee", "snp", "--evidence", raw, "--at", REF_AT])
    assert rc == 1 and "no VCEK certificate" in err


@needs_cli
def test_cli_usage():
    cp = run_cli("kbs-issuer", ["verify-evidence", "--tee", "snp"])
    assert cp.returncode == 2
    cp = run_cli("kbs-issuer", ["verify-evidence", "--help"])
    assert cp.returncode == 0 and b"--collateral" in cp.stdout
    cp = run_cli("kbs-issuer", ["verify-evidence", "--tee", "sgx", "--evidence",
                                VEC / "sgx" / "occlum_quote.dat", "--at", "yesterday"])
    assert cp.returncode == 2
