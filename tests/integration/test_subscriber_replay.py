"""A subscriber replaying stream SWP from sequence 1 rebuilds the same read model the live
finance service shows (R-AUD-5); replaying from a later sequence resumes from there."""

from __future__ import annotations

from examples.subscriber import replay
from shared.infra.auth import Role
from tests.integration.slice import COUNTY, OTHER, setup_county, sign, wait_for_tranches


async def test_replay_from_the_beginning_matches_the_live_service(gateway, tokens, settings):
    ours = await setup_county(gateway, tokens, COUNTY)
    theirs = await setup_county(gateway, tokens, OTHER)
    # Three contracts for the same station and year: the second and third say why they overlap (R-REG-7).
    contracts = [(await sign(gateway, COUNTY, ours, **({"justification": f"专项服务{i}"} if i else {}))).json()["contract_id"]
                 for i in range(3)]
    await sign(gateway, OTHER, theirs)
    finance = tokens(Role.FINANCE, COUNTY)
    live = {cid: await wait_for_tranches(gateway, COUNTY, cid, finance) for cid in contracts}

    board = await replay(settings.nats_url, COUNTY, from_seq=1, idle_seconds=0.5)

    assert set(board.contracts) == set(contracts)  # and nothing of the other county
    for cid, tranches in live.items():
        scheduled = {t["seq"]: (t["amount_fen"], t["due_on"], t["provisional"]) for t in tranches if t["due_on"]}
        rebuilt = {seq: (t["amount_fen"], t["due_on"], t["provisional"]) for seq, t in board.contracts[cid].items()}
        assert rebuilt == scheduled

    # Resuming from the sequence where the second contract's events start sees only what came later.
    resume_at = board.first_sequence[contracts[1]]
    later = await replay(settings.nats_url, COUNTY, from_seq=resume_at, idle_seconds=0.3)
    assert set(later.contracts) == set(contracts[1:])
    assert later.contracts[contracts[2]] == board.contracts[contracts[2]]
