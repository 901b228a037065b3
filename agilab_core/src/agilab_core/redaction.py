"""Secrets never reach a manifest, journal, log line, error or terminal.

Two ways a secret is recognised:

* by **name**: the value of a field whose name looks like a credential
  (:func:`is_secret_name`), or whose dotted path is declared secret
  (``attrs.field(metadata={"secret": True})`` becomes such a path);
* by **value**: whatever the field is called, the password in a URL's userinfo
  (``tcp://user:pw@host``), a bearer token, a ``-----BEGIN ... PRIVATE KEY-----``
  block, a ``password=...`` pair in text, a few well-known token formats, and
  any literal value the caller already knows is secret.

Everything recognised is replaced by :data:`MASK`; the rest (keys, list
lengths, user names, hosts, ports, paths) is kept so the evidence stays useful.
Redaction is idempotent: redacting twice gives the same result.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring_ascii
from typing import Any

MASK = "***"
CYCLE = "<cycle>"  # in place of a container found inside itself
#: Literal secrets shorter than this are not searched for in free text: they
#: would mask every occurrence of a common letter or digit.
MIN_LITERAL = 4

# -- the key rule ----------------------------------------------------------------

_SECRET_WORDS = frozenset(
    "password passwords passwd pass pwd passphrase passcode secret secrets token tokens"
    " credential credentials creds apikey privatekey authorization cookie cookies".split()
)
# Compound words written without a separator ("dbpassword", "authtoken").
_SECRET_SUFFIXES = ("password", "passwd", "passphrase", "secret", "token", "apikey", "privatekey")
_KEY_WORDS = frozenset({"key", "keys"})
# key/keys is a credential next to one of these: private_key, ssh_key, client_keys, key_file.
_KEY_BEFORE = frozenset(
    "private ssh client api access secret signing encryption decryption master session auth account"
    " service license shared user".split()
)
_KEY_AFTER = frozenset("file files path paths data pem material pair passphrase".split())
# A name that measures a secret is not one: max_tokens, token_count, password_min_length.
_MEASURE_WORDS = frozenset(
    "count counts num number max min len length size limit total timeout ttl expiry expires seconds days".split()
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _words(name: str) -> list[str]:
    """``"sshPrivate_KEY-file"`` -> ``["ssh", "private", "key", "file"]``."""
    return [w.lower() for w in _WORD.findall(name)]


def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` holds a credential.

    The name is split into words (snake_case, kebab-case, camelCase, dots).
    Secret when a word is a secret word (password, pass, pwd, secret, token,
    credentials, apikey...) or ends with one (``dbpassword``), or when
    ``key`` stands alone, or ``key``/``keys`` stands next to a credential word
    (``private_key``, ``ssh_key``, ``client_keys``, ``key_file``, ``sshkey``).
    Not secret: ``keys``, ``key_count``, ``monkey``, ``primary_key``,
    ``max_tokens`` (a word like count/max/length/timeout makes it a measure).
    """
    return _secret_name(str(name))


@functools.lru_cache(maxsize=4096)  # the same few field names, thousands of times per manifest
def _secret_name(name: str) -> bool:
    words = _words(name)
    if not words or any(w in _MEASURE_WORDS for w in words):
        return False
    if words == ["key"]:
        return True
    for i, word in enumerate(words):
        if word in _SECRET_WORDS or word.endswith(_SECRET_SUFFIXES):
            return True
        if word in _KEY_WORDS:
            before = words[i - 1] if i > 0 else ""
            after = words[i + 1] if i + 1 < len(words) else ""
            if before in _KEY_BEFORE or after in _KEY_AFTER:
                return True
        for stem in ("keys", "key"):  # sshkey, clientkeys, keyfile
            if word.endswith(stem) and word[: -len(stem)] in _KEY_BEFORE:
                return True
            if word.startswith(stem) and word[len(stem):] in _KEY_AFTER:
                return True
    return False


# -- secrets by value ----------------------------------------------------------------

_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\Z)", re.DOTALL
)
# scheme://userinfo@ : userinfo runs to the last "@" before the path, query, fragment or a space.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#\"'<>\\]*)@")
_BEARER = re.compile(r"(?P<scheme>\bbearer\s+)(?P<token>[A-Za-z0-9\-._~+/]{8,}=*)", re.IGNORECASE)
_KNOWN_TOKENS = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|glpat-[A-Za-z0-9_\-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"
    r"|(?:AKIA|ASIA)[A-Z0-9]{16}"
    r"|sk-[A-Za-z0-9_\-]{20,}"
    r"|eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*)"
)
# name=value, name: value, name='value', "name": "value" in text (log lines, reprs); only
# names with a credential stem match, so a harmless pair never swallows a secret one.
_PAIR = re.compile(
    r"(?<![\w/.])(?P<name>(?i:(?=[A-Za-z_])[\w.\-]*?(?:pass|pwd|secret|token|cred|key|auth|cookie)[\w.\-]*))"
    r"(?P<nq>[\"']?)(?P<sep>\s*[=:]\s*)"
    r"(?P<scheme>(?i:bearer|basic|digest|token)\s+)?"
    r"(?:(?P<q>[\"'])(?P<quoted>[^\"'\n]*)(?P=q)|(?P<bare>[^\s,;)\]}\"']+))"
)
# --password VALUE on a command line.
_FLAG = re.compile(
    r"(?<![\w\-])(?P<flag>--?(?i:[\w.\-]*?(?:pass|pwd|secret|token|cred|key|auth|cookie)[\w.\-]*))"
    r"(?P<sep>[ \t]+)(?P<value>[^\s\-]\S*)"
)
# Cheap test that a string may hold one of the shapes above (most strings do not).
_MAYBE_SECRET = re.compile(
    r"://|-----BEGIN|bearer|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|AKIA|ASIA|sk-|eyJ"
    r"|(?:pass|pwd|secret|token|cred|key|auth|cookie)[\w.\-]*(?:[\"']?\s*[=:]|[ \t])",
    re.IGNORECASE,
)
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9\-._~+/=%]+$")
# Whatever redact() could change holds one of these once JSON-encoded (ASCII) and
# lower-cased: every shape of _MAYBE_SECRET (a private key block says "key"), and
# every stem of a secret name.
_SCREEN = re.compile(
    r"://|bearer|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|akia|asia|sk-|eyj"
    r"|pass|pwd|secret|token|cred|key|auth|cookie"
)


def _looks_like_token(text: str) -> bool:
    """A bare URL userinfo that is a token rather than a user name (``https://TOKEN@host``)."""
    if _KNOWN_TOKENS.fullmatch(text):
        return True
    return (
        len(text) >= 16
        and bool(_TOKEN_CHARS.match(text))
        and any(c.isalpha() for c in text)
        and any(c.isdigit() for c in text)
    )


class _Redactor:
    """One redaction pass; remembers every secret it masked (see :func:`secret_values`)."""

    def __init__(self, secret_paths: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        self.paths = [tuple(p.split(".")) for p in secret_paths if p]
        literals = sorted({s for s in secrets if isinstance(s, str) and s and s not in MASK}, key=len, reverse=True)
        self.literal = re.compile("|".join(map(re.escape, literals))) if literals else None
        self.found: set[str] = set()
        self._open: set[int] = set()  # ids of the containers being walked, to stop at cycles
        self._keys: dict[str, str] = {}  # redacted field names: a manifest repeats the same few

    # -- text ------------------------------------------------------------------

    def _hide(self, secret: str) -> str:
        if secret and secret != MASK:
            self.found.add(secret)
        return MASK

    def text(self, text: str) -> str:
        if _MAYBE_SECRET.search(text):
            text = self._shapes(text)
        if self.literal is not None:
            text = self.literal.sub(lambda m: self._hide(m.group(0)), text)
        return text

    def _shapes(self, text: str) -> str:
        text = _PRIVATE_KEY.sub(lambda m: self._hide(m.group(0)), text)
        text = _URL_USERINFO.sub(self._userinfo, text)
        text = _BEARER.sub(lambda m: m.group("scheme") + self._hide(m.group("token")), text)
        text = _KNOWN_TOKENS.sub(lambda m: self._hide(m.group(0)), text)
        text = _PAIR.sub(self._pair, text)
        return _FLAG.sub(self._flag, text)

    def key(self, name: str) -> str:
        shown = self._keys.get(name)
        if shown is None:
            shown = self._keys[name] = self.text(name)
        return shown

    def _userinfo(self, m: re.Match[str]) -> str:
        user, colon, password = m.group("userinfo").partition(":")
        if _looks_like_token(user):
            user = self._hide(user)
        if colon and password and password != MASK:
            password = self._hide(password)
        return f"{m.group('scheme')}{user}{colon}{password}@"

    def _pair(self, m: re.Match[str]) -> str:
        value = m.group("quoted") if m.group("q") else m.group("bare")
        if not value or value == MASK or not _secret_name(m.group("name")):
            return m.group(0)
        self._hide(value)
        q = m.group("q") or ""
        return f"{m.group('name')}{m.group('nq')}{m.group('sep')}{m.group('scheme') or ''}{q}{MASK}{q}"

    def _flag(self, m: re.Match[str]) -> str:
        value = m.group("value")
        if value == MASK or not _secret_name(m.group("flag").lstrip("-")):
            return m.group(0)
        self._hide(value)
        return f"{m.group('flag')}{m.group('sep')}{MASK}"

    # -- structures --------------------------------------------------------------

    def _secret_path(self, path: tuple[str, ...]) -> bool:
        return any(
            len(p) == len(path) and all(a == "*" or a == b for a, b in zip(p, path, strict=True)) for p in self.paths
        )

    def _enter(self, obj: Any) -> bool:
        """Mark a container as being walked; False when it contains itself."""
        if id(obj) in self._open:
            return False
        self._open.add(id(obj))
        return True

    def value(self, obj: Any, path: tuple[str, ...] = ()) -> Any:
        if isinstance(obj, str):
            return self.text(obj)
        if obj is None or isinstance(obj, (bool, int, float)):
            return obj
        if not isinstance(obj, (Mapping, list, tuple, set, frozenset)):
            return self.text(str(obj))
        if not self._enter(obj):
            return CYCLE
        try:
            if isinstance(obj, Mapping):
                out: dict[str, Any] = {}
                for key, item in obj.items():
                    name = key if isinstance(key, str) else str(key)
                    where = (*path, name) if self.paths else path
                    secret = _secret_name(name) or (bool(self.paths) and self._secret_path(where))
                    out[self.key(name)] = self.mask(item) if secret else self.value(item, where)
                return out
            items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
            return [self.value(item, path) for item in items]
        finally:
            self._open.discard(id(obj))

    def mask(self, obj: Any) -> Any:
        """Every non-empty leaf of ``obj`` masked; None, "", booleans and empty containers kept."""
        if obj is None or isinstance(obj, bool) or (isinstance(obj, str) and not obj):
            return obj
        if not isinstance(obj, (Mapping, list, tuple, set, frozenset)):
            return self._hide(obj if isinstance(obj, str) else str(obj))
        if not self._enter(obj):
            return CYCLE
        try:
            if isinstance(obj, Mapping):
                return {self.key(str(k)): self.mask(v) for k, v in obj.items()}
            items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
            return [self.mask(item) for item in items]
        finally:
            self._open.discard(id(obj))


# -- public API ---------------------------------------------------------------------


def redact(obj: Any, secret_paths: Iterable[str] = (), *, secrets: Iterable[str] = ()) -> Any:
    """A JSON-able copy of ``obj`` with every secret replaced by ``"***"``.

    Values of secret-looking keys (:func:`is_secret_name`) and of the dotted
    ``secret_paths`` (``"args.db_password"``; ``*`` matches any key; list
    items are passed through) are masked leaf by leaf, keeping the shape;
    None and empty values stay as they are. In every other string, URL
    credentials, bearer tokens, private key blocks, ``password=...`` pairs,
    well-known token formats and the literal ``secrets`` are masked. Tuples
    and sets become lists, other objects their ``str``. Never raises on JSON
    input; the input is not modified.
    """
    return _Redactor(secret_paths, secrets).value(obj)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` (an error, a log line, a traceback) with URL credentials, tokens,
    key blocks, ``password=...`` pairs and the literal ``secrets`` masked."""
    return _Redactor((), secrets).text(text)


def may_need_redaction(json_text: str, secrets: Iterable[str] = ()) -> bool:
    """False when :func:`redact` would leave a value unchanged whose every key and string,
    JSON-encoded (ASCII), is in ``json_text`` (its JSON, or just those strings).

    A cheap screen (one search over the text) so that the common value, with no
    secret-looking key or string, skips the walk; True means "walk it", not
    "it holds a secret". ``secrets`` are the literal secrets the walk would mask.
    """
    if _SCREEN.search(json_text.lower()):
        return True
    if not secrets:
        return False
    return any(_escaped(s) in json_text for s in secrets if isinstance(s, str) and s and s != MASK)


@functools.lru_cache(maxsize=256)  # a run's few secrets, screened against every item
def _escaped(secret: str) -> str:
    """``secret`` as it appears inside JSON text (escaped, ASCII)."""
    return encode_basestring_ascii(secret)[1:-1]


def secret_values(obj: Any, secret_paths: Iterable[str] = ()) -> frozenset[str]:
    """The secret strings :func:`redact` would mask in ``obj``, to pass as
    ``secrets`` to :func:`redact_text` for log lines and errors.

    Values shorter than :data:`MIN_LITERAL` characters are left out: searched
    for in free text, they would mask every occurrence of a common letter.
    """
    redactor = _Redactor(secret_paths)
    redactor.value(obj)
    return frozenset(s for s in redactor.found if len(s) >= MIN_LITERAL)

