"""crowdgate's Python client: a requests-based SDK over crowdgate's REST API.

It imports nothing from the service, so scripts and notebooks can install it alone.
``Client`` is a researcher's admin key over every admin endpoint; ``SurveyClient``
calls one study's survey endpoints as a survey page does.
"""

from crowdgate_client.client import Client, Conditions
from crowdgate_client.config import ConfigurationError
from crowdgate_client.errors import (
    AuthenticationError,
    ConflictError,
    ConnectionError,
    CrowdgateError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ValidationError,
)
from crowdgate_client.models import (
    CompletionResult,
    Condition,
    CreatedStudy,
    Eligibility,
    Health,
    Mode,
    Participant,
    ParticipantDetail,
    ParticipantEvent,
    Platform,
    StartResult,
    State,
    Status,
    Study,
    SurveyKey,
    VerifyResult,
)
from crowdgate_client.platform_models import (
    Balance,
    Hit,
    HitCost,
    HitPlan,
    Job,
    PlanItem,
    ReviewPlan,
)
from crowdgate_client.survey import SurveyClient

__all__ = [
    "AuthenticationError",
    "Balance",
    "Client",
    "CompletionResult",
    "Condition",
    "Conditions",
    "ConfigurationError",
    "ConflictError",
    "ConnectionError",
    "CreatedStudy",
    "CrowdgateError",
    "Eligibility",
    "Health",
    "Hit",
    "HitCost",
    "HitPlan",
    "Job",
    "Mode",
    "NotFoundError",
    "Participant",
    "ParticipantDetail",
    "ParticipantEvent",
    "PermissionDeniedError",
    "PlanItem",
    "Platform",
    "RateLimitedError",
    "ReviewPlan",
    "ServerError",
    "StartResult",
    "State",
    "Status",
    "Study",
    "SurveyClient",
    "SurveyKey",
    "ValidationError",
    "VerifyResult",
]
