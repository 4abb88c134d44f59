"""Where the SDK finds the service and its key when the caller does not say.

Scripts and notebooks read ``CROWDGATE_URL`` and ``CROWDGATE_API_KEY`` from the
environment, so a key never has to be written into a file that gets shared.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from crowdgate_client.errors import CrowdgateError

__all__ = [
    "API_KEY_VARIABLE",
    "SURVEY_KEY_VARIABLE",
    "URL_VARIABLE",
    "ConfigurationError",
    "resolve_setting",
]

#: Base URL of the service, e.g. ``https://crowdgate.example.edu`` (without ``/api/v1``).
URL_VARIABLE = "CROWDGATE_URL"
#: An admin key (``cga_...``), sent as ``Authorization: Bearer``.
API_KEY_VARIABLE = "CROWDGATE_API_KEY"
#: A study's survey key (``cgs_...``), for SurveyClient; it falls back to the admin key.
SURVEY_KEY_VARIABLE = "CROWDGATE_SURVEY_KEY"


class ConfigurationError(CrowdgateError, ValueError):
    """A setting was given neither as an argument nor in the environment."""

    default_code = "configuration_error"


def resolve_setting(
    value: str | None,
    *variables: str,
    argument: str,
    environ: Mapping[str, str] | None = None,
) -> str:
    """``value`` if given, else the first of ``variables`` set (non-empty) in the environment.

    Raises ConfigurationError naming both the argument and the variables, so the fix
    is in the message.
    """
    if value:
        return value
    env = os.environ if environ is None else environ
    for variable in variables:
        found = env.get(variable, "").strip()
        if found:
            return found
    names = " or ".join(variables)
    raise ConfigurationError(f"No {argument} given: pass {argument}=... or set {names}.")


def normalise_base_url(url: str) -> str:
    """The service's base URL without a trailing slash or a pasted ``/api/v1`` suffix.

    People copy the API's URL from the README's curl examples; the transport adds
    ``/api/v1`` itself, so a copy that already has it would otherwise double it.
    """
    url = url.strip().rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    return url
