"""What every reader needs to know besides the bytes: whose data it is, and the rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from device.shared.errors import UserError


@dataclass(frozen=True)
class ReadContext:
    owner: str | None  # --user / the people file's person; None: rows name their user
    timezone: tzinfo | None = None  # for the Weibo crawler's naive Beijing times
    include_reposts: bool = False

    def person(self, where: str, kind: str) -> str:
        """The owner of a format whose rows carry no speaker user name."""
        if not self.owner:
            raise UserError(f"{where}: a {kind} does not say whose it is: give --user NAME "
                            "(or --people FILE for a household)")  # fmt: skip
        return self.owner
