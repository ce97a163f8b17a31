"""The bus vocabulary: envelopes, command status, the event catalogue and the hook registry."""

from events.catalogue import WILDCARD, EventCatalogue, EventSpec
from events.dead_letters import (
    DeadLetter,
    DeadLetterKind,
    DeadLetterQuery,
    DeadLetterRef,
    DeadLetterStatus,
    FailureKind,
)
from events.envelopes import (
    Actor,
    Command,
    CommandOutcome,
    CommandResult,
    Event,
    Sealed,
    new_id,
    utc_now,
)
from events.errors import (
    ConfigurationError,
    Conflict,
    DomainError,
    Forbidden,
    HooklineError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    RegistrationError,
    Transient,
    Unauthorized,
)
from events.hooks import DEFAULT_PRIORITY, EventSink, HookHandler, HookRegistry, RegisteredHook
from events.problem import PROBLEM_MEDIA_TYPE, Problem
from events.sensitive import SENSITIVE, Credential, Sensitive, sensitive_fields
from events.status import TERMINAL, CommandStatus, check_transition, predecessors
from events.trace import HookRun, HookRunStatus

__all__ = [
    "DEFAULT_PRIORITY",
    "PROBLEM_MEDIA_TYPE",
    "SENSITIVE",
    "TERMINAL",
    "WILDCARD",
    "Actor",
    "Command",
    "CommandOutcome",
    "CommandResult",
    "CommandStatus",
    "ConfigurationError",
    "Conflict",
    "Credential",
    "DeadLetter",
    "DeadLetterKind",
    "DeadLetterQuery",
    "DeadLetterRef",
    "DeadLetterStatus",
    "DomainError",
    "Event",
    "EventCatalogue",
    "EventSink",
    "EventSpec",
    "FailureKind",
    "Forbidden",
    "HookHandler",
    "HookRegistry",
    "HookRun",
    "HookRunStatus",
    "HooklineError",
    "InvalidInput",
    "InvalidTransition",
    "NotFound",
    "Problem",
    "RegisteredHook",
    "RegistrationError",
    "Sealed",
    "Sensitive",
    "Transient",
    "Unauthorized",
    "check_transition",
    "new_id",
    "predecessors",
    "sensitive_fields",
    "utc_now",
]
