"""Events carry the recommendation list they answer (attribution), and seen items come from an index.

Revision ID: 0002_recommendation_id
Revises: 0001_baseline
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_recommendation_id"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("recommendation_id", sa.String(64), nullable=True))
    # if_not_exists: logs written between two pre-Alembic releases already have this index but not the column
    op.create_index("ix_events_user_item", "events", ["user_id", "item_id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_events_user_item", "events")
    op.drop_column("events", "recommendation_id")
