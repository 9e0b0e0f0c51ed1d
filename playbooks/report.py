"""Collects diagnostics: the compiler keeps going after a mistake and reports them all."""

from __future__ import annotations

from dataclasses import dataclass, field

from cadenza.grammar.diagnostics import Diagnostic, Span


@dataclass
class Reporter:
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, file: str, span: Span, message: str, hint: str = "",
              related: tuple[tuple[str, Span], ...] = ()) -> None:
        self.diagnostics.append(Diagnostic(code=code, file=file, span=span, message=message,
                                           hint=hint, related=related))

    def warning(self, code: str, file: str, span: Span, message: str, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(code=code, file=file, span=span, message=message,
                                           hint=hint, severity="warning"))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.diagnostics, key=Diagnostic.sort_key)
