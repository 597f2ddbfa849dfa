"""One outcome, and the two additive sketches the aggregates keep. Pure: no I/O.

An :class:`Outcome` is what an application reports after using a served prompt. It names
the version **actually served** (number and uid), never a label such as "active": a
label moves, the uid does not.

Latency histogram
-----------------
Latencies (milliseconds) are counted in fixed, log-spaced buckets shared by every process:
bucket ``i`` holds the values in ``(GAMMA**(i-1), GAMMA**i]`` with
``GAMMA = (1 + LATENCY_RELATIVE_ERROR) / (1 - LATENCY_RELATIVE_ERROR)``, and is read back
as ``2 * GAMMA**i / (GAMMA + 1)``, which is within ``LATENCY_RELATIVE_ERROR`` (2 %) of
every value in the bucket (the DDSketch construction). Because the buckets are fixed,
two histograms merge by adding their counts, so a store can add rows without reading
them. A quantile read from the histogram is within 2 % of the exact order statistic
(``numpy.quantile(..., method="inverted_cdf")``) for latencies between
``LATENCY_MIN_MS`` (1 µs) and ``LATENCY_MAX_MS`` (about 2.8 hours); values outside are
clamped to the end buckets. Buckets are sparse: an LLM feature whose latencies span
200 ms to 60 s fills at most ~140 of them.

Distinct users
--------------
Counting distinct users exactly needs the set of users, which cannot be added. The
aggregates keep a PCSA sketch instead (Flajolet & Martin, "probabilistic counting with
stochastic averaging"): ``USER_REGISTERS`` (64) bitmaps of ``USER_BITMAP_BITS`` (16) bits,
packed four to a 64-bit word (``USER_SKETCH_WORDS`` = 16 words). A user sets one bit;
two sketches merge with **bitwise OR**, which, like ``+``, is commutative, associative and
done by the database in the upsert (``SET w = w | excluded.w``, in SQLite and
PostgreSQL alike), so nothing is read-modify-written by the application. OR is also
idempotent: a batch sent twice does not inflate the user count.

The estimate has a standard error of about 10 % (within about 30 % in 95 % of cases)
from a handful of users up to about a million; below about 160 users it uses linear
counting on the empty bitmaps and is close to exact for a few users. Above about five
million distinct users per sketch it saturates (reads low). Users are hashed with BLAKE2b
under their own personalisation, independent of the canary allocation hash, so a
canary's users do not bias the sketch. Words are stored as signed 64-bit integers
(two's complement) so that they fit a BIGINT column.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

MAX_NAME: Final = 200
MAX_UID: Final = 100
MAX_SCORE_NAME: Final = 100
# Any measure, at most: a sum of squares of such values stays finite (1e308 squared is
# inf, and a 10**400 int cannot become a float at all, after the outcome was counted).
MAX_MEASURE: Final = 1e150

# -- latency histogram ---------------------------------------------------------------------

LATENCY_RELATIVE_ERROR: Final = 0.02
GAMMA: Final = (1 + LATENCY_RELATIVE_ERROR) / (1 - LATENCY_RELATIVE_ERROR)
_LOG_GAMMA: Final = math.log(GAMMA)
LATENCY_MIN_MS: Final = 1e-3
LATENCY_MAX_MS: Final = 1e7
LATENCY_MIN_BUCKET: Final = math.ceil(math.log(LATENCY_MIN_MS) / _LOG_GAMMA)
LATENCY_MAX_BUCKET: Final = math.ceil(math.log(LATENCY_MAX_MS) / _LOG_GAMMA)


def latency_bucket(latency_ms: float) -> int:
    """The histogram bucket of a latency in milliseconds (clamped to the fixed range)."""
    if latency_ms <= LATENCY_MIN_MS:
        return LATENCY_MIN_BUCKET
    if latency_ms >= LATENCY_MAX_MS:
        return LATENCY_MAX_BUCKET
    return math.ceil(math.log(latency_ms) / _LOG_GAMMA)


def bucket_value(bucket: int) -> float:
    """The value a bucket stands for: within 2 % of anything counted in it."""
    return 2 * GAMMA**bucket / (GAMMA + 1)


def histogram_quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0 to 1) of a latency histogram, or None when it is empty.

    The rank is that of ``numpy.quantile(..., method="inverted_cdf")``: the smallest
    value whose cumulative share is at least ``q``.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be between 0 and 1, not {q}")
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    return bucket_value(max(histogram))  # unreachable unless counts are negative


# -- distinct-user sketch ------------------------------------------------------------------

USER_REGISTERS: Final = 64
USER_BITMAP_BITS: Final = 16
_PER_WORD: Final = 64 // USER_BITMAP_BITS
USER_SKETCH_WORDS: Final = USER_REGISTERS // _PER_WORD
_BITMAP_MASK: Final = (1 << USER_BITMAP_BITS) - 1
_WORD_MASK: Final = (1 << 64) - 1
_PCSA_PHI: Final = 0.77351
_PCSA_KAPPA: Final = 1.75  # Scheuermann & Mauve's small-range correction
_USER_PERSON: Final = b"pd-users"


def user_bit(user_id: object) -> tuple[int, int]:
    """(word index, bit mask) that ``user_id`` sets in a sketch; ``42`` and ``"42"`` agree."""
    return _user_bit(user_id if isinstance(user_id, str) else str(user_id))


@functools.lru_cache(maxsize=8192)  # active users repeat: skip the hash (1 µs) for them
def _user_bit(user_id: str) -> tuple[int, int]:
    digest = hashlib.blake2b(user_id.encode(), digest_size=8, person=_USER_PERSON)
    value = int.from_bytes(digest.digest(), "big")
    register = value % USER_REGISTERS
    rest = value // USER_REGISTERS
    rho = (rest & -rest).bit_length() - 1 if rest else USER_BITMAP_BITS - 1
    word, slot = divmod(register, _PER_WORD)
    return word, 1 << (slot * USER_BITMAP_BITS + min(rho, USER_BITMAP_BITS - 1))


def to_signed(word: int) -> int:
    """An unsigned 64-bit word as the signed integer a BIGINT column holds."""
    word &= _WORD_MASK
    return word - (1 << 64) if word >> 63 else word


def to_unsigned(word: int) -> int:
    return word & _WORD_MASK


def merge_sketches(*sketches: Iterable[int]) -> tuple[int, ...]:
    """Bitwise OR of sketches (signed words in, signed words out)."""
    merged = [0] * USER_SKETCH_WORDS
    for sketch in sketches:
        for index, word in enumerate(sketch):
            merged[index] |= to_unsigned(word)
    return tuple(to_signed(word) for word in merged)


def estimate_users(sketch: Iterable[int]) -> float:
    """Distinct users counted by a sketch (see the module docstring for its error)."""
    bitmaps: list[int] = []
    for word in sketch:
        unsigned = to_unsigned(word)
        for slot in range(_PER_WORD):
            bitmaps.append((unsigned >> (slot * USER_BITMAP_BITS)) & _BITMAP_MASK)
    if len(bitmaps) != USER_REGISTERS:
        raise ValueError(f"a user sketch has {USER_SKETCH_WORDS} words, not {len(bitmaps)}")
    empty = sum(1 for bitmap in bitmaps if bitmap == 0)
    if empty == USER_REGISTERS:
        return 0.0
    # R: the position of the lowest zero bit of each bitmap.
    lowest_zeros = sum((~bitmap & (bitmap + 1)).bit_length() - 1 for bitmap in bitmaps)
    mean_r = lowest_zeros / USER_REGISTERS
    pcsa: float = USER_REGISTERS / _PCSA_PHI * (2.0**mean_r - 2.0 ** (-_PCSA_KAPPA * mean_r))
    if empty and pcsa < 2.5 * USER_REGISTERS:
        return USER_REGISTERS * math.log(USER_REGISTERS / empty)
    return pcsa


# -- the outcome ---------------------------------------------------------------------------


def _check_text(value: object, what: str, limit: int) -> None:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError(f"{what} must be a non-empty string of at most {limit} characters")


def _check_count(value: object, what: str) -> None:
    if value is not None and (type(value) is not int or not 0 <= value <= MAX_MEASURE):
        raise ValueError(f"{what} must be a non-negative integer or None, not {value!r}")


def _check_amount(value: object, what: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number or None, not {value!r}")
    if not 0 <= value <= MAX_MEASURE:  # NaN fails too; math.isfinite(10**400) would raise
        raise ValueError(f"{what} must be finite and non-negative, not {value!r}")


def check_key(
    feature: object, environment: object, version: object, uid: object, model: object
) -> None:
    """Raise ValueError unless these name a stored version served in an environment."""
    _check_text(feature, "feature", MAX_NAME)
    _check_text(environment, "environment", MAX_NAME)
    _check_text(uid, "version_uid", MAX_UID)
    if type(version) is not int or version < 1:
        raise ValueError(f"version must be a stored version number, not {version!r}")
    if not isinstance(model, str):
        raise ValueError(f"model must be a string, not {model!r}")


def check_measures(
    tokens_in: Any,
    tokens_out: Any,
    latency_ms: Any,
    cost: Any,
    success: Any,
    scores: Any,
    at: Any,
) -> None:
    """Raise ValueError unless every measure is absent (None) or valid (the hot path).

    Each check starts with an exact-type test that accepts the usual values in a few
    nanoseconds, and falls back to the full check (subclasses, error message) otherwise.
    """
    if tokens_in is not None and not (type(tokens_in) is int and 0 <= tokens_in <= MAX_MEASURE):
        _check_count(tokens_in, "tokens_in")
    if tokens_out is not None and not (type(tokens_out) is int and 0 <= tokens_out <= MAX_MEASURE):
        _check_count(tokens_out, "tokens_out")
    if latency_ms is not None and not (
        type(latency_ms) in _NUMBERS and 0 <= latency_ms <= MAX_MEASURE
    ):
        _check_amount(latency_ms, "latency_ms")
    if cost is not None and not (type(cost) in _NUMBERS and 0 <= cost <= MAX_MEASURE):
        _check_amount(cost, "cost")
    if success is not None and success is not True and success is not False:
        raise ValueError(f"success must be True, False or None, not {success!r}")
    if scores:
        if type(scores) is not dict and not isinstance(scores, Mapping):
            raise ValueError(f"scores must map names to numbers, not {scores!r}")
        for name, value in scores.items():
            if type(name) is not str or not 0 < len(name) <= MAX_SCORE_NAME:
                _check_text(name, "a score name", MAX_SCORE_NAME)
            if not name.isprintable():  # a control, NUL or lone surrogate fails the batch
                raise ValueError(f"score name {name!r} holds a control character")
            if type(value) not in _NUMBERS and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"score {name!r} must be a number, not {value!r}")
            if not -MAX_MEASURE <= value <= MAX_MEASURE:
                raise ValueError(f"score {name!r} must be finite, not {value!r}")
    if at is not None and (
        isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at)
    ):
        raise ValueError(f"at must be seconds since the epoch, not {at!r}")


_NUMBERS: Final = (int, float)
_NO_SCORES: Final[Mapping[str, float]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened after an application used one served version.

    ``version`` and ``version_uid`` name the version that was served. Every measurement
    is optional (None: not reported) and counted on its own: a mean cost is over the
    outcomes that had a cost. ``cost`` None with tokens and a ``model`` is computed by
    the aggregate's ``cost_of`` when it has one. ``success`` is the application's own
    definition (resolved, no parse error...). ``scores`` are named numbers (user
    feedback, a grader's score). ``at`` is the time in seconds since the epoch
    (None: when it is added).
    """

    feature: str
    environment: str
    version: int
    version_uid: str
    model: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: float | None = None
    cost: float | None = None
    success: bool | None = None
    scores: Mapping[str, float] = field(default_factory=lambda: _NO_SCORES, hash=False)
    user_id: str | None = None
    at: float | None = None

    def __post_init__(self) -> None:
        check_key(self.feature, self.environment, self.version, self.version_uid, self.model)
        check_measures(
            self.tokens_in,
            self.tokens_out,
            self.latency_ms,
            self.cost,
            self.success,
            self.scores,
            self.at,
        )
        if self.scores:
            object.__setattr__(self, "scores", MappingProxyType(dict(self.scores)))
        if self.user_id is not None and not isinstance(self.user_id, str):
            object.__setattr__(self, "user_id", str(self.user_id))
