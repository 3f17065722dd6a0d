"""Casework content citing beneficiaries is sealed for all of them (R-LOG-5, R-AUD-2): it opens only
while every cited person's key exists, so erasing any one of them shreds it; its digest (for
idempotency and import row ids) can no longer be computed either. Corrections seal again when the
content or the cited persons change."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from services_log.application import ServicesLogApplication
from services_log.composition import compose
from services_log.domainmodel import DeliveryFacts
from services_log.keystore import MemoryKeyStore, PersonalDataVault, SqliteKeyStore

from shared.rules import RuleViolation

NOTE = "李秀英 的母亲反映，孩子近一个月不愿上学"


def people(vault: PersonalDataVault, n: int) -> list[str]:
    refs = [str(uuid.uuid4()) for _ in range(n)]
    for ref in refs:
        vault.seal(ref, {"name": ref[:4]})  # creates the person's key
    return refs


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_sealed_for_every_cited_person_and_shredded_by_erasing_any_one(store, tmp_path):
    keys = MemoryKeyStore() if store == "memory" else SqliteKeyStore(str(tmp_path / "keys.sqlite"))
    vault = PersonalDataVault(keys)
    a, b, c = people(vault, 3)
    sealed = vault.seal_for([b, a], NOTE)
    assert sealed is not None and NOTE not in sealed and NOTE.encode().hex() not in sealed
    assert vault.open_for([a, b], sealed) == NOTE == vault.open_for([b, a, a], sealed)  # order and repeats do not matter
    assert vault.open_for([a], sealed) is None and vault.open_for([a, b, c], sealed) is None  # only for exactly them
    assert vault.open_for([], sealed) is None
    digest = vault.digest_for([a, b], NOTE)
    assert digest == vault.digest_for([b, a], NOTE) != vault.digest_for([a, b], NOTE + "。")
    assert digest != vault.digest_for([a, c], NOTE)

    only_c = vault.seal_for([c], "王大爷 的低保复核")
    vault.shred(b)  # erasing either cited person shreds the note
    assert vault.open_for([a, b], sealed) is None
    assert vault.digest_for([a, b], NOTE) is None and vault.seal_for([a, b], NOTE) is None
    assert only_c is not None and vault.open_for([c], only_c) == "王大爷 的低保复核"  # someone else's stays
    keys.close()


def test_a_group_of_two_hundred_seals_to_a_constant_size():
    vault = PersonalDataVault(MemoryKeyStore())
    refs = people(vault, 200)
    one, group = vault.seal_for(refs[:1], NOTE * 50), vault.seal_for(refs, NOTE * 50)
    assert one is not None and group is not None and len(group) == len(one)
    assert vault.open_for(reversed(refs), group) == NOTE * 50


@pytest.fixture
def app():
    app = ServicesLogApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


def facts(refs: list[str], content: str | None = NOTE) -> DeliveryFacts:
    return DeliveryFacts(
        contract_id="c-1", station_id="s-1", worker_ids=("w-1",), kind="个案", area="社会救助", date=date(2026, 10, 5),
        hours_direct=Decimal("1.5"), hours_other=Decimal(0), person_times=1, beneficiary_refs=tuple(refs), content=content,
    )


def test_the_application_stores_content_citing_someone_only_sealed(app):
    svc = compose(app)
    a, b = people(app.vault, 2)
    stored = svc.recording.seal_content(facts([a, b]))
    assert stored.content is None and NOTE not in str(stored.as_args())
    assert svc.lookups.content_of(stored) == (NOTE, False)
    assert svc.recording.seal_content(facts([])) == facts([])  # citing no one: stored as given
    assert svc.recording.seal_content(facts([a], None)) == facts([a], None)

    # Corrections: unchanged content keeps its sealed form; new refs seal it again for them.
    assert svc.recording.corrected_facts(stored, {"person_times": 2}).content_sealed == stored.content_sealed
    only_a = svc.recording.corrected_facts(stored, {"beneficiary_refs": (a,)})
    assert only_a.content_sealed != stored.content_sealed and svc.lookups.content_of(only_a) == (NOTE, False)
    rewritten = svc.recording.corrected_facts(stored, {"content": "复访：情况好转"})
    assert svc.lookups.content_of(rewritten) == ("复访：情况好转", False)

    app.vault.shred(b)
    assert svc.lookups.content_of(stored) == (None, True)  # never ciphertext passed off as content
    assert svc.lookups.content_of(only_a) == (NOTE, False)  # no longer cites b
    still = svc.recording.corrected_facts(stored, {"beneficiary_refs": (a,)})  # shredded for good, whatever the refs
    assert svc.lookups.content_of(still) == (None, True)
    with pytest.raises(RuleViolation) as refused:
        svc.recording.seal_content(facts([a, b]))
    assert refused.value.rule == "R-AUD-2" and refused.value.field == "beneficiary_refs.1"
    assert svc.lookups.content_digest([a, b], NOTE) == "erased" and svc.lookups.content_digest([a], None) is None

