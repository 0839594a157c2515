import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mercato.common.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_CUSTOMER: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]
ROLE_UNSPECIFIED: Role
ROLE_CUSTOMER: Role
ROLE_ADMIN: Role

class User(_message.Message):
    __slots__ = ("id", "email", "name", "role", "profile", "preferences", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    email: str
    name: str
    role: Role
    profile: Profile
    preferences: Preferences
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., email: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., profile: _Optional[_Union[Profile, _Mapping]] = ..., preferences: _Optional[_Union[Preferences, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ("display_name", "avatar_url", "bio")
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    AVATAR_URL_FIELD_NUMBER: _ClassVar[int]
    BIO_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    avatar_url: str
    bio: str
    def __init__(self, display_name: _Optional[str] = ..., avatar_url: _Optional[str] = ..., bio: _Optional[str] = ...) -> None: ...

class Preferences(_message.Message):
    __slots__ = ("locale", "marketing_opt_in", "currency")
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    MARKETING_OPT_IN_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    locale: str
    marketing_opt_in: bool
    currency: str
    def __init__(self, locale: _Optional[str] = ..., marketing_opt_in: _Optional[bool] = ..., currency: _Optional[str] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class GetUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class UpdateUserRequest(_message.Message):
    __slots__ = ("user_id", "name", "profile", "preferences")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    name: str
    profile: ProfileUpdate
    preferences: PreferencesUpdate
    def __init__(self, user_id: _Optional[str] = ..., name: _Optional[str] = ..., profile: _Optional[_Union[ProfileUpdate, _Mapping]] = ..., preferences: _Optional[_Union[PreferencesUpdate, _Mapping]] = ...) -> None: ...

class ProfileUpdate(_message.Message):
    __slots__ = ("display_name", "avatar_url", "bio")
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    AVATAR_URL_FIELD_NUMBER: _ClassVar[int]
    BIO_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    avatar_url: str
    bio: str
    def __init__(self, display_name: _Optional[str] = ..., avatar_url: _Optional[str] = ..., bio: _Optional[str] = ...) -> None: ...

class PreferencesUpdate(_message.Message):
    __slots__ = ("locale", "marketing_opt_in", "currency")
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    MARKETING_OPT_IN_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    locale: str
    marketing_opt_in: bool
    currency: str
    def __init__(self, locale: _Optional[str] = ..., marketing_opt_in: _Optional[bool] = ..., currency: _Optional[str] = ...) -> None: ...

class UpdateUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...
