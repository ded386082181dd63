"""Domain errors: what services raise when a business rule says no.

Plain Python, so that services, workers and scripts use them without the web framework;
`api/errors.py` maps each one to its HTTP status and the problem+json body.
"""


class DomainError(Exception):
    """Base of the errors services raise."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequestError(DomainError):
    """The request breaks a rule of the domain (a wrong current password, say)."""


class NotFoundError(DomainError):
    """The thing does not exist, or the caller may not know that it does."""


class ConflictError(DomainError):
    """The change clashes with what exists (a unique value already taken)."""


class PermissionDeniedError(DomainError):
    """The caller is known but may not do this."""


class AuthenticationError(DomainError):
    """The caller could not be identified (bad credentials, a bad token)."""


class TooManyRequestsError(DomainError):
    """The caller (an account, an address) tried too often; it may again in `retry_after`."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ServiceUnavailableError(DomainError):
    """A service the request needs (the database, the job queue's broker) is down."""
