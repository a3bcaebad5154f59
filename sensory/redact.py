"""Masking credentials in text that may be logged: URL passwords, API keys in query strings.

Third-party clients log request lines at DEBUG (urllib3 logs ``GET /weather?...&appid=KEY``);
``install_log_filter`` puts a filter on such loggers so the secret is masked before any handler
sees the record.
"""
import logging
import re

MASK = "***"
_PATTERNS = (
    # user:password@ in URLs (redis://:pw@host, https://user:pw@host)
    (re.compile(r"(?P<keep>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", re.I), rf"\g<keep>{MASK}@"),
    # API keys and passwords in query strings or key=value text
    (re.compile(r"(?P<keep>\b(?:appid|api_?key|apikey|access_token|token|password|passwd|pwd|"
                r"secret)=)[^&\s\"']+", re.I), rf"\g<keep>{MASK}"),
    # HTTP authorization headers
    (re.compile(r"(?P<keep>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\g<keep>{MASK}"),
)

# Loggers of libraries we use that log URLs or request lines.
URL_LOGGERS = ("urllib3.connectionpool", "requests", "httpx", "httpcore",
               "snowflake.connector.network", "snowflake.connector.connection")


def mask_secrets(text: str) -> str:
    """``text`` with credentials in URLs, query strings and auth headers replaced by ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class SecretMaskingFilter(logging.Filter):
    """Formats the record's message early and masks credentials in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # pylint: disable=broad-except
            return True  # a broken record is logging's problem, reported as usual
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_FILTER = SecretMaskingFilter()


def install_log_filter(logger_names=URL_LOGGERS) -> None:
    """Adds the masking filter to each named logger (idempotent)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
