"""What each of a config's targets stands for: one engine (a profile at a precision), or, for a
target with `candidates:`, every engine auto-selection builds, measures and chooses among
(`edgec/autoselect_stage.py`). Errors name the config key at fault."""

from __future__ import annotations

from dataclasses import dataclass

from edgec.errors import EdgecError
from edgec.targets.profiles import TargetProfile, get_profile, shipped_profiles, user_profiles
from edgec.targets.registry import backend_installed

Candidate = tuple[TargetProfile, str]  # (profile, precision)


@dataclass(frozen=True)
class TargetPlan:
    name: str  # the bundle's folder (and `target.name` in its manifest)
    index: int  # position in the config's `targets`, for messages
    candidates: tuple[Candidate, ...]  # one, unless selecting
    selecting: bool = False
    auto: bool = False  # `candidates: auto` (no list index to name in messages)

    def where(self, position: int) -> str:
        """The config key of candidate `position`, e.g. 'targets[0].candidates[1]'."""
        if self.auto:
            profile, precision = self.candidates[position]
            return f"targets[{self.index}].candidates (auto: {profile.name}/{precision})"
        return f"targets[{self.index}].candidates[{position}]"

    def describe(self) -> str:
        if not self.selecting:
            return self.name
        return f"{self.name} (auto-selects among {', '.join(f'{p.name}/{q}' for p, q in self.candidates)})"


def plan_targets(config, only: list[str] | None = None) -> list[TargetPlan]:  # noqa: ANN001 - edgec.config.Config (import cycle)
    """The config's targets (or those `only` names, from --target), each with its profile(s) (the
    config's own `profiles:` / `profile:` files first, then the shipped ones) and precision(s)."""
    extra = user_profiles(config)
    indexed = list(enumerate(config.targets))
    if only:
        known = {t.name for t in config.targets}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise EdgecError(f"--target {unknown[0]!r} is not in the config's targets ({', '.join(sorted(known))})")
        indexed = [(i, t) for i, t in indexed if t.name in only]
    plans = []
    for index, spec in indexed:
        if spec.candidates is None:
            profile = get_profile(spec.name, extra)
            plans.append(TargetPlan(spec.name, index, ((profile, profile.resolve_precision(spec.precision)),)))
        elif spec.candidates == "auto":
            found = host_candidates(extra)
            if not found:
                raise EdgecError(f"targets[{index}].candidates: 'auto' found no profile this machine can run "
                                 "(cpu_arch: native, no connection, backend installed); list the candidates")  # fmt: skip
            plans.append(TargetPlan(spec.name, index, tuple(found), selecting=True, auto=True))
        else:
            plans.append(TargetPlan(spec.name, index, tuple(_listed(spec.candidates, index, extra)), selecting=True))
    return plans


def _listed(entries: list[str], index: int, extra: dict[str, TargetProfile]) -> list[Candidate]:
    found = []
    for position, entry in enumerate(entries):
        name, _, precision = entry.partition("/")  # the form was checked when the config was read
        try:
            profile = get_profile(name, extra)
            found.append((profile, profile.resolve_precision(precision)))
        except EdgecError as exc:
            raise EdgecError(f"targets[{index}].candidates[{position}]: {exc.message}", hint=exc.hint) from exc
    return found


def host_candidates(extra: dict[str, TargetProfile] | None = None) -> list[Candidate]:
    """`candidates: auto`: every profile of this machine (cpu_arch `native`, no device connection)
    whose backend is installed here, at every precision it supports."""
    known = {**shipped_profiles(), **(extra or {})}
    return [
        (profile, precision)
        for profile in known.values()
        if profile.hardware.cpu_arch == "native" and profile.connection is None and backend_installed(profile.backend)
        for precision in profile.precisions
    ]
