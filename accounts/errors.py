from chatbot.exceptions import ApplicationError


class WidgetKeyInvalid(ApplicationError):
    code = "widget_key_invalid"
    status_code = 404


class OriginNotAllowed(ApplicationError):
    code = "origin_not_allowed"
    status_code = 403
