from mercato.common.v1 import options_pb2 as _options_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EchoRequest(_message.Message):
    __slots__ = ("message", "delay_ms", "fail_code")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    FAIL_CODE_FIELD_NUMBER: _ClassVar[int]
    message: str
    delay_ms: int
    fail_code: int
    def __init__(self, message: _Optional[str] = ..., delay_ms: _Optional[int] = ..., fail_code: _Optional[int] = ...) -> None: ...

class EchoResponse(_message.Message):
    __slots__ = ("message", "deadline_remaining_ms", "request_id", "calls")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_REMAINING_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    message: str
    deadline_remaining_ms: int
    request_id: str
    calls: int
    def __init__(self, message: _Optional[str] = ..., deadline_remaining_ms: _Optional[int] = ..., request_id: _Optional[str] = ..., calls: _Optional[int] = ...) -> None: ...

class RelayRequest(_message.Message):
    __slots__ = ("echo", "hops")
    ECHO_FIELD_NUMBER: _ClassVar[int]
    HOPS_FIELD_NUMBER: _ClassVar[int]
    echo: EchoRequest
    hops: int
    def __init__(self, echo: _Optional[_Union[EchoRequest, _Mapping]] = ..., hops: _Optional[int] = ...) -> None: ...

class RelayResponse(_message.Message):
    __slots__ = ("echo",)
    ECHO_FIELD_NUMBER: _ClassVar[int]
    echo: EchoResponse
    def __init__(self, echo: _Optional[_Union[EchoResponse, _Mapping]] = ...) -> None: ...
