"""AWS region names: a known list, so a typo is refused with a suggestion before any DNS lookup."""

from __future__ import annotations

import re

from dynamorm._core.errors import ConfigurationError

_SHAPE = r"^[a-z]{2}(-[a-z0-9]+)+-\d+$|^local$"  # compiled on first use (re caches it)

KNOWN_REGIONS = frozenset(
    {
        *("af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2"),
        *("ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2"),
        *("ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6"),
        *("ap-southeast-7", "ca-central-1", "ca-west-1", "cn-north-1", "cn-northwest-1"),
        *("eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2"),
        *("eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1"),
        *("mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2"),
        *("us-gov-east-1", "us-gov-west-1"),
    }
)
"""Commercial, China and GovCloud regions with a public DynamoDB endpoint (late 2026)."""


def check_region(region: object, *, custom_endpoint: bool) -> str:
    """``region`` if it is usable, else ``ConfigurationError`` with the closest known names.

    With the AWS endpoint (``custom_endpoint`` False) the region must be a known one; with an
    endpoint of your own (local engines, VPC endpoints, a region newer than this list) any
    well-formed name is accepted.
    """
    if isinstance(region, str) and region in KNOWN_REGIONS:
        return region
    if not isinstance(region, str) or not re.match(_SHAPE, region):
        raise ConfigurationError(
            f"invalid region {region!r}{_suggest(region) or ' (expected e.g. us-east-1)'}"
        )
    if custom_endpoint:
        return region
    raise ConfigurationError(
        f"unknown region {region!r}{_suggest(region)}; a region this version does not know "
        "needs an explicit endpoint_url (or AWS_ENDPOINT_URL_DYNAMODB)"
    )


def _suggest(region: object) -> str:
    """' (did you mean ...?)' with the known names closest to ``region`` (ties all shown)."""
    if not isinstance(region, str):
        return ""
    from difflib import SequenceMatcher

    typed = region.strip().lower()
    scored = [(SequenceMatcher(None, typed, known).ratio(), known) for known in KNOWN_REGIONS]
    best = max(score for score, _ in scored)
    if best < 0.75:
        return ""
    close = sorted(known for score, known in scored if score == best)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)"
