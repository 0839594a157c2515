import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mercato.common.v1 import address_pb2 as _address_pb2
from mercato.common.v1 import money_pb2 as _money_pb2
from mercato.common.v1 import options_pb2 as _options_pb2
from mercato.order.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_UNSPECIFIED: _ClassVar[OrderStatus]
    ORDER_STATUS_PENDING: _ClassVar[OrderStatus]
    ORDER_STATUS_CONFIRMED: _ClassVar[OrderStatus]
    ORDER_STATUS_CANCELLED: _ClassVar[OrderStatus]
    ORDER_STATUS_SHIPPED: _ClassVar[OrderStatus]
    ORDER_STATUS_DELIVERED: _ClassVar[OrderStatus]

class SagaStep(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAGA_STEP_UNSPECIFIED: _ClassVar[SagaStep]
    SAGA_STEP_RESERVE_STOCK: _ClassVar[SagaStep]
    SAGA_STEP_AUTHORIZE_PAYMENT: _ClassVar[SagaStep]
    SAGA_STEP_CONFIRM_ORDER: _ClassVar[SagaStep]
    SAGA_STEP_COMMIT_STOCK: _ClassVar[SagaStep]
    SAGA_STEP_CAPTURE_PAYMENT: _ClassVar[SagaStep]
    SAGA_STEP_VOID_PAYMENT: _ClassVar[SagaStep]
    SAGA_STEP_REFUND_PAYMENT: _ClassVar[SagaStep]
    SAGA_STEP_RELEASE_STOCK: _ClassVar[SagaStep]
    SAGA_STEP_CANCEL_ORDER: _ClassVar[SagaStep]

class SagaState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAGA_STATE_UNSPECIFIED: _ClassVar[SagaState]
    SAGA_STATE_RUNNING: _ClassVar[SagaState]
    SAGA_STATE_COMPLETED: _ClassVar[SagaState]
    SAGA_STATE_COMPENSATING: _ClassVar[SagaState]
    SAGA_STATE_COMPENSATED: _ClassVar[SagaState]

class SagaStepOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAGA_STEP_OUTCOME_UNSPECIFIED: _ClassVar[SagaStepOutcome]
    SAGA_STEP_OUTCOME_STARTED: _ClassVar[SagaStepOutcome]
    SAGA_STEP_OUTCOME_SUCCEEDED: _ClassVar[SagaStepOutcome]
    SAGA_STEP_OUTCOME_SKIPPED: _ClassVar[SagaStepOutcome]
    SAGA_STEP_OUTCOME_RETRY: _ClassVar[SagaStepOutcome]
    SAGA_STEP_OUTCOME_FAILED: _ClassVar[SagaStepOutcome]
    SAGA_STEP_OUTCOME_REDIRECTED: _ClassVar[SagaStepOutcome]
ORDER_STATUS_UNSPECIFIED: OrderStatus
ORDER_STATUS_PENDING: OrderStatus
ORDER_STATUS_CONFIRMED: OrderStatus
ORDER_STATUS_CANCELLED: OrderStatus
ORDER_STATUS_SHIPPED: OrderStatus
ORDER_STATUS_DELIVERED: OrderStatus
SAGA_STEP_UNSPECIFIED: SagaStep
SAGA_STEP_RESERVE_STOCK: SagaStep
SAGA_STEP_AUTHORIZE_PAYMENT: SagaStep
SAGA_STEP_CONFIRM_ORDER: SagaStep
SAGA_STEP_COMMIT_STOCK: SagaStep
SAGA_STEP_CAPTURE_PAYMENT: SagaStep
SAGA_STEP_VOID_PAYMENT: SagaStep
SAGA_STEP_REFUND_PAYMENT: SagaStep
SAGA_STEP_RELEASE_STOCK: SagaStep
SAGA_STEP_CANCEL_ORDER: SagaStep
SAGA_STATE_UNSPECIFIED: SagaState
SAGA_STATE_RUNNING: SagaState
SAGA_STATE_COMPLETED: SagaState
SAGA_STATE_COMPENSATING: SagaState
SAGA_STATE_COMPENSATED: SagaState
SAGA_STEP_OUTCOME_UNSPECIFIED: SagaStepOutcome
SAGA_STEP_OUTCOME_STARTED: SagaStepOutcome
SAGA_STEP_OUTCOME_SUCCEEDED: SagaStepOutcome
SAGA_STEP_OUTCOME_SKIPPED: SagaStepOutcome
SAGA_STEP_OUTCOME_RETRY: SagaStepOutcome
SAGA_STEP_OUTCOME_FAILED: SagaStepOutcome
SAGA_STEP_OUTCOME_REDIRECTED: SagaStepOutcome

class Saga(_message.Message):
    __slots__ = ("step", "state")
    STEP_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    step: SagaStep
    state: SagaState
    def __init__(self, step: _Optional[_Union[SagaStep, str]] = ..., state: _Optional[_Union[SagaState, str]] = ...) -> None: ...

class OrderLine(_message.Message):
    __slots__ = ("product_id", "sku", "name", "quantity", "unit_price", "line_total")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    LINE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    sku: str
    name: str
    quantity: int
    unit_price: _money_pb2.Money
    line_total: _money_pb2.Money
    def __init__(self, product_id: _Optional[str] = ..., sku: _Optional[str] = ..., name: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., line_total: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("id", "user_id", "status", "lines", "total", "cancel_reason", "saga", "shipping_address", "payment_id", "shipment_id", "tracking_number", "version", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REASON_FIELD_NUMBER: _ClassVar[int]
    SAGA_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SHIPMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_id: str
    status: OrderStatus
    lines: _containers.RepeatedCompositeFieldContainer[OrderLine]
    total: _money_pb2.Money
    cancel_reason: str
    saga: Saga
    shipping_address: _address_pb2.Address
    payment_id: str
    shipment_id: str
    tracking_number: str
    version: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., user_id: _Optional[str] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., lines: _Optional[_Iterable[_Union[OrderLine, _Mapping]]] = ..., total: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., cancel_reason: _Optional[str] = ..., saga: _Optional[_Union[Saga, _Mapping]] = ..., shipping_address: _Optional[_Union[_address_pb2.Address, _Mapping]] = ..., payment_id: _Optional[str] = ..., shipment_id: _Optional[str] = ..., tracking_number: _Optional[str] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PlaceOrderLine(_message.Message):
    __slots__ = ("product_id", "quantity")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    quantity: int
    def __init__(self, product_id: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class PlaceOrderRequest(_message.Message):
    __slots__ = ("idempotency_key", "lines", "payment_token", "shipping_address", "user_id")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    lines: _containers.RepeatedCompositeFieldContainer[PlaceOrderLine]
    payment_token: str
    shipping_address: _address_pb2.Address
    user_id: str
    def __init__(self, idempotency_key: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[PlaceOrderLine, _Mapping]]] = ..., payment_token: _Optional[str] = ..., shipping_address: _Optional[_Union[_address_pb2.Address, _Mapping]] = ..., user_id: _Optional[str] = ...) -> None: ...

class PlaceOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class GetOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class ListOrdersRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token", "status")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    page_size: int
    page_token: str
    status: OrderStatus
    def __init__(self, user_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[OrderStatus, str]] = ...) -> None: ...

class ListOrdersResponse(_message.Message):
    __slots__ = ("orders", "next_page_token")
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    next_page_token: str
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelOrderRequest(_message.Message):
    __slots__ = ("order_id", "reason")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    reason: str
    def __init__(self, order_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class GetOrderHistoryRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class GetOrderHistoryResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[OrderHistoryEntry]
    def __init__(self, events: _Optional[_Iterable[_Union[OrderHistoryEntry, _Mapping]]] = ...) -> None: ...

class OrderHistoryEntry(_message.Message):
    __slots__ = ("version", "event_type", "occurred_at", "placed", "confirmed", "cancelled", "shipped", "delivered")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PLACED_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    SHIPPED_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    version: int
    event_type: str
    occurred_at: _timestamp_pb2.Timestamp
    placed: _events_pb2.OrderPlaced
    confirmed: _events_pb2.OrderConfirmed
    cancelled: _events_pb2.OrderCancelled
    shipped: _events_pb2.OrderShipped
    delivered: _events_pb2.OrderDelivered
    def __init__(self, version: _Optional[int] = ..., event_type: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., placed: _Optional[_Union[_events_pb2.OrderPlaced, _Mapping]] = ..., confirmed: _Optional[_Union[_events_pb2.OrderConfirmed, _Mapping]] = ..., cancelled: _Optional[_Union[_events_pb2.OrderCancelled, _Mapping]] = ..., shipped: _Optional[_Union[_events_pb2.OrderShipped, _Mapping]] = ..., delivered: _Optional[_Union[_events_pb2.OrderDelivered, _Mapping]] = ...) -> None: ...

class GetOrderStatisticsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetOrderStatisticsResponse(_message.Message):
    __slots__ = ("total_orders", "by_status", "revenue", "units_sold", "updated_at")
    TOTAL_ORDERS_FIELD_NUMBER: _ClassVar[int]
    BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    UNITS_SOLD_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    total_orders: int
    by_status: _containers.RepeatedCompositeFieldContainer[OrderStatusCount]
    revenue: _containers.RepeatedCompositeFieldContainer[_money_pb2.Money]
    units_sold: int
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, total_orders: _Optional[int] = ..., by_status: _Optional[_Iterable[_Union[OrderStatusCount, _Mapping]]] = ..., revenue: _Optional[_Iterable[_Union[_money_pb2.Money, _Mapping]]] = ..., units_sold: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class OrderStatusCount(_message.Message):
    __slots__ = ("status", "count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    status: OrderStatus
    count: int
    def __init__(self, status: _Optional[_Union[OrderStatus, str]] = ..., count: _Optional[int] = ...) -> None: ...

class ListAllOrdersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "status")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    status: OrderStatus
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[OrderStatus, str]] = ...) -> None: ...

class ListAllOrdersResponse(_message.Message):
    __slots__ = ("orders", "next_page_token")
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    next_page_token: str
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetSagaTimelineRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class GetSagaTimelineResponse(_message.Message):
    __slots__ = ("saga", "entries", "last_error")
    SAGA_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    saga: Saga
    entries: _containers.RepeatedCompositeFieldContainer[SagaTimelineEntry]
    last_error: str
    def __init__(self, saga: _Optional[_Union[Saga, _Mapping]] = ..., entries: _Optional[_Iterable[_Union[SagaTimelineEntry, _Mapping]]] = ..., last_error: _Optional[str] = ...) -> None: ...

class SagaTimelineEntry(_message.Message):
    __slots__ = ("step", "outcome", "attempt", "detail", "at", "compensation")
    STEP_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    COMPENSATION_FIELD_NUMBER: _ClassVar[int]
    step: SagaStep
    outcome: SagaStepOutcome
    attempt: int
    detail: str
    at: _timestamp_pb2.Timestamp
    compensation: bool
    def __init__(self, step: _Optional[_Union[SagaStep, str]] = ..., outcome: _Optional[_Union[SagaStepOutcome, str]] = ..., attempt: _Optional[int] = ..., detail: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., compensation: _Optional[bool] = ...) -> None: ...

class ListDeadLettersRequest(_message.Message):
    __slots__ = ("consumer", "page_size", "page_token")
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    page_size: int
    page_token: str
    def __init__(self, consumer: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDeadLettersResponse(_message.Message):
    __slots__ = ("dead_letters", "next_page_token")
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dead_letters: _containers.RepeatedCompositeFieldContainer[DeadLetter]
    next_page_token: str
    def __init__(self, dead_letters: _Optional[_Iterable[_Union[DeadLetter, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("sequence", "consumer", "subject", "stream", "stream_sequence", "deliveries", "error", "event_type", "event_id", "dead_at")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    STREAM_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEAD_AT_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    consumer: str
    subject: str
    stream: str
    stream_sequence: int
    deliveries: int
    error: str
    event_type: str
    event_id: str
    dead_at: _timestamp_pb2.Timestamp
    def __init__(self, sequence: _Optional[int] = ..., consumer: _Optional[str] = ..., subject: _Optional[str] = ..., stream: _Optional[str] = ..., stream_sequence: _Optional[int] = ..., deliveries: _Optional[int] = ..., error: _Optional[str] = ..., event_type: _Optional[str] = ..., event_id: _Optional[str] = ..., dead_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
