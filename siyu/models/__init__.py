"""All ORM tables on one metadata, so that a migration can stand alone."""

from siyu.models.acquisition import Channel, Store, WelcomeDefault, WelcomeSend
from siyu.models.archive import ArchiveCursor, ArchiveKey, ArchivePending, FriendAccept, KfCursor
from siyu.models.base import Base
from siyu.models.bindings import BindingAttempt, OrderBinding
from siyu.models.changes import AudienceChange
from siyu.models.content import ContentItem
from siyu.models.customers import (
    Customer,
    CustomerIdentity,
    CustomerScore,
    CustomerStats,
    CustomerTag,
    ErasedIdentity,
    Follow,
    Tag,
    TagGroup,
)
from siyu.models.events import Event, EventSubscription
from siyu.models.funnel import ChannelFriend, ChannelFunnelDay
from siyu.models.groups import Group, GroupMember
from siyu.models.handover import CustomerOwnership, CustomerTransfer, GroupTransfer
from siyu.models.insights import (
    FOLLOW_COUNT_TRIGGERS,
    Conversation,
    FollowCountChange,
    InsightPosition,
    InteractionDay,
    InteractionMonth,
    PnlSnapshot,
    Reward,
    SkuCost,
    StaffFriendDay,
    StaffMetricDay,
    StaffMetricMonth,
)
from siyu.models.jobs import Job, PeriodicTask, WorkerHeartbeat
from siyu.models.keywords import Alert, KeywordHit, KeywordPosition, KeywordRule, SensitiveWord
from siyu.models.messages import Message
from siyu.models.moments import Moment, MomentInteraction, MomentSender
from siyu.models.orders import ORDER_PERSONAL_FIELDS, ImportRowError, ImportRun, Order, OrderItem
from siyu.models.outbound import (
    SEND_RECIPIENTS_CASCADE,
    MassReceipt,
    Send,
    SendBatch,
    SendRecipient,
    TrackedLink,
    WeComMassMsg,
)
from siyu.models.profile import CustomerFieldValue, CustomerNote, ProfileField
from siyu.models.segments import AutoTagRule, Segment
from siyu.models.sop import SopEnrollment, SopPlan, SopStepRun
from siyu.models.tasks import StaffTask
from siyu.models.wecom import StaffDailyStats, SyncRun, WeComCallback
from siyu.models.workspace import (
    ApiToken,
    AuditChainHead,
    AuditLog,
    LoginThrottle,
    Staff,
    User,
    UserSession,
    WeComApp,
    Workspace,
)

# Statements migration 0001 runs after creating the tables, per dialect (triggers the
# models cannot declare; scripts/regen_initial_migration.py writes them into 0001).
TRIGGERS: dict[str, tuple[str, ...]] = {
    dialect: (*SEND_RECIPIENTS_CASCADE[dialect], *FOLLOW_COUNT_TRIGGERS[dialect])
    for dialect in ("postgresql", "sqlite")
}

__all__ = [
    "ORDER_PERSONAL_FIELDS",
    "TRIGGERS",
    "Alert",
    "ApiToken",
    "ArchiveCursor",
    "ArchiveKey",
    "ArchivePending",
    "AudienceChange",
    "AuditChainHead",
    "AuditLog",
    "AutoTagRule",
    "Base",
    "BindingAttempt",
    "Channel",
    "ChannelFriend",
    "ChannelFunnelDay",
    "ContentItem",
    "Conversation",
    "Customer",
    "CustomerFieldValue",
    "CustomerIdentity",
    "CustomerNote",
    "CustomerOwnership",
    "CustomerScore",
    "CustomerStats",
    "CustomerTag",
    "CustomerTransfer",
    "ErasedIdentity",
    "Event",
    "EventSubscription",
    "Follow",
    "FollowCountChange",
    "FriendAccept",
    "Group",
    "GroupMember",
    "GroupTransfer",
    "ImportRowError",
    "ImportRun",
    "InsightPosition",
    "InteractionDay",
    "InteractionMonth",
    "Job",
    "KeywordHit",
    "KeywordPosition",
    "KeywordRule",
    "KfCursor",
    "LoginThrottle",
    "MassReceipt",
    "Message",
    "Moment",
    "MomentInteraction",
    "MomentSender",
    "Order",
    "OrderBinding",
    "OrderItem",
    "PeriodicTask",
    "PnlSnapshot",
    "ProfileField",
    "Reward",
    "Segment",
    "Send",
    "SendBatch",
    "SendRecipient",
    "SensitiveWord",
    "SkuCost",
    "SopEnrollment",
    "SopPlan",
    "SopStepRun",
    "Staff",
    "StaffDailyStats",
    "StaffFriendDay",
    "StaffMetricDay",
    "StaffMetricMonth",
    "StaffTask",
    "Store",
    "SyncRun",
    "Tag",
    "TagGroup",
    "TrackedLink",
    "User",
    "UserSession",
    "WeComApp",
    "WeComCallback",
    "WeComMassMsg",
    "WelcomeDefault",
    "WelcomeSend",
    "WorkerHeartbeat",
    "Workspace",
]
