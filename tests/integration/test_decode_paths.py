"""Rows are decoded two ways (``sansio.values.TableCore._decode_texts``):
small rows in one ``model_validate_json`` each, rows averaging 2 KB or more
parsed by ``pydantic_core.from_json`` and then validated (less memory for
JSON-heavy pages). Both must give the same records: a page of large rows is
compared with the same rows read one by one (small path, ``get``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import optiinfra_db as odb
from optiinfra_db.sansio.values import LARGE_ROW

#: Values a JSON object can hold that each decoder might read differently.
EDGY: dict[str, Any] = {
    "text": 'tab\there, quote ", backslash \\, bell \x07, ünïcødé 雪 🚀',
    "numbers": [0, -1, 2**63 - 1, -(2**63), 1.5, -0.5, 1e-300, 1e15, 0.1],
    "nested": {"a": {"b": [None, True, False, {}, []]}},
    "iso": "2026-12-05T20:24:21.123456+00:00",
    "uuid_like": "00000000-0000-4000-8000-000000000000",
    "": None,
}


def _big(n: int) -> dict[str, Any]:
    return {**EDGY, "filler": ["x" * 40 + str(i) for i in range(n)]}


def test_large_rows_decode_like_small_ones(repos: Any, world: Any) -> None:
    runs = repos.workflow_executions
    made = [
        runs.create(
            odb.WorkflowExecutionCreate(
                agent_id=world.agent.id,
                customer_id=world.customer.id,
                workflow_type=odb.WorkflowType.COST_ANALYSIS,
                input_data=_big(60),
                metadata=EDGY,
                started_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            )
        )
        for _ in range(5)
    ]
    page = runs.list_for_customer(world.customer.id, limit=1000)
    assert len(page[0].model_dump_json()) >= LARGE_ROW  # the large path ran
    assert {r.id: r for r in page if r.id in {m.id for m in made}} == {m.id: m for m in made}
    for record in page:
        assert runs.get(record.id) == record


def test_large_rows_keep_exact_decimals(repos: Any, world: Any) -> None:
    recs = repos.recommendations
    made = recs.create(
        odb.RecommendationCreate(
            customer_id=world.customer.id,
            agent_id=world.agent.id,
            type=odb.RecommendationType.RIGHT_SIZING,
            title="t",
            estimated_savings=Decimal("9999999999.99"),
            estimated_improvement=Decimal("-0.01"),
            confidence_score=0.3,
            data=_big(80),
        )
    )
    listed = [r for r in recs.list(world.customer.id, limit=1000) if r.id == made.id]
    assert listed == [made]
    assert listed[0].estimated_savings == Decimal("9999999999.99")
