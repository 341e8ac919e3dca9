"""Alembic environment: runs migrations on the engine the store passes in."""

from alembic import context

from proctor.store._schema import metadata

engine = context.config.attributes["engine"]
sqlite = engine.dialect.name == "sqlite"
with engine.connect() as connection:
    if sqlite:
        # Changing a SQLite table means copying it into a new one and dropping the old, which the rows of tables
        # referencing it would forbid: foreign keys are checked again once the migration is done.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=sqlite)
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        connection.commit()
        if broken:
            raise RuntimeError(f"the migration left rows whose references are broken: {broken[:5]}")
