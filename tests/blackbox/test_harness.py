"""The harness's own teardown checks must be able to fail: a server that
logs a secret, prints a sanitizer report, exits non-zero or ignores
SIGTERM is caught."""
import sys
from pathlib import Path

import kbsutil
from kbsutil import Server

FAKE = [sys.executable, str(Path(__file__).with_name("fake_server.py"))]


def run_fake(tmp_path, cfg):
    s = Server("fake", cfg, tmp_path, name="fake", command=FAKE)
    s.start()
    return s.stop()


def test_clean_server_has_no_problems(tmp_path):
    assert run_fake(tmp_path, {"say_at_exit": "info: stopping\n"}) == []


def test_secret_in_log_is_caught(tmp_path):
    secret = "harness-secret-value-0123456789"
    kbsutil.remember_secret(secret)
    try:
        problems = run_fake(tmp_path, {"say_at_exit": "oops %s\n" % secret})
    finally:
        kbsutil.SECRETS.discard(secret)
    assert any("logged a secret" in p for p in problems), problems


def test_token_segment_in_log_is_caught(tmp_path):
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJoYXJuZXNzLXRlc3QifQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
    kbsutil.remember_token(token)
    try:
        problems = run_fake(tmp_path, {"say_at_exit": "sig %s\n"
                                       % token.split(".")[2]})
    finally:
        for part in [token] + token.split(".")[1:]:
            kbsutil.SECRETS.discard(part)
    assert any("logged a secret" in p for p in problems), problems


def test_sanitizer_report_is_caught(tmp_path):
    for line in ("==1==ERROR: AddressSanitizer: heap-use-after-free",
                 "x.c:10:5: runtime error: signed integer overflow",
                 "==1==ERROR: LeakSanitizer: detected memory leaks"):
        problems = run_fake(tmp_path, {"say_at_exit": line + "\n"})
        assert any("sanitizer" in p for p in problems), problems


def test_nonzero_exit_is_caught(tmp_path):
    problems = run_fake(tmp_path, {"exit": 23})
    assert any("exited with status 23" in p for p in problems), problems


def test_hang_at_sigterm_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(kbsutil, "STOP_TIMEOUT", 1.0)
    problems = run_fake(tmp_path, {"hang": True})
    assert any("did not exit" in p for p in problems), problems
