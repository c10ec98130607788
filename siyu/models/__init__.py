"""All ORM tables on one metadata, so that a migration can stand alone."""

from siyu.models.acquisition import Channel
from siyu.models.base import Base
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
from siyu.models.groups import Group, GroupMember
from siyu.models.jobs import Job, PeriodicTask, WorkerHeartbeat
from siyu.models.messages import Message
from siyu.models.orders import ORDER_PERSONAL_FIELDS, ImportRowError, ImportRun, Order, OrderItem
from siyu.models.outbound import MassReceipt, Send, SendBatch, SendRecipient, TrackedLink, WeComMassMsg
from siyu.models.segments import AutoTagRule, Segment
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

__all__ = [
    "ORDER_PERSONAL_FIELDS",
    "ApiToken",
    "AudienceChange",
    "AuditChainHead",
    "AuditLog",
    "AutoTagRule",
    "Base",
    "Channel",
    "ContentItem",
    "Customer",
    "CustomerIdentity",
    "CustomerScore",
    "CustomerStats",
    "CustomerTag",
    "ErasedIdentity",
    "Event",
    "EventSubscription",
    "Follow",
    "Group",
    "GroupMember",
    "ImportRowError",
    "ImportRun",
    "Job",
    "LoginThrottle",
    "MassReceipt",
    "Message",
    "Order",
    "OrderItem",
    "PeriodicTask",
    "Segment",
    "Send",
    "SendBatch",
    "SendRecipient",
    "Staff",
    "StaffDailyStats",
    "StaffTask",
    "SyncRun",
    "Tag",
    "TagGroup",
    "TrackedLink",
    "User",
    "UserSession",
    "WeComApp",
    "WeComCallback",
    "WeComMassMsg",
    "WorkerHeartbeat",
    "Workspace",
]
