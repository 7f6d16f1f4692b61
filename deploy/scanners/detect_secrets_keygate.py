"""detect-secrets plugin for keygate API keys.

    detect-secrets scan --all-files --plugin deploy/scanners/detect_secrets_keygate.py .

A keygate key is `{prefix}_{body}` (src/token.rs): 43 base62 digits of 256 random bits,
then 6 base62 digits of the CRC32 (IEEE, as zlib.crc32) of everything before them,
`{prefix}_` included. This plugin finds `kg_` + 49 base62 characters that are not glued
to other letters or digits, and reports only those whose checksum is right, so a
one-character typo, a truncated key or random text of the same shape is not reported.

The prefix is `kg` unless KEYGATE_KEY_PREFIX says otherwise (a deployment's own
`key_prefix`: 1 to 16 characters of a-z and 0-9). It is read when detect-secrets
creates the plugin, so set it for the whole scan, e.g.
`KEYGATE_KEY_PREFIX=acme detect-secrets scan ...`.

Only the Python standard library and detect-secrets (1.x) are used.
"""
import os
import re
import zlib
from typing import Generator
from typing import Pattern
from typing import Tuple

from detect_secrets.plugins.base import RegexBasedDetector

# The digit order of src/token.rs: digits, upper case, lower case.
BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
RANDOM_LEN = 43
CHECKSUM_LEN = 6
BODY_LEN = RANDOM_LEN + CHECKSUM_LEN

PREFIX_ENV = 'KEYGATE_KEY_PREFIX'
DEFAULT_PREFIX = 'kg'
_VALID_PREFIX = re.compile(r'[a-z0-9]{1,16}\Z')


def base62(number: int, width: int) -> str:
    """`number` as exactly `width` base62 digits, most significant first."""
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    if number:
        raise ValueError(f'does not fit in {width} base62 digits')
    return ''.join(reversed(digits))


def checksum(text: str) -> str:
    """The 6 base62 digits that follow `text` (`{prefix}_` + 43 digits) in a key."""
    return base62(zlib.crc32(text.encode('ascii')), CHECKSUM_LEN)


def assemble(prefix: str, random: bytes) -> str:
    """The key keygate makes from 32 random bytes (src/token.rs `assemble`)."""
    if len(random) != 32:
        raise ValueError('a key is made from 32 random bytes')
    head = f'{prefix}_{base62(int.from_bytes(random, "big"), RANDOM_LEN)}'
    return head + checksum(head)


def has_valid_checksum(key: str) -> bool:
    """True if the last 6 characters of `key` are the checksum of the rest."""
    if len(key) <= CHECKSUM_LEN or not key.isascii():
        return False
    return checksum(key[:-CHECKSUM_LEN]) == key[-CHECKSUM_LEN:]


def key_pattern(prefix: str) -> Pattern:
    """`{prefix}_` and 49 base62 characters, with no letter or digit right before or
    after (the same boundaries as GitHub's default before/after-secret expressions)."""
    return re.compile(
        rf'(?<![0-9A-Za-z]){re.escape(prefix)}_[0-9A-Za-z]{{{BODY_LEN}}}(?![0-9A-Za-z])',
    )


def prefix_from_env() -> str:
    prefix = os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX
    if not _VALID_PREFIX.match(prefix):
        raise ValueError(
            f'{PREFIX_ENV}={prefix!r}: a keygate key prefix is 1 to 16 characters of a-z and 0-9',
        )
    return prefix


class KeygateKeyDetector(RegexBasedDetector):
    """Scans for keygate API keys whose CRC32 checksum is right."""

    # What detect-secrets reports, and how a baseline names these findings.
    secret_type = 'keygate API key'

    def __init__(self) -> None:
        self.prefix = prefix_from_env()
        self._pattern = key_pattern(self.prefix)

    @property
    def denylist(self) -> Tuple[Pattern, ...]:
        return (self._pattern,)

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for candidate in super().analyze_string(string):
            if has_valid_checksum(candidate):
                yield candidate
