"""How staff see a person: one name everywhere (admin lists, the inbox, timelines).

Verified customers go by the name or email the host site gave them; anonymous widget visitors
get a short, stable label ("Visitor 3f2a") instead of their internal `visitor-<hex>` username.
"""

from .models import User

# What a query must load for customer_display_name() (select_related / .only()).
DISPLAY_FIELDS = ("id", "username", "first_name", "last_name", "email", "is_visitor", "external_id")


def customer_display_name(user: User | None) -> str:
    if user is None:
        return "Deleted customer"  # detached by retention or erased
    full_name = f"{user.first_name} {user.last_name}".strip()
    if full_name:
        return full_name
    if user.email:
        return user.email
    if user.is_visitor:
        return f"Visitor {user.pk.hex[:4]}"
    if user.external_id:
        return f"Customer {user.external_id[:40]}"
    return user.get_username()


def staff_display_name(user: User | None) -> str:
    """A staff member as colleagues see them (the inbox's assignee column)."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()
