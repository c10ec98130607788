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
from siyu.models.keywords import Alert, KeywordHit, KeywordPosition, KeywordRule, SensitiveWord
from siyu.models.messages import Message
from siyu.models.orders import ORDER_PERSONAL_FIELDS, ImportRowError, ImportRun, Order, OrderItem
from siyu.models.profile import CustomerFieldValue, CustomerNote, OrderBinding, ProfileField
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
    "Alert",
    "ApiToken",
    "AudienceChange",
    "AuditChainHead",
    "AuditLog",
    "AutoTagRule",
    "Base",
    "Channel",
    "ContentItem",
    "Customer",
    "CustomerFieldValue",
    "CustomerIdentity",
    "CustomerNote",
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
    "KeywordHit",
    "KeywordPosition",
    "KeywordRule",
    "LoginThrottle",
    "Message",
    "Order",
    "OrderBinding",
    "OrderItem",
    "PeriodicTask",
    "ProfileField",
    "Segment",
    "SensitiveWord",
    "Staff",
    "StaffDailyStats",
    "StaffTask",
    "SyncRun",
    "Tag",
    "TagGroup",
    "User",
    "UserSession",
    "WeComApp",
    "WeComCallback",
    "WorkerHeartbeat",
    "Workspace",
]
