"""The demo story, written through the repositories: customers, agents and
their state, events, recommendations, approvals and optimizations."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from optiinfra_db.enums import (
    AgentStatus,
    AgentStatusDetail,
    AgentType,
    ApprovalStatus,
    ConfigType,
    EventSeverity,
    EventType,
    MetricType,
    OptimizationStatus,
    RecommendationPriority,
    RecommendationStatus,
    RecommendationType,
)
from optiinfra_db.records import (
    AgentCapabilityCreate,
    AgentCreate,
    AgentMetricCreate,
    AgentStateUpdate,
    ApprovalCreate,
    CustomerCreate,
    EventCreate,
    OptimizationCreate,
    RecommendationCreate,
    new_api_key,
)
from optiinfra_db.repositories import Repositories
from optiinfra_db.seed.data import DEMO_AGENTS, DEMO_CUSTOMERS


def _story(
    repos: Repositories, rng: random.Random, now: datetime, keys: dict[str, str]
) -> tuple[dict[str, UUID], dict[AgentType, UUID]]:
    customers: dict[str, UUID] = {}
    for name, email, plan, meta in DEMO_CUSTOMERS:
        # Random, not from the seeded rng: a demo database must not accept a
        # key anyone can recompute. (The rng still advances as it did when it
        # made the keys, so the rest of the story stays the same for a seed.)
        for _ in range(32):
            rng.choice("abcdefghijkmnpqrstuvwxyz23456789")
        key = keys[name] = new_api_key()
        customers[name] = repos.customers.create(
            CustomerCreate(name=name, email=email, api_key=key, plan=plan, metadata=meta)
        ).id
    agents: dict[AgentType, UUID] = {}
    for agent_type, name, caps in DEMO_AGENTS:
        agent = repos.agents.create(
            AgentCreate(
                type=agent_type,
                name=name,
                version="1.4.2",
                status=AgentStatus.HEALTHY,
                endpoint=f"http://{name}:8080",
                capabilities=list(caps),
                metadata={"zone": rng.choice(("a", "b", "c"))},
                last_heartbeat=now,
            )
        )
        agents[agent_type] = agent.id
        repos.agent_configs.set(
            agent.id,
            "poll_interval_s",
            "30",
            ConfigType.INTEGER,
            "How often the agent polls its sources",
        )
        repos.agent_configs.set(agent.id, "max_concurrent_workflows", "4", ConfigType.INTEGER)
        repos.agent_configs.set(agent.id, "dry_run", "false", ConfigType.BOOLEAN)
        repos.agent_configs.set(
            agent.id, "thresholds", json.dumps({"cpu": 0.8, "gpu": 0.9}), ConfigType.JSON
        )
        for cap in caps:
            repos.agent_capabilities.create(
                AgentCapabilityCreate(
                    agent_id=agent.id, capability_name=cap, config={"enabled_by": "seed"}
                )
            )
        repos.agent_capabilities.create(
            AgentCapabilityCreate(
                agent_id=agent.id,
                capability_name=caps[0],
                capability_version="2.0.0-beta",
                enabled=False,
                description="next version, not rolled out yet",
            )
        )
        state = repos.agent_states.set_current_workflow(agent.id, None)
        repos.agent_states.update(
            state.id,
            AgentStateUpdate(
                current_status=rng.choice(list(AgentStatusDetail)),
                resource_usage={
                    "cpu": round(rng.uniform(0.05, 0.9), 2),
                    "memory_mb": rng.randint(200, 4000),
                },
            ),
        )
        repos.agent_metrics.record_many(
            AgentMetricCreate(
                agent_id=agent.id,
                metric_name=metric,
                metric_type=mtype,
                metric_value=round(rng.uniform(0, 100), 3),
                recorded_at=now - timedelta(hours=h),
                tags={"source": "seed"},
            )
            for h in range(24)
            for metric, mtype in (
                ("cpu_percent", MetricType.GAUGE),
                ("workflows_total", MetricType.COUNTER),
            )
        )
        for customer_id in customers.values():
            repos.events.create(
                EventCreate(
                    customer_id=customer_id,
                    agent_id=agent.id,
                    event_type=EventType.AGENT_REGISTERED,
                    data={"agent": name},
                )
            )
    recs = (
        (
            "Acme Corp",
            AgentType.COST,
            RecommendationType.SPOT_MIGRATION,
            "Move batch inference to spot instances",
            "18450.00",
            RecommendationStatus.COMPLETED,
        ),
        (
            "Acme Corp",
            AgentType.PERFORMANCE,
            RecommendationType.KV_CACHE_TUNING,
            "Raise KV-cache block size to 32",
            None,
            RecommendationStatus.FAILED,
        ),
        (
            "StartupCo",
            AgentType.COST,
            RecommendationType.RIGHT_SIZING,
            "Downsize idle A100 pool to 2 nodes",
            "6200.50",
            RecommendationStatus.APPROVED,
        ),
        (
            "StartupCo",
            AgentType.PERFORMANCE,
            RecommendationType.QUANTIZATION,
            "Serve the 70B model in INT8",
            "2100.00",
            RecommendationStatus.PENDING,
        ),
        (
            "Demo Customer",
            AgentType.RESOURCE,
            RecommendationType.AUTO_SCALING,
            "Scale to zero outside business hours",
            "950.00",
            RecommendationStatus.REJECTED,
        ),
    )
    for customer, agent_type, rtype, title, savings, status in recs:
        rec = repos.recommendations.create(
            RecommendationCreate(
                customer_id=customers[customer],
                agent_id=agents[agent_type],
                type=rtype,
                title=title,
                estimated_savings=Decimal(savings) if savings else None,
                confidence_score=round(rng.uniform(0.6, 0.98), 2),
                priority=rng.choice(list(RecommendationPriority)),
                status=status,
                data={"evidence": "seeded"},
            )
        )
        repos.events.create(
            EventCreate(
                customer_id=customers[customer],
                agent_id=agents[agent_type],
                event_type=EventType.RECOMMENDATION_CREATED,
                data={"recommendation": str(rec.id)},
            )
        )
        if status is RecommendationStatus.PENDING:
            continue
        decision = (
            ApprovalStatus.REJECTED
            if status is RecommendationStatus.REJECTED
            else ApprovalStatus.APPROVED
        )
        repos.approvals.create(
            ApprovalCreate(
                recommendation_id=rec.id,
                approved_by="finops@" + customer.lower().replace(" ", "") + ".example",
                status=decision,
                comment="reviewed in weekly FinOps meeting",
            )
        )
        if status in (RecommendationStatus.COMPLETED, RecommendationStatus.FAILED):
            done = status is RecommendationStatus.COMPLETED
            repos.optimizations.create(
                OptimizationCreate(
                    recommendation_id=rec.id,
                    customer_id=customers[customer],
                    agent_id=agents[agent_type],
                    status=OptimizationStatus.COMPLETED if done else OptimizationStatus.FAILED,
                    progress=100 if done else 60,
                    actual_savings=Decimal("17980.25") if done else None,
                    error=None if done else "rollout aborted: p95 latency rose 40%",
                    started_at=now - timedelta(days=2),
                    completed_at=now - timedelta(days=1),
                )
            )
            repos.events.create(
                EventCreate(
                    customer_id=customers[customer],
                    agent_id=agents[agent_type],
                    event_type=EventType.OPTIMIZATION_COMPLETED
                    if done
                    else EventType.OPTIMIZATION_FAILED,
                    severity=EventSeverity.INFO if done else EventSeverity.ERROR,
                    data={"recommendation": str(rec.id)},
                )
            )
    return customers, agents
