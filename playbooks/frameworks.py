"""The engagement frameworks a playbook's stages come from; custom ones are declared in files."""

from __future__ import annotations

from cadenza.playbooks.model import Framework

BUILTIN_FRAMEWORKS: dict[str, Framework] = {
    f.name: f
    for f in (
        Framework(name="aarrr", title="Pirate metrics (McClure)",
                  stages=("acquisition", "activation", "retention", "referral", "revenue")),
        Framework(name="laer", title="Land, adopt, expand, renew (TSIA)",
                  stages=("land", "adopt", "expand", "renew")),
        Framework(name="mckinsey_cdj", title="McKinsey consumer decision journey",
                  stages=("consider", "evaluate", "buy", "enjoy", "advocate", "bond")),
        Framework(name="aidae", title="Attention, interest, desire, action, evaluation",
                  stages=("attention", "interest", "desire", "action", "evaluation")),
    )
}
