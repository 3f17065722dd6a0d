"""Settings refuse development secrets outside development; tokens carry API.md's claims."""

from __future__ import annotations

import jwt
import pytest
from pydantic import ValidationError

from shared.infra.auth import Role, Unauthorized, VerifiedTokens, decode_token, issue_token
from shared.infra.settings import Settings


def test_production_refuses_any_hs256_secret_and_needs_an_oidc_issuer():
    oidc = {"oidc_issuer": "https://idp.example", "oidc_audience": "urn:swp:api"}
    with pytest.raises(ValidationError, match="SWP_OIDC_ISSUER"):
        Settings(environment="production", audit_keys={})
    with pytest.raises(ValidationError, match="SWP_JWT_SECRET"):
        Settings(environment="production", jwt_secret="x" * 40, **oidc)
    ok = Settings(environment="production", **oidc)
    with pytest.raises(ValueError, match="production"):
        ok.dev_jwt_secret()
    with pytest.raises(ValueError, match="SWP_AUDIT_KEYS"):
        ok.audit_key("finance")
    assert len(Settings().audit_key("finance")) == 32  # development derives a fixed key


def test_tokens_round_trip_and_tampering_is_refused():
    s = Settings()
    token = issue_token(s, sub="u1", role=Role.EVALUATOR, counties=["640402"], evaluator_org="eval-org-1")
    p = decode_token(s, token)
    assert (p.sub, p.role, p.counties, p.evaluator_org) == ("u1", Role.EVALUATOR, frozenset({"640402"}), "eval-org-1")
    assert p.can_see("640402") and not p.can_see("130731")
    with pytest.raises(Unauthorized):
        decode_token(Settings(jwt_secret="another-secret-another-secret-xx"), token)
    with pytest.raises(Unauthorized):
        decode_token(s, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    assert decode_token(s, issue_token(s, sub="p", role=Role.PROVINCE_ADMIN, counties=["*"])).can_see("130731")


def test_nats_tls_settings_verify_the_server_and_go_together(tmp_path):
    import ssl

    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    leaf = ca.issue_cert("client.test")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "c.crt"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "c.key"))

    assert "tls" not in Settings().nats_options()  # development: plaintext to the embedded server
    context = Settings(nats_tls_ca=tmp_path / "ca.crt", nats_tls_cert=tmp_path / "c.crt", nats_tls_key=tmp_path / "c.key").nats_options()["tls"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    with pytest.raises(ValueError, match="SWP_NATS_TLS_CERT and SWP_NATS_TLS_KEY go together"):
        Settings(nats_tls_ca=tmp_path / "ca.crt", nats_tls_cert=tmp_path / "c.crt")
    with pytest.raises(ValueError, match="needs SWP_NATS_TLS_CA"):
        Settings(nats_tls_cert=tmp_path / "c.crt", nats_tls_key=tmp_path / "c.key")


def test_consumer_partitions_from_the_environment(monkeypatch):
    """SWP_CONSUMER_PARTITIONS is read from a string; only the counts the NATS accounts deny
    county subscribers are accepted (shared/infra/consumer.py PARTITION_COUNTS)."""
    from shared.infra.settings import Settings

    monkeypatch.setenv("SWP_CONSUMER_PARTITIONS", "4")
    assert Settings().consumer_partitions == 4
    monkeypatch.setenv("SWP_CONSUMER_PARTITIONS", "3")
    with pytest.raises(ValueError, match="1, 2, 4 or 8"):
        Settings()


def test_a_verified_token_is_honoured_from_memory_only_until_it_expires_and_for_a_minute_at_most():
    s = Settings()
    now = [1_000_000.0]
    cache = VerifiedTokens(ttl=60, size=2, clock=lambda: now[0])
    short = issue_token(s, sub="u1", role=Role.PROVIDER, counties=["640402"], provider_id="p1", ttl_seconds=30)
    long = issue_token(s, sub="u2", role=Role.PROVIDER, counties=["640402"], provider_id="p1")
    now[0] = float(jwt.decode(short, options={"verify_signature": False})["iat"])
    cache.put(short, decode_token(s, short))
    cache.put(long, decode_token(s, long))
    assert cache.get(short).sub == "u1" and cache.get(long).sub == "u2"
    assert cache.get(short[:-2] + ("A" if short[-2] != "A" else "B") + short[-1]) is None  # only the exact text
    now[0] += 30  # the short one's exp: verified again (and refused) rather than served from memory
    assert cache.get(short) is None and cache.get(long).sub == "u2"
    now[0] += 30  # a minute after it was verified: checked again, whatever its exp
    assert cache.get(long) is None
    for i in range(3):  # bounded: the oldest go first
        cache.put(t := issue_token(s, sub=f"x{i}", role=Role.AUDITOR, counties=["640402"]), decode_token(s, t))
    assert cache.get(t).sub == "x2" and len(cache._held) == 2
