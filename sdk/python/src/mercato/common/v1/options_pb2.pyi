from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Access(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_UNSPECIFIED: _ClassVar[Access]
    ACCESS_PUBLIC: _ClassVar[Access]
    ACCESS_AUTHENTICATED: _ClassVar[Access]
    ACCESS_ADMIN: _ClassVar[Access]
    ACCESS_INTERNAL: _ClassVar[Access]

class RateLimitClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RATE_LIMIT_CLASS_UNSPECIFIED: _ClassVar[RateLimitClass]
    RATE_LIMIT_CLASS_STRICT: _ClassVar[RateLimitClass]
    RATE_LIMIT_CLASS_DEFAULT: _ClassVar[RateLimitClass]
    RATE_LIMIT_CLASS_LOOSE: _ClassVar[RateLimitClass]
ACCESS_UNSPECIFIED: Access
ACCESS_PUBLIC: Access
ACCESS_AUTHENTICATED: Access
ACCESS_ADMIN: Access
ACCESS_INTERNAL: Access
RATE_LIMIT_CLASS_UNSPECIFIED: RateLimitClass
RATE_LIMIT_CLASS_STRICT: RateLimitClass
RATE_LIMIT_CLASS_DEFAULT: RateLimitClass
RATE_LIMIT_CLASS_LOOSE: RateLimitClass
EDGE_FIELD_NUMBER: _ClassVar[int]
edge: _descriptor.FieldDescriptor

class EdgeRule(_message.Message):
    __slots__ = ("access", "owner_field", "rate_limit")
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    access: Access
    owner_field: str
    rate_limit: RateLimitClass
    def __init__(self, access: _Optional[_Union[Access, str]] = ..., owner_field: _Optional[str] = ..., rate_limit: _Optional[_Union[RateLimitClass, str]] = ...) -> None: ...
