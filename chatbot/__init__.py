"""Chatdesk: the Django project package and the bot engine."""

from .celery import app as celery_app

__all__ = ("celery_app",)
