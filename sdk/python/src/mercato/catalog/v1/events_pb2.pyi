import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mercato.common.v1 import money_pb2 as _money_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProductCreated(_message.Message):
    __slots__ = ("event_id", "occurred_at", "product_id", "sku", "name", "price", "category_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    product_id: str
    sku: str
    name: str
    price: _money_pb2.Money
    category_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., product_id: _Optional[str] = ..., sku: _Optional[str] = ..., name: _Optional[str] = ..., price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., category_id: _Optional[str] = ...) -> None: ...

class PriceChanged(_message.Message):
    __slots__ = ("event_id", "occurred_at", "product_id", "sku", "old_price", "new_price")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    OLD_PRICE_FIELD_NUMBER: _ClassVar[int]
    NEW_PRICE_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    product_id: str
    sku: str
    old_price: _money_pb2.Money
    new_price: _money_pb2.Money
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., product_id: _Optional[str] = ..., sku: _Optional[str] = ..., old_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., new_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...
