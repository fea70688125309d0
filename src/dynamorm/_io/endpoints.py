"""Where requests go when no endpoint is given: the region from the environment or the active
profile, and the regional, FIPS or dual-stack DynamoDB endpoint (as botocore resolves them).

The shared config file is read only when the environment leaves a setting open, and
``configparser`` is imported only when that file exists (never on Lambda).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dynamorm._core.errors import ConfigurationError

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")


def profile_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The active profile's settings from the shared config file (``AWS_CONFIG_FILE``, else
    ``~/.aws/config``; profile ``AWS_PROFILE``, else ``AWS_DEFAULT_PROFILE``, else default)."""
    env = os.environ if env is None else env
    path = env.get("AWS_CONFIG_FILE") or os.path.join(os.path.expanduser("~"), ".aws", "config")
    if not os.path.isfile(path):
        return {}
    import configparser

    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the AWS config file {path}: {exc}") from None
    name = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    for section in (f"profile {name}", name) if name != "default" else ("default",):
        if parser.has_section(section):
            return {k: v.strip() for k, v in parser.items(section)}
    return {}


def default_region(env: Mapping[str, str] | None = None) -> str | None:
    """``AWS_REGION``, ``AWS_DEFAULT_REGION``, else the active profile's ``region``."""
    env = os.environ if env is None else env
    return (
        env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or profile_settings(env).get("region")
        or None
    )


def _flag(raw: str, source: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{source} must be true or false, got {raw!r}")


def aws_endpoint(region: str, env: Mapping[str, str] | None = None) -> str:
    """The DynamoDB endpoint of ``region``, FIPS and/or dual-stack when
    ``AWS_USE_FIPS_ENDPOINT`` / ``AWS_USE_DUALSTACK_ENDPOINT`` (or ``use_fips_endpoint`` /
    ``use_dualstack_endpoint`` in the active profile) say so."""
    env = os.environ if env is None else env
    if region == "local":
        return "http://localhost:8000"
    profile: dict[str, str] | None = None
    flags: list[bool] = []
    for variable in ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"):
        raw = env.get(variable)
        if raw is not None:
            flags.append(_flag(raw, variable))
            continue
        if profile is None:
            profile = profile_settings(env)
        key = variable[4:].lower()  # use_fips_endpoint, use_dualstack_endpoint
        flags.append(_flag(profile.get(key, ""), f"{key} in the AWS config file"))
    fips, dual = flags
    china = region.startswith("cn-")
    if dual:
        suffix = "api.amazonwebservices.com.cn" if china else "api.aws"
    else:
        suffix = "amazonaws.com.cn" if china else "amazonaws.com"
    return f"https://dynamodb{'-fips' if fips else ''}.{region}.{suffix}"
