import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mercato.common.v1 import address_pb2 as _address_pb2
from mercato.common.v1 import money_pb2 as _money_pb2
from mercato.common.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ShipmentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHIPMENT_STATUS_UNSPECIFIED: _ClassVar[ShipmentStatus]
    SHIPMENT_STATUS_LABEL_CREATED: _ClassVar[ShipmentStatus]
    SHIPMENT_STATUS_SHIPPED: _ClassVar[ShipmentStatus]
    SHIPMENT_STATUS_DELIVERED: _ClassVar[ShipmentStatus]
    SHIPMENT_STATUS_CANCELLED: _ClassVar[ShipmentStatus]
SHIPMENT_STATUS_UNSPECIFIED: ShipmentStatus
SHIPMENT_STATUS_LABEL_CREATED: ShipmentStatus
SHIPMENT_STATUS_SHIPPED: ShipmentStatus
SHIPMENT_STATUS_DELIVERED: ShipmentStatus
SHIPMENT_STATUS_CANCELLED: ShipmentStatus

class Shipment(_message.Message):
    __slots__ = ("id", "order_id", "status", "tracking_number", "user_id", "carrier", "address", "created_at", "shipped_at", "delivered_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CARRIER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SHIPPED_AT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    order_id: str
    status: ShipmentStatus
    tracking_number: str
    user_id: str
    carrier: str
    address: _address_pb2.Address
    created_at: _timestamp_pb2.Timestamp
    shipped_at: _timestamp_pb2.Timestamp
    delivered_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., order_id: _Optional[str] = ..., status: _Optional[_Union[ShipmentStatus, str]] = ..., tracking_number: _Optional[str] = ..., user_id: _Optional[str] = ..., carrier: _Optional[str] = ..., address: _Optional[_Union[_address_pb2.Address, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shipped_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class QuoteShippingRequest(_message.Message):
    __slots__ = ("address", "item_count", "currency_code")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    address: _address_pb2.Address
    item_count: int
    currency_code: str
    def __init__(self, address: _Optional[_Union[_address_pb2.Address, _Mapping]] = ..., item_count: _Optional[int] = ..., currency_code: _Optional[str] = ...) -> None: ...

class QuoteShippingResponse(_message.Message):
    __slots__ = ("price", "estimated_days")
    PRICE_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_DAYS_FIELD_NUMBER: _ClassVar[int]
    price: _money_pb2.Money
    estimated_days: int
    def __init__(self, price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., estimated_days: _Optional[int] = ...) -> None: ...

class CreateShipmentRequest(_message.Message):
    __slots__ = ("order_id", "user_id", "address", "item_count")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    user_id: str
    address: _address_pb2.Address
    item_count: int
    def __init__(self, order_id: _Optional[str] = ..., user_id: _Optional[str] = ..., address: _Optional[_Union[_address_pb2.Address, _Mapping]] = ..., item_count: _Optional[int] = ...) -> None: ...

class CreateShipmentResponse(_message.Message):
    __slots__ = ("shipment",)
    SHIPMENT_FIELD_NUMBER: _ClassVar[int]
    shipment: Shipment
    def __init__(self, shipment: _Optional[_Union[Shipment, _Mapping]] = ...) -> None: ...

class GetShipmentRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class GetShipmentResponse(_message.Message):
    __slots__ = ("shipment",)
    SHIPMENT_FIELD_NUMBER: _ClassVar[int]
    shipment: Shipment
    def __init__(self, shipment: _Optional[_Union[Shipment, _Mapping]] = ...) -> None: ...

class AdvanceShipmentRequest(_message.Message):
    __slots__ = ("shipment_id",)
    SHIPMENT_ID_FIELD_NUMBER: _ClassVar[int]
    shipment_id: str
    def __init__(self, shipment_id: _Optional[str] = ...) -> None: ...

class AdvanceShipmentResponse(_message.Message):
    __slots__ = ("shipment",)
    SHIPMENT_FIELD_NUMBER: _ClassVar[int]
    shipment: Shipment
    def __init__(self, shipment: _Optional[_Union[Shipment, _Mapping]] = ...) -> None: ...
