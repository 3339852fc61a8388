"""Typed GitHub failures, each with a message a person can act on."""

from django.utils import timezone


class GitHubError(Exception):
    """Base class. ``str(error)`` is safe to show to users and to log (never holds a token)."""


class TokenUnavailable(GitHubError):
    """No usable token is stored (missing, empty, or cannot be decrypted)."""


class BadCredentials(GitHubError):
    """GitHub refused the token (401): revoked, expired or wrong."""

    def __init__(self, message="GitHub refused the access token: it was revoked or has expired. Connect GitHub again."):
        super().__init__(message)


class NoAccess(GitHubError):
    """403 that is not a rate limit: the token cannot see this organisation or repository."""


class NotFound(GitHubError):
    """404, or a GraphQL NOT_FOUND: the organisation, repository or user does not exist (any more)."""


class RateLimited(GitHubError):
    """GitHub's rate limit is exhausted until ``until`` (an aware datetime)."""

    def __init__(self, until, message=""):
        self.until = until
        local = timezone.localtime(until) if timezone.is_aware(until) else until
        super().__init__(message or f"GitHub rate limit reached; it resets at {local:%H:%M:%S}.")


class GitHubUnavailable(GitHubError):
    """GitHub kept failing (5xx, timeouts, refused connections) after bounded retries."""


class GraphQLError(GitHubError):
    """GitHub answered a GraphQL query with errors we cannot handle."""

    def __init__(self, message, errors=()):
        self.errors = list(errors)
        super().__init__(message)


class OAuthError(GitHubError):
    """The OAuth code exchange failed (bad or used code, wrong client secret)."""
