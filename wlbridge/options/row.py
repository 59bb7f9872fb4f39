"""One row of the option table, and the per-call state rows write into."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.spec import Listener, TrainConfig
from wlbridge.exprs import fold


@dataclass
class Resolution:
    """What one `resolve` call builds: the config, the sinks shared between loggers (so a spec
    used by several channels is one sink) and facts needed after all rows ran."""

    config: TrainConfig = field(default_factory=TrainConfig)
    sinks: dict[Any, Listener | None] = field(default_factory=dict)
    working_precision_automatic: bool = True


@dataclass(frozen=True)
class Option:
    """An option: its name, Wolfram default, normaliser, the `TrainConfig` field it sets and
    what it means (DESIGN rule 3).

    ``normalise(value) -> python value`` validates and raises a NetTrain message on bad input;
    ``apply(resolution, python value)`` stores it (default: set ``field``). ``default`` is the
    Wolfram expression shown by `describe`; it is not normalised at resolve time (the
    `TrainConfig` defaults already say the same thing).
    """

    name: str
    default: Any
    normalise: Callable[[Any], Any]
    field: str | None
    meaning: str
    internal: bool = False
    apply: Callable[[Resolution, Any], None] | None = None
    aliases: tuple[str, ...] = ()
    #: Evaluate the arithmetic in the value first (``10^-3`` -> 1/1000, `wlbridge.exprs.fold`);
    #: off for rows whose value holds data, which `wlbridge.data` reads itself.
    fold: bool = True

    def read(self, value: Any) -> Any:
        """Validate and normalise a value as the user wrote it (arithmetic evaluated)."""
        return self.normalise(fold(value) if self.fold else value)

    def write(self, res: Resolution, py: Any) -> None:
        """Store an already normalised value into ``res``."""
        if self.apply is not None:
            self.apply(res, py)
        elif self.field is not None:
            setattr(res.config, self.field, py)
