"""optiinfra-db: OptiInfra's PostgreSQL data layer."""

from optiinfra_db.migrate import migrate, pending_migrations, rollback

__all__ = ["migrate", "pending_migrations", "rollback"]
__version__ = "0.1.0"
