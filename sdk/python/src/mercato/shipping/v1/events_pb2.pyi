import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ShipmentCreated(_message.Message):
    __slots__ = ("event_id", "occurred_at", "shipment_id", "order_id", "user_id", "tracking_number")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    SHIPMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    shipment_id: str
    order_id: str
    user_id: str
    tracking_number: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shipment_id: _Optional[str] = ..., order_id: _Optional[str] = ..., user_id: _Optional[str] = ..., tracking_number: _Optional[str] = ...) -> None: ...

class ShipmentShipped(_message.Message):
    __slots__ = ("event_id", "occurred_at", "shipment_id", "order_id", "user_id", "tracking_number")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    SHIPMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    shipment_id: str
    order_id: str
    user_id: str
    tracking_number: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shipment_id: _Optional[str] = ..., order_id: _Optional[str] = ..., user_id: _Optional[str] = ..., tracking_number: _Optional[str] = ...) -> None: ...

class ShipmentDelivered(_message.Message):
    __slots__ = ("event_id", "occurred_at", "shipment_id", "order_id", "user_id", "tracking_number")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    SHIPMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    shipment_id: str
    order_id: str
    user_id: str
    tracking_number: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shipment_id: _Optional[str] = ..., order_id: _Optional[str] = ..., user_id: _Optional[str] = ..., tracking_number: _Optional[str] = ...) -> None: ...
