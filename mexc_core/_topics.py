"""Base classes of the channel registry and the typed topics (see :mod:`mexc_core.channels`).

The concrete channels are generated from ``codegen/channels.toml`` into
``mexc_core/_generated/channels.py``; this module holds what they are made of and
the validation rules, so that the generated file is data plus thin classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Final, final

from mexc_core.errors import InvalidTopic, TopicTypeError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ("ChannelSpec", "Param", "ParamKind", "Topic")

#: Separator between the parts of a topic string.
SEP: Final = "@"


def _shown(values: tuple[str, ...]) -> str:
    return ", ".join(values)


@final
@dataclass(frozen=True, slots=True)
class ParamKind:
    """A set of allowed values for a topic parameter.

    :ivar name: the kind's name in the channel table, e.g. ``kline_interval``.
    :ivar doc: what the parameter means.
    :ivar values: the allowed values as they appear in topic strings; empty when
        ``pattern`` decides instead.
    :ivar pattern: a regular expression a value must match in full, or ``None``.
    :ivar integer: values are integers in Python (``5``) and decimal in topics (``"5"``).
    """

    name: str
    doc: str
    values: tuple[str, ...] = ()
    pattern: str | None = None
    integer: bool = False
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pattern is not None:
            object.__setattr__(self, "_regex", re.compile(self.pattern))

    def to_text(self, value: object, *, param: str, topic: str | None = None) -> str:
        """Validate a Python value of this kind and render it as in a topic string.

        :raises InvalidTopic: the value is not allowed; the message names ``param``
            and the allowed values.
        """
        if self.integer:
            if type(value) is not int:
                raise TopicTypeError(
                    f"{param} must be an int, one of {_shown(self.values)}; got {value!r}",
                    topic=topic,
                    part=param,
                    allowed=self.values,
                )
            text = str(value)
        elif type(value) is str:
            text = value
        else:
            raise TopicTypeError(
                f"{param} must be a str, got {type(value).__name__}",
                topic=topic,
                part=param,
                allowed=self.values,
            )
        self.check_text(text, param=param, topic=topic)
        return text

    def check_text(self, text: str, *, param: str, topic: str | None = None) -> None:
        """Check a parameter as it appears in a topic string.

        :raises InvalidTopic: it is not an allowed value.
        """
        where = f" in {topic!r}" if topic is not None else ""
        if self._regex is not None:
            if self._regex.fullmatch(text):
                return
            hint = ""
            if text.upper() != text and self._regex.fullmatch(text.upper()):
                hint = f"; MEXC wants upper case: {text.upper()!r}"
            raise InvalidTopic(
                f"{param} {text!r}{where} is not a valid {self.doc} "
                f"(must match {self.pattern}){hint}",
                topic=topic,
                part=param,
            )
        if text not in self.values:
            raise InvalidTopic(
                f"{param} {text!r}{where} is not allowed; allowed: {_shown(self.values)}",
                topic=topic,
                part=param,
                allowed=self.values,
            )

    def from_text(self, text: str) -> str | int:
        """The Python value of an already checked topic part."""
        return int(text) if self.integer else text


@final
@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a channel template.

    :ivar name: the attribute name on the topic class, e.g. ``interval``.
    :ivar kind: its allowed values.
    :ivar default: the value used when none is given, or ``None`` if required.
    """

    name: str
    kind: ParamKind
    default: str | int | None = None


@final
@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One channel of MEXC's Spot V3 WebSocket API, as the registry knows it.

    :ivar name: our short name, e.g. ``aggre_depth``.
    :ivar template: the topic template, e.g.
        ``spot@public.aggre.depth.v3.api.pb@{interval}@{symbol}``.
    :ivar prefix: the fixed leading part, e.g. ``spot@public.aggre.depth.v3.api.pb``.
    :ivar params: the parameters, in topic order.
    :ivar body_field: the wrapper oneof field carrying its pushes, e.g. ``publicAggreDepths``.
    :ivar body_number: that field's number, e.g. ``313``.
    :ivar message: the body's message type, e.g. ``PublicAggreDepthsV3Api``.
    :ivar hook: the plugin hook called for its pushes.
    :ivar private: it needs a listen-key connection.
    :ivar legacy: documented once, availability unverified.
    :ivar doc: one line on what it carries.
    """

    name: str
    template: str
    prefix: str
    params: tuple[Param, ...]
    body_field: str
    body_number: int
    message: str
    hook: str
    private: bool
    legacy: bool
    doc: str

    def format(self, **values: object) -> str:
        """Build and validate a topic string of this channel.

        Parameters not given take their defaults.

        :raises InvalidTopic: a parameter is missing, unknown or not allowed.
        """
        extra = set(values) - {p.name for p in self.params}
        if extra:
            raise InvalidTopic(
                f"{self.name} has no parameter {sorted(extra)[0]!r}; "
                f"parameters: {', '.join(p.name for p in self.params) or 'none'}",
                part=sorted(extra)[0],
            )
        parts = [self.prefix]
        for p in self.params:
            value = values.get(p.name, p.default)
            if value is None:
                raise InvalidTopic(
                    f"{self.name} needs {p.name} ({p.kind.doc})",
                    part=p.name,
                    allowed=p.kind.values,
                )
            parts.append(p.kind.to_text(value, param=p.name))
        return SEP.join(parts)

    def parse_values(self, topic: str, parts: list[str]) -> dict[str, str | int]:
        """The parameter values of ``topic``, already split at ``@`` (prefix first).

        :raises InvalidTopic: wrong number of parts or a value not allowed.
        """
        got = parts[2:]
        if len(got) != len(self.params):
            raise InvalidTopic(
                f"{topic!r} does not have the shape of {self.template!r}",
                topic=topic,
                part="shape",
                allowed=(self.template,),
            )
        out: dict[str, str | int] = {}
        for p, text in zip(self.params, got, strict=True):
            p.kind.check_text(text, param=p.name, topic=topic)
            out[p.name] = p.kind.from_text(text)
        return out


class Topic:
    """A subscribable topic: a channel with all its parameters.

    Concrete topics (``AggreDepth(symbol="BTCUSDT")``) are frozen dataclasses
    generated from the channel table; ``str(topic)`` is the string MEXC expects.
    """

    __slots__ = ()

    spec: ClassVar[ChannelSpec]

    def _values(self) -> Mapping[str, object]:
        return {p.name: getattr(self, p.name) for p in self.spec.params}

    def _validate(self) -> None:
        for p in self.spec.params:
            p.kind.to_text(getattr(self, p.name), param=p.name)

    def __str__(self) -> str:
        return self.spec.format(**self._values())
