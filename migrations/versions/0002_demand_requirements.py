"""Published demands keep the buyer's further requirements (certifications, notes).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 07:25:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('published_demands') as batch:
        batch.add_column(sa.Column('requirements', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('published_demands') as batch:
        batch.drop_column('requirements')
