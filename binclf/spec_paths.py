"""Day-named source paths: `events/{date}.csv` or `events/{date:%Y%m%d}.csv`, a file per day.

A path with one `{date}` placeholder names the file of each UTC day, so the partition of a day
reads that file alone: a bad file fails only its own day, and a missing one is an empty day.
The placeholder's format is a strftime format (ISO `%Y-%m-%d` by default) that must hold the
year, month and day; it may contain `/` to name folders (`{date:%Y/%m/%d}.parquet`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

PLACEHOLDER = re.compile(r"\{date(?::([^{}]+))?\}")
DEFAULT_FORMAT = "%Y-%m-%d"
_PROBES = (date(2024, 1, 31), date(2031, 12, 5))


@dataclass(frozen=True)
class DayFiles:
    """A path template: the text before the day, the day's strftime format, the text after."""

    prefix: str
    format: str
    suffix: str

    @classmethod
    def parse(cls, path: str) -> DayFiles | None:
        """The template of a day-named path; None for a plain file, folder or glob.

        Raises `ValueError` (naming the fix) for a placeholder that cannot name one file a day.
        """
        found = list(PLACEHOLDER.finditer(path))
        if not found:
            if "{date" in path:
                raise ValueError(
                    f"{path!r}: write the day as {{date}} or {{date:<strftime format>}}"
                )
            return None
        if len(found) > 1:
            raise ValueError(
                f"{path!r} has {len(found)} {{date}} placeholders; use one with the whole "
                "format, e.g. {date:%Y/%m/%d}"
            )
        match = found[0]
        template = cls(path[: match.start()], match.group(1) or DEFAULT_FORMAT, path[match.end() :])
        if any(ch in template.prefix + template.suffix for ch in "*?["):
            raise ValueError(f"{path!r}: a day-named path cannot also be a glob")
        for probe in _PROBES:
            if template.day_of(template.name_of(probe)) != probe:
                raise ValueError(
                    f"{path!r}: the format {template.format!r} does not name one day "
                    "(it needs the year, month and day, e.g. %Y%m%d)"
                )
        return template

    def name_of(self, day: date) -> str:
        """The path of `day`'s file."""
        return f"{self.prefix}{day.strftime(self.format)}{self.suffix}"

    def day_of(self, name: str) -> date | None:
        """The day a path names, None when it is not a file of this template."""
        end = len(name) - len(self.suffix)
        if not (name.startswith(self.prefix) and name.endswith(self.suffix)) or end < 0:
            return None
        text = name[len(self.prefix) : end]
        try:
            day = datetime.strptime(text, self.format).date()
        except ValueError:
            return None
        return day if day.strftime(self.format) == text else None

    def glob(self) -> str:
        """A glob that matches every file of the template (and maybe more: check `day_of`)."""
        day = re.sub(r"(%[-#]?[A-Za-z])+", "*", self.format.replace("%%", "%"))
        return f"{self.prefix}{day}{self.suffix}"

    def existing(self) -> dict[date, Path]:
        """The files of the template that exist, by the day their names give, in day order."""
        pattern = Path(self.glob())
        anchor = Path(pattern.anchor or ".")
        found = {}
        for path in anchor.glob(str(pattern.relative_to(anchor))):
            day = self.day_of(str(path))
            if day is not None and path.is_file():
                found[day] = path
        return dict(sorted(found.items()))
