import factory

from accounts.models import ModelPreference, User, WidgetKey
from chatbot.models import ProviderCall
from conversations.models import Conversation, Message


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"customer{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw-for-tests")


class VisitorFactory(UserFactory):
    username = factory.Sequence(lambda n: f"visitor-{n}")
    is_visitor = True


class ModelPreferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelPreference

    user = factory.SubFactory(UserFactory)


class WidgetKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WidgetKey

    name = factory.Sequence(lambda n: f"Site {n}")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    customer = factory.SubFactory(UserFactory)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    role = Message.Role.USER
    content = factory.Sequence(lambda n: f"Question number {n}?")
    status = Message.Status.COMPLETED


class ProviderCallFactory(factory.django.DjangoModelFactory):
    """A ledger row: one successful attempt, unless told otherwise."""

    class Meta:
        model = ProviderCall

    model = "gpt-4o-mini"
    attempt = 1
    outcome = ProviderCall.Outcome.SUCCESS
    prompt_tokens = 10
    completion_tokens = 3


class StaffFactory(UserFactory):
    """A staff member (agent) who can take conversations over."""

    username = factory.Sequence(lambda n: f"agent{n}")
    first_name = factory.Sequence(lambda n: f"Alex{n}")
    is_staff = True
