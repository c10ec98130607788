"""initial schema

Revision ID: 0001
Revises: 
Create Date: pre-release (regenerated)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import siyu.kit.types
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audience_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger(), nullable=True),
    sa.Column('customer_id', sa.BigInteger(), nullable=True),
    sa.Column('txid', sa.BigInteger(), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audience_changes')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('audience_changes', schema=None) as batch_op:
        batch_op.create_index('ix_audience_changes_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_audience_changes_txid', ['txid'], unique=False)

    op.create_table('event_subscriptions',
    sa.Column('name', sa.String(length=96), nullable=False),
    sa.Column('txid', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('delivered', sa.BigInteger(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('retry_after', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_event_subscriptions'))
    )
    op.create_table('follow_count_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger(), nullable=False),
    sa.Column('staff_id', sa.BigInteger(), nullable=False),
    sa.Column('customer_id', sa.BigInteger(), nullable=False),
    sa.Column('at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_count_changes'))
    )
    with op.batch_alter_table('follow_count_changes', schema=None) as batch_op:
        batch_op.create_index('ix_follow_count_changes_workspace_id_staff_id', ['workspace_id', 'staff_id'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('dedup_key', sa.String(length=160), nullable=True),
    sa.Column('run_after', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('locked_by', sa.String(length=64), nullable=True),
    sa.Column('locked_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('finished_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_jobs_dedup_key'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_due', ['run_after', 'id'], unique=False, sqlite_where=sa.text("status = 'queued'"), postgresql_where=sa.text("status = 'queued'"))
        batch_op.create_index('ix_jobs_status_kind', ['status', 'kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('login_throttle',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('window_start', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_throttle')),
    sa.UniqueConstraint('key', name=op.f('uq_login_throttle_key'))
    )
    op.create_table('periodic_tasks',
    sa.Column('name', sa.String(length=96), nullable=False),
    sa.Column('next_run_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_started_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_finished_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.String(length=16), nullable=True),
    sa.Column('last_result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_periodic_tasks'))
    )
    op.create_table('send_recipients',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('send_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('target', sa.String(length=128), nullable=True),
    sa.Column('arm', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=True),
    sa.Column('batch_seq', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('sent_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_send_recipients'))
    )
    with op.batch_alter_table('send_recipients', schema=None) as batch_op:
        batch_op.create_index('ix_send_recipients_send_id_arm_batch_seq', ['send_id', 'arm', 'batch_seq'], unique=False)
        batch_op.create_index('ix_send_recipients_workspace_id_customer_id_created_at', ['workspace_id', 'customer_id', 'created_at'], unique=False)

    op.create_table('worker_heartbeats',
    sa.Column('worker_id', sa.String(length=96), nullable=False),
    sa.Column('started_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('beat_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker_id', name=op.f('pk_worker_heartbeats'))
    )
    op.create_table('workspaces',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workspaces')),
    sa.UniqueConstraint('slug', name=op.f('uq_workspaces_slug'))
    )
    op.create_table('archive_cursors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('advanced_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pulled_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('alerted_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_archive_cursors_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_archive_cursors')),
    sa.UniqueConstraint('workspace_id', name=op.f('uq_archive_cursors_workspace_id'))
    )
    op.create_table('archive_keys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('private_key_enc', sa.Text(), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_archive_keys_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_archive_keys')),
    sa.UniqueConstraint('workspace_id', 'version', name=op.f('uq_archive_keys_workspace_id_version'))
    )
    op.create_table('archive_pending',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('msgid', sa.String(length=128), nullable=False),
    sa.Column('publickey_ver', sa.Integer(), nullable=False),
    sa.Column('encrypt_random_key', sa.Text(), nullable=False),
    sa.Column('encrypt_chat_msg', sa.Text(), nullable=False),
    sa.Column('error', sa.String(length=300), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_archive_pending_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_archive_pending')),
    sa.UniqueConstraint('workspace_id', 'msgid', name=op.f('uq_archive_pending_workspace_id_msgid'))
    )
    op.create_table('audit_chain_heads',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('last_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('last_hash', sa.String(length=64), nullable=True),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_audit_chain_heads_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_heads')),
    sa.UniqueConstraint('workspace_id', name=op.f('uq_audit_chain_heads_workspace_id'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=True),
    sa.Column('target_id', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_audit_log_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    sa.UniqueConstraint('workspace_id', 'seq', name=op.f('uq_audit_log_workspace_id_seq'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)

    op.create_table('auto_tag_rules',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('expression', sa.Text(), nullable=False),
    sa.Column('add_tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('remove_tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('last_applied_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_auto_tag_rules_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auto_tag_rules')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_auto_tag_rules_workspace_id_name'))
    )
    op.create_table('channel_funnel_days',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('adds', sa.Integer(), nullable=False),
    sa.Column('lost_7d', sa.Integer(), nullable=False),
    sa.Column('lost_30d', sa.Integer(), nullable=False),
    sa.Column('lost', sa.Integer(), nullable=False),
    sa.Column('buyers', sa.Integer(), nullable=False),
    sa.Column('repeat_buyers', sa.Integer(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('net_fen', sa.BigInteger(), nullable=False),
    sa.Column('cogs_fen', sa.BigInteger(), nullable=False),
    sa.Column('uncosted_orders', sa.Integer(), nullable=False),
    sa.Column('days_to_first_sum', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_channel_funnel_days_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_funnel_days')),
    sa.UniqueConstraint('workspace_id', 'state', 'day', name=op.f('uq_channel_funnel_days_workspace_id_state_day'))
    )
    op.create_table('channels',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('group_name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('state', sa.String(length=30), nullable=False),
    sa.Column('slug', sa.String(length=40), nullable=False),
    sa.Column('cost_fen', sa.BigInteger(), nullable=True),
    sa.Column('skip_verify', sa.Boolean(), nullable=False),
    sa.Column('tag_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('welcome', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('pool', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('config_id', sa.String(length=64), nullable=True),
    sa.Column('qr_url', sa.String(length=512), nullable=True),
    sa.Column('link_url', sa.String(length=512), nullable=True),
    sa.Column('sync_status', sa.String(length=16), nullable=False),
    sa.Column('sync_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('deleted_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_channels_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channels')),
    sa.UniqueConstraint('workspace_id', 'slug', name=op.f('uq_channels_workspace_id_slug')),
    sa.UniqueConstraint('workspace_id', 'state', name=op.f('uq_channels_workspace_id_state'))
    )
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.create_index('ix_channels_workspace_id_group_name', ['workspace_id', 'group_name'], unique=False)

    op.create_table('content_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('folder', sa.String(length=100), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('body', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('deleted_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('media_id', sa.String(length=200), nullable=True),
    sa.Column('media_expires_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_content_items_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_items'))
    )
    with op.batch_alter_table('content_items', schema=None) as batch_op:
        batch_op.create_index('ix_content_items_workspace_id_folder', ['workspace_id', 'folder'], unique=False)

    op.create_table('customers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('gender', sa.Integer(), nullable=False),
    sa.Column('avatar', sa.String(length=500), nullable=True),
    sa.Column('province', sa.String(length=32), nullable=True),
    sa.Column('city', sa.String(length=32), nullable=True),
    sa.Column('birthday', sa.Date(), nullable=True),
    sa.Column('opt_out', sa.Boolean(), nullable=False),
    sa.Column('opt_out_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('anonymised_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('merged_into_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('referred_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('first_seen_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['merged_into_id'], ['customers.id'], name=op.f('fk_customers_merged_into_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['referred_by_id'], ['customers.id'], name=op.f('fk_customers_referred_by_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_customers_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_city'), ['city'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_province'), ['province'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_referred_by_id'), ['referred_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('import_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('format', sa.String(length=24), nullable=False),
    sa.Column('filename', sa.String(length=500), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=True),
    sa.Column('file_size', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('finished_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_ok', sa.Integer(), nullable=False),
    sa.Column('rows_failed', sa.Integer(), nullable=False),
    sa.Column('orders_created', sa.Integer(), nullable=False),
    sa.Column('orders_updated', sa.Integer(), nullable=False),
    sa.Column('orders_unchanged', sa.Integer(), nullable=False),
    sa.Column('customers_created', sa.Integer(), nullable=False),
    sa.Column('committed_line', sa.Integer(), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_import_runs_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_runs'))
    )
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_runs_file_sha256'), ['file_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_runs_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('insight_positions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=False),
    sa.Column('extra', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_insight_positions_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insight_positions')),
    sa.UniqueConstraint('workspace_id', 'source', name=op.f('uq_insight_positions_workspace_id_source'))
    )
    op.create_table('keyword_positions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_message_id', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_keyword_positions_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_keyword_positions')),
    sa.UniqueConstraint('workspace_id', name=op.f('uq_keyword_positions_workspace_id'))
    )
    op.create_table('keyword_rules',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('match', sa.String(length=16), nullable=False),
    sa.Column('keywords', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('sources', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('actions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('stop', sa.Boolean(), nullable=False),
    sa.Column('cooldown_s', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('deleted_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_keyword_rules_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_keyword_rules'))
    )
    with op.batch_alter_table('keyword_rules', schema=None) as batch_op:
        batch_op.create_index('ix_keyword_rules_workspace_id_enabled', ['workspace_id', 'enabled'], unique=False)

    op.create_table('kf_cursors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('open_kfid', sa.String(length=64), nullable=False),
    sa.Column('cursor', sa.String(length=128), nullable=False),
    sa.Column('synced_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_kf_cursors_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kf_cursors')),
    sa.UniqueConstraint('workspace_id', 'open_kfid', name=op.f('uq_kf_cursors_workspace_id_open_kfid'))
    )
    op.create_table('mass_receipts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('msgid', sa.String(length=128), nullable=False),
    sa.Column('external_userid', sa.String(length=128), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('creator', sa.String(length=64), nullable=True),
    sa.Column('sent_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_mass_receipts_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mass_receipts')),
    sa.UniqueConstraint('workspace_id', 'msgid', 'external_userid', name=op.f('uq_mass_receipts_workspace_id_msgid_external_userid'))
    )
    with op.batch_alter_table('mass_receipts', schema=None) as batch_op:
        batch_op.create_index('ix_mass_receipts_customer_id_sent_at', ['customer_id', 'sent_at'], unique=False)

    op.create_table('pnl_snapshots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('cursor', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('taken_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('facts', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_pnl_snapshots_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pnl_snapshots')),
    sa.UniqueConstraint('workspace_id', 'month', name=op.f('uq_pnl_snapshots_workspace_id_month'))
    )
    op.create_table('profile_fields',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('options', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('deleted_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_profile_fields_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_profile_fields')),
    sa.UniqueConstraint('workspace_id', 'key', name=op.f('uq_profile_fields_workspace_id_key'))
    )
    op.create_table('segments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('expression', sa.Text(), nullable=False),
    sa.Column('expression_json', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('last_count', sa.Integer(), nullable=True),
    sa.Column('last_counted_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_segments_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_segments_workspace_id_name'))
    )
    op.create_table('sensitive_words',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('word', sa.String(length=100), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_sensitive_words_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensitive_words')),
    sa.UniqueConstraint('workspace_id', 'word', name=op.f('uq_sensitive_words_workspace_id_word'))
    )
    op.create_table('sku_costs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('cost_fen', sa.BigInteger(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_sku_costs_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sku_costs'))
    )
    with op.batch_alter_table('sku_costs', schema=None) as batch_op:
        batch_op.create_index('ix_sku_costs_workspace_id_sku', ['workspace_id', 'sku'], unique=False)

    op.create_table('sop_plans',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('audience', sa.Text(), nullable=True),
    sa.Column('steps', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('exits', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('template', sa.String(length=32), nullable=True),
    sa.Column('enroll_existing', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('activated_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_sop_plans_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sop_plans'))
    )
    with op.batch_alter_table('sop_plans', schema=None) as batch_op:
        batch_op.create_index('ix_sop_plans_workspace_id_status', ['workspace_id', 'status'], unique=False)

    op.create_table('staff',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('customer_limit', sa.Integer(), nullable=False),
    sa.Column('has_contact_permission', sa.Boolean(), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_staff_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff')),
    sa.UniqueConstraint('workspace_id', 'userid', name=op.f('uq_staff_workspace_id_userid'))
    )
    op.create_table('stores',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('city', sa.String(length=32), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lng', sa.Float(), nullable=False),
    sa.Column('staff_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('deleted_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_stores_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stores')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_stores_workspace_id_name'))
    )
    op.create_table('sync_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('finished_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_sync_runs_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_runs'))
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_runs_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('tag_groups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('wecom_group_id', sa.String(length=64), nullable=True),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('deleted_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_tag_groups_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tag_groups')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_tag_groups_workspace_id_name'))
    )
    with op.batch_alter_table('tag_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tag_groups_wecom_group_id'), ['wecom_group_id'], unique=False)

    op.create_table('wecom_apps',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('corp_id', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.String(length=32), nullable=True),
    sa.Column('token_enc', sa.Text(), nullable=True),
    sa.Column('aes_key_enc', sa.Text(), nullable=True),
    sa.Column('secret_enc', sa.Text(), nullable=True),
    sa.Column('api_base', sa.String(length=300), nullable=True),
    sa.Column('last_full_sync_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_wecom_apps_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wecom_apps')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_wecom_apps_workspace_id_name'))
    )
    op.create_table('wecom_callbacks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('dedup_key', sa.String(length=128), nullable=False),
    sa.Column('msg_type', sa.String(length=32), nullable=True),
    sa.Column('event', sa.String(length=64), nullable=True),
    sa.Column('change_type', sa.String(length=64), nullable=True),
    sa.Column('create_time', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('received_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('processed_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_wecom_callbacks_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wecom_callbacks')),
    sa.UniqueConstraint('workspace_id', 'dedup_key', name=op.f('uq_wecom_callbacks_workspace_id_dedup_key'))
    )
    with op.batch_alter_table('wecom_callbacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wecom_callbacks_status'), ['status'], unique=False)

    op.create_table('wecom_mass_msgs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('msgid', sa.String(length=128), nullable=False),
    sa.Column('chat_type', sa.String(length=8), nullable=False),
    sa.Column('creator', sa.String(length=64), nullable=True),
    sa.Column('create_type', sa.Integer(), nullable=False),
    sa.Column('created_time', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ours', sa.Boolean(), nullable=False),
    sa.Column('pulled_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_wecom_mass_msgs_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wecom_mass_msgs')),
    sa.UniqueConstraint('workspace_id', 'msgid', name=op.f('uq_wecom_mass_msgs_workspace_id_msgid'))
    )
    op.create_table('welcome_defaults',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger(), nullable=True),
    sa.Column('department', sa.String(length=200), nullable=True),
    sa.Column('welcome', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_welcome_defaults_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_welcome_defaults')),
    sa.UniqueConstraint('workspace_id', 'staff_id', 'department', name=op.f('uq_welcome_defaults_workspace_id_staff_id_department'))
    )
    op.create_table('welcome_sends',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('dedup_key', sa.String(length=64), nullable=False),
    sa.Column('channel_id', sa.BigInteger(), nullable=True),
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('external_userid', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=True),
    sa.Column('variant', sa.String(length=16), nullable=True),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('arrived_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('latency_ms', sa.BigInteger(), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_welcome_sends_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_welcome_sends')),
    sa.UniqueConstraint('workspace_id', 'dedup_key', name=op.f('uq_welcome_sends_workspace_id_dedup_key'))
    )
    with op.batch_alter_table('welcome_sends', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_welcome_sends_channel_id'), ['channel_id'], unique=False)
        batch_op.create_index('ix_welcome_sends_workspace_id_external_userid', ['workspace_id', 'external_userid'], unique=False)

    op.create_table('customer_field_values',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('field_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('value', sa.String(length=500), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_field_values_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['field_id'], ['profile_fields.id'], name=op.f('fk_customer_field_values_field_id_profile_fields'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_customer_field_values_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_customer_field_values_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_field_values')),
    sa.UniqueConstraint('customer_id', 'field_id', name=op.f('uq_customer_field_values_customer_id_field_id'))
    )
    with op.batch_alter_table('customer_field_values', schema=None) as batch_op:
        batch_op.create_index('ix_customer_field_values_workspace_id_field_id', ['workspace_id', 'field_id'], unique=False)

    op.create_table('customer_identities',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('value_hash', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=True),
    sa.Column('value_enc', sa.Text(), nullable=True),
    sa.Column('value_masked', sa.String(length=64), nullable=True),
    sa.Column('phone_last4', sa.String(length=4), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_identities_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_customer_identities_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_identities')),
    sa.UniqueConstraint('workspace_id', 'kind', 'platform', 'value_hash', name=op.f('uq_customer_identities_workspace_id_kind_platform_value_hash'))
    )
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_identities_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_customer_identities_workspace_id_phone_last4', ['workspace_id', 'phone_last4'], unique=False)

    op.create_table('customer_notes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_notes_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_customer_notes_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_customer_notes_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_notes'))
    )
    with op.batch_alter_table('customer_notes', schema=None) as batch_op:
        batch_op.create_index('ix_customer_notes_customer_id_created_at', ['customer_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_notes_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('customer_scores',
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recency_days', sa.Integer(), nullable=True),
    sa.Column('r_score', sa.Integer(), nullable=True),
    sa.Column('f_score', sa.Integer(), nullable=True),
    sa.Column('m_score', sa.Integer(), nullable=True),
    sa.Column('rfm_segment', sa.String(length=32), nullable=True),
    sa.Column('rfm8', sa.String(length=16), nullable=True),
    sa.Column('layer_age', sa.String(length=8), nullable=True),
    sa.Column('layer_tier', sa.String(length=8), nullable=True),
    sa.Column('layer_value', sa.String(length=16), nullable=True),
    sa.Column('lifecycle', sa.String(length=16), nullable=True),
    sa.Column('preferred_category', sa.String(length=64), nullable=True),
    sa.Column('expected_purchases_90d', sa.Float(), nullable=True),
    sa.Column('p_alive', sa.Float(), nullable=True),
    sa.Column('expected_value_fen', sa.BigInteger(), nullable=True),
    sa.Column('computed_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_scores_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_customer_scores_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_scores'))
    )
    with op.batch_alter_table('customer_scores', schema=None) as batch_op:
        batch_op.create_index('ix_customer_scores_workspace_id_rfm8', ['workspace_id', 'rfm8'], unique=False)
        batch_op.create_index('ix_customer_scores_workspace_id_rfm_segment', ['workspace_id', 'rfm_segment'], unique=False)

    op.create_table('customer_stats',
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('orders_count', sa.Integer(), nullable=False),
    sa.Column('paid_orders_count', sa.Integer(), nullable=False),
    sa.Column('effective_orders_count', sa.Integer(), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('net_fen', sa.BigInteger(), nullable=False),
    sa.Column('cost_fen', sa.BigInteger(), nullable=False),
    sa.Column('items_count', sa.Integer(), nullable=False),
    sa.Column('first_paid_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_paid_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('last_order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('purchase_days', sa.Integer(), nullable=False),
    sa.Column('categories', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('products', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('platforms', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('shops', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('province', sa.String(length=32), nullable=True),
    sa.Column('city', sa.String(length=32), nullable=True),
    sa.Column('last_interaction_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_stats_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_customer_stats_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_stats'))
    )
    with op.batch_alter_table('customer_stats', schema=None) as batch_op:
        batch_op.create_index('ix_customer_stats_workspace_id_last_paid_at', ['workspace_id', 'last_paid_at'], unique=False)
        batch_op.create_index('ix_customer_stats_workspace_id_net_fen', ['workspace_id', 'net_fen'], unique=False)

    op.create_table('customer_transfers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('handover_staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('takeover_staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_userid', sa.String(length=128), nullable=False),
    sa.Column('message', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('errcode', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('rule', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('requested_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('settled_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_transfers_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['handover_staff_id'], ['staff.id'], name=op.f('fk_customer_transfers_handover_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['takeover_staff_id'], ['staff.id'], name=op.f('fk_customer_transfers_takeover_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_customer_transfers_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_transfers'))
    )
    with op.batch_alter_table('customer_transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_transfers_handover_staff_id'), ['handover_staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_transfers_takeover_staff_id'), ['takeover_staff_id'], unique=False)
        batch_op.create_index('ix_customer_transfers_workspace_id_batch', ['workspace_id', 'batch'], unique=False)
        batch_op.create_index('ix_customer_transfers_workspace_id_customer_id', ['workspace_id', 'customer_id'], unique=False)

    op.create_table('erased_identities',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('value_hash', sa.String(length=64), nullable=False),
    sa.Column('erased_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_erased_identities_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_erased_identities_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erased_identities')),
    sa.UniqueConstraint('workspace_id', 'kind', 'platform', 'value_hash', name=op.f('uq_erased_identities_workspace_id_kind_platform_value_hash'))
    )
    with op.batch_alter_table('erased_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erased_identities_customer_id'), ['customer_id'], unique=False)

    op.create_table('follows',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_userid', sa.String(length=128), nullable=True),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('add_way', sa.Integer(), nullable=True),
    sa.Column('live_code_state', sa.String(length=64), nullable=True),
    sa.Column('remark', sa.String(length=100), nullable=True),
    sa.Column('description', sa.String(length=300), nullable=True),
    sa.Column('oper_userid', sa.String(length=64), nullable=True),
    sa.Column('added_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_by', sa.String(length=16), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_follows_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_follows_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_follows_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follows')),
    sa.UniqueConstraint('workspace_id', 'staff_id', 'customer_id', name=op.f('uq_follows_workspace_id_staff_id_customer_id'))
    )
    with op.batch_alter_table('follows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follows_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_follows_customer_id_added_at', ['customer_id', 'added_at', 'id', 'deleted_at', 'staff_id', 'live_code_state'], unique=False)
        batch_op.create_index(batch_op.f('ix_follows_external_userid'), ['external_userid'], unique=False)
        batch_op.create_index(batch_op.f('ix_follows_live_code_state'), ['live_code_state'], unique=False)
        batch_op.create_index(batch_op.f('ix_follows_staff_id'), ['staff_id'], unique=False)
        batch_op.create_index('ix_follows_staff_id_state_customer_id', ['staff_id', 'state', 'customer_id'], unique=False)
        batch_op.create_index('ix_follows_workspace_id_added_at_covering', ['workspace_id', 'added_at', 'staff_id', 'customer_id', 'live_code_state'], unique=False)
        batch_op.create_index('ix_follows_workspace_id_deleted_at', ['workspace_id', 'deleted_at', 'added_at', 'staff_id', 'live_code_state'], unique=False, sqlite_where=sa.text('deleted_at IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NOT NULL'))
        batch_op.create_index('ix_follows_workspace_id_staff_id_counts', ['workspace_id', 'staff_id', 'live_code_state', 'added_at'], unique=False)
        batch_op.create_index('ix_follows_workspace_id_state', ['workspace_id', 'state'], unique=False)

    op.create_table('friend_accepts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('requested_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_friend_accepts_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_friend_accepts_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_friend_accepts_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_friend_accepts')),
    sa.UniqueConstraint('workspace_id', 'staff_id', 'customer_id', name=op.f('uq_friend_accepts_workspace_id_staff_id_customer_id'))
    )
    with op.batch_alter_table('friend_accepts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_friend_accepts_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_friend_accepts_staff_id'), ['staff_id'], unique=False)

    op.create_table('groups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chat_id', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('owner_staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('notice', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('group_type', sa.String(length=16), nullable=True),
    sa.Column('member_count', sa.Integer(), nullable=False),
    sa.Column('wecom_created_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('dismissed_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['owner_staff_id'], ['staff.id'], name=op.f('fk_groups_owner_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_groups_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_groups')),
    sa.UniqueConstraint('workspace_id', 'chat_id', name=op.f('uq_groups_workspace_id_chat_id'))
    )
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_groups_owner_staff_id'), ['owner_staff_id'], unique=False)

    op.create_table('import_row_errors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('import_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('filename', sa.String(length=500), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=True),
    sa.Column('value', sa.String(length=500), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['import_runs.id'], name=op.f('fk_import_row_errors_import_id_import_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_import_row_errors_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_row_errors'))
    )
    with op.batch_alter_table('import_row_errors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_row_errors_import_id'), ['import_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_row_errors_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('interaction_days',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('msgs_in', sa.Integer(), nullable=False),
    sa.Column('msgs_out', sa.Integer(), nullable=False),
    sa.Column('moments', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_interaction_days_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_interaction_days_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_interaction_days_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interaction_days')),
    sa.UniqueConstraint('workspace_id', 'staff_id', 'customer_id', 'day', name=op.f('uq_interaction_days_workspace_id_staff_id_customer_id_day'))
    )
    with op.batch_alter_table('interaction_days', schema=None) as batch_op:
        batch_op.create_index('ix_interaction_days_workspace_id_day_staff_id', ['workspace_id', 'day', 'staff_id'], unique=False)

    op.create_table('interaction_months',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('msgs_in', sa.Integer(), nullable=False),
    sa.Column('msgs_out', sa.Integer(), nullable=False),
    sa.Column('moments', sa.Integer(), nullable=False),
    sa.Column('counted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_interaction_months_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_interaction_months_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_interaction_months_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interaction_months')),
    sa.UniqueConstraint('workspace_id', 'staff_id', 'customer_id', 'month', name=op.f('uq_interaction_months_workspace_id_staff_id_customer_id_month'))
    )
    op.create_table('moments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('planned_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('attachments', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('content_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('visible_tag_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('wecom_jobid', sa.String(length=64), nullable=True),
    sa.Column('wecom_moment_id', sa.String(length=64), nullable=True),
    sa.Column('called_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'], name=op.f('fk_moments_content_id_content_items'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_moments_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moments')),
    sa.UniqueConstraint('workspace_id', 'wecom_moment_id', name=op.f('uq_moments_workspace_id_wecom_moment_id'))
    )
    with op.batch_alter_table('moments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moments_called_at'), ['called_at'], unique=False)
        batch_op.create_index('ix_moments_workspace_id_status_planned_at', ['workspace_id', 'status', 'planned_at'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('shop', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('raw_status', sa.String(length=64), nullable=True),
    sa.Column('ordered_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paid_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('goods_fen', sa.BigInteger(), nullable=False),
    sa.Column('shipping_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('discount_fen', sa.BigInteger(), nullable=False),
    sa.Column('platform_discount_fen', sa.BigInteger(), nullable=False),
    sa.Column('cost_fen', sa.BigInteger(), nullable=True),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=True),
    sa.Column('buyer_id', sa.String(length=128), nullable=True),
    sa.Column('buyer_name', sa.String(length=100), nullable=True),
    sa.Column('phone_masked', sa.String(length=64), nullable=True),
    sa.Column('province', sa.String(length=32), nullable=True),
    sa.Column('city', sa.String(length=32), nullable=True),
    sa.Column('district', sa.String(length=32), nullable=True),
    sa.Column('guide', sa.String(length=64), nullable=True),
    sa.Column('buyer_note', sa.Text(), nullable=True),
    sa.Column('import_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('extra', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_orders_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['import_id'], ['import_runs.id'], name=op.f('fk_orders_import_id_import_runs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_orders_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('workspace_id', 'platform', 'external_id', name=op.f('uq_orders_workspace_id_platform_external_id'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_customer_id_paid_at', ['customer_id', 'paid_at'], unique=False)
        batch_op.create_index('ix_orders_workspace_id_paid_at', ['workspace_id', 'paid_at'], unique=False)

    op.create_table('sends',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('content_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('audience', sa.Text(), nullable=True),
    sa.Column('segment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('group_filter', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('sender_staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('holdout_pct', sa.Integer(), nullable=False),
    sa.Column('holdout_seed', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('scheduled_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('recurrence', sa.String(length=16), nullable=True),
    sa.Column('recurrence_until', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('planned_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('settled_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('approved_by', sa.String(length=64), nullable=True),
    sa.Column('approved_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['sends.id'], name=op.f('fk_sends_parent_id_sends'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], name=op.f('fk_sends_segment_id_segments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sender_staff_id'], ['staff.id'], name=op.f('fk_sends_sender_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_sends_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sends'))
    )
    with op.batch_alter_table('sends', schema=None) as batch_op:
        batch_op.create_index('ix_sends_workspace_id_status', ['workspace_id', 'status'], unique=False)

    op.create_table('staff_daily_stats',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('chat_cnt', sa.Integer(), nullable=True),
    sa.Column('message_cnt', sa.Integer(), nullable=True),
    sa.Column('reply_percentage', sa.Float(), nullable=True),
    sa.Column('avg_reply_time', sa.Float(), nullable=True),
    sa.Column('negative_feedback_cnt', sa.Integer(), nullable=True),
    sa.Column('new_apply_cnt', sa.Integer(), nullable=True),
    sa.Column('new_contact_cnt', sa.Integer(), nullable=True),
    sa.Column('fetched_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_daily_stats_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_staff_daily_stats_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_daily_stats')),
    sa.UniqueConstraint('staff_id', 'day', name=op.f('uq_staff_daily_stats_staff_id_day'))
    )
    with op.batch_alter_table('staff_daily_stats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_daily_stats_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('staff_friend_days',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('net', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_friend_days_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_staff_friend_days_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_friend_days')),
    sa.UniqueConstraint('workspace_id', 'staff_id', 'day', name=op.f('uq_staff_friend_days_workspace_id_staff_id_day'))
    )
    with op.batch_alter_table('staff_friend_days', schema=None) as batch_op:
        batch_op.create_index('ix_staff_friend_days_workspace_id_day_staff_id_net', ['workspace_id', 'day', 'staff_id', 'net'], unique=False)

    op.create_table('staff_metric_days',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('conversations', sa.Integer(), nullable=False),
    sa.Column('exempt', sa.Integer(), nullable=False),
    sa.Column('replied', sa.Integer(), nullable=False),
    sa.Column('replied_10m', sa.Integer(), nullable=False),
    sa.Column('unanswered', sa.Integer(), nullable=False),
    sa.Column('reply_work_s_sum', sa.BigInteger(), nullable=False),
    sa.Column('reply_hist', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_metric_days_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_staff_metric_days_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_metric_days')),
    sa.UniqueConstraint('workspace_id', 'staff_id', 'day', name=op.f('uq_staff_metric_days_workspace_id_staff_id_day'))
    )
    op.create_table('staff_metric_months',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('msgs', sa.BigInteger(), nullable=False),
    sa.Column('touched', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_metric_months_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_staff_metric_months_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_metric_months')),
    sa.UniqueConstraint('workspace_id', 'staff_id', 'month', name=op.f('uq_staff_metric_months_workspace_id_staff_id_month'))
    )
    op.create_table('tags',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('wecom_tag_id', sa.String(length=64), nullable=True),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('deleted_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['tag_groups.id'], name=op.f('fk_tags_group_id_tag_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_tags_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tags')),
    sa.UniqueConstraint('workspace_id', 'group_id', 'name', name=op.f('uq_tags_workspace_id_group_id_name'))
    )
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tags_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tags_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_tags_wecom_tag_id'), ['wecom_tag_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('last_login_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_users_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_users_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_users_workspace_id_name'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_staff_id'), ['staff_id'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('last_used_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rotated_from_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['rotated_from_id'], ['api_tokens.id'], name=op.f('fk_api_tokens_rotated_from_id_api_tokens'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_api_tokens_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_tokens_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('binding_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('follow_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=True),
    sa.Column('at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['follow_id'], ['follows.id'], name=op.f('fk_binding_attempts_follow_id_follows'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_binding_attempts_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_binding_attempts'))
    )
    with op.batch_alter_table('binding_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_binding_attempts_workspace_id_follow_id_at', ['workspace_id', 'follow_id', 'at'], unique=False)

    op.create_table('channel_friends',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('follow_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger(), nullable=False),
    sa.Column('staff_id', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('added_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('add_day', sa.Date(), nullable=False),
    sa.Column('add_week', sa.Date(), nullable=False),
    sa.Column('add_month', sa.Date(), nullable=False),
    sa.Column('lost_7d', sa.Integer(), nullable=False),
    sa.Column('lost_30d', sa.Integer(), nullable=False),
    sa.Column('lost', sa.Integer(), nullable=False),
    sa.Column('credited', sa.Boolean(), nullable=False),
    sa.Column('first_order_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('days_to_first', sa.Integer(), nullable=True),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('net_fen', sa.BigInteger(), nullable=False),
    sa.Column('cogs_fen', sa.BigInteger(), nullable=False),
    sa.Column('uncosted_orders', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['follow_id'], ['follows.id'], name=op.f('fk_channel_friends_follow_id_follows'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_channel_friends_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_friends')),
    sa.UniqueConstraint('workspace_id', 'follow_id', name=op.f('uq_channel_friends_workspace_id_follow_id'))
    )
    with op.batch_alter_table('channel_friends', schema=None) as batch_op:
        batch_op.create_index('ix_channel_friends_workspace_id_customer_id', ['workspace_id', 'customer_id'], unique=False)
        batch_op.create_index('ix_channel_friends_workspace_id_staff_id_add_day', ['workspace_id', 'staff_id', 'add_day'], unique=False)
        batch_op.create_index('ix_channel_friends_workspace_id_state_add_day', ['workspace_id', 'state', 'add_day'], unique=False)

    op.create_table('conversations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('started_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('first_reply_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reply_work_s', sa.Integer(), nullable=True),
    sa.Column('exempt', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_conversations_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_conversations_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_conversations_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_conversations_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
    sa.UniqueConstraint('workspace_id', 'staff_id', 'customer_id', 'group_id', 'started_at', name=op.f('uq_conversations_workspace_id_staff_id_customer_id_group_id_started_at'))
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_workspace_id_staff_id_day', ['workspace_id', 'staff_id', 'day'], unique=False)

    op.create_table('customer_ownership',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('started_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_ownership_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_customer_ownership_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['transfer_id'], ['customer_transfers.id'], name=op.f('fk_customer_ownership_transfer_id_customer_transfers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_customer_ownership_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_ownership'))
    )
    with op.batch_alter_table('customer_ownership', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_ownership_staff_id'), ['staff_id'], unique=False)
        batch_op.create_index('ix_customer_ownership_workspace_id_customer_id_started_at', ['workspace_id', 'customer_id', 'started_at'], unique=False)

    op.create_table('customer_tags',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tag_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_ref', sa.String(length=64), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_tags_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_customer_tags_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_customer_tags_tag_id_tags'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_customer_tags_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_tags')),
    sa.UniqueConstraint('customer_id', 'tag_id', name=op.f('uq_customer_tags_customer_id_tag_id'))
    )
    with op.batch_alter_table('customer_tags', schema=None) as batch_op:
        batch_op.create_index('ix_customer_tags_tag_id_customer_id', ['tag_id', 'customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_tags_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('occurred_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('dedup_key', sa.String(length=128), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('txid', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_events_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_events_group_id_groups'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_events_order_id_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_events_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_events_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('workspace_id', 'dedup_key', name=op.f('uq_events_workspace_id_dedup_key'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_customer_id_occurred_at', ['customer_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_events_group_id', ['group_id'], unique=False, sqlite_where=sa.text('group_id IS NOT NULL'), postgresql_where=sa.text('group_id IS NOT NULL'))
        batch_op.create_index('ix_events_order_id', ['order_id'], unique=False, sqlite_where=sa.text('order_id IS NOT NULL'), postgresql_where=sa.text('order_id IS NOT NULL'))
        batch_op.create_index('ix_events_staff_id_occurred_at', ['staff_id', 'occurred_at'], unique=False, sqlite_where=sa.text('staff_id IS NOT NULL'), postgresql_where=sa.text('staff_id IS NOT NULL'))
        batch_op.create_index('ix_events_txid_id', ['txid', 'id'], unique=False, sqlite_where=sa.text('txid IS NOT NULL'), postgresql_where=sa.text('txid IS NOT NULL'))
        batch_op.create_index('ix_events_workspace_id_kind_occurred_at', ['workspace_id', 'kind', 'occurred_at'], unique=False)

    op.create_table('group_members',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('userid', sa.String(length=128), nullable=False),
    sa.Column('member_type', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('join_time', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('join_scene', sa.Integer(), nullable=True),
    sa.Column('invitor_userid', sa.String(length=128), nullable=True),
    sa.Column('quit_time', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('quit_scene', sa.Integer(), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_group_members_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_group_members_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_group_members_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_group_members_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_members')),
    sa.UniqueConstraint('group_id', 'userid', name=op.f('uq_group_members_group_id_userid'))
    )
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_members_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_members_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_members_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('group_transfers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chat_id', sa.String(length=128), nullable=False),
    sa.Column('from_staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('to_staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('errcode', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('settled_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['from_staff_id'], ['staff.id'], name=op.f('fk_group_transfers_from_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_group_transfers_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_staff_id'], ['staff.id'], name=op.f('fk_group_transfers_to_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_group_transfers_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_transfers'))
    )
    with op.batch_alter_table('group_transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_transfers_from_staff_id'), ['from_staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_transfers_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_transfers_to_staff_id'), ['to_staff_id'], unique=False)
        batch_op.create_index('ix_group_transfers_workspace_id_batch', ['workspace_id', 'batch'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('msgid', sa.String(length=128), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('sender', sa.String(length=128), nullable=False),
    sa.Column('msgtype', sa.String(length=32), nullable=False),
    sa.Column('sent_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('text_enc', sa.Text(), nullable=True),
    sa.Column('payload', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('revoked_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('mentions', sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_messages_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_messages_group_id_groups'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_messages_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_messages_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('workspace_id', 'source', 'msgid', name=op.f('uq_messages_workspace_id_source_msgid'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_customer_id_sent_at', ['customer_id', 'sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_group_id'), ['group_id'], unique=False)
        batch_op.create_index('ix_messages_staff_id_sent_at', ['staff_id', 'sent_at'], unique=False)
        batch_op.create_index('ix_messages_workspace_id_sent_at', ['workspace_id', 'sent_at'], unique=False)

    op.create_table('moment_interactions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('moment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_moment_interactions_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['moment_id'], ['moments.id'], name=op.f('fk_moment_interactions_moment_id_moments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_moment_interactions_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_moment_interactions_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moment_interactions')),
    sa.UniqueConstraint('moment_id', 'staff_id', 'customer_id', 'kind', 'occurred_at', name=op.f('uq_moment_interactions_moment_id_staff_id_customer_id_kind_occurred_at'))
    )
    with op.batch_alter_table('moment_interactions', schema=None) as batch_op:
        batch_op.create_index('ix_moment_interactions_customer_id_occurred_at', ['customer_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_moment_interactions_staff_id_occurred_at', ['staff_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_moment_interactions_workspace_id_occurred_at', ['workspace_id', 'occurred_at'], unique=False)

    op.create_table('moment_senders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('moment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('published_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['moment_id'], ['moments.id'], name=op.f('fk_moment_senders_moment_id_moments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_moment_senders_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_moment_senders_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moment_senders')),
    sa.UniqueConstraint('moment_id', 'staff_id', name=op.f('uq_moment_senders_moment_id_staff_id'))
    )
    with op.batch_alter_table('moment_senders', schema=None) as batch_op:
        batch_op.create_index('ix_moment_senders_workspace_id_staff_id_published_at', ['workspace_id', 'staff_id', 'published_at'], unique=False)

    op.create_table('order_bindings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('follow_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('state', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_order_bindings_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['follow_id'], ['follows.id'], name=op.f('fk_order_bindings_follow_id_follows'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_bindings_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_order_bindings_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_bindings')),
    sa.UniqueConstraint('workspace_id', 'order_id', name=op.f('uq_order_bindings_workspace_id_order_id'))
    )
    with op.batch_alter_table('order_bindings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_bindings_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_order_bindings_workspace_id_created_at', ['workspace_id', 'created_at'], unique=False)

    op.create_table('order_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_key', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=True),
    sa.Column('product_id', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('spec', sa.String(length=200), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('cost_fen', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_items_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_order_items_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_items')),
    sa.UniqueConstraint('order_id', 'line_key', name=op.f('uq_order_items_order_id_line_key'))
    )
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_items_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_items_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_items_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('rewards',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('paid_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('send_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('channel_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('referred_customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('ref', sa.String(length=64), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_rewards_channel_id_channels'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_rewards_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['referred_customer_id'], ['customers.id'], name=op.f('fk_rewards_referred_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['send_id'], ['sends.id'], name=op.f('fk_rewards_send_id_sends'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_rewards_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_rewards_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rewards')),
    sa.UniqueConstraint('workspace_id', 'ref', name=op.f('uq_rewards_workspace_id_ref'))
    )
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rewards_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_rewards_send_id', ['send_id'], unique=False)
        batch_op.create_index('ix_rewards_workspace_id_paid_at', ['workspace_id', 'paid_at'], unique=False)

    op.create_table('send_batches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('send_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('msgid', sa.String(length=128), nullable=True),
    sa.Column('calling_since', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('fail_count', sa.Integer(), nullable=False),
    sa.Column('confirmed_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reminds', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['send_id'], ['sends.id'], name=op.f('fk_send_batches_send_id_sends'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_send_batches_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_send_batches_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_send_batches')),
    sa.UniqueConstraint('send_id', 'seq', name=op.f('uq_send_batches_send_id_seq'))
    )
    with op.batch_alter_table('send_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_send_batches_msgid'), ['msgid'], unique=False)
        batch_op.create_index('ix_send_batches_workspace_id_state', ['workspace_id', 'state'], unique=False)

    op.create_table('sop_enrollments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('plan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('trigger_key', sa.String(length=120), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('entered_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('current_step', sa.Integer(), nullable=False),
    sa.Column('next_due_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('planned_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('exited_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('exit_reason', sa.String(length=32), nullable=True),
    sa.Column('left_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_sop_enrollments_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_sop_enrollments_group_id_groups'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_id'], ['sop_plans.id'], name=op.f('fk_sop_enrollments_plan_id_sop_plans'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_sop_enrollments_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_sop_enrollments_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sop_enrollments')),
    sa.UniqueConstraint('plan_id', 'customer_id', 'trigger_key', name=op.f('uq_sop_enrollments_plan_id_customer_id_trigger_key'))
    )
    with op.batch_alter_table('sop_enrollments', schema=None) as batch_op:
        batch_op.create_index('ix_sop_enrollments_customer_id', ['customer_id'], unique=False)
        batch_op.create_index('ix_sop_enrollments_group_id_status', ['group_id', 'status'], unique=False)
        batch_op.create_index('ix_sop_enrollments_workspace_id_status_next_due_at', ['workspace_id', 'status', 'next_due_at'], unique=False)
        batch_op.create_index('uq_sop_enrollments_plan_id_group_id_groups', ['plan_id', 'group_id'], unique=True, sqlite_where=sa.text('customer_id IS NULL'), postgresql_where=sa.text('customer_id IS NULL'))

    op.create_table('staff_tasks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('content_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('priority', sa.SmallInteger(), nullable=False),
    sa.Column('due_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('done_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('done_how', sa.String(length=16), nullable=True),
    sa.Column('escalated_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('source_ref', sa.String(length=64), nullable=True),
    sa.Column('dedup_key', sa.String(length=200), nullable=True),
    sa.Column('extra', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'], name=op.f('fk_staff_tasks_content_id_content_items'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_staff_tasks_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_staff_tasks_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_tasks_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_staff_tasks_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_tasks')),
    sa.UniqueConstraint('workspace_id', 'dedup_key', name=op.f('uq_staff_tasks_workspace_id_dedup_key'))
    )
    with op.batch_alter_table('staff_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_staff_tasks_customer_id_status', ['customer_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_tasks_group_id'), ['group_id'], unique=False)
        batch_op.create_index('ix_staff_tasks_workspace_id_staff_id_status_due_at', ['workspace_id', 'staff_id', 'status', 'due_at'], unique=False)

    op.create_table('tracked_links',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('content_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('send_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('opens', sa.Integer(), nullable=False),
    sa.Column('first_opened_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_opened_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('seconds_read', sa.Integer(), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'], name=op.f('fk_tracked_links_content_id_content_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['send_id'], ['sends.id'], name=op.f('fk_tracked_links_send_id_sends'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_tracked_links_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracked_links')),
    sa.UniqueConstraint('token', name=op.f('uq_tracked_links_token'))
    )
    with op.batch_alter_table('tracked_links', schema=None) as batch_op:
        batch_op.create_index('ix_tracked_links_send_id', ['send_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tracked_links_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('user_sessions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sid_hash', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('last_seen_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_user_sessions_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('sid_hash', name=op.f('uq_user_sessions_sid_hash'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_user_sessions_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('occurred_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acked_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acked_by', sa.String(length=128), nullable=True),
    sa.Column('dedup_key', sa.String(length=200), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_alerts_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_alerts_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_alerts_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_alerts_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('workspace_id', 'dedup_key', name=op.f('uq_alerts_workspace_id_dedup_key'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_workspace_id_occurred_at', ['workspace_id', 'occurred_at'], unique=False)

    op.create_table('keyword_hits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rule_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('matched_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('done', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', siyu.kit.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_keyword_hits_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_keyword_hits_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['keyword_rules.id'], name=op.f('fk_keyword_hits_rule_id_keyword_rules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_keyword_hits_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_keyword_hits')),
    sa.UniqueConstraint('rule_id', 'message_id', name=op.f('uq_keyword_hits_rule_id_message_id'))
    )
    with op.batch_alter_table('keyword_hits', schema=None) as batch_op:
        batch_op.create_index('ix_keyword_hits_rule_id_customer_id_matched_at', ['rule_id', 'customer_id', 'matched_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_keyword_hits_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('sop_step_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('enrollment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('step_index', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('ran_at', siyu.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enrollment_id'], ['sop_enrollments.id'], name=op.f('fk_sop_step_runs_enrollment_id_sop_enrollments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['staff_tasks.id'], name=op.f('fk_sop_step_runs_task_id_staff_tasks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_sop_step_runs_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sop_step_runs')),
    sa.UniqueConstraint('enrollment_id', 'step_index', name=op.f('uq_sop_step_runs_enrollment_id_step_index'))
    )
    with op.batch_alter_table('sop_step_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sop_step_runs_workspace_id'), ['workspace_id'], unique=False)

    # Triggers (siyu.models.TRIGGERS): what the models cannot declare.
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute('CREATE OR REPLACE FUNCTION sends_delete_recipients() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM send_recipients WHERE send_id = OLD.id; RETURN OLD; END $$')
        op.execute('CREATE TRIGGER tr_sends_delete_recipients AFTER DELETE ON sends FOR EACH ROW EXECUTE FUNCTION sends_delete_recipients()')
        op.execute("CREATE OR REPLACE FUNCTION follows_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP = 'UPDATE' AND (OLD.workspace_id, OLD.staff_id, OLD.customer_id, OLD.added_at, OLD.deleted_at) IS NOT DISTINCT FROM (NEW.workspace_id, NEW.staff_id, NEW.customer_id, NEW.added_at, NEW.deleted_at) THEN RETURN NULL; END IF; IF TG_OP <> 'INSERT' THEN IF OLD.added_at IS NOT NULL THEN INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta) VALUES (OLD.workspace_id, OLD.staff_id, OLD.customer_id, OLD.added_at, -1); IF OLD.deleted_at IS NOT NULL THEN INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta) VALUES (OLD.workspace_id, OLD.staff_id, OLD.customer_id, GREATEST(OLD.added_at, OLD.deleted_at), 1); END IF; END IF; END IF; IF TG_OP <> 'DELETE' THEN IF NEW.added_at IS NOT NULL THEN INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta) VALUES (NEW.workspace_id, NEW.staff_id, NEW.customer_id, NEW.added_at, 1); IF NEW.deleted_at IS NOT NULL THEN INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta) VALUES (NEW.workspace_id, NEW.staff_id, NEW.customer_id, GREATEST(NEW.added_at, NEW.deleted_at), -1); END IF; END IF; END IF; RETURN NULL; END $$")
        op.execute('CREATE TRIGGER tr_follows_count_changes AFTER INSERT OR DELETE OR UPDATE OF workspace_id, staff_id, customer_id, added_at, deleted_at ON follows FOR EACH ROW EXECUTE FUNCTION follows_count_changes()')
    elif dialect == 'sqlite':
        op.execute('CREATE TRIGGER tr_sends_delete_recipients AFTER DELETE ON sends FOR EACH ROW BEGIN DELETE FROM send_recipients WHERE send_id = OLD.id; END')
        op.execute('CREATE TRIGGER tr_follows_count_insert AFTER INSERT ON follows FOR EACH ROW BEGIN INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta) SELECT NEW.workspace_id, NEW.staff_id, NEW.customer_id, NEW.added_at, 1 WHERE NEW.added_at IS NOT NULL; INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta) SELECT NEW.workspace_id, NEW.staff_id, NEW.customer_id, max(NEW.added_at, NEW.deleted_at), -1 WHERE NEW.added_at IS NOT NULL AND NEW.deleted_at IS NOT NULL; END')
        op.execute('CREATE TRIGGER tr_follows_count_delete AFTER DELETE ON follows FOR EACH ROW BEGIN INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta) SELECT OLD.workspace_id, OLD.staff_id, OLD.customer_id, OLD.added_at, -1 WHERE OLD.added_at IS NOT NULL; INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta) SELECT OLD.workspace_id, OLD.staff_id, OLD.customer_id, max(OLD.added_at, OLD.deleted_at), 1 WHERE OLD.added_at IS NOT NULL AND OLD.deleted_at IS NOT NULL; END')
        op.execute('CREATE TRIGGER tr_follows_count_update AFTER UPDATE OF workspace_id, staff_id, customer_id, added_at, deleted_at ON follows FOR EACH ROW WHEN OLD.workspace_id IS NOT NEW.workspace_id OR OLD.staff_id IS NOT NEW.staff_id OR OLD.customer_id IS NOT NEW.customer_id OR OLD.added_at IS NOT NEW.added_at OR OLD.deleted_at IS NOT NEW.deleted_at BEGIN INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta) SELECT OLD.workspace_id, OLD.staff_id, OLD.customer_id, OLD.added_at, -1 WHERE OLD.added_at IS NOT NULL; INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta) SELECT OLD.workspace_id, OLD.staff_id, OLD.customer_id, max(OLD.added_at, OLD.deleted_at), 1 WHERE OLD.added_at IS NOT NULL AND OLD.deleted_at IS NOT NULL; INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta) SELECT NEW.workspace_id, NEW.staff_id, NEW.customer_id, NEW.added_at, 1 WHERE NEW.added_at IS NOT NULL; INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta) SELECT NEW.workspace_id, NEW.staff_id, NEW.customer_id, max(NEW.added_at, NEW.deleted_at), -1 WHERE NEW.added_at IS NOT NULL AND NEW.deleted_at IS NOT NULL; END')


def downgrade() -> None:
    with op.batch_alter_table('sop_step_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sop_step_runs_workspace_id'))

    op.drop_table('sop_step_runs')
    with op.batch_alter_table('keyword_hits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_keyword_hits_workspace_id'))
        batch_op.drop_index('ix_keyword_hits_rule_id_customer_id_matched_at')

    op.drop_table('keyword_hits')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_workspace_id_occurred_at')

    op.drop_table('alerts')
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))

    op.drop_table('user_sessions')
    with op.batch_alter_table('tracked_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tracked_links_workspace_id'))
        batch_op.drop_index('ix_tracked_links_send_id')

    op.drop_table('tracked_links')
    with op.batch_alter_table('staff_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_tasks_workspace_id_staff_id_status_due_at')
        batch_op.drop_index(batch_op.f('ix_staff_tasks_group_id'))
        batch_op.drop_index('ix_staff_tasks_customer_id_status')

    op.drop_table('staff_tasks')
    with op.batch_alter_table('sop_enrollments', schema=None) as batch_op:
        batch_op.drop_index('uq_sop_enrollments_plan_id_group_id_groups', sqlite_where=sa.text('customer_id IS NULL'), postgresql_where=sa.text('customer_id IS NULL'))
        batch_op.drop_index('ix_sop_enrollments_workspace_id_status_next_due_at')
        batch_op.drop_index('ix_sop_enrollments_group_id_status')
        batch_op.drop_index('ix_sop_enrollments_customer_id')

    op.drop_table('sop_enrollments')
    with op.batch_alter_table('send_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_send_batches_workspace_id_state')
        batch_op.drop_index(batch_op.f('ix_send_batches_msgid'))

    op.drop_table('send_batches')
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.drop_index('ix_rewards_workspace_id_paid_at')
        batch_op.drop_index('ix_rewards_send_id')
        batch_op.drop_index(batch_op.f('ix_rewards_customer_id'))

    op.drop_table('rewards')
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_items_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_order_items_order_id'))
        batch_op.drop_index(batch_op.f('ix_order_items_category'))

    op.drop_table('order_items')
    with op.batch_alter_table('order_bindings', schema=None) as batch_op:
        batch_op.drop_index('ix_order_bindings_workspace_id_created_at')
        batch_op.drop_index(batch_op.f('ix_order_bindings_customer_id'))

    op.drop_table('order_bindings')
    with op.batch_alter_table('moment_senders', schema=None) as batch_op:
        batch_op.drop_index('ix_moment_senders_workspace_id_staff_id_published_at')

    op.drop_table('moment_senders')
    with op.batch_alter_table('moment_interactions', schema=None) as batch_op:
        batch_op.drop_index('ix_moment_interactions_workspace_id_occurred_at')
        batch_op.drop_index('ix_moment_interactions_staff_id_occurred_at')
        batch_op.drop_index('ix_moment_interactions_customer_id_occurred_at')

    op.drop_table('moment_interactions')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_workspace_id_sent_at')
        batch_op.drop_index('ix_messages_staff_id_sent_at')
        batch_op.drop_index(batch_op.f('ix_messages_group_id'))
        batch_op.drop_index('ix_messages_customer_id_sent_at')

    op.drop_table('messages')
    with op.batch_alter_table('group_transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_group_transfers_workspace_id_batch')
        batch_op.drop_index(batch_op.f('ix_group_transfers_to_staff_id'))
        batch_op.drop_index(batch_op.f('ix_group_transfers_group_id'))
        batch_op.drop_index(batch_op.f('ix_group_transfers_from_staff_id'))

    op.drop_table('group_transfers')
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_members_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_group_members_group_id'))
        batch_op.drop_index(batch_op.f('ix_group_members_customer_id'))

    op.drop_table('group_members')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_workspace_id_kind_occurred_at')
        batch_op.drop_index('ix_events_txid_id', sqlite_where=sa.text('txid IS NOT NULL'), postgresql_where=sa.text('txid IS NOT NULL'))
        batch_op.drop_index('ix_events_staff_id_occurred_at', sqlite_where=sa.text('staff_id IS NOT NULL'), postgresql_where=sa.text('staff_id IS NOT NULL'))
        batch_op.drop_index('ix_events_order_id', sqlite_where=sa.text('order_id IS NOT NULL'), postgresql_where=sa.text('order_id IS NOT NULL'))
        batch_op.drop_index('ix_events_group_id', sqlite_where=sa.text('group_id IS NOT NULL'), postgresql_where=sa.text('group_id IS NOT NULL'))
        batch_op.drop_index('ix_events_customer_id_occurred_at')

    op.drop_table('events')
    with op.batch_alter_table('customer_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_tags_workspace_id'))
        batch_op.drop_index('ix_customer_tags_tag_id_customer_id')

    op.drop_table('customer_tags')
    with op.batch_alter_table('customer_ownership', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_ownership_workspace_id_customer_id_started_at')
        batch_op.drop_index(batch_op.f('ix_customer_ownership_staff_id'))

    op.drop_table('customer_ownership')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_workspace_id_staff_id_day')

    op.drop_table('conversations')
    with op.batch_alter_table('channel_friends', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_friends_workspace_id_state_add_day')
        batch_op.drop_index('ix_channel_friends_workspace_id_staff_id_add_day')
        batch_op.drop_index('ix_channel_friends_workspace_id_customer_id')

    op.drop_table('channel_friends')
    with op.batch_alter_table('binding_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_binding_attempts_workspace_id_follow_id_at')

    op.drop_table('binding_attempts')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_staff_id'))

    op.drop_table('users')
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tags_wecom_tag_id'))
        batch_op.drop_index(batch_op.f('ix_tags_name'))
        batch_op.drop_index(batch_op.f('ix_tags_group_id'))

    op.drop_table('tags')
    op.drop_table('staff_metric_months')
    op.drop_table('staff_metric_days')
    with op.batch_alter_table('staff_friend_days', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_friend_days_workspace_id_day_staff_id_net')

    op.drop_table('staff_friend_days')
    with op.batch_alter_table('staff_daily_stats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_daily_stats_workspace_id'))

    op.drop_table('staff_daily_stats')
    with op.batch_alter_table('sends', schema=None) as batch_op:
        batch_op.drop_index('ix_sends_workspace_id_status')

    op.drop_table('sends')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_workspace_id_paid_at')
        batch_op.drop_index('ix_orders_customer_id_paid_at')

    op.drop_table('orders')
    with op.batch_alter_table('moments', schema=None) as batch_op:
        batch_op.drop_index('ix_moments_workspace_id_status_planned_at')
        batch_op.drop_index(batch_op.f('ix_moments_called_at'))

    op.drop_table('moments')
    op.drop_table('interaction_months')
    with op.batch_alter_table('interaction_days', schema=None) as batch_op:
        batch_op.drop_index('ix_interaction_days_workspace_id_day_staff_id')

    op.drop_table('interaction_days')
    with op.batch_alter_table('import_row_errors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_row_errors_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_import_row_errors_import_id'))

    op.drop_table('import_row_errors')
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_groups_owner_staff_id'))

    op.drop_table('groups')
    with op.batch_alter_table('friend_accepts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_friend_accepts_staff_id'))
        batch_op.drop_index(batch_op.f('ix_friend_accepts_customer_id'))

    op.drop_table('friend_accepts')
    with op.batch_alter_table('follows', schema=None) as batch_op:
        batch_op.drop_index('ix_follows_workspace_id_state')
        batch_op.drop_index('ix_follows_workspace_id_staff_id_counts')
        batch_op.drop_index('ix_follows_workspace_id_deleted_at', sqlite_where=sa.text('deleted_at IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NOT NULL'))
        batch_op.drop_index('ix_follows_workspace_id_added_at_covering')
        batch_op.drop_index('ix_follows_staff_id_state_customer_id')
        batch_op.drop_index(batch_op.f('ix_follows_staff_id'))
        batch_op.drop_index(batch_op.f('ix_follows_live_code_state'))
        batch_op.drop_index(batch_op.f('ix_follows_external_userid'))
        batch_op.drop_index('ix_follows_customer_id_added_at')
        batch_op.drop_index(batch_op.f('ix_follows_customer_id'))

    op.drop_table('follows')
    with op.batch_alter_table('erased_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erased_identities_customer_id'))

    op.drop_table('erased_identities')
    with op.batch_alter_table('customer_transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_transfers_workspace_id_customer_id')
        batch_op.drop_index('ix_customer_transfers_workspace_id_batch')
        batch_op.drop_index(batch_op.f('ix_customer_transfers_takeover_staff_id'))
        batch_op.drop_index(batch_op.f('ix_customer_transfers_handover_staff_id'))

    op.drop_table('customer_transfers')
    with op.batch_alter_table('customer_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_stats_workspace_id_net_fen')
        batch_op.drop_index('ix_customer_stats_workspace_id_last_paid_at')

    op.drop_table('customer_stats')
    with op.batch_alter_table('customer_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_scores_workspace_id_rfm_segment')
        batch_op.drop_index('ix_customer_scores_workspace_id_rfm8')

    op.drop_table('customer_scores')
    with op.batch_alter_table('customer_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_notes_workspace_id'))
        batch_op.drop_index('ix_customer_notes_customer_id_created_at')

    op.drop_table('customer_notes')
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_identities_workspace_id_phone_last4')
        batch_op.drop_index(batch_op.f('ix_customer_identities_customer_id'))

    op.drop_table('customer_identities')
    with op.batch_alter_table('customer_field_values', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_field_values_workspace_id_field_id')

    op.drop_table('customer_field_values')
    with op.batch_alter_table('welcome_sends', schema=None) as batch_op:
        batch_op.drop_index('ix_welcome_sends_workspace_id_external_userid')
        batch_op.drop_index(batch_op.f('ix_welcome_sends_channel_id'))

    op.drop_table('welcome_sends')
    op.drop_table('welcome_defaults')
    op.drop_table('wecom_mass_msgs')
    with op.batch_alter_table('wecom_callbacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wecom_callbacks_status'))

    op.drop_table('wecom_callbacks')
    op.drop_table('wecom_apps')
    with op.batch_alter_table('tag_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tag_groups_wecom_group_id'))

    op.drop_table('tag_groups')
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_runs_workspace_id'))

    op.drop_table('sync_runs')
    op.drop_table('stores')
    op.drop_table('staff')
    with op.batch_alter_table('sop_plans', schema=None) as batch_op:
        batch_op.drop_index('ix_sop_plans_workspace_id_status')

    op.drop_table('sop_plans')
    with op.batch_alter_table('sku_costs', schema=None) as batch_op:
        batch_op.drop_index('ix_sku_costs_workspace_id_sku')

    op.drop_table('sku_costs')
    op.drop_table('sensitive_words')
    op.drop_table('segments')
    op.drop_table('profile_fields')
    op.drop_table('pnl_snapshots')
    with op.batch_alter_table('mass_receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_mass_receipts_customer_id_sent_at')

    op.drop_table('mass_receipts')
    op.drop_table('kf_cursors')
    with op.batch_alter_table('keyword_rules', schema=None) as batch_op:
        batch_op.drop_index('ix_keyword_rules_workspace_id_enabled')

    op.drop_table('keyword_rules')
    op.drop_table('keyword_positions')
    op.drop_table('insight_positions')
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_runs_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_import_runs_file_sha256'))

    op.drop_table('import_runs')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_customers_referred_by_id'))
        batch_op.drop_index(batch_op.f('ix_customers_province'))
        batch_op.drop_index(batch_op.f('ix_customers_merged_into_id'))
        batch_op.drop_index(batch_op.f('ix_customers_city'))

    op.drop_table('customers')
    with op.batch_alter_table('content_items', schema=None) as batch_op:
        batch_op.drop_index('ix_content_items_workspace_id_folder')

    op.drop_table('content_items')
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_index('ix_channels_workspace_id_group_name')

    op.drop_table('channels')
    op.drop_table('channel_funnel_days')
    op.drop_table('auto_tag_rules')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))

    op.drop_table('audit_log')
    op.drop_table('audit_chain_heads')
    op.drop_table('archive_pending')
    op.drop_table('archive_keys')
    op.drop_table('archive_cursors')
    op.drop_table('workspaces')
    op.drop_table('worker_heartbeats')
    with op.batch_alter_table('send_recipients', schema=None) as batch_op:
        batch_op.drop_index('ix_send_recipients_workspace_id_customer_id_created_at')
        batch_op.drop_index('ix_send_recipients_send_id_arm_batch_seq')

    op.drop_table('send_recipients')
    op.drop_table('periodic_tasks')
    op.drop_table('login_throttle')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_workspace_id'))
        batch_op.drop_index('ix_jobs_status_kind')
        batch_op.drop_index('ix_jobs_due', sqlite_where=sa.text("status = 'queued'"), postgresql_where=sa.text("status = 'queued'"))

    op.drop_table('jobs')
    with op.batch_alter_table('follow_count_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_count_changes_workspace_id_staff_id')

    op.drop_table('follow_count_changes')
    op.drop_table('event_subscriptions')
    with op.batch_alter_table('audience_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_audience_changes_txid')
        batch_op.drop_index('ix_audience_changes_created_at')

    op.drop_table('audience_changes')
