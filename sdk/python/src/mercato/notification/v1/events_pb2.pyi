import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mercato.notification.v1 import notification_pb2 as _notification_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NotificationSent(_message.Message):
    __slots__ = ("event_id", "occurred_at", "notification_id", "user_id", "event_type", "channel")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    notification_id: str
    user_id: str
    event_type: str
    channel: _notification_pb2.NotificationChannel
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., notification_id: _Optional[str] = ..., user_id: _Optional[str] = ..., event_type: _Optional[str] = ..., channel: _Optional[_Union[_notification_pb2.NotificationChannel, str]] = ...) -> None: ...
