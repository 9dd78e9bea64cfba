from chatbot.platform.errors import ApplicationError


class WidgetKeyInvalid(ApplicationError):
    code = "widget_key_invalid"
    status_code = 404


class OriginNotAllowed(ApplicationError):
    code = "origin_not_allowed"
    status_code = 403


class IdentityInvalid(ApplicationError):
    code = "identity_invalid"
    status_code = 403


class ErasureNotAllowed(ApplicationError):
    # Staff accounts hold no customer data of their own and are managed by administrators.
    code = "erasure_not_allowed"
    status_code = 403
