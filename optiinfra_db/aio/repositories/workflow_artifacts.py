"""``workflow_artifacts`` (migration 0003): what steps produce.

Written once, for asyncio, in ``optiinfra_db/aio/repositories/workflow_artifacts.py``; the sync
twin ``optiinfra_db/repositories/workflow_artifacts.py`` is generated from it
(``tools/async_to_sync.py``). Its statements: ``sql/workflow_artifacts.sql``.
"""

from __future__ import annotations

import builtins
from uuid import UUID

from optiinfra_db.aio.repositories._base import UpdatableRepository
from optiinfra_db.enums import ArtifactType
from optiinfra_db.errors import (
    LeaseLostError,
    NotFoundError,
)
from optiinfra_db.fieldtypes import (
    WorkerId,
    check_id,
)
from optiinfra_db.queries import CATALOG
from optiinfra_db.records import (
    WorkflowArtifact,
    WorkflowArtifactCreate,
    WorkflowArtifactUpdate,
)
from optiinfra_db.sansio.lifecycle import (
    lease_lost,
)
from optiinfra_db.sansio.values import (
    check,
)

__all__ = ["WorkflowArtifactRepository"]

#: The run an artifact is written to, and its holder (the fencing check).
_STATE_OF = CATALOG["workflow_executions.state_of"]


class WorkflowArtifactRepository(UpdatableRepository[WorkflowArtifact, WorkflowArtifactUpdate]):
    """``workflow_artifacts``: outputs of an execution or of one of its steps."""

    table = "workflow_artifacts"
    entity = "workflow artifact"
    record = WorkflowArtifact
    update_model = WorkflowArtifactUpdate

    async def create(
        self, data: WorkflowArtifactCreate, *, worker_id: str | None = None
    ) -> WorkflowArtifact:
        """Insert one artifact. With ``worker_id``: only while its execution is
        running, held by that worker on a live lease (LeaseLostError otherwise),
        checked in the same statement."""
        if worker_id is None:
            return await self._create(data, WorkflowArtifactCreate)
        worker = check(WorkerId, worker_id)
        made = await self._insert("create_fenced", data, WorkflowArtifactCreate, worker_id=worker)
        if made is not None:
            return made
        run_id = data.workflow_execution_id
        state = await self._fetchone(_STATE_OF, {"id": run_id})
        if state is None:
            raise NotFoundError("workflow execution", run_id)
        status, holder, live, expires = state[:4]
        lost = lease_lost(
            self.entity, "(new)", status, "created", (run_id, status, holder, live, expires), worker
        )
        raise lost or LeaseLostError(
            self.entity,
            "(new)",
            status,
            "created",
            worker_id=worker,
            execution_id=run_id,
            detail="it changed concurrently; read it again",
            run_status=status,
            holder=holder,
            lease_expires_at=expires,
            action=f"add an artifact to execution {run_id}",
        )

    async def list_for_execution(
        self, execution_id: UUID | str, *, artifact_type: ArtifactType | None = None
    ) -> builtins.list[WorkflowArtifact]:
        """One execution's artifacts, oldest first; ``artifact_type`` filters when given."""
        return await self._many(
            "list_for_execution",
            {
                "workflow_execution_id": check_id(execution_id),
                "artifact_type": check(ArtifactType | None, artifact_type),
            },
        )

    async def list_for_step(self, step_id: UUID | str) -> builtins.list[WorkflowArtifact]:
        """One step's artifacts, oldest first."""
        return await self._many("list_for_step", {"workflow_step_id": check_id(step_id)})

    async def list(
        self, execution_id: UUID | str, *, artifact_type: ArtifactType | None = None
    ) -> builtins.list[WorkflowArtifact]:
        """Same as :meth:`list_for_execution`."""
        return await self.list_for_execution(execution_id, artifact_type=artifact_type)
