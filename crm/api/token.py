"""POST /api/auth/token/: a token for a username and password, behind the login lockout
(django-axes, shared with the login pages) and a per-address throttle."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from crm.core.security import lockout_message, lockout_minutes

_REFUSED = inline_serializer("LoginRefused", fields={"detail": serializers.CharField()})
# What AuthTokenSerializer answers: the fields' own errors, or non_field_errors for a wrong login.
_INVALID = inline_serializer(
    "LoginInvalid",
    fields={
        name: serializers.ListField(child=serializers.CharField(), required=False)
        for name in ("non_field_errors", "username", "password")
    },
)


class LoginLockedOut(exceptions.APIException):
    status_code = 429
    default_code = "locked_out"

    def __init__(self) -> None:
        super().__init__(detail=lockout_message())
        self.wait = lockout_minutes() * 60  # DRF's exception handler sends it as Retry-After


class ObtainTokenView(ObtainAuthToken):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth-token"  # rate: REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: AuthTokenSerializer,
            400: OpenApiResponse(
                _INVALID, description="Wrong username or password, or one of them missing."
            ),
            429: OpenApiResponse(
                _REFUSED,
                description="Too many failed logins for this username from this address, or "
                "too many requests: wait for the time in Retry-After.",
            ),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except exceptions.ValidationError:
            # django-axes flags the request when this failure locked the username+address
            # pair, or when it was locked already (then the password was not even checked).
            if getattr(request, "axes_locked_out", False):
                raise LoginLockedOut() from None
            raise
