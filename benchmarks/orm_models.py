"""SQLAlchemy 2 ORM models of the workflow tables as the original OptiInfra design
declares them (benchmark-only: what users would pick instead of optiinfra_db).

Two fixes were needed for the design's models to run at all against its own
schema: its ``metadata`` attribute is reserved by SQLAlchemy's declarative base
(mapped here as ``metadata_``), and ``SQLEnum(WorkflowType)`` stores member
*names* (``PENDING``) while the enum labels are the values (``pending``), so
``values_callable`` is given. Timestamps are timezone-aware as in the schema.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy import Enum as SQLEnum
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from optiinfra_db.enums import ArtifactType, StepStatus, WorkflowStatus, WorkflowType


def _enum(cls: Any, name: str) -> SQLEnum:
    return SQLEnum(
        cls, name=name, create_type=False, values_callable=lambda e: [m.value for m in e]
    )


class Base(DeclarativeBase):
    pass


# The parents, only as far as the foreign keys need them.
Table("customers", Base.metadata, Column("id", UUID(as_uuid=True), primary_key=True))
Table("agents", Base.metadata, Column("id", UUID(as_uuid=True), primary_key=True))


class WorkflowExecution(Base):
    __tablename__ = "workflow_executions"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    agent_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("agents.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    workflow_type: Mapped[WorkflowType] = mapped_column(_enum(WorkflowType, "workflow_type"))
    status: Mapped[WorkflowStatus] = mapped_column(
        _enum(WorkflowStatus, "workflow_status"), default=WorkflowStatus.PENDING
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    input_data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    output_data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error_details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    worker_id: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempt: Mapped[int] = mapped_column(Integer, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, server_default="1")
    run_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    priority: Mapped[int] = mapped_column(SmallInteger, server_default="0")

    steps: Mapped[list[WorkflowStep]] = relationship(
        back_populates="execution", cascade="all, delete-orphan", order_by="WorkflowStep.step_order"
    )
    artifacts: Mapped[list[WorkflowArtifact]] = relationship(
        back_populates="execution", cascade="all, delete-orphan"
    )


class WorkflowStep(Base):
    __tablename__ = "workflow_steps"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    workflow_execution_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("workflow_executions.id")
    )
    step_name: Mapped[str] = mapped_column(String(255))
    step_order: Mapped[int] = mapped_column(Integer)
    status: Mapped[StepStatus] = mapped_column(
        _enum(StepStatus, "step_status"), default=StepStatus.PENDING
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    input_data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    output_data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error_details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, default=3)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")

    execution: Mapped[WorkflowExecution] = relationship(back_populates="steps")


class WorkflowArtifact(Base):
    __tablename__ = "workflow_artifacts"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    workflow_execution_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("workflow_executions.id")
    )
    workflow_step_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("workflow_steps.id")
    )
    artifact_type: Mapped[ArtifactType] = mapped_column(_enum(ArtifactType, "artifact_type"))
    artifact_name: Mapped[str] = mapped_column(String(255))
    artifact_path: Mapped[str] = mapped_column(Text)
    artifact_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    content_type: Mapped[str | None] = mapped_column(String(100))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")

    execution: Mapped[WorkflowExecution] = relationship(back_populates="artifacts")
