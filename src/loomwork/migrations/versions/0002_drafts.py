"""drafts and their journal

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:43:42.102534
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('drafts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('group_id', sa.Uuid(), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('target_id', sa.Uuid(), nullable=True),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('entry_count', sa.Integer(), nullable=False),
    sa.Column('form_state', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_drafts_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['profile_id'], ['profiles.id'], name=op.f('fk_drafts_profile_id_profiles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drafts'))
    )
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.create_index('ix_drafts_owner_kind_updated', ['profile_id', 'kind', 'updated_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_drafts_target_id'), ['target_id'], unique=False)

    op.create_table('draft_entries',
    sa.Column('draft_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('patch', sa.JSON(), nullable=False),
    sa.Column('expected_version', sa.Integer(), nullable=True),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('actor_name', sa.String(length=200), nullable=False),
    sa.Column('via_agent', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_accept', sa.Boolean(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.Uuid(), nullable=True),
    sa.Column('decision_response', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['profiles.id'], name=op.f('fk_draft_entries_actor_id_profiles'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['decided_by'], ['profiles.id'], name=op.f('fk_draft_entries_decided_by_profiles'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['draft_id'], ['drafts.id'], name=op.f('fk_draft_entries_draft_id_drafts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('draft_id', 'key', name=op.f('pk_draft_entries'))
    )
    with op.batch_alter_table('draft_entries', schema=None) as batch_op:
        batch_op.create_index('ix_draft_entries_draft_state', ['draft_id', 'state'], unique=False)
        batch_op.create_index('ix_draft_entries_key', ['key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('draft_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_draft_entries_key')
        batch_op.drop_index('ix_draft_entries_draft_state')

    op.drop_table('draft_entries')
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drafts_target_id'))
        batch_op.drop_index('ix_drafts_owner_kind_updated')

    op.drop_table('drafts')
